-- Endpoints take turns in claims, and keep their health. ready_at is when
-- the endpoint's turn comes, NULL while it has nothing a claim could take;
-- served marks a turn given by a claim, which waits behind an endpoint
-- due at the same time; saturated marks an endpoint parked because all its
-- places were leased, which a completion brings back at once with the
-- turn of the claim that parked it, parked_at.
CREATE TABLE {prefix}endpoints (
    endpoint_id      VARCHAR(255) NOT NULL PRIMARY KEY,
    ready_at         DATETIME(6),
    served           BOOLEAN      NOT NULL DEFAULT FALSE,
    parked_at        DATETIME(6),
    saturated        BOOLEAN      NOT NULL DEFAULT FALSE,
    failures         INTEGER      NOT NULL DEFAULT 0,
    failing_since    DATETIME(6),
    last_status_code INTEGER      NOT NULL DEFAULT 0,
    last_error       TEXT         NOT NULL,
    paused_until     DATETIME(6),
    cooldown_ns      BIGINT       NOT NULL DEFAULT 0,
    disabled_at      DATETIME(6),
    KEY {prefix}endpoints_ready (ready_at, served, endpoint_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO {prefix}endpoints (endpoint_id, ready_at, last_error)
SELECT endpoint_id, MIN(scheduled_at), '' FROM {prefix}attempts WHERE status = 2 GROUP BY endpoint_id;
-- A claim reads one endpoint's due attempts, and counts its leases. MySQL
-- has no partial index: both lead with status and the endpoint.
CREATE INDEX {prefix}attempts_queue ON {prefix}attempts (status, endpoint_id, scheduled_at, id);
CREATE INDEX {prefix}attempts_leased ON {prefix}attempts (status, endpoint_id, lease_until);
DROP INDEX {prefix}attempts_due ON {prefix}attempts;
