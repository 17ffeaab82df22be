-- The phone line: departments, categories, the call log, cases and their history, staff.
--
-- SQLite flavour. migrations/postgres/0001_phone_line.sql is the same schema in PostgreSQL's
-- types; keep the two in step, and never edit a migration once it has landed: add a new one.
--
-- Timestamps are bound from Rust as fixed-width RFC 3339 text in UTC
-- ("2026-11-28T06:44:36.123456Z"), so text order is time order. Nothing here uses
-- CURRENT_TIMESTAMP, whose format would sort wrongly against ours.

-- Departments (direcciones, áreas) that cases are routed to ("canalizar").
create table departments (
    id integer primary key,
    code text not null unique,
    name text not null,
    active boolean not null default 1
);

-- What a report is about. `digit` is the key in the phone menu (null: not offered by phone);
-- `department_id` is the department responsible by default; `asks_urgency` makes the phone line
-- ask whether there is immediate risk. The deadlines default to CDMX SUAC's targets.
create table categories (
    id integer primary key,
    code text not null unique,
    name text not null,
    digit text unique check (digit is null or (length(digit) = 1 and digit between '1' and '8')),
    position integer not null,
    department_id integer not null references departments (id),
    asks_urgency boolean not null default 0,
    active boolean not null default 1,
    classify_hours integer not null default 24,
    first_response_days integer not null default 5,
    resolve_days integer not null default 40
);

-- One row per phone call, created by the first webhook of the call, whatever it is.
-- `last_step` is where the caller was in the menu (a call that ends without a report ended
-- there); `outcome` is set when the call ends: report, lookup, transferred or abandoned.
create table calls (
    id integer primary key,
    call_sid text not null unique,
    from_number text,
    caller_withheld boolean not null,
    to_number text,
    started_at text not null,
    updated_at text not null,
    ended_at text,
    last_step text not null,
    status text,
    duration_seconds integer,
    outcome text,
    made_report boolean not null default 0,
    found_case boolean not null default 0,
    transferred boolean not null default 0,
    failed_lookups integer not null default 0,
    -- A number typed by a caller without caller ID, read back and waiting for confirmation.
    pending_sms_number text
);
create index calls_started_at on calls (started_at);
create index calls_outcome on calls (outcome, started_at);

-- Every step of every call, in order: what the caller heard and pressed.
create table call_events (
    id integer primary key,
    call_id integer not null references calls (id),
    at text not null,
    step text not null,
    detail text
);
create index call_events_call on call_events (call_id, id);

-- Cases. `folio` is null only inside the transaction that creates the row (it is made from the
-- row's id). `recording_sid` is unique: one recording makes at most one case, however many
-- times Twilio tells us about it.
create table cases (
    id integer primary key,
    folio text unique,
    channel text not null,
    category_id integer references categories (id),
    department_id integer references departments (id),
    urgency text not null,
    status text not null,
    closure_reason text,
    caller_number text,
    sms_number text,
    call_id integer references calls (id),
    recording_sid text unique,
    recording_url text,
    recording_duration_seconds integer,
    description text,
    action_summary text,
    created_at text not null,
    updated_at text not null,
    status_changed_at text not null
);
create index cases_status on cases (status, created_at);
create index cases_caller on cases (caller_number, created_at);
create index cases_department on cases (department_id, status, created_at);
create index cases_call on cases (call_id);

-- The history of a case: who changed what, when and why.
create table case_events (
    id integer primary key,
    case_id integer not null references cases (id),
    at text not null,
    actor text not null,
    kind text not null,
    from_status text,
    to_status text,
    note text
);
create index case_events_case on case_events (case_id, id);

-- Staff accounts. `area` users belong to one department.
create table users (
    id integer primary key,
    name text not null unique,
    password_hash text not null,
    role text not null check (role in ('admin', 'operador', 'area')),
    department_id integer references departments (id),
    active boolean not null default 1,
    created_at text not null,
    updated_at text not null
);

-- The default menu of the operator's contract; an admin may change it later.
insert into departments (id, code, name) values
    (1, 'alumbrado', 'Dirección de Alumbrado Público'),
    (2, 'seguridad', 'Dirección de Seguridad Pública'),
    (3, 'agua', 'Dirección de Agua Potable'),
    (4, 'proteccion_civil', 'Coordinación de Protección Civil'),
    (5, 'participacion', 'Dirección de Participación Ciudadana');

insert into categories (id, code, name, digit, position, department_id, asks_urgency) values
    (1, 'alumbrado', 'Alumbrado público', '1', 1, 1, 0),
    (2, 'seguridad', 'Seguridad pública', '2', 2, 2, 1),
    (3, 'agua', 'Agua potable', '3', 3, 3, 0),
    (4, 'proteccion_civil', 'Protección civil', '4', 4, 4, 1),
    (5, 'otro', 'Otro reporte', '5', 5, 5, 0);
