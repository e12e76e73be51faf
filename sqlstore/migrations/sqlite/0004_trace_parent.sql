-- The W3C traceparent of the code that enqueued an attempt's event, so that
-- the span of the attempt, in whatever process sends it, is its child.
ALTER TABLE {prefix}attempts ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
