-- Settings an admin changes in the console (the office hours, the transfer number), which take
-- the place of the service's configuration while set, and the history of every settings change
-- (categories, departments, accounts, these): who, when, what.
--
-- SQLite flavour; migrations/postgres/0008_settings.sql is the same in PostgreSQL's types.
create table settings (
    key text primary key,
    value text not null,
    updated_at text not null,
    updated_by text not null
);

create table settings_events (
    id integer primary key,
    at text not null,
    actor text not null,
    what text not null,
    detail text
);
