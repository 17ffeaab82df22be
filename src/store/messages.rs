//! Text messages: the outbox, delivery status, incoming messages, opt-outs and staff alerts.

use super::{Store, StoreError, with_pool, with_read_pool};
use crate::domain::{
    Address, CaseStatus, Channel, ClosureReason, Direction, MessageStatus, MessageTemplate,
    Timestamp,
};

/// When the quiet hours begin and end, in America/Mexico_City: Twilio's Mexico guidelines
/// advise no messages between 21:00 and 09:00.
pub const QUIET_FROM_HOUR: u32 = 21;
pub const QUIET_UNTIL_HOUR: u32 = 9;

/// When a message written at `at` may go out without breaking the quiet hours: `at` itself
/// from 09:00 to 20:59:59 in Mexico City, else the next 09:00 there (the same day after
/// midnight, the next day from 21:00).
pub fn after_quiet_hours(at: Timestamp) -> Timestamp {
    use chrono::{Days, NaiveTime, TimeZone, Timelike};
    use chrono_tz::America::Mexico_City;
    let local = at.as_utc().with_timezone(&Mexico_City);
    let hour = local.hour();
    if (QUIET_UNTIL_HOUR..QUIET_FROM_HOUR).contains(&hour) {
        return at;
    }
    let day = if hour >= QUIET_FROM_HOUR {
        local.date_naive() + Days::new(1)
    } else {
        local.date_naive()
    };
    let nine = day.and_time(NaiveTime::from_hms_opt(QUIET_UNTIL_HOUR, 0, 0).expect("a time"));
    // Mexico City has kept standard time all year since 2022; were 09:00 ever skipped or
    // repeated, the earliest instant of it (or, for a gap, an hour later) would do.
    let local_nine = Mexico_City
        .from_local_datetime(&nine)
        .earliest()
        .or_else(|| {
            Mexico_City
                .from_local_datetime(&(nine + chrono::Duration::hours(1)))
                .earliest()
        })
        .expect("09:00 or 10:00 exists in Mexico City");
    Timestamp::from_utc(local_nine.with_timezone(&chrono::Utc))
}

/// An outbound message with what its template needs from its case.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboundMessage {
    pub id: i64,
    pub case_id: Option<i64>,
    pub to_number: Option<String>,
    pub template: Option<MessageTemplate>,
    pub body: Option<String>,
    pub status: MessageStatus,
    pub twilio_sid: Option<String>,
    pub folio: Option<String>,
    pub category_name: Option<String>,
    pub department_name: Option<String>,
    pub case_status: Option<CaseStatus>,
    pub closure_reason: Option<ClosureReason>,
    pub action_summary: Option<String>,
    /// The date the citizen was told the case would be answered by.
    pub answer_by: Option<chrono::NaiveDate>,
    /// The address typed at triage.
    #[sqlx(flatten)]
    pub address: Address,
}

/// A message as logged, for listings and tests.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRecord {
    pub id: i64,
    pub direction: Direction,
    pub case_id: Option<i64>,
    pub channel: Channel,
    pub to_number: Option<String>,
    pub from_number: Option<String>,
    pub template: Option<MessageTemplate>,
    pub body: Option<String>,
    pub status: MessageStatus,
    pub twilio_sid: Option<String>,
    pub error_code: Option<String>,
    pub segments: Option<i64>,
}

/// An incoming message to log.
#[derive(Debug, Clone)]
pub struct InboundMessage<'a> {
    pub channel: Channel,
    pub from_number: Option<&'a str>,
    pub to_number: Option<&'a str>,
    pub body: &'a str,
    pub twilio_sid: Option<&'a str>,
    pub case_id: Option<i64>,
    pub at: Timestamp,
}

/// What became of an outbound message: its status, and whatever else is known. Fields left
/// `None` keep their stored value.
#[derive(Debug, Clone)]
pub struct MessageUpdate<'a> {
    pub status: MessageStatus,
    /// The rendered text.
    pub body: Option<&'a str>,
    /// Twilio's MessageSid.
    pub twilio_sid: Option<&'a str>,
    pub segments: Option<i64>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

