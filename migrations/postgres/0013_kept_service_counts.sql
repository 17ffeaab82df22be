-- The totals `/metrics` shows at every scrape, kept by triggers as the rows change.
--
-- PostgreSQL flavour of migrations/sqlite/0013_kept_service_counts.sql (read the comments
-- there). As with `case_counts` (migration 0012), the counts are spread over 16 shards chosen by
-- the connection's server process, so that instances writing at once do not queue on one row
-- until their commits; a key's count is the sum of its shards (one shard's may be negative).
-- The two rows an update moves are changed in key order, so two updates cannot deadlock on them.
create table service_counts (
    family text not null,
    a text not null,
    b text not null,
    shard integer not null,
    n bigint not null,
    primary key (family, a, b, shard)
);

insert into service_counts (family, a, b, shard, n)
select 'calls', coalesce(outcome, 'in_progress'), '', 0, count(*) from calls group by 2;
insert into service_counts (family, a, b, shard, n)
select 'cases', coalesce(category_id, 0)::text, channel, 0, count(*) from cases group by 2, 3;
insert into service_counts (family, a, b, shard, n)
select 'jobs', kind, state, 0, count(*) from jobs group by 2, 3;
insert into service_counts (family, a, b, shard, n)
select 'sms', status, '', 0, count(*) from messages where direction = 'outbound' group by 2;

create function service_counts_add(fam text, ka text, kb text, d bigint)
returns void language sql as $$
    insert into service_counts (family, a, b, shard, n)
    values (fam, ka, kb, pg_backend_pid() % 16, d)
    on conflict (family, a, b, shard) do update set n = service_counts.n + excluded.n;
$$;

-- Moves one row's count from its old key to its new one (either may be null: none), in key
-- order.
create function service_counts_move(fam text, old_a text, old_b text, new_a text, new_b text)
returns void language plpgsql as $$
begin
    if old_a is not null and (new_a is null or (old_a, old_b) < (new_a, new_b)) then
        perform service_counts_add(fam, old_a, old_b, -1);
        if new_a is not null then
            perform service_counts_add(fam, new_a, new_b, 1);
        end if;
    elsif new_a is not null then
        perform service_counts_add(fam, new_a, new_b, 1);
        if old_a is not null then
            perform service_counts_add(fam, old_a, old_b, -1);
        end if;
    end if;
end;
$$;

create function service_counts_keep() returns trigger language plpgsql as $$
declare
    old_a text; old_b text; new_a text; new_b text;
begin
    if tg_op <> 'INSERT' then
        case tg_table_name
            when 'calls' then old_a := coalesce(old.outcome, 'in_progress'); old_b := '';
            when 'cases' then old_a := coalesce(old.category_id, 0)::text; old_b := old.channel;
            when 'jobs' then old_a := old.kind; old_b := old.state;
            when 'messages' then
                if old.direction = 'outbound' then old_a := old.status; old_b := ''; end if;
        end case;
    end if;
    if tg_op <> 'DELETE' then
        case tg_table_name
            when 'calls' then new_a := coalesce(new.outcome, 'in_progress'); new_b := '';
            when 'cases' then new_a := coalesce(new.category_id, 0)::text; new_b := new.channel;
            when 'jobs' then new_a := new.kind; new_b := new.state;
            when 'messages' then
                if new.direction = 'outbound' then new_a := new.status; new_b := ''; end if;
        end case;
    end if;
    if (old_a, old_b) is distinct from (new_a, new_b) then
        perform service_counts_move(
            case tg_table_name when 'messages' then 'sms' else tg_table_name::text end,
            old_a, old_b, new_a, new_b);
    end if;
    return null;
end;
$$;

create trigger service_counts_keep after insert or delete on calls
for each row execute function service_counts_keep();
create trigger service_counts_keep_update after update of outcome on calls
for each row when (old.outcome is distinct from new.outcome)
execute function service_counts_keep();

create trigger service_counts_keep after insert or delete on cases
for each row execute function service_counts_keep();
create trigger service_counts_keep_update after update of category_id, channel on cases
for each row when (old.category_id is distinct from new.category_id
                   or old.channel is distinct from new.channel)
execute function service_counts_keep();

create trigger service_counts_keep after insert or delete on jobs
for each row execute function service_counts_keep();
create trigger service_counts_keep_update after update of kind, state on jobs
for each row when (old.kind is distinct from new.kind or old.state is distinct from new.state)
execute function service_counts_keep();

create trigger service_counts_keep after insert or delete on messages
for each row execute function service_counts_keep();
create trigger service_counts_keep_update after update of status, direction on messages
for each row when (old.status is distinct from new.status
                   or old.direction is distinct from new.direction)
execute function service_counts_keep();
