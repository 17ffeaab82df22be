//! Console sessions kept in our own database (either backend), through tower-sessions.
//!
//! tower-sessions handles the cookie, the id (128 random bits), expiry and `cycle_id` at sign-in;
//! this is only its store: records go to the `sessions` table as JSON, so any instance behind a
//! balancer can read a session another one made, and a restart signs nobody out.

use crate::domain::Timestamp;
use crate::state::Clock;
use crate::store::{SessionRow, Store};
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The `sessions` table as a tower-sessions store.
#[derive(Clone, Debug)]
pub struct DbSessions {
    store: Store,
    clock: Clock,
}

impl DbSessions {
    pub fn new(store: Store, clock: Clock) -> DbSessions {
        DbSessions { store, clock }
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_timestamp(at: time::OffsetDateTime) -> Timestamp {
    let micros = at.unix_timestamp_nanos() / 1_000;
    let micros = i64::try_from(micros).unwrap_or(i64::MAX);
    Timestamp::from_utc(chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

fn to_offset(at: Timestamp) -> time::OffsetDateTime {
    let nanos = i128::from(at.as_utc().timestamp_micros()) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn row_of(record: &Record) -> session_store::Result<SessionRow> {
    Ok(SessionRow {
        id: record.id.to_string(),
        data: serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?,
        expires_at: to_timestamp(record.expiry_date),
    })
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id until one is free: a new session never takes over another's.
        loop {
            if self
                .store
                .save_session(&row_of(record)?, true)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store
            .save_session(&row_of(record)?, false)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = self
            .store
            .session(&id.to_string(), self.clock.now())
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&row.data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: to_offset(row.expires_at),
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .delete_session(&id.to_string(), self.clock.now())
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_to_the_microsecond() {
        let at = Timestamp::from_utc(
            chrono::DateTime::parse_from_rfc3339("2026-11-30T10:11:12.345678Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        );
        assert_eq!(to_timestamp(to_offset(at)), at);
    }
}
