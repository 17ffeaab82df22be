-- The totals `/metrics` shows at every scrape, kept by triggers as the rows change.
--
-- PostgreSQL flavour of migrations/sqlite/0013_kept_service_counts.sql (read the comments
-- there), with one difference. Here a trigger does not update the total's row: it appends the
-- change to `service_count_changes`, a table without an index, and each instance folds the
-- changes into `service_counts` every few seconds (`Store::fold_service_counts`). Updated in
-- place, as SQLite's are, the totals cost the phone line about a fifth of its throughput: the
-- group writer's transaction updated one row once per call (each update a new version of the
-- row, which the next one must step over until the commit), and transactions of other
-- connections queued on its lock. A total is its row plus the changes not yet folded.
create table service_counts (
    family text not null,
    a text not null,
    b text not null,
    n bigint not null,
    primary key (family, a, b)
);

create table service_count_changes (
    family text not null,
    a text not null,
    b text not null,
    n integer not null
);

insert into service_counts (family, a, b, n)
select 'calls', coalesce(outcome, 'in_progress'), '', count(*) from calls group by 2;
insert into service_counts (family, a, b, n)
select 'cases', coalesce(category_id, 0)::text, channel, count(*) from cases group by 2, 3;
insert into service_counts (family, a, b, n)
select 'jobs', kind, state, count(*) from jobs group by 2, 3;
insert into service_counts (family, a, b, n)
select 'sms', status, '', count(*) from messages where direction = 'outbound' group by 2;

create function service_counts_calls() returns trigger language plpgsql as $$
begin
    if tg_op <> 'INSERT' then
        insert into service_count_changes values ('calls', coalesce(old.outcome, 'in_progress'), '', -1);
    end if;
    if tg_op <> 'DELETE' then
        insert into service_count_changes values ('calls', coalesce(new.outcome, 'in_progress'), '', 1);
    end if;
    return null;
end;
$$;

create function service_counts_cases() returns trigger language plpgsql as $$
begin
    if tg_op <> 'INSERT' then
        insert into service_count_changes values ('cases', coalesce(old.category_id, 0)::text, old.channel, -1);
    end if;
    if tg_op <> 'DELETE' then
        insert into service_count_changes values ('cases', coalesce(new.category_id, 0)::text, new.channel, 1);
    end if;
    return null;
end;
$$;

create function service_counts_jobs() returns trigger language plpgsql as $$
begin
    if tg_op <> 'INSERT' then
        insert into service_count_changes values ('jobs', old.kind, old.state, -1);
    end if;
    if tg_op <> 'DELETE' then
        insert into service_count_changes values ('jobs', new.kind, new.state, 1);
    end if;
    return null;
end;
$$;

create function service_counts_sms() returns trigger language plpgsql as $$
begin
    if tg_op <> 'INSERT' and old.direction = 'outbound' then
        insert into service_count_changes values ('sms', old.status, '', -1);
    end if;
    if tg_op <> 'DELETE' and new.direction = 'outbound' then
        insert into service_count_changes values ('sms', new.status, '', 1);
    end if;
    return null;
end;
$$;

create trigger service_counts_keep after insert or delete on calls
for each row execute function service_counts_calls();
create trigger service_counts_keep_update after update of outcome on calls
for each row when (old.outcome is distinct from new.outcome)
execute function service_counts_calls();

create trigger service_counts_keep after insert or delete on cases
for each row execute function service_counts_cases();
create trigger service_counts_keep_update after update of category_id, channel on cases
for each row when (old.category_id is distinct from new.category_id
                   or old.channel is distinct from new.channel)
execute function service_counts_cases();

create trigger service_counts_keep after insert or delete on jobs
for each row execute function service_counts_jobs();
create trigger service_counts_keep_update after update of kind, state on jobs
for each row when (old.kind is distinct from new.kind or old.state is distinct from new.state)
execute function service_counts_jobs();

create trigger service_counts_keep after insert or delete on messages
for each row execute function service_counts_sms();
create trigger service_counts_keep_update after update of status, direction on messages
for each row when (old.status is distinct from new.status
                   or old.direction is distinct from new.direction)
execute function service_counts_sms();
