"""API case: `GET /api/1.0/jobs?limit=50` with a million jobs in the table, under wrk on
loopback, with the listing cache as configured by default and then turned off; the
baseline is `/api/1.0/health` (the key check, the pool and one SELECT 1)."""

import re
import subprocess

from common import KEY, Env, log


def wrk(url, seconds, connections=32):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"X-Api-Key: {KEY}", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        value, unit = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": rps, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "errors": int(non2xx.group(1)) if non2xx else 0}


def api(jobs, seconds):
    env = Env("api")
    try:
        log(f"api: inserting {jobs} jobs")
        env.scalar(f"""
            INSERT INTO jobs (source, customer, category, job_type, job_group, state, max_attempts, timeout_seconds,
                              metadata, created_at, finished_at)
            SELECT 'email', 'customer' || (g % 50), 'hydrastor', (ARRAY['alert', 'system_report', 'veritas2hview'])[g % 3 + 1],
                   'grid' || (g % 20), (ARRAY['done', 'error', 'cancelled', 'quarantined'])[g % 4 + 1], 5, 600,
                   jsonb_build_object('subject', 'bench ' || g), now() - make_interval(secs => {jobs} - g), now()
            FROM generate_series(1, {jobs}) g""")
        env.scalar("ANALYZE jobs")
        env.serve()
        base = f"http://127.0.0.1:{env.port}/api/1.0"
        log(f"api: wrk {seconds} s on /jobs?limit=50")
        wrk(f"{base}/jobs?limit=50", 3)  # warm-up
        listing = wrk(f"{base}/jobs?limit=50", seconds)
        filtered = wrk(f"{base}/jobs?limit=50&status=error&customer=customer7", seconds)
        baseline = wrk(f"{base}/health", seconds)
        log("api: again with the listing cache off (api.listing_cache_ms = 0)")
        env.kill_serve()
        env.reconfigure(api={"listing_cache_ms": 0})
        env.serve()
        wrk(f"{base}/jobs?limit=50", 3)  # warm-up
        uncached = wrk(f"{base}/jobs?limit=50", seconds)
        uncached_filtered = wrk(f"{base}/jobs?limit=50&status=error&customer=customer7", seconds)
        return {"jobs": jobs, "seconds": seconds, "listing": listing, "filtered": filtered, "baseline": baseline,
                "uncached": uncached, "uncached_filtered": uncached_filtered}
    finally:
        env.close()
