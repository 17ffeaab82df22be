-- Privacy of the phone line: caller ID can be spoofed (Mexican calls carry no STIR/SHAKEN
-- attestation), so what the line says must be safe to say to anyone who fakes a number.
--
-- SQLite flavour; migrations/postgres/0005_private_line.sql is the same in PostgreSQL's types.

-- A sensitive category's case is looked up by voice with its status and date only: no category,
-- no department, no summary of what was done (the SMS to the reporting number keeps them).
alter table categories add column sensitive boolean not null default 0;
update categories set sensitive = 1 where code = 'seguridad';

-- Successful folio lookups in the call (failed ones are `failed_lookups`): the line caps them
-- per call and, summed over a number's recent calls, per number and hour.
alter table calls add column found_lookups integer not null default 0;
-- A number's recent calls, for that cap.
create index calls_from_number on calls (from_number, updated_at);
