-- The date the office told the citizen it would answer by (domain::promise): set when the case
-- is made, never moved after; null for cases made before it was kept.
--
-- PostgreSQL flavour of migrations/sqlite/0006_promised_answer.sql.
alter table cases add column answer_by date;
