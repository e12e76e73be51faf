-- The schema of pgbench_ceiling.sql with queue=1: sqlstore's, with pending work
-- moved out of the attempts table. The queue table holds one row per
-- pending attempt, with the columns a claim reads; the attempts table
-- keeps only the indexes on columns that never change. The indexes that
-- read by status and by send time go, and one on scheduled time stands in
-- for the purge: fewer indexes than the design would need, which favours
-- it.
DROP INDEX pgb_attempts_queue, pgb_attempts_leased, pgb_attempts_status, pgb_attempts_status_scheduled, pgb_attempts_sent;
CREATE INDEX pgb_attempts_scheduled ON pgb_attempts (scheduled_at);
CREATE TABLE pgb_queue (
    id           VARCHAR(64)  COLLATE "C" NOT NULL PRIMARY KEY,
    endpoint_id  VARCHAR(255) COLLATE "C" NOT NULL,
    scheduled_at TIMESTAMPTZ  NOT NULL,
    lease_until  TIMESTAMPTZ
);
CREATE INDEX pgb_queue_due ON pgb_queue (endpoint_id, scheduled_at, id);
CREATE INDEX pgb_queue_leased ON pgb_queue (endpoint_id, lease_until) WHERE lease_until IS NOT NULL;
