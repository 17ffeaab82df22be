-- The date the office told the citizen it would answer by (domain::promise): set when the case
-- is made, from its category's first-response deadline in working days, and never moved after.
-- Null for cases made before it was kept: the line then says no date.
--
-- SQLite flavour; migrations/postgres/0006_promised_answer.sql is the same in PostgreSQL's types.
-- Stored as 'YYYY-MM-DD' text (a calendar day in Mexico City, not an instant).
alter table cases add column answer_by text;
