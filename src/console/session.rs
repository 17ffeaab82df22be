//! Console sessions kept in our own database (either backend), through tower-sessions.
//!
//! tower-sessions handles the cookie, the id (128 random bits), expiry and `cycle_id` at sign-in;
//! this is only its store: records go to the `sessions` table as JSON, so any instance behind a
//! balancer can read a session another one made, and a restart signs nobody out.
//!
//! A row's `expires_at` is the service's own clock plus the idle limit, or the sign-in instant
//! plus the absolute limit if that comes first: the row is worth nothing after it, and the
//! sweep at sign-in deletes it.

use crate::config::SessionLifetimes;
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
    lifetimes: SessionLifetimes,
}

impl DbSessions {
    pub fn new(store: Store, clock: Clock, lifetimes: SessionLifetimes) -> DbSessions {
        DbSessions {
            store,
            clock,
            lifetimes,
        }
    }

    /// When a record saved now expires (see the module's documentation).
    fn expiry(&self, record: &Record) -> Timestamp {
        let now = self.clock.now().as_utc();
        let idle = chrono::TimeDelta::from_std(self.lifetimes.idle).unwrap_or_default();
        let max = chrono::TimeDelta::from_std(self.lifetimes.max).unwrap_or_default();
        let signed_in = record
            .data
            .get(super::auth::SIGNED_IN_KEY)
            .and_then(|v| serde_json::from_value::<super::auth::SignedIn>(v.clone()).ok())
            .and_then(|s| s.since)
            .and_then(|since| chrono::DateTime::from_timestamp(since, 0));
        let by_idle = now + idle;
        Timestamp::from_utc(signed_in.map_or(by_idle, |at| by_idle.min(at + max)))
    }

    fn row_of(&self, record: &Record) -> session_store::Result<SessionRow> {
        Ok(SessionRow {
            id: record.id.to_string(),
            data: serde_json::to_string(&record.data)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?,
            expires_at: self.expiry(record),
        })
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_offset(at: Timestamp) -> time::OffsetDateTime {
    let nanos = i128::from(at.as_utc().timestamp_micros()) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id until one is free: a new session never takes over another's.
        loop {
            if self
                .store
                .save_session(&self.row_of(record)?, true)
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
            .save_session(&self.row_of(record)?, false)
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
    fn instants_keep_the_microsecond() {
        let at = Timestamp::from_utc(
            chrono::DateTime::parse_from_rfc3339("2026-11-30T10:11:12.345678Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        );
        let micros = i128::from(at.as_utc().timestamp_micros());
        assert_eq!(to_offset(at).unix_timestamp_nanos(), micros * 1_000);
    }
}
