"""Shared pieces of the benchmarks: a fresh database and data root per case, the release
binaries, `dataprocessor serve` as a child process, and percentiles."""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release"
KEY = "bench-key-0123456789abcdef"
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/dataprocessor-bench"))


def log(msg):
    print(f"[bench] {msg}", flush=True)


def psql(db, sql, check=True):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAq", "-c", sql],
        capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}\n{sql[:300]}")
    return out.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def cpu_seconds(pids):
    """User + system CPU seconds used so far by these processes (and their waited-for children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick
    return total


def postgres_pids():
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values):
    return statistics.median(values) if values else float("nan")


class Env:
    """A fresh database `bench_<name>`, a data root, a config file, and optionally a running
    `dataprocessor serve`."""

    def __init__(self, name, **overrides):
        self.name = name
        self.db = f"bench_{name}"
        self.dir = WORK / name
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "mailbox").mkdir(parents=True)
        psql("postgres", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {self.db}")
        self.url = f"postgres://postgres@127.0.0.1:5432/{self.db}"
        self.port = free_port()
        config = {
            "paths": {"root": str(self.dir / "mailbox")},
            "database": {"url": self.url, "pool_size": 16},
            "api": {"listen": f"127.0.0.1:{self.port}", "keys": [KEY]},
            "s3": {"mode": "embedded", "access_key_id": "accessKey1", "secret_access_key": "verySecretKey1"},
            "workers": {"concurrency": 4, "poll_interval_seconds": 1},
            "jobs": {"lease_seconds": 5, "reaper_interval_seconds": 1, "timeout_seconds": 3600},
            "customers": [{"name": "bench", "addresses": ["bench@ingest.hview.example"], "allowed_senders": []}],
            "logging": {"level": "warn", "directory": str(self.dir / "logs")},
        }
        self.config = self.dir / "config.json"
        self.config.write_text(json.dumps(config, indent=2))
        self.reconfigure(**overrides)
        subprocess.run([BIN / "dataprocessor", "--config", self.config, "migrate"], check=True, capture_output=True)
        self.serve_proc = None

    def reconfigure(self, **overrides):
        """Changes config sections (taken into account by the next `serve`)."""
        config = json.loads(self.config.read_text())
        for section, values in overrides.items():
            config.setdefault(section, {}).update(values)
        self.config.write_text(json.dumps(config, indent=2))

    def serve(self):
        self.serve_proc = subprocess.Popen(
            [BIN / "dataprocessor", "--config", self.config, "serve"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "serve.stderr", "ab"))
        wait_port(self.port)
        return self.serve_proc

    def kill_serve(self, sig=signal.SIGTERM):
        if self.serve_proc and self.serve_proc.poll() is None:
            self.serve_proc.send_signal(sig)
            self.serve_proc.wait(timeout=120)
        self.serve_proc = None

    def peak_rss_mb(self):
        for line in Path(f"/proc/{self.serve_proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/1.0{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Api-Key": KEY, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def scalar(self, sql):
        return psql(self.db, sql)

    def wait_jobs_done(self, expected, timeout=1800, where="true"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            row = self.scalar(f"SELECT count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'error') FROM jobs WHERE {where}")
            done, errors = (int(x) for x in row.split("|"))
            if errors:
                sample = self.scalar(f"SELECT error FROM jobs WHERE state = 'error' AND {where} LIMIT 1")
                raise RuntimeError(f"{errors} job(s) failed, e.g.: {sample}")
            if done >= expected:
                return
            time.sleep(0.2)
        raise RuntimeError(f"jobs not done after {timeout} s")

    def close(self):
        self.kill_serve()
        psql("postgres", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
