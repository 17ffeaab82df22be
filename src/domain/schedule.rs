//! Office hours, in Mexico City time.
//!
//! The phone line offers "talk to staff" only while someone is there to answer. Hours are
//! configured as text such as `mon-fri 09:00-15:00` or `lun-vie 09:00-15:00; sab 09:00-13:00`
//! (English or Spanish day names, ranges or single days, several spans separated by `;` or `,`),
//! checked in America/Mexico_City, and spoken back in Spanish when a caller asks out of hours.

use chrono::{DateTime, Datelike, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::America::Mexico_City;
use std::fmt;
use std::str::FromStr;

/// Days as the config may spell them (English and Spanish, with or without accents).
const DAY_NAMES: &[(&str, Weekday)] = &[
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
    ("lun", Weekday::Mon),
    ("mar", Weekday::Tue),
    ("mie", Weekday::Wed),
    ("mié", Weekday::Wed),
    ("jue", Weekday::Thu),
    ("vie", Weekday::Fri),
    ("sab", Weekday::Sat),
    ("sáb", Weekday::Sat),
    ("dom", Weekday::Sun),
];

const SPANISH_DAYS: [&str; 7] = [
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
];

/// One span: some consecutive days, one time window on each.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    first: Weekday,
    last: Weekday,
    opens: NaiveTime,
    /// `None` means until midnight (written `24:00`).
    closes: Option<NaiveTime>,
}

/// When the office answers the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    spans: Vec<Span>,
    text: String,
}

impl OfficeHours {
    /// Whether the office is open at this instant.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&Mexico_City);
        let day = local.weekday().num_days_from_monday();
        let time = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second())
            .expect("valid time");
        self.spans.iter().any(|s| {
            let in_days =
                (s.first.num_days_from_monday()..=s.last.num_days_from_monday()).contains(&day);
            in_days && time >= s.opens && s.closes.is_none_or(|c| time < c)
        })
    }

    /// The hours in Spanish, as the IVR says them: "de lunes a viernes, de 9 a 15 horas".
    pub fn spoken_es(&self) -> String {
        let spans: Vec<String> = self
            .spans
            .iter()
            .map(|s| {
                let days = if s.first == s.last {
                    format!("los {}", plural_day(s.first))
                } else {
                    format!(
                        "de {} a {}",
                        SPANISH_DAYS[s.first.num_days_from_monday() as usize],
                        SPANISH_DAYS[s.last.num_days_from_monday() as usize]
                    )
                };
                let closes = s.closes.map_or("24".to_owned(), spoken_time);
                format!("{days}, de {} a {closes} horas", spoken_time(s.opens))
            })
            .collect();
        match spans.len() {
            0 => String::new(),
            1 => spans[0].clone(),
            n => format!("{} y {}", spans[..n - 1].join("; "), spans[n - 1]),
        }
    }
}

fn plural_day(d: Weekday) -> &'static str {
    match d {
        Weekday::Sat => "sábados",
        Weekday::Sun => "domingos",
        other => SPANISH_DAYS[other.num_days_from_monday() as usize],
    }
}

fn spoken_time(t: NaiveTime) -> String {
    match t.minute() {
        0 => t.hour().to_string(),
        m => format!("{}:{m:02}", t.hour()),
    }
}

fn parse_day(s: &str) -> Option<Weekday> {
    let s = s.trim().to_lowercase();
    DAY_NAMES
        .iter()
        .find(|(name, _)| s.starts_with(name))
        .map(|(_, d)| *d)
}

fn parse_time(s: &str) -> Option<Option<NaiveTime>> {
    let s = s.trim();
    if s == "24:00" {
        return Some(None);
    }
    NaiveTime::parse_from_str(s, "%H:%M").ok().map(Some)
}

/// Why office hours could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected spans like \"mon-fri 09:00-15:00; sat 09:00-13:00\", got {0:?}")]
pub struct OfficeHoursError(String);

impl FromStr for OfficeHours {
    type Err = OfficeHoursError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || OfficeHoursError(s.to_owned());
        let mut spans = Vec::new();
        for part in s.split([';', ',']).map(str::trim).filter(|p| !p.is_empty()) {
            let (days, times) = part.split_once(char::is_whitespace).ok_or_else(err)?;
            let (first, last) = match days.split_once('-') {
                Some((a, b)) => (parse_day(a).ok_or_else(err)?, parse_day(b).ok_or_else(err)?),
                None => {
                    let d = parse_day(days).ok_or_else(err)?;
                    (d, d)
                }
            };
            let (opens, closes) = times.trim().split_once('-').ok_or_else(err)?;
            let opens = parse_time(opens).flatten().ok_or_else(err)?;
            let closes = parse_time(closes).ok_or_else(err)?;
            if first.num_days_from_monday() > last.num_days_from_monday()
                || closes.is_some_and(|c| c <= opens)
            {
                return Err(err());
            }
            spans.push(Span {
                first,
                last,
                opens,
                closes,
            });
        }
        if spans.is_empty() {
            return Err(err());
        }
        Ok(OfficeHours {
            spans,
            text: s.trim().to_owned(),
        })
    }
}

impl fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn mx(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Mexico_City
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn weekday_hours_in_mexico_city() {
        let hours: OfficeHours = "mon-fri 09:00-15:00".parse().unwrap();
        // Friday 27 November 2026.
        assert!(hours.is_open_at(mx(2026, 11, 27, 9, 0)));
        assert!(hours.is_open_at(mx(2026, 11, 27, 14, 59)));
        assert!(!hours.is_open_at(mx(2026, 11, 27, 15, 0)));
        assert!(!hours.is_open_at(mx(2026, 11, 27, 8, 59)));
        // Saturday.
        assert!(!hours.is_open_at(mx(2026, 11, 28, 10, 0)));
        assert_eq!(hours.spoken_es(), "de lunes a viernes, de 9 a 15 horas");
    }

    #[test]
    fn spanish_names_and_several_spans() {
        let hours: OfficeHours = "lun-vie 08:30-16:00; sáb 09:00-13:00".parse().unwrap();
        assert!(hours.is_open_at(mx(2026, 11, 28, 12, 0)));
        assert!(!hours.is_open_at(mx(2026, 11, 29, 12, 0)));
        assert_eq!(
            hours.spoken_es(),
            "de lunes a viernes, de 8:30 a 16 horas y los sábados, de 9 a 13 horas"
        );
        let always: OfficeHours = "mon-sun 00:00-24:00".parse().unwrap();
        assert!(always.is_open_at(mx(2026, 11, 29, 23, 59)));
    }

    #[test]
    fn malformed_hours_are_rejected() {
        for bad in [
            "",
            "weekdays",
            "mon-fri",
            "fri-mon 09:00-15:00",
            "mon 15:00-09:00",
            "mon 9-15",
        ] {
            assert!(bad.parse::<OfficeHours>().is_err(), "{bad}");
        }
    }
}
