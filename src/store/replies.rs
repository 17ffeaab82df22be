//! Answers kept by Twilio's `I-Twilio-Idempotency-Token`, for the voice steps that count
//! something (see `voice::answer_once`).

use super::{Store, StoreError, with_pool, with_read_pool};
use crate::domain::{CallSid, Timestamp};

/// How long an answer is kept: Twilio repeats a request within seconds, not days.
const KEPT_HOURS: i64 = 24;

impl Store {
    /// The answer given to the request with `token`, if any.
    pub async fn voice_reply(&self, token: &str) -> Result<Option<String>, StoreError> {
        let body = with_read_pool!(self, |pool| {
            sqlx::query_scalar("select body from voice_replies where token = $1")
                .bind(token)
                .fetch_optional(pool)
                .await?
        });
        Ok(body)
    }

    /// Keeps the answer given to the request with `token` (the first one wins), and forgets
    /// answers older than a day.
    pub async fn keep_voice_reply(
        &self,
        token: &str,
        call_sid: &CallSid,
        step: &str,
        body: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let old = Timestamp::from_utc(at.as_utc() - chrono::TimeDelta::hours(KEPT_HOURS));
        with_pool!(self, |pool| {
            sqlx::query(
                r#"
                insert into voice_replies (token, call_sid, step, body, received_at)
                values ($1, $2, $3, $4, $5)
                on conflict (token) do nothing
                "#,
            )
            .bind(token)
            .bind(call_sid.as_str())
            .bind(step)
            .bind(body)
            .bind(at)
            .execute(pool)
            .await?;
            sqlx::query("delete from voice_replies where received_at < $1")
                .bind(old)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
