//! SQLite's WAL checkpoints, off the write connection.
//!
//! SQLite copies the write-ahead log back into the database file (a checkpoint) once the log
//! passes a thousand pages, by default on the connection whose commit crossed that line: that
//! commit then also waits for the copy and two `fsync`s. Every write goes through one
//! connection here (see [`Backend`](super::Backend)), and under a burst of calls the log passes
//! a thousand pages several times a second, so one webhook in a few hundred waited for a
//! checkpoint behind its own commit or another's (measured with `perf` on the `fsync` calls of
//! the write connection's thread: two per checkpoint, 1.3 ms each at the median, 9 ms at worst).
//!
//! Instead the write connection never checkpoints (`wal_autocheckpoint = 0`), and a task of the
//! store runs a passive checkpoint on a connection of its own every [`EVERY`]. A passive
//! checkpoint takes no lock a writer needs: commits go on while it copies and syncs, and the
//! next commit after a complete one starts the log again from its beginning. The task ends when
//! the store is dropped; the last connection to close checkpoints what is left, as SQLite
//! always does.

use super::Health;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the log is copied back: about a thousand pages at a few hundred calls a minute.
pub const EVERY: Duration = Duration::from_millis(100);

/// Starts the checkpoint task of the store whose health is `health` (it ends with the store).
pub(super) fn start(options: SqliteConnectOptions, health: &Arc<Health>) {
    let alive: Weak<Health> = Arc::downgrade(health);
    tokio::spawn(async move {
        let mut conn: Option<SqliteConnection> = None;
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 {
                break;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match options.connect().await {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        tracing::debug!(error = %e, "could not open the checkpoint connection");
                        continue;
                    }
                },
            };
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *c)
                .await
            {
                // Busy (another process checkpointing) passes at the next tick; a broken
                // connection is opened again.
                tracing::debug!(error = %e, "a WAL checkpoint failed");
                if let Some(c) = conn.take() {
                    let _ = c.close().await;
                }
            }
        }
        if let Some(c) = conn {
            let _ = c.close().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::{Backend, Store};
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_back_by_the_store_not_by_the_writer() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let Backend::Sqlite { write, .. } = &store.backend else {
            unreachable!()
        };

        // Act: about 2 MB through the write connection.
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(write)
            .await
            .unwrap();
        sqlx::query("create table t (x blob)")
            .execute(write)
            .await
            .unwrap();
        let mut n = 0;
        for _ in 0..500 {
            n += sqlx::query("insert into t values (randomblob(4000))")
                .execute(write)
                .await
                .unwrap()
                .rows_affected();
        }
        assert_eq!(n, 500);

        // Assert: the write connection never checkpoints, and the pages still reach the
        // database file.
        assert_eq!(auto, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let size = std::fs::metadata(&path).unwrap().len();
            if size > 2_000_000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file stayed at {size} bytes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
