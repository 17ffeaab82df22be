//! Bar charts drawn by the service as inline SVG: no chart library, no script, no inline
//! style (the CSP allows neither). Every shape carries a class and `assets/console.css` gives
//! it its colour; each chart is an image with its title (`role="img"`, `aria-label`,
//! `<title>`), and the page prints the same numbers in a table beside it, which is what a
//! screen reader reads. Every text is escaped here, since the page includes the markup as is.
//!
//! A bar may have several values, one per series, drawn one over the other in order (the
//! first is the widest: calls, then those abandoned, then those still owed; a 90th
//! percentile, then the median): series whose values are parts of the previous one, so
//! nothing is hidden behind another.

use std::fmt::Write;

/// One bar: its label, its values (one per series) and the text that says them.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub values: Vec<f64>,
    pub text: String,
}

impl Bar {
    pub fn new(label: impl Into<String>, values: Vec<f64>, text: impl Into<String>) -> Bar {
        Bar {
            label: label.into(),
            values,
            text: text.into(),
        }
    }
}

/// Markup to include as is (already escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Text for SVG markup, attribute or content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// Horizontal charts: a row per bar, its label above it, its text after it.
const H_WIDTH: f64 = 480.0;
/// The room left after the longest bar for its text.
const H_TEXT: f64 = 160.0;
const H_ROW: f64 = 40.0;
const H_BAR: f64 = 14.0;
/// Labels longer than this are cut in the chart (the table has them whole).
const LABEL_CHARS: usize = 60;

// Vertical charts: a column per bar, labels below, the scale's top on the left.
const V_WIDTH: f64 = 640.0;
const V_HEIGHT: f64 = 220.0;
const V_LEFT: f64 = 44.0;
const V_TOP: f64 = 16.0;
const V_BOTTOM: f64 = 24.0;
/// At most this many labels under the columns; the others are left out (the table has them).
const V_LABELS: usize = 12;

/// The longest a bar may be: `max` if given (a percentage: 100), else the largest value.
fn scale(bars: &[Bar], max: Option<f64>) -> f64 {
    max.unwrap_or_else(|| {
        bars.iter()
            .flat_map(|b| b.values.iter().copied())
            .fold(0.0, f64::max)
    })
}

/// How long `value` is drawn when `max` is `room` long: never negative, and never so thin
/// that a count of one disappears.
pub fn length(value: f64, max: f64, room: f64) -> f64 {
    if value.is_nan() || max.is_nan() || value <= 0.0 || max <= 0.0 {
        return 0.0;
    }
    (value / max * room).clamp(1.0, room)
}

fn cut(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}

fn open(out: &mut String, kind: &str, title: &str, width: f64, height: f64) {
    let title = escape(title);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" viewBox="0 0 {width} {height}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
}

