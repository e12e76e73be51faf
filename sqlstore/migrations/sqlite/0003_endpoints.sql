-- Endpoints take turns in claims, and keep their health. ready_at is when
-- the endpoint's turn comes, NULL while it has nothing a claim could take;
-- served marks a turn given by a claim, which waits behind an endpoint
-- due at the same time; saturated marks an endpoint parked because all its
-- places were leased, which a completion brings back at once with the
-- turn of the claim that parked it, parked_at. Times are
-- Unix microseconds.
CREATE TABLE {prefix}endpoints (
    endpoint_id      TEXT    NOT NULL PRIMARY KEY,
    ready_at         INTEGER,
    served           INTEGER NOT NULL DEFAULT 0,
    parked_at        INTEGER,
    saturated        INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    failing_since    INTEGER,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    paused_until     INTEGER,
    cooldown_ns      INTEGER NOT NULL DEFAULT 0,
    disabled_at      INTEGER
);
CREATE INDEX {prefix}endpoints_ready ON {prefix}endpoints (ready_at, served, endpoint_id) WHERE ready_at IS NOT NULL;
INSERT INTO {prefix}endpoints (endpoint_id, ready_at)
SELECT endpoint_id, MIN(scheduled_at) FROM {prefix}attempts WHERE status = 2 GROUP BY endpoint_id;
-- A claim reads one endpoint's due attempts, and counts its leases.
CREATE INDEX {prefix}attempts_queue ON {prefix}attempts (endpoint_id, scheduled_at, id) WHERE status = 2;
CREATE INDEX {prefix}attempts_leased ON {prefix}attempts (endpoint_id, lease_until) WHERE status = 2 AND lease_until IS NOT NULL;
DROP INDEX {prefix}attempts_due;
