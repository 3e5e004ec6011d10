"""S3 endpoint case: the same random file uploaded with the real `aws s3 cp` (multipart, 8 MB
parts) to the embedded endpoint on serve's API port (plain HTTP, then TLS on the same port)
and to moto, against a plain file copy of the same bytes (`dd … conv=fsync`, as durable as
the embedded store's writes), in one run. Each upload is read back and compared."""

import filecmp
import os
import subprocess
import time

from common import Env, cpu_seconds, free_port, log, wait_port


def timed_aws(endpoint, *args, ca=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="accessKey1", AWS_SECRET_ACCESS_KEY="verySecretKey1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    if ca:
        env["AWS_CA_BUNDLE"] = str(ca)
    start = time.perf_counter()
    subprocess.run(["aws", "--endpoint-url", endpoint, *args], check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def best_of(runs, work):
    """The fastest of `runs` (the machine's noise only ever slows a run down)."""
    return min(work(i) for i in range(runs))


def s3_endpoint(megabytes, runs=3):
    env = Env("s3_endpoint", workers={"concurrency": 1}, s3={"auto_trigger": False})
    moto_port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        source = env.dir / "upload.bin"
        log(f"s3 endpoint: {megabytes} MB of random bytes")
        subprocess.run(["head", "-c", str(megabytes * 1_000_000), "/dev/urandom"], check=True,
                       stdout=open(source, "wb"))
        size_mb = source.stat().st_size / 1e6

        def copy(i):
            target = env.dir / f"copy{i}.bin"
            start = time.perf_counter()
            subprocess.run(["dd", f"if={source}", f"of={target}", "bs=8M", "conv=fsync"], check=True,
                           capture_output=True)
            took = time.perf_counter() - start
            target.unlink()
            return took

        copied = best_of(runs, copy)

        cert, key = env.dir / "cert.pem", env.dir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        env.reconfigure(api={"tls_certificate": str(cert), "tls_private_key": str(key)})
        serve = env.serve()
        plain = f"http://127.0.0.1:{env.port}"
        tls = f"https://127.0.0.1:{env.port}"

        def embedded(endpoint, ca=None):
            def run(i):
                return timed_aws(endpoint, "s3", "cp", str(source), f"s3://veritas2hview/bench/g/up{i}.bin", ca=ca)
            return run

        cpu_before = cpu_seconds([serve.pid])
        ours = best_of(runs, embedded(plain))
        serve_cpu = (cpu_seconds([serve.pid]) - cpu_before) / runs
        ours_tls = best_of(runs, embedded(tls, cert))
        back = env.dir / "back.bin"
        timed_aws(plain, "s3", "cp", "s3://veritas2hview/bench/g/up0.bin", str(back))
        assert filecmp.cmp(source, back, shallow=False), "the embedded endpoint gave back other bytes"
        rss = env.peak_rss_mb()
        env.kill_serve()

        wait_port(moto_port)
        moto_url = f"http://127.0.0.1:{moto_port}"
        timed_aws(moto_url, "s3", "mb", "s3://veritas2hview")
        theirs = best_of(runs, lambda i: timed_aws(moto_url, "s3", "cp", str(source), f"s3://veritas2hview/bench/g/up{i}.bin"))
        back.unlink()
        timed_aws(moto_url, "s3", "cp", "s3://veritas2hview/bench/g/up0.bin", str(back))
        assert filecmp.cmp(source, back, shallow=False), "moto gave back other bytes"
        return {
            "megabytes": size_mb, "runs": runs,
            "copy_seconds": copied, "copy_mb_per_s": size_mb / copied,
            "embedded_seconds": ours, "embedded_mb_per_s": size_mb / ours,
            "embedded_tls_seconds": ours_tls, "embedded_tls_mb_per_s": size_mb / ours_tls,
            "moto_seconds": theirs, "moto_mb_per_s": size_mb / theirs,
            "serve_cpu_seconds_per_upload": serve_cpu, "peak_rss_mb": rss,
        }
    finally:
        env.close()
        moto.kill()
        moto.wait()
