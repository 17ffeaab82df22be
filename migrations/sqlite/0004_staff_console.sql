-- The staff console: triage, routing, the department's action report, sessions and sign-in.
--
-- SQLite flavour; migrations/postgres/0004_staff_console.sql is the same in PostgreSQL's types.

-- The number a department's routing SMS goes to (its coordinator's mobile, E.164).
alter table departments add column contact_number text;

-- Triage, typed by Participación Ciudadana while listening: the address as the caller gave it,
-- and a short description the department's crew works from (the `description` column exists).
alter table cases add column address_street text;
alter table cases add column address_colonia text;
alter table cases add column address_between text;
alter table cases add column address_references text;
-- When the case was first routed to a department: from then on that department sees it
-- (`department_id` is set from the category before, as the default to route to).
alter table cases add column routed_at text;
-- A case closed as a duplicate names the other one.
alter table cases add column duplicate_of text;
-- 1 when urgent: the inbox shows urgent cases first, then the newest (see cases_inbox).
alter table cases add column priority integer not null default 0;
-- When the case is overdue: the category's deadline for where the case now stands (classify
-- while received or in review, first response once routed, resolve while in progress); null
-- once attended or closed.
alter table cases add column due_at text;
update cases set priority = case when urgency = 'urgent' then 1 else 0 end;
create index cases_inbox on cases (priority desc, created_at desc, id desc);
-- The inbox of one status, in the same order (without it, the closed cases, most of them, were
-- read by status and then sorted).
create index cases_status_inbox on cases (status, priority desc, created_at desc, id desc);
create index cases_due on cases (due_at);
-- A department's view: only the cases routed to it (counts per status, its inbox).
create index cases_routed on cases (department_id, status, priority, created_at)
    where routed_at is not null;
-- Search by the number SMS go to (the caller's number has its index since 0001).
create index cases_sms_number on cases (sms_number, created_at);

-- What a department did about a case. Filing one makes the case "atendido".
create table action_reports (
    id integer primary key,
    case_id integer not null references cases (id),
    summary text not null,
    done_on text not null,
    done_by text not null,
    user_id integer not null references users (id),
    created_at text not null
);
create index action_reports_case on action_reports (case_id, id);

-- Files attached to an action report (photos, PDFs), kept like recordings: in the local
-- folder or on S3, under a key made from the row's id.
create table attachments (
    id integer primary key,
    case_id integer not null references cases (id),
    report_id integer references action_reports (id),
    storage_key text not null unique,
    content_type text not null,
    size_bytes integer not null,
    sha256 text not null,
    file_name text not null,
    user_id integer not null references users (id),
    created_at text not null
);
create index attachments_case on attachments (case_id, id);

-- Staff sessions (tower-sessions records). `data` is JSON; the id is random, 128 bits.
create table sessions (
    id text primary key,
    data text not null,
    expires_at text not null
);
create index sessions_expires on sessions (expires_at);

-- Sign-in attempts, to slow down guessing per account and per address.
create table login_attempts (
    id integer primary key,
    user_name text not null,
    address text not null,
    succeeded boolean not null,
    at text not null
);
create index login_attempts_user on login_attempts (user_name, at);
create index login_attempts_address on login_attempts (address, at);
