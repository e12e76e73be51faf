-- A claim that took fewer attempts of an endpoint than its quota, while
-- attempts of it were still due, gives the endpoint its turn again at
-- once: its locking read skipped rows that another transaction held for
-- the moment. Before, it gave the endpoint no turn, so that those attempts
-- waited for the endpoint's next insert or completion.
-- A claim, in one call (see Store.Claim): it locks the endpoints whose
-- turn has come, counts their leases in a statement that follows the locks
-- (and so sees every claim committed before them), shares the claim's
-- limit out between them one attempt at a time, leases their due attempts,
-- and gives each its next turn. Each step is one statement for all the
-- endpoints, so that a claim costs an index probe per endpoint, not a
-- statement. It returns the leased attempts, with their events' payloads, whether
-- each was reclaimed, whether it is a probe, and its trace parent.
CREATE OR REPLACE FUNCTION {prefix}claim(p_owner VARCHAR, p_now TIMESTAMPTZ, p_until TIMESTAMPTZ, p_limit INTEGER, p_per INTEGER)
RETURNS TABLE (o_id VARCHAR, o_event_id VARCHAR, o_event_type VARCHAR, o_endpoint_id VARCHAR, o_endpoint_url VARCHAR,
    o_status SMALLINT, o_attempt_number INTEGER, o_triggered_by VARCHAR, o_response BYTEA, o_response_truncated BOOLEAN,
    o_response_status_code INTEGER, o_response_headers JSONB, o_error TEXT, o_attempted_at TIMESTAMPTZ, o_duration_ns BIGINT,
    o_scheduled_at TIMESTAMPTZ, o_payload BYTEA, o_reclaimed BOOLEAN, o_probe BOOLEAN, o_trace_parent VARCHAR)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    ids VARCHAR[];
    lims INTEGER[];
    probes BOOLEAN[];
    lives INTEGER[];
    untils TIMESTAMPTZ[];
    quotas INTEGER[];
    tooks INTEGER[];
    nexts TIMESTAMPTZ[];
    chosen VARCHAR[];
    chosen_k INTEGER[];
    turn_at TIMESTAMPTZ[];
    turn_served BOOLEAN[];
    turn_saturated BOOLEAN[];
    need_next BOOLEAN[];
    n INTEGER;
    k INTEGER;
    remaining INTEGER := p_limit;
    more BOOLEAN := TRUE;
    lease_end TIMESTAMPTZ;
