-- A group commit's completions, in a function that plans its UPDATE at
-- every call, with the size the attempts table has then. As part of the
-- group commit's statement, the UPDATE was planned once per connection: a
-- connection that prepared it while the table was new and never analyzed
-- kept a plan that read the attempts table whole to complete a few
-- attempts, until autovacuum first analyzed the table. The attempts are
-- found by ID; status + 0 keeps the plan off the partial indexes of
-- pending attempts, whose statistics can be stale (see the package docs).
CREATE FUNCTION {prefix}complete(p_status SMALLINT[], p_response BYTEA[], p_truncated BOOLEAN[], p_code INTEGER[],
    p_headers JSONB[], p_error TEXT[], p_attempted_at TIMESTAMPTZ[], p_duration BIGINT[], p_id VARCHAR[])
RETURNS TABLE (o_id VARCHAR, o_cancel_requested BOOLEAN)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    RETURN QUERY UPDATE {prefix}attempts AS a
        SET status = v.v_status, response = v.v_response, response_truncated = v.v_truncated,
            response_status_code = v.v_code, response_headers = v.v_headers, error = v.v_error,
            attempted_at = v.v_attempted_at, duration_ns = v.v_duration, lease_owner = NULL, lease_until = NULL
        FROM unnest(p_status, p_response, p_truncated, p_code, p_headers, p_error, p_attempted_at, p_duration, p_id)
            AS v (v_status, v_response, v_truncated, v_code, v_headers, v_error, v_attempted_at, v_duration, v_id)
        WHERE a.id = v.v_id AND a.status + 0 = 2
        RETURNING a.id, a.cancel_requested;
END
$$;
