//! The office's figures (`/cifras`): what came in, what is still open and late, how long
//! cases take, how many come back, and what happened to the calls, over a span of Mexico City
//! days (by default the last twelve weeks, Monday to Sunday, up to today).
//!
//! Every figure is about the cases received in the span, as the viewer may see them: the
//! office sees every department (and may pick one), a department's user only its own cases
//! (the store's [`Visibility`](crate::store::Visibility) rule; a department asked for in the
//! address is ignored). The calls are the office's line, not a department's, and are shown
//! to the office only (as the calls owed back are).
//!
//! Each figure is a chart drawn here ([`super::chart`]) and a table with the same numbers,
//! which is what a screen reader reads; `/cifras.csv` gives every table as a spreadsheet.
//!
//! Times are percentiles by the **nearest-rank** method
//! ([`Store::time_spreads`](crate::store::Store::time_spreads)): the p-th percentile of n
//! durations is the ⌈p·n/100⌉-th smallest, always a duration that happened (the median of an
//! even count is the lower of the two middle ones).

use super::chart::{self, Bar};
use super::csv::{self, CsvBody};
use super::views::{self, Choice, Fact, FigureChart, FigureSection, FigureTable, Legend};
use super::{ConsoleError, Page, Staff};
use crate::domain::lifecycle::status_label;
use crate::domain::{CaseStatus, Channel, Timestamp};
use crate::state::AppState;
use crate::store::{FigureScope, Progress, TimeSpread};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The default span: this week and the eleven before it.
const DEFAULT_WEEKS: i64 = 12;
/// The longest span: a year (a bar a day stays readable, and the queries stay quick).
const MAX_DAYS: i64 = 366;

/// The dashboard's query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct FiguresQuery {
    #[serde(default)]
    desde: String,
    #[serde(default)]
    hasta: String,
    #[serde(default)]
    area: String,
}

/// The span the figures are about: Mexico City days, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    /// The last twelve weeks, Monday to Sunday, the last one being today's.
    pub fn default_for(today: NaiveDate) -> Period {
        let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        Period {
            first: monday - Duration::weeks(DEFAULT_WEEKS - 1),
            last: today,
        }
    }

    /// The span a query asks for, and what was changed in it, in words.
    pub fn of(desde: &str, hasta: &str, today: NaiveDate) -> (Period, Option<String>) {
        let parse = |t: &str| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok();
        let default = Period::default_for(today);
        let last = parse(hasta).unwrap_or(default.last);
        let first = parse(desde).unwrap_or(if parse(hasta).is_some() {
            last - Duration::weeks(DEFAULT_WEEKS) + Duration::days(1)
        } else {
            default.first
        });
        if first > last {
            return (
                default,
                Some(
                    "La fecha inicial es posterior a la final: se muestran las últimas 12 semanas."
                        .to_owned(),
                ),
            );
        }
        if (last - first).num_days() >= MAX_DAYS {
            let first = last - Duration::days(MAX_DAYS - 1);
            return (
                Period { first, last },
                Some(format!(
                    "Las cifras abarcan un año como máximo: desde el {}.",
                    first.format("%d/%m/%Y")
                )),
            );
        }
        (Period { first, last }, None)
    }

    /// The instant the span starts (midnight in Mexico City).
    pub fn from(&self) -> Timestamp {
        midnight(self.first)
    }

    /// The instant the span ends (the midnight after its last day).
    pub fn until(&self) -> Timestamp {
        midnight(self.last + Duration::days(1))
    }

    /// The days of the span.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.first
            .iter_days()
            .take_while(|d| *d <= self.last)
            .collect()
    }

    /// The first day of each week (Monday) in the span; the first week starts on the span's
    /// first day, whatever day it is.
    pub fn week_starts(&self) -> Vec<NaiveDate> {
        self.days()
            .into_iter()
            .enumerate()
            .filter(|(i, d)| *i == 0 || d.weekday() == Weekday::Mon)
            .map(|(_, d)| d)
            .collect()
    }
}

