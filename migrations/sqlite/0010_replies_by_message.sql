-- The incoming message an automatic reply answered (its MessageSid), so a message Twilio sends
-- again (a retry, a replay) is answered with the same reply and acted on only once.
--
-- SQLite flavour; migrations/postgres/0010_replies_by_message.sql is the same.
alter table messages add column reply_to text;
create index messages_reply_to on messages (reply_to);
