-- Indexes the office's figures and the citizen's history read by, found by measuring
-- `atiende bench --seed-cases 100000` (README, Benchmarks).
--
-- SQLite flavour; migrations/postgres/0009_figures_and_history_indexes.sql is the same.

-- The dashboard reads every case received in a range, by channel and category, and when it
-- was routed: from the index alone.
create index cases_created on cases (created_at, channel, category_id, routed_at);
-- When a case was first attended, and whether it was ever reopened.
create index case_events_to_status on case_events (case_id, to_status, at);
-- A number's calls, newest first (the case page's history, the call log's search by number).
create index calls_from_started on calls (from_number, started_at);
