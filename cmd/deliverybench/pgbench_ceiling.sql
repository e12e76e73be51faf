-- The PostgreSQL ceiling of a delivery's database work on this machine:
-- 16 pending attempts of 1 KiB inserted in one transaction, then completed
-- in another, with the schema of sqlstore's migration. Each run of the
-- script is 16 deliveries' worth of writes. BENCHMARKS.md quotes it:
--
--   sed 's/{prefix}/pgb_/g' sqlstore/migrations/postgres/0001_attempts.sql | psql -h 127.0.0.1 -U postgres test
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -f cmd/deliverybench/pgbench_ceiling.sql -c 4 -T 8 test
--   psql -h 127.0.0.1 -U postgres test -c 'DROP TABLE pgb_attempts'
\set id random(1, 1000000000)
BEGIN;
INSERT INTO pgb_attempts (id, event_id, event_type, endpoint_id, endpoint_url, status, attempt_number, triggered_by,
    response, response_truncated, response_status_code, response_headers, error, attempted_at, duration_ns, scheduled_at,
    payload, lease_owner, lease_until) VALUES
    (:id || '-0', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-1', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-2', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-3', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-4', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-5', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-6', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-7', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-8', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-9', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-10', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-11', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-12', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-13', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-14', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute'),
    (:id || '-15', 'evt', 'bench', 'ep_1', 'http://127.0.0.1/x', 2, 1, 'first', ''::bytea, false, 0, NULL, '', NULL, 0, now(), convert_to(repeat('x', 1024), 'UTF8'), 'o', now() + interval '1 minute');
COMMIT;
BEGIN;
UPDATE pgb_attempts t SET status = v.s, response = v.r, response_truncated = v.rt, response_status_code = v.c,
    response_headers = v.h, error = v.e, attempted_at = v.a, duration_ns = v.d, lease_owner = NULL, lease_until = NULL
FROM (VALUES
    (:id || '-0', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-1', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-2', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-3', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-4', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-5', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-6', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-7', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-8', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-9', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-10', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-11', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-12', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-13', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-14', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint),
    (:id || '-15', 0::smallint, ''::bytea, false, 204, '{}'::jsonb, '', now(), 1000::bigint)
) AS v (id, s, r, rt, c, h, e, a, d)
WHERE t.id = v.id AND t.status = 2;
COMMIT;
