-- The index on status and ID no longer holds successes. They are most of
-- the attempts of any store that works, so a page of them is found by
-- reading attempts in ID order, while the other statuses, rare, keep the
-- index: List names the predicate in its query when it asks for no
-- success, which is how SQLite tells that a partial index applies.
DROP INDEX {prefix}attempts_status;
CREATE INDEX {prefix}attempts_status ON {prefix}attempts (status, id) WHERE status <> 0;
