-- The staff console, part 2: the calls the office owes back, and reports from other channels.
--
-- SQLite flavour; migrations/postgres/0007_calls_owed_and_other_channels.sql is the same in
-- PostgreSQL's types.

-- A call back to a number whose calls were abandoned: who called, when, and how it went
-- (`reached_report`: a report was taken, `case_id` is it; `reached`: talked, no report;
-- `no_answer`: still owed; `wrong_number`). Every abandoned call from the number before a
-- callback that is not `no_answer` is settled.
create table callbacks (
    id integer primary key,
    number text not null,
    result text not null,
    case_id integer references cases (id),
    note text,
    user_id integer not null references users (id),
    at text not null
);
create index callbacks_number on callbacks (number, at);

-- The citizen's name, when a report made in person, by phone to the office, WhatsApp, Messenger
-- or e-mail gives one (the phone line never asks).
alter table cases add column citizen_name text;
-- The inbox by channel.
create index cases_channel on cases (channel, created_at);
