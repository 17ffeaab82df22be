-- The totals `/metrics` shows at every scrape (calls by outcome, cases by category and channel,
-- jobs by kind and state, outbound SMS by status), kept by triggers as the rows change, as
-- `case_counts` keeps the inbox's (migration 0012). Counted over whole tables, one scrape at a
-- million cases read 1.5 s of rows with the pages cached and about 7 s without: more than a
-- Prometheus scrape may take, on every scrape.
--
-- SQLite flavour; migrations/postgres/0013_kept_service_counts.sql does the same.

-- One row per family and key; `a` and `b` are the family's labels as text:
--   calls: a = the outcome ('in_progress' until the call ends),       b = ''
--   cases: a = the category's id ('0' when not classified),           b = the channel
--   jobs:  a = the kind,                                              b = the state
--   sms:   a = the status of an outbound message,                     b = ''
-- A count that falls to 0 stays as a row; `/metrics` leaves it out, as it did before.
create table service_counts (
    family text not null,
    a text not null,
    b text not null,
    n integer not null,
    primary key (family, a, b)
) without rowid;

insert into service_counts (family, a, b, n)
select 'calls', coalesce(outcome, 'in_progress'), '', count(*) from calls group by 2;
insert into service_counts (family, a, b, n)
select 'cases', cast(coalesce(category_id, 0) as text), channel, count(*) from cases group by 2, 3;
insert into service_counts (family, a, b, n)
select 'jobs', kind, state, count(*) from jobs group by 2, 3;
insert into service_counts (family, a, b, n)
select 'sms', status, '', count(*) from messages where direction = 'outbound' group by 2;

-- calls
create trigger service_counts_call_insert after insert on calls
begin
    insert into service_counts (family, a, b, n)
    values ('calls', coalesce(new.outcome, 'in_progress'), '', 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

create trigger service_counts_call_delete after delete on calls
begin
    update service_counts set n = n - 1
    where family = 'calls' and a = coalesce(old.outcome, 'in_progress') and b = '';
end;

create trigger service_counts_call_update after update of outcome on calls
when old.outcome is not new.outcome
begin
    update service_counts set n = n - 1
    where family = 'calls' and a = coalesce(old.outcome, 'in_progress') and b = '';
    insert into service_counts (family, a, b, n)
    values ('calls', coalesce(new.outcome, 'in_progress'), '', 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

-- cases
create trigger service_counts_case_insert after insert on cases
begin
    insert into service_counts (family, a, b, n)
    values ('cases', cast(coalesce(new.category_id, 0) as text), new.channel, 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

create trigger service_counts_case_delete after delete on cases
begin
    update service_counts set n = n - 1
    where family = 'cases' and a = cast(coalesce(old.category_id, 0) as text) and b = old.channel;
end;

create trigger service_counts_case_update after update of category_id, channel on cases
when old.category_id is not new.category_id or old.channel is not new.channel
begin
    update service_counts set n = n - 1
    where family = 'cases' and a = cast(coalesce(old.category_id, 0) as text) and b = old.channel;
    insert into service_counts (family, a, b, n)
    values ('cases', cast(coalesce(new.category_id, 0) as text), new.channel, 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

-- jobs
create trigger service_counts_job_insert after insert on jobs
begin
    insert into service_counts (family, a, b, n)
    values ('jobs', new.kind, new.state, 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

create trigger service_counts_job_delete after delete on jobs
begin
    update service_counts set n = n - 1
    where family = 'jobs' and a = old.kind and b = old.state;
end;

create trigger service_counts_job_update after update of kind, state on jobs
when old.kind is not new.kind or old.state is not new.state
begin
    update service_counts set n = n - 1
    where family = 'jobs' and a = old.kind and b = old.state;
    insert into service_counts (family, a, b, n)
    values ('jobs', new.kind, new.state, 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

-- outbound SMS
create trigger service_counts_sms_insert after insert on messages
when new.direction = 'outbound'
begin
    insert into service_counts (family, a, b, n)
    values ('sms', new.status, '', 1)
    on conflict (family, a, b) do update set n = n + 1;
end;

create trigger service_counts_sms_delete after delete on messages
when old.direction = 'outbound'
begin
    update service_counts set n = n - 1
    where family = 'sms' and a = old.status and b = '';
end;

create trigger service_counts_sms_update after update of status, direction on messages
when old.status is not new.status or old.direction is not new.direction
begin
    update service_counts set n = n - 1
    where old.direction = 'outbound' and family = 'sms' and a = old.status and b = '';
    insert into service_counts (family, a, b, n)
    select 'sms', new.status, '', 1 where new.direction = 'outbound'
    on conflict (family, a, b) do update set n = n + 1;
end;
