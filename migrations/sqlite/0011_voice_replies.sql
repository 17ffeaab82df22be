-- The answer given to a voice request that counts something (a folio lookup), by Twilio's
-- I-Twilio-Idempotency-Token: a request Twilio sends again (it timed out waiting for us, or
-- retried) is answered the same and counted once.
--
-- SQLite flavour; migrations/postgres/0011_voice_replies.sql is the same.
create table voice_replies (
    token text primary key,
    call_sid text not null,
    step text not null,
    body text not null,
    received_at text not null
);
create index voice_replies_received on voice_replies (received_at);
