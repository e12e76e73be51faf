-- Attempts, with what their pending work needs. MySQL has no partial
-- index, so the claim index leads with status.
CREATE TABLE {prefix}attempts (
    id                   VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    event_id             VARCHAR(255)  NOT NULL,
    event_type           VARCHAR(255)  NOT NULL,
    endpoint_id          VARCHAR(255)  NOT NULL,
    endpoint_url         VARCHAR(2048) NOT NULL,
    status               SMALLINT      NOT NULL,
    attempt_number       INTEGER       NOT NULL,
    triggered_by         VARCHAR(16)   NOT NULL,
    response             LONGBLOB      NOT NULL,
    response_truncated   BOOLEAN       NOT NULL,
    response_status_code INTEGER       NOT NULL,
    response_headers     LONGTEXT,
    error                TEXT          NOT NULL,
    attempted_at         DATETIME(6),
    duration_ns          BIGINT        NOT NULL,
    scheduled_at         DATETIME(6)   NOT NULL,
    payload              LONGBLOB      NOT NULL,
    lease_owner          VARCHAR(255),
    lease_until          DATETIME(6),
    cancel_requested     BOOLEAN       NOT NULL DEFAULT FALSE,
    KEY {prefix}attempts_due (status, scheduled_at, id),
    KEY {prefix}attempts_event (event_id, id),
    KEY {prefix}attempts_endpoint (endpoint_id, id),
    KEY {prefix}attempts_status_id (status, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