/// Midnight of a Mexico City day, as an instant.
pub fn midnight(day: NaiveDate) -> Timestamp {
    let local = chrono_tz::America::Mexico_City
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .earliest()
        // A day whose midnight was skipped by a change of time (none since 2022): its first
        // hour.
        .unwrap_or_else(|| {
            chrono_tz::America::Mexico_City
                .from_local_datetime(&day.and_hms_opt(1, 0, 0).expect("one o'clock exists"))
                .earliest()
                .expect("one o'clock exists")
        });
    Timestamp::from_utc(local.with_timezone(&chrono::Utc))
}

/// The limits between spans starting on `starts` (all but the first's start), for the store.
fn limits(starts: &[NaiveDate]) -> Vec<Timestamp> {
    starts.iter().skip(1).map(|d| midnight(*d)).collect()
}

/// A duration in hours as people read it: hours under two days, else days.
pub fn span_label(hours: f64) -> String {
    if hours < 48.0 {
        format!("{hours:.1} h")
    } else {
        format!("{:.1} días", hours / 24.0)
    }
}

/// "12.5 %".
fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

/// "01/09".
fn short(day: NaiveDate) -> String {
    day.format("%d/%m").to_string()
}

/// "01/09/2026".
fn long(day: NaiveDate) -> String {
    day.format("%d/%m/%Y").to_string()
}

/// Everything the page and its CSV show.
struct Figures {
    period: Period,
    problem: Option<String>,
    summary: Vec<Fact>,
    sections: Vec<FigureSection>,
    department: Option<i64>,
}

/// Median and 90th percentile of a category's times, in hours, as table cells.
#[derive(Default)]
struct Spread {
    count: i64,
    median: Option<f64>,
    p90: Option<f64>,
}

impl Spread {
    fn of(row: &TimeSpread) -> Spread {
        let hours = |seconds: i64| seconds as f64 / 3600.0;
        Spread {
            count: row.cases,
            median: Some(hours(row.median_seconds)),
            p90: Some(hours(row.p90_seconds)),
        }
    }

    fn cells(&self) -> [String; 3] {
        let show = |v: Option<f64>| v.map(span_label).unwrap_or_else(|| "—".to_owned());
        [self.count.to_string(), show(self.median), show(self.p90)]
    }

    fn bar(&self, label: &str) -> Bar {
        Bar::new(
            label,
            vec![self.p90.unwrap_or(0.0), self.median.unwrap_or(0.0)],
            match (self.median, self.p90) {
                (Some(m), Some(p)) => format!("{} · {}", span_label(m), span_label(p)),
                _ => "sin casos".to_owned(),
            },
        )
    }
}

fn legend(items: &[(&'static str, &'static str)]) -> Vec<Legend> {
    items
        .iter()
        .map(|(class, label)| Legend { class, label })
        .collect()
}

fn table(caption: &str, head: &[&str], rows: Vec<(String, Vec<String>)>) -> FigureTable {
    FigureTable {
        caption: caption.to_owned(),
        head: head.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    }
}

