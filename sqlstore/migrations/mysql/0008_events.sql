-- Each event's type and payload, stored once, with the event's first
-- attempt, and shared by all its attempts: an event sent to 10 endpoints
-- and retried no longer stores its payload with every attempt. Existing
-- events keep the payload of their attempt of greatest ID, the one that
-- Store.Event returned until now. Attempts reference their event, so that
-- a purge cannot delete an event while an attempt of it is being stored;
-- the unique index on (event_id, endpoint_id, attempt_number) serves the
-- reference.
CREATE TABLE {prefix}events (
    event_id   VARCHAR(255) NOT NULL PRIMARY KEY,
    event_type VARCHAR(255) NOT NULL,
    payload    LONGBLOB     NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO {prefix}events (event_id, event_type, payload)
SELECT a.event_id, a.event_type, a.payload FROM {prefix}attempts AS a
JOIN (SELECT event_id, MAX(id) AS id FROM {prefix}attempts GROUP BY event_id) AS l ON l.id = a.id;
ALTER TABLE {prefix}attempts DROP COLUMN payload,
    ADD CONSTRAINT {prefix}attempts_event_fk FOREIGN KEY (event_id) REFERENCES {prefix}events (event_id);
