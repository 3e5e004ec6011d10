"""More than one node: the end-to-end mail case (alert mails through the mailhandler, with
2 callers, until every job is done and every row written) with 1, 2 and 3 `serve` nodes on
this machine, on one database and one data root; and what one mail costs (Postgres
commits, rows written, fsync calls, bytes on the shared volume), from which
docs/benchmarks.md models how many nodes a mail and upload rate needs."""

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from common import BIN, Env, free_port, log, wait_port
from mail import alert_mail, run_mailhandler


def _counters(env):
    """Transactions committed in the bench database, and rows inserted, updated, deleted."""
    time.sleep(1.5)  # backends report their statistics at most every second
    commits = int(env.scalar(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{env.db}'"))
    rows = int(env.scalar("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"))
    return commits, rows


def _bytes_under(path):
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _start_nodes(env, nodes):
    """`nodes` serves on env's database and data root, each with its own port and name."""
    procs = []
    base = json.loads(env.config.read_text())
    for i in range(nodes):
        config = dict(base)
        config["node"] = {"name": f"bench-{i + 1}", "lease_seconds": 15}
        port = env.port if i == 0 else free_port()
        config["api"] = dict(base["api"], listen=f"127.0.0.1:{port}")
        path = env.dir / f"node{i + 1}.json"
        path.write_text(json.dumps(config, indent=2))
        procs.append(subprocess.Popen([BIN / "dataprocessor", "--config", path, "serve"],
                                      stdout=subprocess.DEVNULL, stderr=open(env.dir / f"node{i + 1}.stderr", "ab")))
        wait_port(port)
    return procs


def _run(nodes, count, callers):
    env = Env(f"cluster{nodes}")
    procs = []
    try:
        procs = _start_nodes(env, nodes)
        time.sleep(1)
        mails = [alert_mail(i) for i in range(count)]
        commits0, rows0 = _counters(env)
        bytes0 = _bytes_under(env.dir / "mailbox")
        log(f"cluster: {count} alert mails, {callers} callers, {nodes} node(s)")
        start = time.time()
        with ThreadPoolExecutor(callers) as pool:
            list(pool.map(lambda m: run_mailhandler(env, m), mails))
        env.wait_jobs_done(count)
        wall = float(env.scalar("SELECT extract(epoch FROM max(finished_at)) FROM jobs")) - start
        commits1, rows1 = _counters(env)
        per_node = env.scalar("SELECT node, count(*) FROM job_events WHERE step = 'claim' "
                              "GROUP BY 1 ORDER BY 1")
        return {
            "nodes": nodes, "mails": count, "callers": callers,
            "sustained_mails_per_s": count / wall,
            "commits_per_mail": (commits1 - commits0) / count,
            "rows_written_per_mail": (rows1 - rows0) / count,
            "shared_volume_bytes_per_mail": (_bytes_under(env.dir / "mailbox") - bytes0) / count,
            "claims_by_node": dict(line.split("|") for line in per_node.splitlines() if line),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=120)
        env.close()


def _fsyncs_per_mail(sample=100):
    """fsync-family calls per mail, counted by strace: in the mailhandler (per call), and in
    one serve while it turns `sample` mails into jobs and rows."""
    if not shutil.which("strace"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "strace"], check=True, capture_output=True)
    env = Env("cluster_fsync")
    try:
        serve = env.serve()
        time.sleep(1)
        trace = env.dir / "serve.strace"
        tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(trace), "-e", "trace=fsync,fdatasync,syncfs,sync_file_range",
                                   "-p", str(serve.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1)
        handler_trace = env.dir / "mailhandler.strace"
        for i in range(sample):
            out = subprocess.run(["strace", "-f", "-c", "-o", f"{handler_trace}.{i}", "-e", "trace=fsync,fdatasync,syncfs",
                                  BIN / "mailhandler", "--config", env.config, "hs@grid.bench.example",
                                  "bench@ingest.hview.example"], input=alert_mail(100_000 + i), capture_output=True)
            if out.returncode != 0:
                raise RuntimeError(out.stdout.decode())
        env.wait_jobs_done(sample)
        time.sleep(1)
        tracer.terminate()
        tracer.wait(timeout=30)

        def calls(path):
            total = 0
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync", "syncfs", "sync_file_range"):
                    total += int(parts[3])
            return total
        handler = sum(calls(env.dir / f"mailhandler.strace.{i}") for i in range(sample)) / sample
        return {"mailhandler_fsyncs_per_mail": handler, "serve_fsyncs_per_mail": calls(trace) / sample}
    finally:
        env.close()


def cluster(count, callers=2):
    runs = [_run(nodes, count, callers) for nodes in (1, 2, 3)]
    return {"runs": runs, **_fsyncs_per_mail(min(count, 100))}
