//! Instants, and how they are stored and spoken.
//!
//! Every timestamp is produced in Rust (never by the database's clock) and stored as UTC: as
//! `timestamptz` in PostgreSQL, and in SQLite as fixed-width RFC 3339 text with six fractional
//! digits and a `Z`, so that text order is time order. The office lives in
//! America/Mexico_City (no daylight saving since 2022); local dates are only made when speaking
//! or showing a date to a person.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use chrono_tz::America::Mexico_City;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use std::fmt;

/// An instant in UTC, stored identically (and sortably) on both databases.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Wraps a UTC instant, truncated to microseconds (what both databases keep).
    pub fn from_utc(at: DateTime<Utc>) -> Timestamp {
        let micros = at.timestamp_micros();
        Timestamp(DateTime::from_timestamp_micros(micros).expect("in range"))
    }

    pub fn as_utc(&self) -> DateTime<Utc> {
        self.0
    }

    /// The SQLite representation: `2026-11-28T06:44:36.123456Z`.
    fn to_sqlite_text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// The calendar day in Mexico City.
    pub fn local_date(&self) -> chrono::NaiveDate {
        self.0.with_timezone(&Mexico_City).date_naive()
    }

    /// Spanish date as a person says it: "28 de noviembre de 2026", in Mexico City time.
    pub fn spoken_date_es(&self) -> String {
        let local = self.0.with_timezone(&Mexico_City);
        format!(
            "{} de {} de {}",
            local.day(),
            super::promise::MONTHS[local.month0() as usize],
            local.year()
        )
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Timestamp::from_utc(at)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sqlite_text())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sqlite_text())
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> <Sqlite as sqlx::Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as sqlx::Database>::TypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.to_sqlite_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: <Sqlite as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Timestamp(
            DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc),
        ))
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> <Postgres as sqlx::Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &<Postgres as sqlx::Database>::TypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: <Postgres as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Timestamp(<DateTime<Utc> as Decode<'r, Postgres>>::decode(
            value,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sqlite_text_is_fixed_width_and_sorts_as_time() {
        let a = Timestamp::from_utc(Utc.with_ymd_and_hms(2026, 11, 28, 6, 44, 36).unwrap());
        let b = Timestamp::from_utc(a.as_utc() + chrono::Duration::microseconds(1));
        assert_eq!(a.to_sqlite_text(), "2026-11-28T06:44:36.000000Z");
        assert_eq!(b.to_sqlite_text().len(), a.to_sqlite_text().len());
        assert!(a.to_sqlite_text() < b.to_sqlite_text());
    }

    #[test]
    fn spoken_date_uses_mexico_city_time() {
        // 03:00 UTC on 1 December is still 30 November in Mexico City (UTC-6).
        let t = Timestamp::from_utc(Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap());
        assert_eq!(t.spoken_date_es(), "30 de noviembre de 2026");
    }
}