async fn figures(
    app: &AppState,
    staff: &Staff,
    query: &FiguresQuery,
) -> Result<Figures, ConsoleError> {
    let now = app.clock.now();
    let (period, problem) = Period::of(&query.desde, &query.hasta, now.local_date());
    let department = query.area.parse().ok().filter(|_| staff.is_office());
    let scope = FigureScope {
        who: staff.visibility(),
        from: period.from(),
        until: period.until(),
        department_id: department,
    };
    let mut sections = Vec::new();
    let mut summary = Vec::new();
    let weeks = period.week_starts();
    let days = period.days();

    // Every figure is read at once, each statement on a connection of its own (the read pool
    // has several), rather than one after another.
    let calls = async {
        if staff.is_office() {
            let limits = limits(&days);
            let counts = app
                .store
                .call_counts(period.from(), period.until(), &limits, now)
                .await?;
            Ok::<_, crate::store::StoreError>(Some(counts))
        } else {
            Ok(None)
        }
    };
    let week_limits = limits(&weeks);
    let (received, open, spreads, (received_total, reopened), calls) = tokio::try_join!(
        app.store.received_counts(&scope, &week_limits),
        app.store.open_counts(&scope, now),
        app.store.time_spreads(&scope),
        app.store.reopened_counts(&scope),
        calls,
    )?;

    // a. Cases received per week, by channel and by category.
    let total: i64 = received.iter().map(|r| r.cases).sum();
    summary.push(Fact {
        label: "Casos recibidos",
        value: total.to_string(),
    });
    let mut per_week = vec![0i64; weeks.len()];
    let mut by_channel: BTreeMap<(usize, usize), i64> = BTreeMap::new();
    let mut by_category: BTreeMap<(i64, usize), i64> = BTreeMap::new();
    let mut category_names: BTreeMap<i64, String> = BTreeMap::new();
    for r in &received {
        let week = usize::try_from(r.bucket).unwrap_or(0).min(weeks.len() - 1);
        per_week[week] += r.cases;
        let channel = Channel::ALL
            .iter()
            .position(|c| *c == r.channel)
            .unwrap_or(0);
        *by_channel.entry((channel, week)).or_default() += r.cases;
        // Cases without a category last.
        let category = r.category_id.unwrap_or(i64::MAX);
        category_names.entry(category).or_insert_with(|| {
            r.category_name
                .clone()
                .unwrap_or_else(|| "Sin clasificar".to_owned())
        });
        *by_category.entry((category, week)).or_default() += r.cases;
    }
    let week_label = |i: usize| {
        let end = weeks
            .get(i + 1)
            .map(|d| *d - Duration::days(1))
            .unwrap_or(period.last);
        format!("{} al {}", long(weeks[i]), long(end))
    };
    let channels: Vec<usize> = (0..Channel::ALL.len())
        .filter(|c| by_channel.keys().any(|(k, _)| k == c))
        .collect();
    let channel_total = |c: usize| -> i64 {
        by_channel
            .iter()
            .filter(|((k, _), _)| *k == c)
            .map(|(_, n)| n)
            .sum()
    };
    let category_total = |c: i64| -> i64 {
        by_category
            .iter()
            .filter(|((k, _), _)| *k == c)
            .map(|(_, n)| n)
            .sum()
    };
    let mut head = vec!["Semana"];
    head.extend(
        channels
            .iter()
            .map(|c| views::channel_label(Channel::ALL[*c])),
    );
    head.push("Total");
    let mut rows: Vec<(String, Vec<String>)> = (0..weeks.len())
        .map(|w| {
            let mut cells: Vec<String> = channels
                .iter()
                .map(|c| by_channel.get(&(*c, w)).copied().unwrap_or(0).to_string())
                .collect();
            cells.push(per_week[w].to_string());
            (week_label(w), cells)
        })
        .collect();
    let mut totals: Vec<String> = channels
        .iter()
        .map(|c| channel_total(*c).to_string())
        .collect();
    totals.push(total.to_string());
    rows.push(("Total".to_owned(), totals));
    let by_channel_table = table("Casos recibidos por semana y canal", &head, rows);
    let mut head = vec!["Semana"];
    head.extend(category_names.values().map(String::as_str));
    head.push("Total");
    let mut rows: Vec<(String, Vec<String>)> = (0..weeks.len())
        .map(|w| {
            let mut cells: Vec<String> = category_names
                .keys()
                .map(|c| by_category.get(&(*c, w)).copied().unwrap_or(0).to_string())
                .collect();
            cells.push(per_week[w].to_string());
            (week_label(w), cells)
        })
        .collect();
    let mut totals: Vec<String> = category_names
        .keys()
        .map(|c| category_total(*c).to_string())
        .collect();
    totals.push(total.to_string());
    rows.push(("Total".to_owned(), totals));
    let by_category_table = table("Casos recibidos por semana y categoría", &head, rows);
    sections.push(FigureSection {
        id: "recibidos",
        title: "Casos recibidos por semana".to_owned(),
        note: Some("Semanas de lunes a domingo, hora de la Ciudad de México.".to_owned()),
        charts: vec![
            FigureChart::plain(chart::vertical(
                "Casos recibidos por semana",
                &weeks
                    .iter()
                    .zip(&per_week)
                    .map(|(d, n)| Bar::new(short(*d), vec![*n as f64], n.to_string()))
                    .collect::<Vec<_>>(),
            )),
            FigureChart::plain(chart::horizontal(
                "Casos recibidos por canal",
                &channels
                    .iter()
                    .map(|c| {
                        let n = channel_total(*c);
                        Bar::new(
                            views::channel_label(Channel::ALL[*c]),
                            vec![n as f64],
                            n.to_string(),
                        )
                    })
                    .collect::<Vec<_>>(),
                None,
            )),
            FigureChart::plain(chart::horizontal(
                "Casos recibidos por categoría",
                &category_names
                    .iter()
                    .map(|(c, name)| {
                        let n = category_total(*c);
                        Bar::new(name.as_str(), vec![n as f64], n.to_string())
                    })
                    .collect::<Vec<_>>(),
                None,
            )),
        ],
        tables: vec![by_channel_table, by_category_table],
    });

    // b and c. Open cases by status and department; overdue ones by department.
    let open_total: i64 = open.iter().map(|r| r.cases).sum();
    let overdue_total: i64 = open.iter().map(|r| r.overdue).sum();
    summary.push(Fact {
        label: "Abiertos",
        value: open_total.to_string(),
    });
    summary.push(Fact {
        label: "Vencidos",
        value: overdue_total.to_string(),
    });
    let statuses: Vec<(CaseStatus, i64)> = CaseStatus::ALL
        .iter()
        .filter(|s| **s != CaseStatus::Closed)
        .map(|s| {
            (
                *s,
                open.iter()
                    .filter(|r| r.status == *s)
                    .map(|r| r.cases)
                    .sum(),
            )
        })
        .collect();
    // Departments by name; cases not yet given one last.
    let mut departments: BTreeMap<(bool, String), (i64, i64)> = BTreeMap::new();
    for r in &open {
        let key = match &r.department_name {
            Some(name) => (false, name.clone()),
            None => (true, "Sin área".to_owned()),
        };
        let entry = departments.entry(key).or_default();
        entry.0 += r.cases;
        entry.1 += r.overdue;
    }
    sections.push(FigureSection {
        id: "abiertos",
        title: "Casos abiertos".to_owned(),
        note: Some(
            "Casos recibidos en el periodo que no están cerrados (incluye los atendidos que esperan su cierre)."
                .to_owned(),
        ),
        charts: vec![
            FigureChart::plain(chart::horizontal(
                "Casos abiertos por estado",
                &statuses
                    .iter()
                    .map(|(s, n)| Bar::new(status_label(*s), vec![*n as f64], n.to_string()))
                    .collect::<Vec<_>>(),
                None,
            )),
            FigureChart::plain(chart::horizontal(
                "Casos abiertos por área",
                &departments
                    .iter()
                    .map(|((_, name), (n, _))| Bar::new(name.as_str(), vec![*n as f64], n.to_string()))
                    .collect::<Vec<_>>(),
                None,
            )),
        ],
        tables: vec![
            table(
                "Casos abiertos por estado",
                &["Estado", "Casos"],
                statuses
                    .iter()
                    .map(|(s, n)| (status_label(*s).to_owned(), vec![n.to_string()]))
                    .chain([("Total".to_owned(), vec![open_total.to_string()])])
                    .collect(),
            ),
            table(
                "Casos abiertos por área",
                &["Área", "Casos"],
                departments
                    .iter()
                    .map(|((_, name), (n, _))| (name.clone(), vec![n.to_string()]))
                    .chain([("Total".to_owned(), vec![open_total.to_string()])])
                    .collect(),
            ),
        ],
    });
    sections.push(FigureSection {
        id: "vencidos",
        title: "Casos vencidos por área".to_owned(),
        note: Some(
            "Casos que pasaron su plazo (clasificar, dar respuesta o resolver, según la categoría) y no están atendidos ni cerrados."
                .to_owned(),
        ),
        charts: vec![FigureChart::plain(chart::horizontal(
            "Casos vencidos por área",
            &departments
                .iter()
                .map(|((_, name), (_, late))| {
                    Bar::new(name.as_str(), vec![*late as f64], late.to_string())
                })
                .collect::<Vec<_>>(),
            None,
        ))],
        tables: vec![table(
            "Casos vencidos por área",
            &["Área", "Vencidos", "Abiertos", "Vencidos de los abiertos"],
            departments
                .iter()
                .map(|((_, name), (n, late))| {
                    (
                        name.clone(),
                        vec![late.to_string(), n.to_string(), percent(*late, *n)],
                    )
                })
                .chain([(
                    "Total".to_owned(),
                    vec![
                        overdue_total.to_string(),
                        open_total.to_string(),
                        percent(overdue_total, open_total),
                    ],
                )])
                .collect(),
        )],
    });

    // d. Time to route and to attend, per category; e. cases reopened.
    sections.push(times_section(&spreads));
    let received = received_total;
    let share = percent(reopened, received);
    summary.push(Fact {
        label: "Reabiertos",
        value: share.clone(),
    });
    let share_value = if received == 0 {
        0.0
    } else {
        reopened as f64 * 100.0 / received as f64
    };
    sections.push(FigureSection {
        id: "reabiertos",
        title: "Casos reabiertos".to_owned(),
        note: Some(format!(
            "{reopened} de {received} casos recibidos en el periodo se reabrieron al menos una vez: {share}."
        )),
        charts: vec![FigureChart::plain(chart::horizontal(
            "Porcentaje de casos reabiertos",
            &[Bar::new("Reabiertos", vec![share_value], share.clone())],
            Some(100.0),
        ))],
        tables: vec![table(
            "Casos reabiertos",
            &["", "Casos"],
            vec![
                ("Recibidos".to_owned(), vec![received.to_string()]),
                ("Reabiertos".to_owned(), vec![reopened.to_string()]),
                ("Porcentaje".to_owned(), vec![share]),
            ],
        )],
    });

    // f. Calls per day (the office's line: the office only).
    if let Some(calls) = calls {
        let mut per_day = vec![(0i64, 0i64, 0i64); days.len()];
        for c in &calls {
            let day = usize::try_from(c.bucket).unwrap_or(0).min(days.len() - 1);
            per_day[day].0 += c.calls;
            per_day[day].1 += c.abandoned;
            per_day[day].2 += c.owed;
        }
        let sum = per_day
            .iter()
            .fold((0, 0, 0), |a, d| (a.0 + d.0, a.1 + d.1, a.2 + d.2));
        summary.push(Fact {
            label: "Llamadas",
            value: sum.0.to_string(),
        });
        summary.push(Fact {
            label: "Abandonadas",
            value: sum.1.to_string(),
        });
        summary.push(Fact {
            label: "Abandonadas por devolver",
            value: sum.2.to_string(),
        });
        sections.push(FigureSection {
            id: "llamadas",
            title: "Llamadas por día".to_owned(),
            note: Some(
                "Todas las llamadas que contestó la línea; las abandonadas (sin reporte, consulta ni transferencia); y de éstas, las que hoy siguen por devolver."
                    .to_owned(),
            ),
            charts: vec![FigureChart {
                svg: chart::vertical(
                    "Llamadas por día: contestadas, abandonadas y por devolver",
                    &days
                        .iter()
                        .zip(&per_day)
                        .map(|(d, (n, a, o))| {
                            Bar::new(
                                short(*d),
                                vec![*n as f64, *a as f64, *o as f64],
                                format!("{n} llamadas, {a} abandonadas, {o} por devolver"),
                            )
                        })
                        .collect::<Vec<_>>(),
                )
                .into_string(),
                legend: legend(&[
                    ("s0", "Llamadas"),
                    ("s1", "Abandonadas"),
                    ("s2", "Por devolver"),
                ]),
            }],
            tables: vec![table(
                "Llamadas por día",
                &["Día", "Llamadas", "Abandonadas", "Por devolver"],
                days.iter()
                    .zip(&per_day)
                    .map(|(d, (n, a, o))| (long(*d), vec![n.to_string(), a.to_string(), o.to_string()]))
                    .chain([(
                        "Total".to_owned(),
                        vec![sum.0.to_string(), sum.1.to_string(), sum.2.to_string()],
                    )])
                    .collect(),
            )],
        });
    }

    Ok(Figures {
        period,
        problem,
        summary,
        sections,
        department,
    })
}

