-- The W3C traceparent of the code that enqueued an attempt's event, so that
-- the span of the attempt, in whatever process sends it, is its child.
-- Added last with a default, the column is an instant change on MariaDB
-- and MySQL 8.
ALTER TABLE {prefix}attempts ADD COLUMN trace_parent VARCHAR(128) NOT NULL DEFAULT '';