impl<'a> MessageUpdate<'a> {
    /// A new status and the text rendered for it, nothing else known.
    pub fn new(status: MessageStatus, body: &'a str) -> MessageUpdate<'a> {
        MessageUpdate {
            status,
            body: Some(body),
            twilio_sid: None,
            segments: None,
            error_code: None,
            error_message: None,
        }
    }
}

const MESSAGE_COLUMNS: &str = "id, direction, case_id, channel, to_number, from_number, template, body, status, twilio_sid, error_code, segments";

impl Store {
    /// An outbound message and its case's details, for rendering and sending.
    pub async fn outbound_message(&self, id: i64) -> Result<Option<OutboundMessage>, StoreError> {
        let row = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, OutboundMessage>(
                r#"
                select m.id, m.case_id, m.to_number, m.template, m.body, m.status, m.twilio_sid,
                       cs.folio, c.name as category_name, d.name as department_name,
                       cs.status as case_status, cs.closure_reason, cs.action_summary,
                       cs.answer_by, cs.address_street, cs.address_colonia, cs.address_between,
                       cs.address_references
                from messages m
                left join cases cs on cs.id = m.case_id
                left join categories c on c.id = cs.category_id
                left join departments d on d.id = cs.department_id
                where m.id = $1 and m.direction = $2
                "#,
            )
            .bind(id)
            .bind(Direction::Outbound)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Records what became of a message (see [`MessageUpdate`]). A message Twilio already
    /// reported further along (its delivery report beat this update) keeps its status.
    pub async fn update_message(
        &self,
        id: i64,
        update: &MessageUpdate<'_>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"
                update messages set
                    status = case when twilio_sid is not null and $4 is not null and status <> $9
                                  then status else $2 end,
                    body = coalesce($3, body),
                    twilio_sid = coalesce($4, twilio_sid), segments = coalesce($5, segments),
                    error_code = coalesce($6, error_code), error_message = coalesce($7, error_message),
                    updated_at = $8
                where id = $1
                "#,
            )
            .bind(id)
            .bind(update.status)
            .bind(update.body)
            .bind(update.twilio_sid)
            .bind(update.segments)
            .bind(update.error_code)
            .bind(update.error_message)
            .bind(at)
            .bind(MessageStatus::Pending)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records a delivery status from Twilio's message status callback, by MessageSid or, if
    /// the callback beat our own update, by our message id. Twilio does not promise its reports
    /// arrive in order, so a status never goes back (a late "sent" does not undo "delivered").
    /// Returns whether a message matched.
    pub async fn record_delivery_status(
        &self,
        twilio_sid: &str,
        message_id: Option<i64>,
        status: MessageStatus,
        error_code: Option<&str>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        // The rank of the stored status, from the one list in `MessageStatus::rank`.
        let ranks: String = MessageStatus::ALL
            .iter()
            .filter(|s| s.rank() > 1)
            .map(|s| format!("when '{}' then {} ", s.code(), s.rank()))
            .collect();
        let sql = format!(
            r#"
            update messages set status = $3, error_code = coalesce($4, error_code),
                                twilio_sid = coalesce(twilio_sid, $1), updated_at = $5
            where direction = $7
              and (twilio_sid = $1 or (twilio_sid is null and id = $2))
              and (case status {ranks}else 1 end) <= $6
            "#
        );
        let n = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(twilio_sid)
                .bind(message_id)
                .bind(status)
                .bind(error_code)
                .bind(at)
                .bind(status.rank())
                .bind(Direction::Outbound)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Logs an incoming message; returns its id.
    pub async fn log_inbound_message(&self, m: &InboundMessage<'_>) -> Result<i64, StoreError> {
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"
                insert into messages (direction, case_id, channel, to_number, from_number, body, status,
                                      twilio_sid, created_at, updated_at)
                values ($8, $1, $2, $3, $4, $5, $9, $6, $7, $7)
                on conflict (twilio_sid) do update set updated_at = excluded.updated_at
                returning id
                "#,
            )
            .bind(m.case_id)
            .bind(m.channel)
            .bind(m.to_number)
            .bind(m.from_number)
            .bind(m.body)
            .bind(m.twilio_sid)
            .bind(m.at)
            .bind(Direction::Inbound)
            .bind(MessageStatus::Received)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// Logs the reply we gave to an incoming message (sent by Twilio from our TwiML); `reply_to`
    /// is that message's MessageSid.
    #[allow(clippy::too_many_arguments)]
    pub async fn log_reply(
        &self,
        channel: Channel,
        to_number: Option<&str>,
        case_id: Option<i64>,
        template: MessageTemplate,
        body: &str,
        reply_to: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"
                insert into messages (direction, case_id, channel, to_number, template, body, status, reply_to, created_at, updated_at)
                values ($7, $1, $2, $3, $4, $5, $8, $9, $6, $6)
                "#,
            )
            .bind(case_id)
            .bind(channel)
            .bind(to_number)
            .bind(template)
            .bind(body)
            .bind(at)
            .bind(Direction::Outbound)
            .bind(MessageStatus::Replied)
            .bind(reply_to)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether an incoming message with this MessageSid was handled already, and the reply it
    /// got then (`Some(None)`: handled, not answered).
    pub async fn earlier_reply(
        &self,
        message_sid: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let seen = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"select count(*) from messages where twilio_sid = $1 and direction = $2"#,
            )
            .bind(message_sid)
            .bind(Direction::Inbound)
            .fetch_one(pool)
            .await?
        });
        if seen == 0 {
            return Ok(None);
        }
        let reply = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, Option<String>>(
                r#"select body from messages where reply_to = $1 order by id limit 1"#,
            )
            .bind(message_sid)
            .fetch_optional(pool)
            .await?
        });
        Ok(Some(reply.flatten()))
    }

    /// How many automatic replies went to `number` since `since` (the cap on replies).
    pub async fn recent_replies(&self, number: &str, since: Timestamp) -> Result<i64, StoreError> {
        let n = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                r#"
                select count(*) from messages
                where direction = $3 and status = $4 and to_number = $1 and created_at >= $2
                "#,
            )
            .bind(number)
            .bind(since)
            .bind(Direction::Outbound)
            .bind(MessageStatus::Replied)
            .fetch_one(pool)
            .await?
        });
        Ok(n)
    }

    /// The messages of a case (or all, with `None`), oldest first.
    pub async fn messages(&self, case_id: Option<i64>) -> Result<Vec<MessageRecord>, StoreError> {
        let sql = format!(
            "select {MESSAGE_COLUMNS} from messages where $1 is null or case_id = $1 order by id"
        );
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, MessageRecord>(&sql)
                .bind(case_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// The id of the message that has this Twilio sid, if one has.
    pub async fn message_by_twilio_sid(&self, twilio_sid: &str) -> Result<Option<i64>, StoreError> {
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>("select id from messages where twilio_sid = $1")
                .bind(twilio_sid)
                .fetch_optional(pool)
                .await?
        });
        Ok(id)
    }

    /// Folio lookups by SMS from this number since `since`: `(failed, all)`, counted from the
    /// replies we gave (the guessing guard of the SMS channel).
    pub async fn recent_sms_lookups(
        &self,
        number: &str,
        since: Timestamp,
    ) -> Result<(i64, i64), StoreError> {
        let counts = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, i64)>(
                r#"
                select coalesce(sum(case when template in ($5, $6) then 1 else 0 end), 0),
                       count(*)
                from messages
                where direction = $3 and status = $4 and to_number = $1 and created_at >= $2
                  and template in ($5, $6, $7)
                "#,
            )
            .bind(number)
            .bind(since)
            .bind(Direction::Outbound)
            .bind(MessageStatus::Replied)
            .bind(MessageTemplate::StatusUnknown)
            .bind(MessageTemplate::StatusInvalid)
            .bind(MessageTemplate::StatusReply)
            .fetch_one(pool)
            .await?
        });
        Ok(counts)
    }

    /// Whether the citizen at this number asked for no more messages.
    pub async fn is_opted_out(&self, number: &str) -> Result<bool, StoreError> {
        let found = with_read_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>("select count(*) from opt_outs where number = $1")
                .bind(number)
                .fetch_one(pool)
                .await?
        });
        Ok(found > 0)
    }

    /// BAJA/STOP: no more messages to this number.
    pub async fn opt_out(
        &self,
        number: &str,
        keyword: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"insert into opt_outs (number, keyword, opted_out_at) values ($1, $2, $3) on conflict (number) do nothing"#,
            )
            .bind(number)
            .bind(keyword)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// ALTA/START: messages again.
    pub async fn opt_in(&self, number: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("delete from opt_outs where number = $1")
                .bind(number)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Raises something staff must see (shown in the console; logged loudly by the caller).
    /// One open alert of a kind is enough: raising it again refreshes its message and time.
    pub async fn raise_alert(
        &self,
        kind: &str,
        message: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                r#"
                insert into alerts (kind, message, created_at) values ($1, $2, $3)
                on conflict (kind) where resolved_at is null
                do update set message = excluded.message, created_at = excluded.created_at
                "#,
            )
            .bind(kind)
            .bind(message)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Open alerts, newest first, as `(kind, message)`.
    pub async fn open_alerts(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as::<_, (String, String)>(
                "select kind, message from alerts where resolved_at is null order by created_at desc",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::America::Mexico_City;

    /// An instant given in Mexico City time.
    fn mx(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        Timestamp::from_utc(
            Mexico_City
                .with_ymd_and_hms(y, mo, d, h, mi, s)
                .unwrap()
                .with_timezone(&chrono::Utc),
        )
    }

    #[test]
    fn daytime_messages_go_at_once() {
        for at in [
            mx(2026, 11, 27, 9, 0, 0),
            mx(2026, 11, 27, 14, 30, 0),
            mx(2026, 11, 27, 20, 59, 59),
        ] {
            assert_eq!(after_quiet_hours(at), at, "{at}");
        }
    }

    #[test]
    fn night_messages_wait_until_nine_in_mexico_city() {
        let cases = [
            // 21:00 exactly is night: the next morning.
            (mx(2026, 11, 27, 21, 0, 0), mx(2026, 11, 28, 9, 0, 0)),
            (mx(2026, 11, 27, 23, 59, 59), mx(2026, 11, 28, 9, 0, 0)),
            // After midnight (the date changed): the same day's 09:00.
            (mx(2026, 11, 28, 0, 0, 0), mx(2026, 11, 28, 9, 0, 0)),
            (mx(2026, 11, 28, 0, 30, 0), mx(2026, 11, 28, 9, 0, 0)),
            (mx(2026, 11, 28, 8, 59, 0), mx(2026, 11, 28, 9, 0, 0)),
            (mx(2026, 11, 28, 8, 59, 59), mx(2026, 11, 28, 9, 0, 0)),
            // The end of a month and of a year.
            (mx(2026, 11, 30, 22, 15, 0), mx(2026, 12, 1, 9, 0, 0)),
            (mx(2026, 12, 31, 21, 30, 0), mx(2027, 1, 1, 9, 0, 0)),
        ];
        for (at, due) in cases {
            assert_eq!(after_quiet_hours(at), due, "{at}");
        }
        // 09:00 in Mexico City is 15:00 UTC (UTC-6 all year since 2022), whatever the UTC date.
        let late = mx(2026, 11, 27, 20, 0, 0);
        let due = after_quiet_hours(Timestamp::from_utc(
            late.as_utc() + chrono::Duration::hours(2),
        ));
        assert_eq!(
            due.as_utc(),
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 28, 15, 0, 0)
                .unwrap()
        );
    }
}