/// Median and 90th percentile of the time to route and to attend, per category and overall.
fn times_section(rows: &[TimeSpread]) -> FigureSection {
    // Per category (unclassified last), then every category at once.
    let mut by_category: BTreeMap<(bool, i64), (String, Spread, Spread)> = BTreeMap::new();
    for row in rows {
        let key = (row.whole, row.category_id.unwrap_or(i64::MAX));
        let entry = by_category.entry(key).or_insert_with(|| {
            let name = match (row.whole, &row.category_name) {
                (true, _) => "Todas".to_owned(),
                (false, Some(name)) => name.clone(),
                (false, None) => "Sin clasificar".to_owned(),
            };
            (name, Spread::default(), Spread::default())
        });
        let spread = Spread::of(row);
        match row.to {
            Progress::Routed => entry.1 = spread,
            Progress::Attended => entry.2 = spread,
        }
    }
    if !by_category.keys().any(|(whole, _)| *whole) {
        by_category.insert(
            (true, 0),
            ("Todas".to_owned(), Spread::default(), Spread::default()),
        );
    }
    let spreads: Vec<(String, Spread, Spread)> = by_category.into_values().collect();
    let pair = [("s0", "Percentil 90"), ("s1", "Mediana")];
    FigureSection {
        id: "tiempos",
        title: "Tiempo para canalizar y para atender".to_owned(),
        note: Some(
            "Desde que se recibió el caso hasta que se canalizó a un área por primera vez, y hasta que se marcó atendido por primera vez, de los casos recibidos en el periodo. Mediana: la mitad de los casos tardó eso o menos; percentil 90: nueve de cada diez (rango más cercano)."
                .to_owned(),
        ),
        charts: vec![
            FigureChart {
                svg: chart::horizontal(
                    "Tiempo para canalizar por categoría: mediana y percentil 90, en horas",
                    &spreads
                        .iter()
                        .map(|(name, r, _)| r.bar(name))
                        .collect::<Vec<_>>(),
                    None,
                )
                .into_string(),
                legend: legend(&pair),
            },
            FigureChart {
                svg: chart::horizontal(
                    "Tiempo para atender por categoría: mediana y percentil 90, en horas",
                    &spreads
                        .iter()
                        .map(|(name, _, a)| a.bar(name))
                        .collect::<Vec<_>>(),
                    None,
                )
                .into_string(),
                legend: legend(&pair),
            },
        ],
        tables: vec![table(
            "Tiempo para canalizar y para atender, por categoría",
            &[
                "Categoría",
                "Canalizados",
                "Mediana para canalizar",
                "Percentil 90 para canalizar",
                "Atendidos",
                "Mediana para atender",
                "Percentil 90 para atender",
            ],
            spreads
                .iter()
                .map(|(name, r, a)| {
                    let mut cells = r.cells().to_vec();
                    cells.extend(a.cells());
                    (name.clone(), cells)
                })
                .collect(),
        )],
    }
}

