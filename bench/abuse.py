"""Abuse case: against `dataprocessor serve` with TLS on, 10,000 connections that say nothing
and 1,000 that send one byte and stall, plus 3,000 multipart uploads opened (one 5-byte part
each) and abandoned by one key limited to `bench/` (a customer's folder). Health is timed while all of it is open;
serve's descriptors and resident memory are read before, during, and 15 s after the clients
close."""

import http.client
import os
import resource
import socket
import subprocess
import time

import botocore.session
from botocore.config import Config as BotoConfig

from common import Env, KEY, log, median, percentile


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def health_ms(port, samples=20):
    """Each of `samples` health requests on a new connection, in ms (None: no answer in 5 s)."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/1.0/health", headers={"X-Api-Key": KEY})
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        times.append((time.perf_counter() - start) * 1000 if ok else None)
        time.sleep(0.05)
    return times


def abuse(idle=10_000, one_byte=1_000, uploads=3_000):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = Env("abuse", s3={"keys": [{"access_key_id": "alicekey", "secret_access_key": "alicesecret",
                                      "prefix": "bench/"}]})
    try:
        cert, key = env.dir / "cert.pem", env.dir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
                        "-out", cert], check=True, capture_output=True)
        env.reconfigure(api={"tls_certificate": str(cert), "tls_private_key": str(key)})
        serve = env.serve()
        time.sleep(1)
        pid = serve.pid
        before = {"fds": open_fds(pid), "rss_mb": rss_mb(pid)}
        quiet = [h for h in health_ms(env.port) if h is not None]

        log(f"abuse: {idle:,} silent connections, {one_byte:,} one-byte ones")
        start = time.perf_counter()
        clients = []
        for i in range(idle + one_byte):
            s = socket.create_connection(("127.0.0.1", env.port))
            if i >= idle:
                s.send(b"G" if i % 2 else b"\x16")
            clients.append(s)
        opened_s = time.perf_counter() - start
        time.sleep(1)
        during_health = health_ms(env.port)
        during = {"fds": open_fds(pid), "rss_mb": rss_mb(pid)}

        log(f"abuse: {uploads:,} multipart uploads opened by one limited key")
        boto = botocore.session.get_session().create_client(
            "s3", endpoint_url=f"http://127.0.0.1:{env.port}", region_name="us-east-1",
            aws_access_key_id="alicekey", aws_secret_access_key="alicesecret",
            config=BotoConfig(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
        refused = {}
        opened = 0
        start = time.perf_counter()
        for i in range(uploads):
            try:
                upload = boto.create_multipart_upload(Bucket="veritas2hview", Key=f"bench/g/abandoned{i}.tgz")
                boto.upload_part(Bucket="veritas2hview", Key=f"bench/g/abandoned{i}.tgz",
                                 UploadId=upload["UploadId"], PartNumber=1, Body=b"12345")
                opened += 1
            except boto.exceptions.ClientError as e:
                code = e.response["Error"]["Code"]
                refused[code] = refused.get(code, 0) + 1
        uploads_s = time.perf_counter() - start
        after_uploads_health = health_ms(env.port)
        loaded = {"fds": open_fds(pid), "rss_mb": rss_mb(pid), "peak_rss_mb": env.peak_rss_mb()}
        uploads_dir = env.dir / "mailbox" / "s3"
        store_kb = int(subprocess.run(["du", "-sk", str(uploads_dir)], capture_output=True, text=True).stdout.split()[0])

        for s in clients:
            s.close()
        time.sleep(15)
        after = {"fds": open_fds(pid), "rss_mb": rss_mb(pid)}
        answered = [h for h in during_health + after_uploads_health if h is not None]
        return {
            "idle": idle, "one_byte": one_byte, "uploads": uploads, "connections_opened_s": round(opened_s, 2),
            "health_quiet_p50_ms": round(median(quiet), 2),
            "health_loaded_p50_ms": round(median(answered), 2) if answered else None,
            "health_loaded_max_ms": round(max(answered), 2) if answered else None,
            "health_loaded_p99_ms": round(percentile(answered, 99), 2) if answered else None,
            "health_unanswered": len(during_health + after_uploads_health) - len(answered),
            "uploads_opened": opened, "uploads_refused": refused, "uploads_seconds": round(uploads_s, 2),
            "store_kb": store_kb,
            "fds_before": before["fds"], "fds_during": during["fds"], "fds_loaded": loaded["fds"],
            "fds_after": after["fds"],
            "rss_before_mb": round(before["rss_mb"], 1), "rss_during_mb": round(during["rss_mb"], 1),
            "rss_loaded_mb": round(loaded["rss_mb"], 1), "rss_after_mb": round(after["rss_mb"], 1),
            "peak_rss_mb": round(loaded["peak_rss_mb"], 1),
        }
    finally:
        env.close()
