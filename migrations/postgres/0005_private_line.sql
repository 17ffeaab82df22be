-- Privacy of the phone line: caller ID can be spoofed (Mexican calls carry no STIR/SHAKEN
-- attestation), so what the line says must be safe to say to anyone who fakes a number.
--
-- PostgreSQL flavour of migrations/sqlite/0005_private_line.sql (read the comments there).

-- A sensitive category's case is looked up by voice with its status and date only.
alter table categories add column sensitive boolean not null default false;
update categories set sensitive = true where code = 'seguridad';

-- Successful folio lookups in the call; capped per call and per number and hour.
alter table calls add column found_lookups bigint not null default 0;
-- A number's recent calls, for that cap.
create index calls_from_number on calls (from_number, updated_at);