/// The query string of these figures, for links.
fn query_string(period: &Period, department: Option<i64>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("desde", &period.first.format("%Y-%m-%d").to_string());
    q.append_pair("hasta", &period.last.format("%Y-%m-%d").to_string());
    if let Some(id) = department {
        q.append_pair("area", &id.to_string());
    }
    q.finish()
}

/// `GET /cifras`.
pub async fn page(
    State(app): State<AppState>,
    staff: Staff,
    Query(query): Query<FiguresQuery>,
) -> Result<Response, ConsoleError> {
    let figures = figures(&app, &staff, &query).await?;
    let departments = if staff.is_office() {
        app.store
            .departments()
            .await?
            .iter()
            .map(|d| Choice::new(d.id, &d.name, figures.department == Some(d.id)))
            .collect()
    } else {
        Vec::new()
    };
    let page = views::Dashboard {
        page: Page::of(&app, &staff, "Cifras"),
        from: figures.period.first.format("%Y-%m-%d").to_string(),
        until: figures.period.last.format("%Y-%m-%d").to_string(),
        period: format!(
            "Del {} al {}{}",
            long(figures.period.first),
            long(figures.period.last),
            match &staff.department_name {
                Some(name) if !staff.is_office() => format!(" · {name}"),
                _ => String::new(),
            }
        ),
        departments,
        problem: figures.problem,
        summary: figures.summary,
        sections: figures.sections,
        csv: format!(
            "/cifras.csv?{}",
            query_string(&figures.period, figures.department)
        ),
    };
    Ok(page.into_response())
}

