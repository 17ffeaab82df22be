//! The date the office commits to answer a report by, as told to the citizen.
//!
//! Set once, when the case is made, from its category's first-response deadline counted in
//! working days (días hábiles, as Mexican administrative deadlines are counted): Monday to
//! Friday, except the statutory rest days of the Ley Federal del Trabajo, art. 74. The citizen
//! hears it with the folio and in every status answer, until the case has its answer (a
//! department working on it, attended or closed). A later change of category does not move it:
//! it is what the citizen was told. When the date has passed without an answer, the line says
//! so rather than repeating a promise already broken.

use super::{CaseStatus, Timestamp};
use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::America::Mexico_City;

/// Working days to answer when a case has no category (the default `first_response_days`).
pub const DEFAULT_WORKING_DAYS: i64 = 5;

/// The date a report made at `reported` is answered by: `working_days` working days after the
/// day it was made (Mexico City's calendar).
pub fn answer_by(reported: Timestamp, working_days: i64) -> NaiveDate {
    let mut day = reported.as_utc().with_timezone(&Mexico_City).date_naive();
    let mut left = working_days.max(1);
    while left > 0 {
        day = day.succ_opt().expect("dates in range");
        if is_working_day(day) {
            left -= 1;
        }
    }
    day
}

/// Monday to Friday, except the statutory rest days (LFT art. 74): 1 January, the first
/// Monday of February, the third Monday of March, 1 May, 16 September, the third Monday of
/// November, 25 December, and 1 October of the years a federal government takes office.
pub fn is_working_day(day: NaiveDate) -> bool {
    if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        return false;
    }
    let nth_monday = |month: u32, n: u8| {
        NaiveDate::from_weekday_of_month_opt(day.year(), month, Weekday::Mon, n) == Some(day)
    };
    let fixed = matches!(
        (day.month(), day.day()),
        (1, 1) | (5, 1) | (9, 16) | (12, 25)
    );
    let inauguration = (day.month(), day.day()) == (10, 1) && (day.year() - 2024) % 6 == 0;
    !(fixed || inauguration || nth_monday(2, 1) || nth_monday(3, 3) || nth_monday(11, 3))
}

/// Where a case stands against its promise, when the citizen should hear about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// Still ahead (or today): "le daremos respuesta a más tardar el ...".
    Pending(NaiveDate),
    /// Passed without an answer: said honestly.
    Overdue(NaiveDate),
}

impl Promise {
    /// The promise to mention for a case in `status`, today being `now`: none once the case has
    /// its answer (in progress, attended, closed), when it was reopened (the first answer was
    /// given), or for a case made before promises were kept.
    pub fn of(status: CaseStatus, answer_by: Option<NaiveDate>, now: Timestamp) -> Option<Promise> {
        let date = answer_by?;
        let waiting = matches!(
            status,
            CaseStatus::Received | CaseStatus::InReview | CaseStatus::Routed
        );
        if !waiting {
            return None;
        }
        let today = now.as_utc().with_timezone(&Mexico_City).date_naive();
        Some(if today <= date {
            Promise::Pending(date)
        } else {
            Promise::Overdue(date)
        })
    }
}

/// Weekdays, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
];

/// Months, January first.
pub const MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// A date as said on the phone: "lunes 7 de diciembre", with the year only when it is not the
/// current one ("lunes 4 de enero de 2027").
pub fn spoken(date: NaiveDate, now: Timestamp) -> String {
    let this_year = now.as_utc().with_timezone(&Mexico_City).year();
    let text = long(date);
    if date.year() == this_year {
        let year = format!(" de {}", date.year());
        return text.strip_suffix(&year).unwrap_or(&text).to_owned();
    }
    text
}

/// A date in full, as the console shows it: "viernes 4 de diciembre de 2026".
pub fn long(date: NaiveDate) -> String {
    format!(
        "{} {} de {} de {}",
        WEEKDAYS[date.weekday().num_days_from_monday() as usize],
        date.day(),
        MONTHS[date.month0() as usize],
        date.year()
    )
}

/// A date as written in an SMS: "07/12/2026".
pub fn written(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> Timestamp {
        // Mexico City is UTC-6 all year.
        let midnight = chrono::Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        Timestamp::from_utc(midnight + chrono::Duration::hours(i64::from(h) + 6))
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn five_working_days_from_a_monday_is_the_next_monday() {
        assert_eq!(answer_by(at(2026, 11, 30, 10), 5), date(2026, 12, 7));
        // Late on Friday night, Mexico City time (already Saturday in UTC): from Friday.
        assert_eq!(answer_by(at(2026, 12, 4, 23), 1), date(2026, 12, 7));
        // A report on a Saturday counts from Monday.
        assert_eq!(answer_by(at(2026, 12, 5, 10), 1), date(2026, 12, 7));
    }

    #[test]
    fn rest_days_are_skipped() {
        // 25 December 2026 is a Friday; 1 January 2027 too.
        assert!(!is_working_day(date(2026, 12, 25)));
        assert!(!is_working_day(date(2027, 1, 1)));
        assert_eq!(answer_by(at(2026, 12, 21, 10), 5), date(2026, 12, 29));
        // Third Monday of November 2026: the 16th; first Monday of February 2027: the 1st.
        assert!(!is_working_day(date(2026, 11, 16)));
        assert!(!is_working_day(date(2027, 2, 1)));
        assert!(!is_working_day(date(2027, 3, 15)));
        assert!(!is_working_day(date(2030, 10, 1)));
        assert!(is_working_day(date(2027, 10, 1)));
        assert!(is_working_day(date(2026, 12, 1)));
    }

    #[test]
    fn the_promise_is_said_until_the_case_has_its_answer() {
        let by = Some(date(2026, 12, 7));
        let before = at(2026, 12, 7, 20);
        let after = at(2026, 12, 8, 9);
        assert_eq!(
            Promise::of(CaseStatus::Received, by, before),
            Some(Promise::Pending(date(2026, 12, 7)))
        );
        assert_eq!(
            Promise::of(CaseStatus::Routed, by, after),
            Some(Promise::Overdue(date(2026, 12, 7)))
        );
        for answered in [
            CaseStatus::InProgress,
            CaseStatus::Attended,
            CaseStatus::Closed,
            CaseStatus::Reopened,
        ] {
            assert_eq!(Promise::of(answered, by, after), None);
        }
        assert_eq!(Promise::of(CaseStatus::Received, None, before), None);
    }

    #[test]
    fn dates_are_said_and_written() {
        let now = at(2026, 11, 30, 10);
        assert_eq!(spoken(date(2026, 12, 7), now), "lunes 7 de diciembre");
        assert_eq!(spoken(date(2026, 12, 2), now), "miércoles 2 de diciembre");
        assert_eq!(spoken(date(2027, 1, 4), now), "lunes 4 de enero de 2027");
        assert_eq!(written(date(2026, 12, 7)), "07/12/2026");
    }
}
