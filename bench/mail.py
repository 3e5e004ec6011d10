"""Mail cases: the mailhandler alone (a 200 KB mail with 2 attachments), and 10,000 alert
mails end to end (mailhandler → job → rows)."""

import base64
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import resource

from common import BIN, Env, cpu_seconds, log, median, percentile, postgres_pids

SENDER = "hs@grid.bench.example"
RECIPIENT = "bench@ingest.hview.example"


def big_mail(i):
    """About 200 KB: a text body and two base64 attachments of 75 KB each."""
    def attachment(n):
        data = base64.encodebytes(os.urandom(75 * 1024)).decode()
        return (f"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; filename=\"part{n}.bin\"\r\n\r\n{data}\r\n")
    body = "Event ID : HS-I-1\r\n" * 20
    return (f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: [HYDRAstor] Alert: Info - benchgrid/sn001 - bench {i}\r\n"
            f"Message-ID: <bench-{i}-{time.time_ns()}@bench.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
            f"{attachment(1)}{attachment(2)}--b--\r\n").encode()


def alert_mail(i):
    minute, second = divmod(i % 3600, 60)
    return (f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: [HYDRAstor] Alert: Warning - benchgrid/sn{i % 8:03d} - event {i}\r\n"
            f"Message-ID: <alert-{i}-{time.time_ns()}@bench.example>\r\nContent-Type: text/plain\r\n\r\n"
            f"Event ID     : HS-W-{i:06d}\r\nSeverity     : Warning\r\nGrid Name    : benchgrid\r\nNode         : sn{i % 8:03d}\r\n"
            f"Component    : Disk\r\nOccurred     : 2026/11/23 10:{minute:02d}:{second:02d} +0000\r\n"
            f"Message      : Benchmark alert number {i}.\r\n").encode()


def run_mailhandler(env, data):
    start = time.perf_counter()
    out = subprocess.run([BIN / "mailhandler", "--config", env.config, SENDER, RECIPIENT], input=data, capture_output=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"mailhandler exit {out.returncode}: {out.stdout.decode().strip()}")
    return elapsed, out.stdout.decode().strip(), time.time()


def run_copier(target, data):
    """The baseline: a process that only copies stdin to a file and fsyncs it."""
    start = time.perf_counter()
    subprocess.run(["dd", f"of={target}", "conv=fsync", "status=none"], input=data, check=True)
    return time.perf_counter() - start


def ingest(calls):
    env = Env("ingest")
    try:
        mails = [big_mail(i) for i in range(calls * 3)]
        log(f"mail ingest: {calls} sequential calls of a {len(mails[0]) // 1024} KB mail")
        handler = [run_mailhandler(env, mails[i])[0] for i in range(calls)]
        copies = env.dir / "copies"
        copies.mkdir()
        baseline = [run_copier(copies / str(i), mails[i]) for i in range(calls)]
        log("mail ingest: 2 concurrent callers")
        with ThreadPoolExecutor(2) as pool:
            start = time.perf_counter()
            list(pool.map(lambda m: run_mailhandler(env, m), mails[calls:]))
            handler_rate = (len(mails) - calls) / (time.perf_counter() - start)
        with ThreadPoolExecutor(2) as pool:
            start = time.perf_counter()
            list(pool.map(lambda i: run_copier(copies / f"c{i}", mails[i]), range(calls, len(mails))))
            baseline_rate = (len(mails) - calls) / (time.perf_counter() - start)
        return {
            "mail_kb": len(mails[0]) // 1024,
            "calls": calls,
            "median_ms": median(handler) * 1000, "p99_ms": percentile(handler, 99) * 1000,
            "baseline_median_ms": median(baseline) * 1000, "baseline_p99_ms": percentile(baseline, 99) * 1000,
            "concurrent_mails_per_s": handler_rate, "baseline_concurrent_mails_per_s": baseline_rate,
        }
    finally:
        env.close()


