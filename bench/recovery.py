"""Recovery case: `kill -9` of `dataprocessor serve` in the middle of 5,000 jobs, then a
restart; the baseline is the same 5,000 jobs without the kill."""

import signal
import time

from common import Env, log


def prepare(env, count):
    """`count` alert deliveries in the inbox and their queued jobs (as the mailhandler leaves them)."""
    inbox = env.dir / "mailbox" / "inbox" / "bench" / "hydrastor" / "alert" / "sn001"
    for i in range(count):
        d = inbox / f"20261123_100000_{i}"
        d.mkdir(parents=True)
        (d / "body.txt").write_text(
            f"Event ID     : HS-E-{i:06d}\nSeverity     : Error\nGrid Name    : benchgrid\nNode         : sn001\n"
            f"Component    : Disk\nOccurred     : 2026/11/23 10:00:00 +0000\nMessage      : Recovery benchmark {i}.\n")
    env.scalar(f"""
        INSERT INTO jobs (source, customer, category, job_type, job_group, state, inbox_path, max_attempts,
                          timeout_seconds, dedupe_key)
        SELECT 'email', 'bench', 'hydrastor', 'alert', 'sn001', 'queued', '{inbox}/20261123_100000_' || g, 5, 3600,
               'bench:' || g
        FROM generate_series(0, {count - 1}) g""")


def run(count, kill):
    env = Env("recovery_kill" if kill else "recovery_plain")
    try:
        prepare(env, count)
        start = time.time()
        env.serve()
        restart_seconds = None
        if kill:
            while int(env.scalar("SELECT count(*) FROM jobs WHERE state = 'done'")) < count // 2:
                time.sleep(0.05)
            running = int(env.scalar("SELECT count(*) FROM jobs WHERE state = 'running'"))
            env.kill_serve(signal.SIGKILL)
            log(f"recovery: killed serve with {running} job(s) running; restarting")
            restarted = time.time()
            env.serve()
        env.wait_jobs_done(count, timeout=1800)
        end = float(env.scalar("SELECT extract(epoch FROM max(finished_at)) FROM jobs"))
        if kill:
            restart_seconds = end - restarted
        result = {
            "jobs": count,
            "seconds_to_all_done": end - start,
            "seconds_after_restart": restart_seconds,
            "jobs_run_twice": int(env.scalar("SELECT count(*) FROM jobs WHERE attempts > 1")),
            "jobs_lost": int(env.scalar("SELECT count(*) FROM jobs WHERE state <> 'done'")),
            "rows": int(env.scalar("SELECT count(*) FROM hydrastor_alerts")),
            "rows_duplicated": int(env.scalar(
                "SELECT count(*) - count(DISTINCT (customer, grid_name, node_name, event_id, occurred_at)) FROM hydrastor_alerts")),
        }
        result["rows_missing"] = count - result["rows"]
        return result
    finally:
        env.close()


def recovery(count):
    log(f"recovery: baseline, {count} jobs without a kill")
    plain = run(count, kill=False)
    log(f"recovery: {count} jobs, kill -9 half way")
    killed = run(count, kill=True)
    return {"baseline": plain, "killed": killed}