/// Bars from left to right, one row each: for categories, departments, statuses.
pub fn horizontal(title: &str, bars: &[Bar], max: Option<f64>) -> Svg {
    let max = scale(bars, max);
    let room = H_WIDTH - H_TEXT;
    let height = (bars.len().max(1) as f64) * H_ROW;
    let mut out = String::new();
    open(&mut out, "horizontal", title, H_WIDTH, height);
    if bars.is_empty() {
        out.push_str(r#"<text class="label" x="0" y="24">Sin datos</text>"#);
    }
    for (i, bar) in bars.iter().enumerate() {
        let top = i as f64 * H_ROW;
        let _ = write!(
            out,
            r#"<g><title>{}: {}</title><text class="label" x="0" y="{:.1}">{}</text>"#,
            escape(&bar.label),
            escape(&bar.text),
            top + 14.0,
            escape(&cut(&bar.label)),
        );
        let mut end: f64 = 0.0;
        for (s, value) in bar.values.iter().enumerate() {
            let w = length(*value, max, room);
            end = end.max(w);
            let _ = write!(
                out,
                r#"<rect class="bar s{s}" x="0" y="{:.1}" width="{w:.1}" height="{H_BAR}"/>"#,
                top + 19.0,
            );
        }
        let _ = write!(
            out,
            r#"<text class="value" x="{:.1}" y="{:.1}">{}</text></g>"#,
            end + 6.0,
            top + 31.0,
            escape(&bar.text),
        );
    }
    out.push_str("</svg>");
    Svg(out)
}

/// Columns from left to right, one per bar: for weeks and days.
pub fn vertical(title: &str, bars: &[Bar]) -> Svg {
    let max = scale(bars, None);
    let plot_w = V_WIDTH - V_LEFT - 4.0;
    let plot_h = V_HEIGHT - V_TOP - V_BOTTOM;
    let base = V_TOP + plot_h;
    let mut out = String::new();
    open(&mut out, "vertical", title, V_WIDTH, V_HEIGHT);
    // The scale: the baseline, and a line at the largest value with its number.
    let _ = write!(
        out,
        r#"<line class="axis" x1="{V_LEFT}" y1="{base}" x2="{}" y2="{base}"/><line class="grid" x1="{V_LEFT}" y1="{V_TOP}" x2="{}" y2="{V_TOP}"/><text class="tick" x="{}" y="{}">{}</text><text class="tick" x="{}" y="{}">0</text>"#,
        V_WIDTH - 4.0,
        V_WIDTH - 4.0,
        V_LEFT - 4.0,
        V_TOP + 4.0,
        escape(&number(max)),
        V_LEFT - 4.0,
        base + 4.0,
    );
    if bars.is_empty() {
        out.push_str(r#"<text class="label" x="60" y="100">Sin datos</text></svg>"#);
        return Svg(out);
    }
    let slot = plot_w / bars.len() as f64;
    let every = bars.len().div_ceil(V_LABELS);
    for (i, bar) in bars.iter().enumerate() {
        let x = V_LEFT + i as f64 * slot;
        let _ = write!(
            out,
            "<g><title>{}: {}</title>",
            escape(&bar.label),
            escape(&bar.text)
        );
        for (s, value) in bar.values.iter().enumerate() {
            let h = length(*value, max, plot_h);
            let _ = write!(
                out,
                r#"<rect class="bar s{s}" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"/>"#,
                x + slot * 0.1,
                base - h,
                slot * 0.8,
            );
        }
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text class="tick-x" x="{:.1}" y="{}">{}</text>"#,
                x + slot / 2.0,
                V_HEIGHT - 6.0,
                escape(&bar.label),
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    Svg(out)
}

/// A number as the scale shows it: whole when it is, else one decimal.
fn number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `width="..."` of every bar, in order.
    fn attr_values(svg: &Svg, attr: &str) -> Vec<f64> {
        svg.as_str()
            .split("<rect ")
            .skip(1)
            .map(|rect| {
                let start = rect.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
                rect[start..].split('"').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn horizontal_bars_are_as_long_as_their_share_of_the_largest() {
        let svg = horizontal(
            "Casos",
            &[
                Bar::new("Agua", vec![10.0], "10"),
                Bar::new("Luz", vec![5.0], "5"),
                Bar::new("Nada", vec![0.0], "0"),
                Bar::new("Poco", vec![0.001], "0"),
            ],
            None,
        );
        let room = H_WIDTH - H_TEXT;
        assert_eq!(
            attr_values(&svg, "width"),
            vec![room, room / 2.0, 0.0, 1.0],
            "a value of zero has no bar; a tiny one is still seen"
        );
        // A fixed scale: 25 % of 100.
        let svg = horizontal(
            "Reabiertos",
            &[Bar::new("R", vec![25.0], "25 %")],
            Some(100.0),
        );
        assert_eq!(attr_values(&svg, "width"), vec![room / 4.0]);
    }

    #[test]
    fn series_are_drawn_in_order_each_with_its_class() {
        let svg = horizontal("T", &[Bar::new("A", vec![9.0, 5.0], "x")], None);
        let s = svg.as_str();
        let first = s.find(r#"class="bar s0""#).unwrap();
        let second = s.find(r#"class="bar s1""#).unwrap();
        assert!(
            first < second,
            "the median is drawn over the 90th percentile"
        );
        assert_eq!(
            attr_values(&svg, "width"),
            vec![320.0, 177.8],
            "drawn to a tenth"
        );
    }

    #[test]
    fn vertical_columns_share_the_width_and_scale_to_the_largest() {
        let bars: Vec<Bar> = (0..4)
            .map(|i| Bar::new(format!("{i}"), vec![f64::from(i)], i.to_string()))
            .collect();
        let svg = vertical("Por semana", &bars);
        let plot_h = V_HEIGHT - V_TOP - V_BOTTOM;
        assert_eq!(
            attr_values(&svg, "height"),
            vec![0.0, plot_h / 3.0, plot_h * 2.0 / 3.0, plot_h]
                .into_iter()
                .map(|h| (h * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        );
        let widths = attr_values(&svg, "width");
        assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}");
        assert!(
            svg.as_str().contains(r#">3</text><text class="tick""#),
            "the scale's top"
        );
    }

    #[test]
    fn every_text_is_escaped() {
        let evil = r#"<script>alert("x")</script> & 'y'"#;
        for svg in [
            horizontal(evil, &[Bar::new(evil, vec![1.0], evil)], None),
            vertical(evil, &[Bar::new(evil, vec![1.0], evil)]),
        ] {
            let s = svg.as_str();
            assert!(!s.contains("<script"), "{s}");
            assert!(!s.contains(r#""x""#), "{s}");
            assert!(
                s.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"),
                "{s}"
            );
            assert!(s.contains(r#"role="img""#) && s.contains("<title>"), "{s}");
        }
    }

    #[test]
    fn long_labels_are_cut_in_the_chart_but_whole_in_its_title() {
        let long = "x".repeat(80);
        let svg = horizontal("T", &[Bar::new(long.clone(), vec![1.0], "1")], None);
        assert!(svg.as_str().contains(&format!("<title>{long}: 1</title>")));
        assert!(svg.as_str().contains(&format!("{}…", "x".repeat(59))));
    }

    #[test]
    fn no_bars_say_so() {
        assert!(horizontal("T", &[], None).as_str().contains("Sin datos"));
        assert!(vertical("T", &[]).as_str().contains("Sin datos"));
    }
}
