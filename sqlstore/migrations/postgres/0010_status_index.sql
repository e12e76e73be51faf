-- The index on status and ID no longer holds successes, as it holds no
-- pending attempts (see 0005). Successes are most of the attempts of any
-- store that works, so a page of them is found by reading attempts in ID
-- order, while failures and cancellations, rare, keep the index.
DROP INDEX {prefix}attempts_status;
CREATE INDEX {prefix}attempts_status ON {prefix}attempts (status, id) WHERE status <> 0 AND status <> 2;
