-- Reading the audit trail as a portal does: one customer's attempts,
-- newest first, of one event type; and what each endpoint sent in the
-- last hours, counted from final attempts alone.
CREATE INDEX IF NOT EXISTS {prefix}attempts_endpoint_type ON {prefix}attempts (endpoint_id, event_type, id);
CREATE INDEX IF NOT EXISTS {prefix}attempts_sent ON {prefix}attempts (endpoint_id, attempted_at, status) WHERE status IN (0, 1);
