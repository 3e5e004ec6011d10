"""Upload case: a `bpdbjobs -all_columns` export of a given size, as tar.gz, through the
real S3 path (moto + aws CLI) into Postgres; the baseline is `gzip -dc | psql \\copy`."""

import os
import subprocess
import time

from common import Env, free_port, log, wait_port


def write_export(path, target_bytes):
    """Unique jobs, each with one try and one status line (about 330 bytes a record)."""
    written, job = 0, 1_000_000
    with open(path, "w") as out:
        while written < target_bytes:
            lines = []
            for _ in range(5000):
                job += 1
                started = 1763800000 + job % 86400
                head = [str(job), "0", "3", "0", f"POL_{job % 40}", "Daily", f"client{job % 500}.corp", f"media{job % 4}",
                        str(started), "0000000300", str(started + 300), f"HYD_STU_0{job % 3}", "1", "", str(job % 100000),
                        "42", "", "100", "4711", "root", "1", "13", "0", "0", "", "nbmaster01", "1", "37", "0", "", ""]
                tries = ["1", "9911", f"HYD_STU_0{job % 3}", f"media{job % 4}", str(started), "0000000300", str(started + 300),
                         "0", "the requested operation was successfully completed", "1",
                         f"11/23/25 00:00:00 - Info bpdm(pid=3456) dedup: {job % 90}.0%", str(job % 100000), "42"]
                tail = [str(job), "52133", "1", "", "", "", "", "0", "", "", "", "", "0", "0", "0", "1", "0", "0",
                        f"client{job % 500}.corp_{started}", "1", "nbmaster01"]
                line = ",".join(head + ["0"] + tries + tail) + "\n"
                lines.append(line)
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk)
    return job - 1_000_000


def aws(endpoint, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="accessKey1", AWS_SECRET_ACCESS_KEY="verySecretKey1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    subprocess.run(["aws", "--endpoint-url", endpoint, *args], check=True, env=env, capture_output=True)


def upload(target_bytes):
    s3_port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(s3_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = Env("upload", s3={"mode": "external", "endpoint": endpoint, "access_key_id": "accessKey1",
                            "secret_access_key": "verySecretKey1"},
              workers={"concurrency": 2})
    try:
        wait_port(s3_port)
        export_dir = env.dir / "export"
        export_dir.mkdir()
        log(f"upload: writing a {target_bytes / 1e9:.2f} GB bpdbjobs export")
        records = write_export(export_dir / "jobs.txt", target_bytes)
        size = (export_dir / "jobs.txt").stat().st_size
        archive = env.dir / "dump.tar.gz"
        subprocess.run(["tar", "-I", "gzip -1", "-cf", archive, "-C", export_dir, "jobs.txt"], check=True)
        aws(endpoint, "s3", "mb", "s3://veritas2hview")
        aws(endpoint, "s3", "cp", str(archive), "s3://veritas2hview/bench/benchgrid/dump.tar.gz")
        env.serve()
        log(f"upload: {records} records, {archive.stat().st_size / 1e6:.0f} MB compressed; triggering")
        start = time.time()
        status, body = env.api("POST", "/veritas2hview/update",
                               {"uid": "bench", "customer": "bench", "grid": "benchgrid", "s3_path": "bench/benchgrid/dump.tar.gz"})
        assert status == 202, body
        triggered = time.time() - start
        env.wait_jobs_done(1, timeout=3600)
        total = time.time() - start
        run = float(env.scalar("SELECT extract(epoch FROM finished_at - started_at) FROM jobs"))
        rows = int(env.scalar("SELECT count(*) FROM netbackup_jobs"))
        tries = int(env.scalar("SELECT count(*) FROM netbackup_job_tries"))
        rss = env.peak_rss_mb()
        env.kill_serve()

        log("upload: baseline gzip -dc | psql \\copy into a plain table")
        env.scalar("CREATE TABLE plain_lines (line text)")
        start = time.perf_counter()
        subprocess.run(
            f"gzip -dc {archive} | tar -xO | psql -h 127.0.0.1 -U postgres -d {env.db} -q "
            "-c \"\\copy plain_lines (line) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')\"",
            shell=True, check=True)
        baseline = time.perf_counter() - start
        copied = int(env.scalar("SELECT count(*) FROM plain_lines"))
        return {
            "uncompressed_mb": size / 1e6, "compressed_mb": archive.stat().st_size / 1e6, "records": records,
            "rows_jobs": rows, "rows_tries": tries,
            "trigger_seconds": triggered, "job_seconds": run, "total_seconds": total,
            "rows_per_s": rows / run, "mb_per_s": size / 1e6 / run,
            "peak_rss_mb": rss,
            "baseline_rows": copied, "baseline_seconds": baseline, "baseline_rows_per_s": copied / baseline,
        }
    finally:
        env.close()
        moto.kill()
        moto.wait()
