-- Attempts, with what their pending work needs. Times are Unix microseconds.
CREATE TABLE {prefix}attempts (
    id                   TEXT    NOT NULL PRIMARY KEY,
    event_id             TEXT    NOT NULL,
    event_type           TEXT    NOT NULL,
    endpoint_id          TEXT    NOT NULL,
    endpoint_url         TEXT    NOT NULL,
    status               INTEGER NOT NULL,
    attempt_number       INTEGER NOT NULL,
    triggered_by         TEXT    NOT NULL,
    response             BLOB    NOT NULL,
    response_truncated   INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response_headers     TEXT,
    error                TEXT    NOT NULL,
    attempted_at         INTEGER,
    duration_ns          INTEGER NOT NULL,
    scheduled_at         INTEGER NOT NULL,
    payload              BLOB    NOT NULL,
    lease_owner          TEXT,
    lease_until          INTEGER,
    cancel_requested     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX {prefix}attempts_due ON {prefix}attempts (scheduled_at, id) WHERE status = 2;
CREATE INDEX {prefix}attempts_event ON {prefix}attempts (event_id, id);
CREATE INDEX {prefix}attempts_endpoint ON {prefix}attempts (endpoint_id, id);
CREATE INDEX {prefix}attempts_status ON {prefix}attempts (status, id);
CREATE INDEX {prefix}attempts_status_scheduled ON {prefix}attempts (status, scheduled_at);
