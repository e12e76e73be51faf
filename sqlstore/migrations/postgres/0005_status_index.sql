-- Listing by status needs no pending attempts, as with the index on
-- status and scheduled time: left in, they let the claim's generic plan,
-- made when statistics counted few pending attempts, read one endpoint's
-- due attempts through this index, stepping over every other endpoint's,
-- once a backlog has grown.
DROP INDEX {prefix}attempts_status;
CREATE INDEX {prefix}attempts_status ON {prefix}attempts (status, id) WHERE status <> 2;
