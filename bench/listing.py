"""Listing case: `GET /api/1.0/jobs?limit=50` with each filter the API and the console offer
(status, customer, category, type, since, and combined), against the unfiltered page in the
same run, at a million jobs over 50 customers (96 % done, 3 % error, 1 % queued), the listing
cache off, under wrk on loopback. Run twice: without the listing indexes (migration
2026-12-07-000008 undone) and with them (serve restarted, as after a migration), and each
filter's plan (EXPLAIN ANALYZE of the same query) kept for docs/benchmark-notes.md."""

import datetime
import re
import subprocess

from api import wrk
from common import Env, log

# name → query string (after `limit=50`), and the WHERE clause of the same query for EXPLAIN.
FILTERS = [
    ("unfiltered", "", "true"),
    ("status=error", "status=error", "state = 'error'"),
    ("status=queued", "status=queued", "state = 'queued'"),
    ("customer", "customer=customer7", "customer = 'customer7'"),
    ("category", "category=hydrastor", "category = 'hydrastor'"),
    ("type", "type=veritas2hview", "job_type = 'veritas2hview'"),
    ("since (1 h)", "since={h1}", "created_at >= '{h1}'"),
    ("customer & since (10 min)", "customer=customer7&since={m10}", "customer = 'customer7' AND created_at >= '{m10}'"),
    ("status=error & customer", "status=error&customer=customer7", "state = 'error' AND customer = 'customer7'"),
    ("status=queued & type", "status=queued&type=alert", "state = 'queued' AND job_type = 'alert'"),
    ("all combined", "status=error&customer=customer7&category=hydrastor&type=alert&since={d7}",
     "state = 'error' AND customer = 'customer7' AND category = 'hydrastor' AND job_type = 'alert' AND created_at >= '{d7}'"),
]

INDEXES_DOWN = "shared_modules/migrations/2026-12-07-000008_job_listing_indexes/down.sql"
INDEXES_UP = "shared_modules/migrations/2026-12-07-000008_job_listing_indexes/up.sql"


def fill(env, jobs):
    # Types: alert 90 %, system_report 9.9 %, veritas2hview 0.1 % (uploads are rare);
    # states: done 96 %, error 3 %, queued 1 % (never due: the workers leave them alone).
    env.scalar(f"""
        INSERT INTO jobs (source, customer, category, job_type, job_group, state, max_attempts, timeout_seconds,
                          metadata, created_at, finished_at, run_after)
        SELECT 'email', 'customer' || (g % 50), 'hydrastor',
               CASE WHEN t = 7 THEN 'veritas2hview' WHEN t % 10 = 3 THEN 'system_report' ELSE 'alert' END,
               'grid' || (g % 20),
               CASE WHEN s < 96 THEN 'done' WHEN s < 99 THEN 'error' ELSE 'queued' END, 5, 600,
               jsonb_build_object('subject', 'bench ' || g), now() - make_interval(secs => {jobs} - g), now(),
               now() + interval '1 year'
        FROM generate_series(1, {jobs}) g,
             LATERAL (SELECT abs(hashint8(g::bigint)) % 100 AS s, abs(hashint8(-g::bigint)) % 1000 AS t) h""")
    env.scalar("VACUUM ANALYZE jobs")


def plans(env, params):
    out = {}
    for name, _, where in FILTERS:
        sql = f"SELECT * FROM jobs WHERE {where.format(**params)} ORDER BY id DESC LIMIT 51"
        out[name] = env.scalar(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
    return out


def round_of(env, base, params, seconds):
    results = {}
    for name, query, _ in FILTERS:
        url = f"{base}/jobs?limit=50" + (f"&{query.format(**params)}" if query else "")
        wrk(url, 2)  # warm-up
        results[name] = wrk(url, seconds, connections=16)
        log(f"listing: {name}: {results[name]}")
    return results


def listing(jobs, seconds):
    env = Env("listing", api={"listing_cache_ms": 0}, workers={"concurrency": 1})
    try:
        log(f"listing: inserting {jobs:,} jobs")
        fill(env, jobs)
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = lambda d: (now - d).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {"h1": stamp(datetime.timedelta(hours=1)), "m10": stamp(datetime.timedelta(minutes=10)),
                  "d7": stamp(datetime.timedelta(days=7))}
        env.scalar(open(INDEXES_DOWN).read())
        env.scalar("ANALYZE jobs")
        env.serve()
        base = f"http://127.0.0.1:{env.port}/api/1.0"
        log("listing: without the listing indexes")
        before = round_of(env, base, params, seconds)
        before_plans = plans(env, params)
        env.scalar(open(INDEXES_UP).read())
        env.scalar("ANALYZE jobs")
        # A deployment gets the indexes from a migration before serve starts: the index-less
        # round's prepared statements, and the plan choices Postgres made for them from the
        # costs it saw without the indexes, must not carry over into this round.
        env.kill_serve()
        env.serve()
        log("listing: with the listing indexes")
        after = round_of(env, base, params, seconds)
        after_plans = plans(env, params)
        return {"jobs": jobs, "seconds": seconds, "params": params, "before": before, "after": after,
                "before_plans": before_plans, "after_plans": after_plans}
    finally:
        env.close()
