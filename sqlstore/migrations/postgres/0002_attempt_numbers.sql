-- An attempt taken over after its holder's lease ended keeps that mark
-- when it is released, so that the request its holder may have sent is
-- recorded before the attempt is sent again.
ALTER TABLE {prefix}attempts ADD COLUMN reclaimed BOOLEAN NOT NULL DEFAULT FALSE;
-- Attempt numbers become unique per event and endpoint. Attempts stored
-- before that with a number taken twice (an event enqueued twice, an
-- attempt superseded for a changed URL) are numbered again, consecutively,
-- in the order of their numbers, then IDs.
UPDATE {prefix}attempts AS a SET attempt_number = r.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY event_id, endpoint_id ORDER BY attempt_number, id) AS n
      FROM {prefix}attempts) AS r
WHERE a.id = r.id AND a.attempt_number <> r.n;
CREATE UNIQUE INDEX {prefix}attempts_number ON {prefix}attempts (event_id, endpoint_id, attempt_number);
