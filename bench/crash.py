"""Crash case: alert mails keep coming through the mailhandler (callers retry exit 75 as
Postfix does) while `dataprocessor serve` is killed with SIGKILL and Postgres is stopped
with `pg_ctl stop -m immediate`; every mail must end as exactly one job and one row."""

import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import BIN, Env, log
from mail import RECIPIENT, SENDER, alert_mail


def pg(action, *extra):
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *extra],
                   check=True, capture_output=True)


def pg_ready():
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0


def crash(count, callers=2):
    env = Env("crash")
    accepted = []
    tempfails = [0]
    lock = threading.Lock()

    def deliver(mail):
        while True:
            out = subprocess.run([BIN / "mailhandler", "--config", env.config, SENDER, RECIPIENT],
                                 input=mail, capture_output=True)
            if out.returncode == 0:
                with lock:
                    accepted.append(1)
                return
            if out.returncode != 75:
                raise RuntimeError(f"mailhandler exit {out.returncode}: {out.stdout.decode().strip()}")
            with lock:
                tempfails[0] += 1
            time.sleep(0.5)

    try:
        env.serve()
        mails = [alert_mail(i) for i in range(count)]
        kill_at, stop_pg_at, down = count // 3, 2 * count // 3, 2.0
        log(f"crash: {count} mails, serve killed after {kill_at}, Postgres stopped after {stop_pg_at}")

        def chaos():
            while len(accepted) < kill_at:
                time.sleep(0.01)
            env.kill_serve(signal.SIGKILL)
            log("crash: serve killed (SIGKILL)")
            time.sleep(down)
            env.serve()
            while len(accepted) < stop_pg_at:
                time.sleep(0.01)
            pg("stop", "--", "-m", "immediate")
            log("crash: Postgres stopped (-m immediate)")
            time.sleep(down)
            pg("start")
            while not pg_ready():
                time.sleep(0.1)
            log("crash: Postgres back")

        monkey = threading.Thread(target=chaos)
        monkey.start()
        with ThreadPoolExecutor(callers) as pool:
            list(pool.map(deliver, mails))
        last_mail = time.time()
        monkey.join()
        env.wait_jobs_done(count, timeout=600)
        done_at = float(env.scalar("SELECT extract(epoch FROM max(finished_at)) FROM jobs"))
        tickets = env.dir / "mailbox" / ".tickets"
        return {
            "mails": count,
            "serve_killed_after": kill_at, "pg_stopped_after": stop_pg_at,
            "serve_down_s": down, "pg_down_s": down,
            "accepted": len(accepted),
            "tempfails": tempfails[0],
            "jobs": int(env.scalar("SELECT count(*) FROM jobs")),
            "done": int(env.scalar("SELECT count(*) FROM jobs WHERE state = 'done'")),
            "rows": int(env.scalar("SELECT count(*) FROM hydrastor_alerts")),
            "rows_duplicated": int(env.scalar(
                "SELECT count(*) - count(DISTINCT (customer, grid_name, node_name, event_id, occurred_at)) FROM hydrastor_alerts")),
            "tickets_left": len(list(tickets.glob("*.json"))) if tickets.exists() else 0,
            "seconds_to_all_done": max(0.0, done_at - last_mail),
        }
    finally:
        if not pg_ready():
            pg("start")
        env.close()
