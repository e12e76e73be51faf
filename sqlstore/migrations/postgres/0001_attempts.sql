-- Attempts, with what their pending work needs.
CREATE TABLE {prefix}attempts (
    id                   VARCHAR(64)   COLLATE "C" NOT NULL PRIMARY KEY,
    event_id             VARCHAR(255)  COLLATE "C" NOT NULL,
    event_type           VARCHAR(255)  NOT NULL,
    endpoint_id          VARCHAR(255)  COLLATE "C" NOT NULL,
    endpoint_url         VARCHAR(2048) NOT NULL,
    status               SMALLINT      NOT NULL,
    attempt_number       INTEGER       NOT NULL,
    triggered_by         VARCHAR(16)   NOT NULL,
    response             BYTEA         NOT NULL,
    response_truncated   BOOLEAN       NOT NULL,
    response_status_code INTEGER       NOT NULL,
    response_headers     JSONB,
    error                TEXT          NOT NULL,
    attempted_at         TIMESTAMPTZ,
    duration_ns          BIGINT        NOT NULL,
    scheduled_at         TIMESTAMPTZ   NOT NULL,
    payload              BYTEA         NOT NULL,
    lease_owner          VARCHAR(255),
    lease_until          TIMESTAMPTZ,
    cancel_requested     BOOLEAN       NOT NULL DEFAULT FALSE
);
CREATE INDEX {prefix}attempts_due ON {prefix}attempts (scheduled_at, id) WHERE status = 2;
CREATE INDEX {prefix}attempts_event ON {prefix}attempts (event_id, id);
CREATE INDEX {prefix}attempts_endpoint ON {prefix}attempts (endpoint_id, id);
CREATE INDEX {prefix}attempts_status ON {prefix}attempts (status, id);
CREATE INDEX {prefix}attempts_status_scheduled ON {prefix}attempts (status, scheduled_at);
