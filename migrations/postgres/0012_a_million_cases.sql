-- What the console needs to stay fast with a million cases.
--
-- PostgreSQL flavour of migrations/sqlite/0012_a_million_cases.sql (read the comments there).

-- 1. The counts per status, with one difference: the counts are spread over 16 shards, chosen
-- by the server process of the connection, so that instances creating cases at once do not queue on one row's lock until
-- their commits. A status's count is the sum of its shards (a shard's may be negative). The
-- two rows an update moves are locked in key order, so two updates cannot deadlock on them.
create table case_counts (
    department_id bigint not null,
    routed boolean not null,
    status text not null,
    shard integer not null,
    cases bigint not null,
    primary key (department_id, routed, status, shard)
);

insert into case_counts (department_id, routed, status, shard, cases)
select coalesce(department_id, 0), routed_at is not null, status, 0, count(*)
from cases group by 1, 2, 3;

create function case_counts_add(dept bigint, is_routed boolean, st text, n bigint)
returns void language sql as $$
    insert into case_counts (department_id, routed, status, shard, cases)
    values (dept, is_routed, st, pg_backend_pid() % 16, n)
    on conflict (department_id, routed, status, shard) do update
        set cases = case_counts.cases + excluded.cases;
$$;

create function case_counts_keep() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform case_counts_add(coalesce(new.department_id, 0), new.routed_at is not null, new.status, 1);
    elsif tg_op = 'DELETE' then
        perform case_counts_add(coalesce(old.department_id, 0), old.routed_at is not null, old.status, -1);
    elsif (coalesce(old.department_id, 0), old.routed_at is not null, old.status)
          < (coalesce(new.department_id, 0), new.routed_at is not null, new.status) then
        perform case_counts_add(coalesce(old.department_id, 0), old.routed_at is not null, old.status, -1);
        perform case_counts_add(coalesce(new.department_id, 0), new.routed_at is not null, new.status, 1);
    else
        perform case_counts_add(coalesce(new.department_id, 0), new.routed_at is not null, new.status, 1);
        perform case_counts_add(coalesce(old.department_id, 0), old.routed_at is not null, old.status, -1);
    end if;
    return null;
end;
$$;

create trigger case_counts_insert_delete after insert or delete on cases
for each row execute function case_counts_keep();

create trigger case_counts_update after update of status, department_id, routed_at on cases
for each row
when (old.status is distinct from new.status
      or old.department_id is distinct from new.department_id
      or (old.routed_at is null) <> (new.routed_at is null))
execute function case_counts_keep();

-- 2. When each case was first attended, and whether it was ever reopened.
alter table cases add column attended_at timestamptz;
alter table cases add column reopened boolean not null default false;
update cases set
    attended_at = (select min(e.at) from case_events e
                   where e.case_id = cases.id and e.to_status = 'attended'),
    reopened = exists (select 1 from case_events e
                       where e.case_id = cases.id and e.to_status = 'reopened');

create function case_events_keep() returns trigger language plpgsql as $$
begin
    if new.to_status = 'attended' then
        update cases set attended_at = new.at
        where id = new.case_id and (attended_at is null or attended_at > new.at);
    elsif new.to_status = 'reopened' then
        update cases set reopened = true where id = new.case_id and not reopened;
    end if;
    return null;
end;
$$;

create trigger case_events_keep after insert on case_events
for each row when (new.to_status in ('attended', 'reopened'))
execute function case_events_keep();

-- 3. Every figure of a span read from one index alone.
drop index cases_created;
create index cases_figures on cases (created_at, channel, category_id, department_id, status,
                                     routed_at, due_at, attended_at, reopened);

-- 4. Only calls' cases are indexed by call.
drop index cases_call;
create index cases_call on cases (call_id) where call_id is not null;

-- 5. The calls owed a call back: the caller's number from the index.
drop index calls_outcome;
create index calls_outcome on calls (outcome, started_at, from_number);
