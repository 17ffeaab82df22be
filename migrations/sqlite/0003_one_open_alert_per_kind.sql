-- At most one open alert of each kind, even with several instances raising it at once
-- (raise_alert upserts against this index).
create unique index alerts_one_open on alerts (kind) where resolved_at is null;
