-- The PostgreSQL ceiling of a delivery's database work on this machine,
-- with the schema of sqlstore's migrations (queue=0), or in a design where
-- pending work lives in a queue table of its own (queue=1), so that the
-- attempts table indexes no column a completion changes and the
-- completion can be a HOT update; pgbench_queue_table_schema.sql changes
-- sqlstore's schema into that one. BENCHMARKS.md quotes both:
--
--   for f in sqlstore/migrations/postgres/*.sql; do sed 's/{prefix}/pgb_/g' $f; done | psql -h 127.0.0.1 -U postgres test
--   psql -h 127.0.0.1 -U postgres test -f cmd/deliverybench/pgbench_queue_table_schema.sql  # queue=1 only
--   pgbench -h 127.0.0.1 -U postgres -n -D queue=0 -f cmd/deliverybench/pgbench_ceiling.sql -c 2 -t 300 test
--   psql -h 127.0.0.1 -U postgres test -c 'ANALYZE pgb_attempts' -c 'ANALYZE pgb_events'  # and pgb_queue if queue=1
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -D queue=0 -f cmd/deliverybench/pgbench_ceiling.sql -c 4 -T 15 test
--   psql -h 127.0.0.1 -U postgres test -c 'DROP TABLE pgb_attempts, pgb_endpoints, pgb_events CASCADE' -c 'DROP TABLE IF EXISTS pgb_queue' -c 'DROP FUNCTION pgb_claim'
--
-- Each run of the script is 16 deliveries' worth of the attempts'
-- writes: 16 events and their pending attempts, leased, inserted in one
-- transaction, then completed in another. The endpoints' rows, which both
-- designs write alike, are left out. The first runs are a warm-up: the
-- ANALYZE after them gives the planner the statistics that autovacuum
-- gives a running service.
\set id random(1, 1000000000)
BEGIN;
INSERT INTO pgb_events (event_id, event_type, payload) VALUES
    ('evt_' || :id || '_0', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_1', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_2', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_3', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_4', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_5', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_6', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_7', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_8', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_9', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_10', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_11', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_12', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_13', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_14', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8')),
    ('evt_' || :id || '_15', 'invoice.paid', convert_to(repeat('x', 1024), 'UTF8'));
INSERT INTO pgb_attempts (id, event_id, event_type, endpoint_id, endpoint_url, status, attempt_number, triggered_by,
    response, response_truncated, response_status_code, response_headers, error, attempted_at, duration_ns, scheduled_at,
    lease_owner, lease_until) VALUES
    (:id || '_0', 'evt_' || :id || '_0', 'invoice.paid', 'ep_' || (:id % 50 + 0), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_1', 'evt_' || :id || '_1', 'invoice.paid', 'ep_' || (:id % 50 + 1), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_2', 'evt_' || :id || '_2', 'invoice.paid', 'ep_' || (:id % 50 + 2), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_3', 'evt_' || :id || '_3', 'invoice.paid', 'ep_' || (:id % 50 + 3), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_4', 'evt_' || :id || '_4', 'invoice.paid', 'ep_' || (:id % 50 + 4), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_5', 'evt_' || :id || '_5', 'invoice.paid', 'ep_' || (:id % 50 + 5), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_6', 'evt_' || :id || '_6', 'invoice.paid', 'ep_' || (:id % 50 + 6), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_7', 'evt_' || :id || '_7', 'invoice.paid', 'ep_' || (:id % 50 + 7), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_8', 'evt_' || :id || '_8', 'invoice.paid', 'ep_' || (:id % 50 + 8), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_9', 'evt_' || :id || '_9', 'invoice.paid', 'ep_' || (:id % 50 + 9), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_10', 'evt_' || :id || '_10', 'invoice.paid', 'ep_' || (:id % 50 + 10), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_11', 'evt_' || :id || '_11', 'invoice.paid', 'ep_' || (:id % 50 + 11), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_12', 'evt_' || :id || '_12', 'invoice.paid', 'ep_' || (:id % 50 + 12), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_13', 'evt_' || :id || '_13', 'invoice.paid', 'ep_' || (:id % 50 + 13), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_14', 'evt_' || :id || '_14', 'invoice.paid', 'ep_' || (:id % 50 + 14), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute'),
    (:id || '_15', 'evt_' || :id || '_15', 'invoice.paid', 'ep_' || (:id % 50 + 15), 'https://127.0.0.1/hook', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), 'o', now() + interval '1 minute');
\if :queue
INSERT INTO pgb_queue (id, endpoint_id, scheduled_at, lease_until) VALUES
    (:id || '_0', 'ep_' || (:id % 50 + 0), now(), now() + interval '1 minute'),
    (:id || '_1', 'ep_' || (:id % 50 + 1), now(), now() + interval '1 minute'),
    (:id || '_2', 'ep_' || (:id % 50 + 2), now(), now() + interval '1 minute'),
    (:id || '_3', 'ep_' || (:id % 50 + 3), now(), now() + interval '1 minute'),
    (:id || '_4', 'ep_' || (:id % 50 + 4), now(), now() + interval '1 minute'),
    (:id || '_5', 'ep_' || (:id % 50 + 5), now(), now() + interval '1 minute'),
    (:id || '_6', 'ep_' || (:id % 50 + 6), now(), now() + interval '1 minute'),
    (:id || '_7', 'ep_' || (:id % 50 + 7), now(), now() + interval '1 minute'),
    (:id || '_8', 'ep_' || (:id % 50 + 8), now(), now() + interval '1 minute'),
    (:id || '_9', 'ep_' || (:id % 50 + 9), now(), now() + interval '1 minute'),
    (:id || '_10', 'ep_' || (:id % 50 + 10), now(), now() + interval '1 minute'),
    (:id || '_11', 'ep_' || (:id % 50 + 11), now(), now() + interval '1 minute'),
    (:id || '_12', 'ep_' || (:id % 50 + 12), now(), now() + interval '1 minute'),
    (:id || '_13', 'ep_' || (:id % 50 + 13), now(), now() + interval '1 minute'),
    (:id || '_14', 'ep_' || (:id % 50 + 14), now(), now() + interval '1 minute'),
    (:id || '_15', 'ep_' || (:id % 50 + 15), now(), now() + interval '1 minute');
\endif
COMMIT;
BEGIN;
UPDATE pgb_attempts t SET status = v.s, response = v.r, response_truncated = v.rt, response_status_code = v.c,
    response_headers = v.h, error = v.e, attempted_at = v.a, duration_ns = v.d, lease_owner = NULL, lease_until = NULL
FROM (VALUES
    (:id || '_0', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_1', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_2', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_3', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_4', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_5', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_6', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_7', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_8', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_9', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_10', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_11', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_12', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_13', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_14', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint),
    (:id || '_15', 0::smallint, 'ok'::bytea, false, 200, '{"Content-Type":["text/plain"],"Date":["Sun, 29 Nov 2026 18:00:00 GMT"]}'::jsonb, '', now(), 1000000::bigint)
) AS v (id, s, r, rt, c, h, e, a, d)
WHERE t.id = v.id AND t.status + 0 = 2;
\if :queue
DELETE FROM pgb_queue WHERE id IN (:id || '_0', :id || '_1', :id || '_2', :id || '_3', :id || '_4', :id || '_5', :id || '_6', :id || '_7', :id || '_8', :id || '_9', :id || '_10', :id || '_11', :id || '_12', :id || '_13', :id || '_14', :id || '_15');
\endif
COMMIT;
