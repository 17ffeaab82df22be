-- What the console needs to stay fast with a million cases, found by measuring
-- `atiende bench --seed-cases 1000000` (README, Benchmarks).
--
-- SQLite flavour; migrations/postgres/0012_a_million_cases.sql does the same (its triggers in
-- PL/pgSQL).

-- 1. How many cases there are per status, kept as the cases change, so that the inbox's counts
-- (shown on every inbox page) cost a few rows instead of a count over every case: with a
-- million cases, counting the statuses from an index took about 60 ms a page.
--
-- One row per department (0 for none), routed or not (a department sees only the cases routed
-- to it, see `Visibility`) and status. Triggers keep it: a case made, moved, routed or removed
-- moves its count in the same transaction, so the counts are exactly the cases'.
create table case_counts (
    department_id integer not null,
    routed integer not null,
    status text not null,
    cases integer not null,
    primary key (department_id, routed, status)
) without rowid;

insert into case_counts (department_id, routed, status, cases)
select coalesce(department_id, 0), routed_at is not null, status, count(*)
from cases group by 1, 2, 3;

create trigger case_counts_insert after insert on cases
begin
    insert into case_counts (department_id, routed, status, cases)
    values (coalesce(new.department_id, 0), new.routed_at is not null, new.status, 1)
    on conflict (department_id, routed, status) do update set cases = cases + 1;
end;

create trigger case_counts_delete after delete on cases
begin
    update case_counts set cases = cases - 1
    where department_id = coalesce(old.department_id, 0)
      and routed = (old.routed_at is not null) and status = old.status;
end;

create trigger case_counts_update after update of status, department_id, routed_at on cases
when old.status is not new.status
  or old.department_id is not new.department_id
  or (old.routed_at is null) <> (new.routed_at is null)
begin
    update case_counts set cases = cases - 1
    where department_id = coalesce(old.department_id, 0)
      and routed = (old.routed_at is not null) and status = old.status;
    insert into case_counts (department_id, routed, status, cases)
    values (coalesce(new.department_id, 0), new.routed_at is not null, new.status, 1)
    on conflict (department_id, routed, status) do update set cases = cases + 1;
end;

-- 2. When each case was first attended, and whether it was ever reopened, kept on the case as
-- its history grows: the figures read them for every case received in a span, and reading
-- them from the history took two probes a case (half a second for twelve weeks).
alter table cases add column attended_at text;
alter table cases add column reopened integer not null default 0;
update cases set
    attended_at = (select min(e.at) from case_events e
                   where e.case_id = cases.id and e.to_status = 'attended'),
    reopened = exists (select 1 from case_events e
                       where e.case_id = cases.id and e.to_status = 'reopened');

create trigger case_events_attended after insert on case_events
when new.to_status = 'attended'
begin
    update cases set attended_at = new.at
    where id = new.case_id and (attended_at is null or attended_at > new.at);
end;

create trigger case_events_reopened after insert on case_events
when new.to_status = 'reopened'
begin
    update cases set reopened = 1 where id = new.case_id and reopened = 0;
end;

-- 3. Every figure of a span read from one index alone (the cases' rows are wide: the address,
-- the description). It replaces `cases_created`; the figures' statements name it on SQLite,
-- whose planner otherwise took a skip-scan of `cases_channel` and read every row.
drop index cases_created;
create index cases_figures on cases (created_at, channel, category_id, department_id, status,
                                     routed_at, due_at, attended_at, reopened);

-- 4. The case a call made: only calls' cases are indexed, so the statistics describe them
-- (with most cases made by staff, or seeded, SQLite counted the nulls as one value shared by
-- every case and scanned the table instead).
drop index cases_call;
create index cases_call on cases (call_id) where call_id is not null;

-- 5. The calls owed a call back (counted on every page of the office's navigation): the
-- caller's number from the index, without reading each abandoned call's row.
drop index calls_outcome;
create index calls_outcome on calls (outcome, started_at, from_number);
