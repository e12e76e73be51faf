-- The index on (event_id, id) repeated the lead of the unique index on
-- (event_id, endpoint_id, attempt_number), which serves every query by
-- event as well: an event has few attempts, so sorting them by ID costs
-- nothing, while the index cost a write at every insert and completion.
DROP INDEX IF EXISTS {prefix}attempts_event;
