-- Durable jobs, the recordings we keep, text messages, opt-outs and staff alerts.
--
-- SQLite flavour; migrations/postgres/0002_jobs_recordings_messages.sql is the same in
-- PostgreSQL's types. Timestamps are fixed-width RFC 3339 UTC text bound from Rust.

-- Work that must happen even if the process dies: downloading a recording, sending an SMS.
-- `dedup_key` makes enqueueing idempotent (one download per RecordingSid, one folio SMS per
-- case); a job is `queued` until a worker claims it (`running`, with a lease), then `done`, or
-- `dead` after its last attempt. A running job whose lease ran out (its worker died) is claimed
-- again. `last_error` says why the latest attempt failed.
create table jobs (
    id integer primary key,
    kind text not null,
    dedup_key text not null unique,
    payload text not null,
    state text not null check (state in ('queued', 'running', 'done', 'dead')),
    attempts integer not null default 0,
    max_attempts integer not null,
    run_at text not null,
    lease_until text,
    worker text,
    last_error text,
    created_at text not null,
    updated_at text not null,
    finished_at text
);
create index jobs_ready on jobs (state, run_at);

-- Our copy of each recording: one row per RecordingSid, one stored file at most.
-- status: pending (not fetched yet), stored, quarantined (the file is not a valid WAV: kept
-- apart, never dropped), missing (Twilio said absent or failed), refused (its URL was not on
-- Twilio's API host).
create table recordings (
    id integer primary key,
    recording_sid text not null unique,
    case_id integer references cases (id),
    source_url text,
    status text not null,
    storage_key text,
    sha256 text,
    size_bytes integer,
    sample_rate integer,
    channels integer,
    bits_per_sample integer,
    duration_ms integer,
    -- A few hundred peak levels (0-255) as a JSON array, for the console's waveform.
    peaks text,
    twilio_error_code text,
    error text,
    deleted_from_twilio boolean not null default 0,
    created_at text not null,
    updated_at text not null
);
create index recordings_case on recordings (case_id);

-- Where the case's recording stands, for the console: pending, stored, quarantined, missing
-- ("sin grabación"), refused.
alter table cases add column recording_status text;

-- Text messages, both ways. Outbound ones are written with their template and rendered when
-- sent; `status` follows Twilio's (queued, sent, delivered, undelivered, failed) plus ours:
-- pending (in the outbox), not_sent (demo mode), opted_out, rejected (a permanent error).
create table messages (
    id integer primary key,
    direction text not null check (direction in ('outbound', 'inbound')),
    case_id integer references cases (id),
    channel text not null,
    to_number text,
    from_number text,
    template text,
    body text,
    status text not null,
    twilio_sid text unique,
    error_code text,
    error_message text,
    segments integer,
    created_at text not null,
    updated_at text not null
);
create index messages_case on messages (case_id, id);
create index messages_status on messages (status, created_at);

-- Citizens who answered BAJA/STOP: no more messages until ALTA/START.
create table opt_outs (
    number text primary key,
    keyword text not null,
    opted_out_at text not null
);

-- What staff must see and act on (bad Twilio credentials, a refused recording URL...).
create table alerts (
    id integer primary key,
    kind text not null,
    message text not null,
    created_at text not null,
    resolved_at text
);
create index alerts_open on alerts (resolved_at, created_at);