/// `GET /cifras.csv`: every table of the figures, one after the other, each under its title.
pub async fn figures_csv(
    State(app): State<AppState>,
    staff: Staff,
    Query(query): Query<FiguresQuery>,
) -> Result<Response, ConsoleError> {
    let figures = figures(&app, &staff, &query).await?;
    // One width for every row (a CSV's rows are all as wide), the widest table's.
    let width = figures
        .sections
        .iter()
        .flat_map(|s| s.tables.iter().map(|t| t.head.len()))
        .max()
        .unwrap_or(0)
        .max(2);
    let padded = |mut cells: Vec<String>| {
        cells.resize(width, String::new());
        cells
    };
    let mut body = CsvBody::new(
        &padded(vec![
            "Cifras".to_owned(),
            format!(
                "{} al {}",
                long(figures.period.first),
                long(figures.period.last)
            ),
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    for section in &figures.sections {
        for t in &section.tables {
            body.row(&padded(Vec::new()));
            body.row(&padded(vec![t.caption.clone()]));
            body.row(&padded(t.head.clone()));
            for (head, cells) in &t.rows {
                let mut row = vec![head.clone()];
                row.extend(cells.iter().cloned());
                body.row(&padded(row));
            }
        }
    }
    Ok(csv::download(
        body,
        &format!(
            "cifras-{}-{}",
            figures.period.first.format("%Y-%m-%d"),
            figures.period.last.format("%Y-%m-%d")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn durations_read_in_hours_then_days() {
        assert_eq!(span_label(5.0), "5.0 h");
        assert_eq!(span_label(47.9), "47.9 h");
        assert_eq!(span_label(72.0), "3.0 días");
    }

    #[test]
    fn the_default_span_is_twelve_whole_weeks_up_to_today() {
        // Friday 27 November 2026.
        let p = Period::default_for(day(2026, 11, 27));
        assert_eq!(
            p.first,
            day(2026, 9, 7),
            "a Monday eleven weeks before this one"
        );
        assert_eq!(p.first.weekday(), Weekday::Mon);
        assert_eq!(p.week_starts().len(), 12);
        assert_eq!(p.days().len(), 11 * 7 + 5);
    }

    #[test]
    fn weeks_start_on_monday_and_days_at_mexico_city_midnight() {
        // Wednesday 4 to Tuesday 17 November 2026: three weeks, the first and last partial.
        let p = Period {
            first: day(2026, 11, 4),
            last: day(2026, 11, 17),
        };
        assert_eq!(
            p.week_starts(),
            vec![day(2026, 11, 4), day(2026, 11, 9), day(2026, 11, 16)]
        );
        assert_eq!(
            limits(&p.week_starts()),
            vec![midnight(day(2026, 11, 9)), midnight(day(2026, 11, 16))]
        );
        // UTC-6, no daylight saving since 2022.
        assert_eq!(
            format!("{:?}", midnight(day(2026, 11, 9))),
            "2026-11-09T06:00:00.000000Z"
        );
        assert_eq!(format!("{:?}", p.until()), "2026-11-18T06:00:00.000000Z");
    }

    #[test]
    fn a_span_is_read_leniently_and_held_to_a_year() {
        let today = day(2026, 11, 27);
        let (p, problem) = Period::of("2026-11-01", "2026-11-10", today);
        assert_eq!((p.first, p.last), (day(2026, 11, 1), day(2026, 11, 10)));
        assert!(problem.is_none());
        let (p, problem) = Period::of("2026-11-10", "2026-11-01", today);
        assert_eq!(p, Period::default_for(today));
        assert!(problem.is_some());
        let (p, problem) = Period::of("2020-01-01", "2026-11-27", today);
        assert_eq!(p.days().len(), MAX_DAYS as usize);
        assert!(problem.unwrap().contains("un año"));
        let (p, _) = Period::of("basura", "", today);
        assert_eq!(p, Period::default_for(today));
    }
}
