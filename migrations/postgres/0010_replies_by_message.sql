-- The incoming message an automatic reply answered (its MessageSid), so a message Twilio sends
-- again (a retry, a replay) is answered with the same reply and acted on only once.
--
-- PostgreSQL flavour of migrations/sqlite/0010_replies_by_message.sql.
alter table messages add column reply_to text;
create index messages_reply_to on messages (reply_to);
