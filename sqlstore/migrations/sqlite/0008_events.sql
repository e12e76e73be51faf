-- Each event's type and payload, stored once, with the event's first
-- attempt, and shared by all its attempts: an event sent to 10 endpoints
-- and retried no longer stores its payload with every attempt. Existing
-- events keep the payload of their attempt of greatest ID, the one that
-- Store.Event returned until now. SQLite runs one transaction at a time,
-- so a purge sees every attempt of an event before it deletes the event.
CREATE TABLE {prefix}events (
    event_id   TEXT NOT NULL PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload    BLOB NOT NULL
);
INSERT INTO {prefix}events (event_id, event_type, payload)
SELECT event_id, event_type, payload FROM {prefix}attempts AS a
WHERE id = (SELECT MAX(id) FROM {prefix}attempts AS b WHERE b.event_id = a.event_id);
ALTER TABLE {prefix}attempts DROP COLUMN payload;
