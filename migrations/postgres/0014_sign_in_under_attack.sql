-- Sign-in under attack (issue 20): device cookies, progressive pauses, a server key, and no
-- password left behind in `login_attempts`.
--
-- PostgreSQL flavour; migrations/sqlite/0014_sign_in_under_attack.sql is the same in
-- SQLite's types.

-- The device cookie an attempt came with (its random nonce), or null for a browser the
-- account never signed in from. Failures with a device cookie count against that cookie, not
-- against the account or the address: a stranger's guesses cannot pause a known browser, and
-- a stolen cookie is itself paused after a few failures.
alter table login_attempts add column device text;
-- Whether this failure left the account, the address or the device paused (the admin's list
-- of recent failures shows it). A try refused because of a pause writes no row at all.
alter table login_attempts add column paused boolean not null default false;
create index login_attempts_device on login_attempts (device, at) where device is not null;
-- The sweep of old attempts and the admin's list, newest first.
create index login_attempts_at on login_attempts (at);

-- Until now a name that is no account was kept as typed, and people type their password into
-- the name field. From now on such names are kept as a short keyed hash; the ones already kept
-- as typed go.
delete from login_attempts where user_name not in (select name from users);

-- Keys the service makes for itself, once, and every instance on this database shares: the
-- console's key signs device cookies and the sign-in form's token, and hashes unknown names.
-- `key` is hex; losing it only means every browser is a stranger again.
create table server_keys (
    name text primary key,
    key text not null,
    created_at timestamptz not null
);
