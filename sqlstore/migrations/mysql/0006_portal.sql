-- Reading the audit trail as a portal does: one customer's attempts,
-- newest first, of one event type; and what each endpoint sent in the
-- last hours.
CREATE INDEX {prefix}attempts_endpoint_type ON {prefix}attempts (endpoint_id, event_type, id);
CREATE INDEX {prefix}attempts_sent ON {prefix}attempts (endpoint_id, attempted_at, status);