def end_to_end(count, callers=2):
    """`count` distinct alert mails through the mailhandler with `callers` callers, serve
    running, until every job is done and every row is in; the baseline is `dd conv=fsync`
    of the same mails, one process per mail, same callers, in the same run."""
    env = Env("e2e")
    try:
        env.serve()
        mails = [alert_mail(i) for i in range(count)]
        log(f"end to end: {count} alert mails through the mailhandler, {callers} callers, serve running")
        cpu_before = {"serve": cpu_seconds([env.serve_proc.pid]), "postgres": cpu_seconds(postgres_pids()),
                      "mailhandler": resource.getrusage(resource.RUSAGE_CHILDREN), "harness": resource.getrusage(resource.RUSAGE_SELF)}
        start_wall = time.time()
        with ThreadPoolExecutor(callers) as pool:
            results = list(pool.map(lambda m: run_mailhandler(env, m), mails))
        fed = time.time() - start_wall
        calls = [elapsed for elapsed, _, _ in results]
        exits = {line.removeprefix("stored in "): exited_at for _, line, exited_at in results}
        env.wait_jobs_done(count)
        total = float(env.scalar("SELECT extract(epoch FROM max(finished_at)) FROM jobs")) - start_wall
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        harness = resource.getrusage(resource.RUSAGE_SELF)
        rusage_s = lambda a, b: (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)
        cpu_ms_per_mail = {
            "mailhandler processes": rusage_s(cpu_before["mailhandler"], children) * 1000 / count,
            "dataprocessor serve": (cpu_seconds([env.serve_proc.pid]) - cpu_before["serve"]) * 1000 / count,
            # Backends that started during the run count whole (they did not exist before).
            "postgres": (cpu_seconds(postgres_pids()) - cpu_before["postgres"]) * 1000 / count,
            "bench harness (python)": rusage_s(cpu_before["harness"], harness) * 1000 / count,
        }
        rows = env.scalar(
            "SELECT inbox_path, extract(epoch FROM created_at), extract(epoch FROM finished_at) FROM jobs WHERE state = 'done'")
        made, finished = {}, {}
        for line in rows.splitlines():
            path, created, done = line.split("|")
            made[path], finished[path] = float(created), float(done)
        latencies = [finished[p] - exits[p] for p in exits]
        to_job = [made[p] - exits[p] for p in exits]
        alerts = int(env.scalar("SELECT count(*) FROM hydrastor_alerts"))
        steps = env.scalar(
            "SELECT step, round(avg(duration_ms)::numeric, 3) FROM job_events WHERE phase = 'exit' GROUP BY step ORDER BY step")
        run_ms = env.scalar("SELECT round(avg(extract(epoch FROM finished_at - started_at) * 1000)::numeric, 2) FROM jobs")
        copies = env.dir / "copies"
        copies.mkdir()
        with ThreadPoolExecutor(callers) as pool:
            start = time.perf_counter()
            baseline_calls = list(pool.map(lambda i: run_copier(copies / str(i), mails[i]), range(count)))
            baseline_rate = count / (time.perf_counter() - start)
        return {
            "mails": count, "callers": callers, "rows": alerts,
            "feed_mails_per_s": count / fed,
            "sustained_mails_per_s": count / total,
            "baseline_mails_per_s": baseline_rate,
            "call_median_ms": median(calls) * 1000, "call_p99_ms": percentile(calls, 99) * 1000,
            "baseline_call_median_ms": median(baseline_calls) * 1000,
            "baseline_call_p99_ms": percentile(baseline_calls, 99) * 1000,
            "exit_to_job_p50_ms": percentile(to_job, 50) * 1000,
            "latency_p50_ms": percentile(latencies, 50) * 1000, "latency_p99_ms": percentile(latencies, 99) * 1000,
            "avg_job_run_ms": float(run_ms),
            "avg_step_ms": dict(line.split("|") for line in steps.splitlines()),
            "cpu_ms_per_mail": cpu_ms_per_mail,
            "cores": os.cpu_count(),
            "wall_s": total,
        }
    finally:
        env.close()
