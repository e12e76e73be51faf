-- Purge finds old final attempts by status and scheduled time, as List
-- does with a time range; the claim's indexes lead with the endpoint.
CREATE INDEX {prefix}attempts_status_scheduled ON {prefix}attempts (status, scheduled_at);