BEGIN
    SELECT coalesce(array_agg(l.endpoint_id ORDER BY l.ord), '{}'),
           coalesce(array_agg(CASE WHEN l.cooldown_ns > 0 THEN 1 ELSE p_per END ORDER BY l.ord), '{}'),
           coalesce(array_agg(l.cooldown_ns > 0 ORDER BY l.ord), '{}')
      INTO ids, lims, probes
      FROM (SELECT e.endpoint_id, e.cooldown_ns, row_number() OVER (ORDER BY e.ready_at, e.served, e.endpoint_id) AS ord
              FROM (SELECT e.endpoint_id, e.cooldown_ns, e.ready_at, e.served FROM {prefix}endpoints AS e WHERE e.ready_at <= p_now
                     ORDER BY e.ready_at, e.served, e.endpoint_id LIMIT p_limit FOR UPDATE SKIP LOCKED) AS e) AS l;
    n := coalesce(array_length(ids, 1), 0);
    IF n = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(c.live ORDER BY x.k), array_agg(c.until ORDER BY x.k) INTO lives, untils
      FROM unnest(ids) WITH ORDINALITY AS x(id, k)
      CROSS JOIN LATERAL (SELECT count(*)::INTEGER AS live, min(a.lease_until) AS until FROM {prefix}attempts AS a
                           WHERE a.status = 2 AND a.endpoint_id = x.id AND a.lease_until > p_now) AS c;
    quotas := array_fill(0, ARRAY[n]);
    tooks := array_fill(0, ARRAY[n]);
    WHILE remaining > 0 AND more LOOP
        more := FALSE;
        FOR k IN 1..n LOOP
            IF remaining > 0 AND (lims[k] = 0 OR quotas[k] < lims[k] - lives[k]) THEN
                quotas[k] := quotas[k] + 1;
                remaining := remaining - 1;
                more := TRUE;
            END IF;
        END LOOP;
    END LOOP;
    SELECT coalesce(array_agg(c.id), '{}'), coalesce(array_agg(x.k), '{}') INTO chosen, chosen_k
      FROM unnest(ids, quotas) WITH ORDINALITY AS x(id, quota, k)
      CROSS JOIN LATERAL (SELECT a.id FROM {prefix}attempts AS a
                           WHERE a.status = 2 AND a.endpoint_id = x.id AND a.scheduled_at <= p_now
                             AND (a.lease_until IS NULL OR a.lease_until <= p_now)
                           ORDER BY a.scheduled_at, a.id LIMIT x.quota FOR UPDATE SKIP LOCKED) AS c;
    FOR k IN 1..coalesce(array_length(chosen_k, 1), 0) LOOP
        tooks[chosen_k[k]] := tooks[chosen_k[k]] + 1;
    END LOOP;
    RETURN QUERY UPDATE {prefix}attempts AS a
        SET reclaimed = (a.reclaimed OR a.lease_owner IS NOT NULL), lease_owner = p_owner, lease_until = p_until
        FROM unnest(chosen, chosen_k) AS c(id, k)
        WHERE a.id = c.id
        RETURNING a.id, a.event_id, a.event_type, a.endpoint_id, a.endpoint_url, a.status, a.attempt_number, a.triggered_by,
            a.response, a.response_truncated, a.response_status_code, a.response_headers, a.error, a.attempted_at,
            a.duration_ns, a.scheduled_at, (SELECT ev.payload FROM {prefix}events AS ev WHERE ev.event_id = a.event_id),
            a.reclaimed, probes[c.k], a.trace_parent;
    turn_at := array_fill(NULL::TIMESTAMPTZ, ARRAY[n]);
    turn_served := array_fill(FALSE, ARRAY[n]);
    turn_saturated := array_fill(FALSE, ARRAY[n]);
    need_next := array_fill(FALSE, ARRAY[n]);
    FOR k IN 1..n LOOP
        lease_end := untils[k];
        IF tooks[k] > 0 AND (lease_end IS NULL OR p_until < lease_end) THEN
            lease_end := p_until;
        END IF;
        IF lims[k] > 0 AND lives[k] + tooks[k] >= lims[k] THEN
            turn_at[k] := lease_end;
            turn_served[k] := tooks[k] > 0;
            turn_saturated[k] := TRUE;
        ELSIF tooks[k] = quotas[k] AND tooks[k] > 0 THEN
            turn_at[k] := p_now;
            turn_served[k] := TRUE;
        ELSE
            turn_at[k] := lease_end;
            need_next[k] := TRUE;
        END IF;
    END LOOP;
    IF TRUE = ANY(need_next) THEN
        SELECT array_agg(CASE WHEN x.need THEN
                   (SELECT a.scheduled_at FROM {prefix}attempts AS a
                     WHERE a.status = 2 AND a.endpoint_id = x.id
                       AND (a.lease_until IS NULL OR a.lease_until <= p_now)
                     ORDER BY a.endpoint_id, a.scheduled_at LIMIT 1) END ORDER BY x.k)
          INTO nexts FROM unnest(ids, need_next) WITH ORDINALITY AS x(id, need, k);
        FOR k IN 1..n LOOP
            IF need_next[k] AND nexts[k] <= p_now THEN
                turn_at[k] := p_now;
                turn_served[k] := TRUE;
            ELSIF need_next[k] THEN
                turn_at[k] := least(turn_at[k], nexts[k]);
            END IF;
        END LOOP;
    END IF;
    UPDATE {prefix}endpoints AS e SET ready_at = t.at, served = t.served, saturated = t.saturated, parked_at = p_now
      FROM unnest(ids, turn_at, turn_served, turn_saturated) AS t(id, at, served, saturated)
     WHERE e.endpoint_id = t.id;
END
$$;
