"""Daily re-export case: a `bpdbjobs -all_columns` export of distinct records (one try each)
uploaded through the embedded S3 endpoint with the real `aws` CLI and triggered with curl;
then the next day's export of the same records with 5 % of them changed (a try's status
text) under a new key. Each job's records/s over its run is compared with the floor: `COPY`
of the same typed rows (taken from the tables the jobs wrote) into empty
`LIKE … INCLUDING ALL` copies of the tables, in the same run."""

import os
import subprocess
import time

from common import KEY, Env, cpu_seconds, log, postgres_pids


def record(job, status_text):
    """One record: a job with one try and one status line (the fields `bpdbjobs` writes)."""
    started = 1763800000 + job % 86400
    head = [str(job), "0", "3", "0", f"POL_{job % 40}", "Daily", f"client{job % 500}.corp", f"media{job % 4}",
            str(started), "0000000300", str(started + 300), f"HYD_STU_0{job % 3}", "1", "", str(job % 100000),
            "42", "", "100", "4711", "root", "1", "13", "0", "0", "", "nbmaster01", "1", "37", "0", "", ""]
    tries = ["1", "9911", f"HYD_STU_0{job % 3}", f"media{job % 4}", str(started), "0000000300", str(started + 300),
             "0", status_text, "1", f"11/23/25 00:00:00 - Info bpdm(pid=3456) dedup: {job % 90}.0%",
             str(job % 100000), "42"]
    tail = [str(job), "52133", "1", "", "", "", "", "0", "", "", "", "", "0", "0", "0", "1", "0", "0",
            f"client{job % 500}.corp_{started}", "1", "nbmaster01"]
    return ",".join(head + ["0"] + tries + tail) + "\n"


CHANGED_EVERY = 20  # 5 %


def write_day(directory, records, day):
    """Day 1: every try successful. Day 2: every 20th record's try reads differently."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "jobs.txt", "w") as out:
        for n in range(records):
            job = 1_000_001 + n
            text = "the requested operation was successfully completed"
            if day == 2 and n % CHANGED_EVERY == 0:
                text = "the requested operation was partially successful"
            out.write(record(job, text))
    archive = directory.parent / f"day{day}.tar.gz"
    subprocess.run(["tar", "-I", "gzip -1", "-cf", archive, "-C", directory, "jobs.txt"], check=True)
    return archive


def aws(endpoint, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="accessKey1", AWS_SECRET_ACCESS_KEY="verySecretKey1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    subprocess.run(["aws", "--endpoint-url", endpoint, *args], check=True, env=env, capture_output=True)


def run_day(env, serve, key, expected_done):
    """Uploads `key`'s archive, triggers it with curl, waits for the job; its figures."""
    endpoint = f"http://127.0.0.1:{env.port}"
    aws(endpoint, "s3", "cp", str(env.dir / key.split("/")[-1]), f"s3://veritas2hview/{key}")
    cpu = cpu_seconds([serve.pid]), cpu_seconds(postgres_pids())
    body = f'{{"uid": "bench", "customer": "bench", "grid": "benchgrid", "s3_path": "{key}"}}'
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                          "-H", f"X-Api-Key: {KEY}", "-H", "Content-Type: application/json", "-d", body,
                          f"{endpoint}/api/1.0/veritas2hview/update"], capture_output=True, text=True, check=True)
    assert out.stdout == "202", out
    env.wait_jobs_done(expected_done, timeout=3600)
    run = float(env.scalar("SELECT extract(epoch FROM finished_at - started_at) FROM jobs ORDER BY id DESC LIMIT 1"))
    return {"job_seconds": run,
            "serve_cpu_seconds": cpu_seconds([serve.pid]) - cpu[0],
            "postgres_cpu_seconds": cpu_seconds(postgres_pids()) - cpu[1],
            "rows": env.scalar("SELECT result->'rows' FROM jobs ORDER BY id DESC LIMIT 1")}


def copy_floor(env):
    """Seconds to COPY the rows the jobs wrote into empty copies of their tables (indexes and
    all), from files written beforehand: what Postgres needs at least to take these rows."""
    tables = ["netbackup_jobs", "netbackup_job_tries"]
    script = ["BEGIN;"]
    for t in tables:
        path = env.dir / f"{t}.copy"
        env.scalar(f"\\copy {t} TO '{path}'")
        env.scalar(f"CREATE TABLE floor_{t} (LIKE {t} INCLUDING ALL)")
        script.append(f"\\copy floor_{t} FROM '{path}'")
    script.append("COMMIT;")
    (env.dir / "floor.sql").write_text("\n".join(script) + "\n")
    start = time.perf_counter()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", env.db, "-v", "ON_ERROR_STOP=1", "-q",
                    "-f", env.dir / "floor.sql"], check=True)
    took = time.perf_counter() - start
    for t in tables:
        env.scalar(f"DROP TABLE floor_{t}")
    return took


def reexport(records):
    env = Env("reexport", s3={"auto_trigger": False}, workers={"concurrency": 2})
    try:
        log(f"reexport: writing day 1 and day 2 exports of {records:,} records")
        write_day(env.dir / "export1", records, 1)
        write_day(env.dir / "export2", records, 2)
        serve = env.serve()
        log("reexport: day 1")
        day1 = run_day(env, serve, "bench/benchgrid/day1.tar.gz", 1)
        log("reexport: day 2 (5 % changed)")
        day2 = run_day(env, serve, "bench/benchgrid/day2.tar.gz", 2)
        rss = env.peak_rss_mb()
        env.kill_serve()
        changed = int(env.scalar("SELECT count(*) FROM netbackup_job_tries WHERE status_description LIKE 'the requested operation was partially%'"))
        jobs = int(env.scalar("SELECT count(*) FROM netbackup_jobs"))
        tries = int(env.scalar("SELECT count(*) FROM netbackup_job_tries"))
        assert jobs == records and tries == records, (jobs, tries)
        assert changed == len(range(0, records, CHANGED_EVERY)), changed
        log("reexport: the COPY floor (3 runs, the fastest)")
        floor = min(copy_floor(env) for _ in range(3))
        return {"records": records, "changed": changed, "peak_rss_mb": rss,
                "day1": day1, "day2": day2,
                "day1_records_per_s": records / day1["job_seconds"],
                "day2_records_per_s": records / day2["job_seconds"],
                "floor_seconds": floor, "floor_records_per_s": records / floor}
    finally:
        env.close()
