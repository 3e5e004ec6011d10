"""Writes docs/benchmarks.md (and the raw figures as docs/benchmarks.json)."""

import datetime
import json
import os
import platform
import subprocess

from common import REPO


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 1024 / 1024
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "kernel": platform.release(),
            "postgres": pg, "commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def f(x, digits=1):
    return "–" if x is None else f"{x:,.{digits}f}"


def row(name, ours, base=None, target="", met=None, digits=1):
    ratio = f"{ours / base:.2f}×" if base else "–"
    verdict = "" if met is None else ("yes" if met else "**no**")
    return f"| {name} | {f(ours, digits)} | {f(base, digits)} | {ratio} | {target} | {verdict} |"


SECTIONS = {"## Mail ingest": "ingest", "## End to end": "e2e", "## Crashes": "crash",
            "## Upload": "upload", "## S3 endpoint": "s3", "## API": "api", "## Recovery": "recovery",
            "## Under abuse": "abuse", "## Daily re-export": "reexport", "## Job listing filters": "listing",
            "## More than one node": "cluster"}


def with_run_dates(lines, results):
    """Under each case's heading, the run it comes from (cases are run separately)."""
    out = []
    for line in lines:
        out.append(line)
        case = next((c for prefix, c in SECTIONS.items() if line.startswith(prefix)), None)
        if case:
            run = results[case].get("measured", "an earlier run (not recorded)")
            out += ["", f"*Measured {run}.*"]
    return out


HEADER = "| figure | DataProcessor | baseline | ratio | target | met |\n|---|---|---|---|---|---|"


def write(results, notes):
    m = machine()
    out = [
        "# Benchmarks",
        "",
        f"Measured by `scripts/bench.sh` (report written {m['date']}, commit `{m['commit']}`): {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}, {m['postgres']}, release build. Each case names the run it "
        "comes from; every case runs against the real services (Postgres on loopback, moto as the S3 store, the "
        "real `aws` CLI) with its baseline in the same run. Figures are measurements of one run, not guarantees.",
        "",
    ]
    if "ingest" in results:
        r = results["ingest"]
        out += [f"## Mail ingest (`mailhandler`, {r['mail_kb']} KB mail with 2 attachments, {r['calls']} calls)", "",
                "Baseline: a process that only copies stdin to a file and fsyncs it (`dd conv=fsync`).", "", HEADER,
                row("median per call (ms)", r["median_ms"], r["baseline_median_ms"]),
                row("p99 per call (ms)", r["p99_ms"], r["baseline_p99_ms"]),
                row("mails/s, 2 concurrent callers", r["concurrent_mails_per_s"], r["baseline_concurrent_mails_per_s"]), ""]
    if "e2e" in results:
        r = results["e2e"]
        half = r["baseline_mails_per_s"] / 2
        double = r["baseline_call_median_ms"] * 2
        out += [f"## End to end ({r['mails']:,} distinct alert mails → jobs done → rows, {r['callers']} callers)", "",
                "From the first mailhandler call to the last job done (`dataprocessor serve` running: tickets → jobs "
                "in batches, workers, rows). Latency from a mailhandler's exit to its job's `finished_at`. Baseline: "
                "the same mails through `dd conv=fsync`, one process per mail, same callers, same run.", "", HEADER,
                row("mails/s sustained (all jobs done)", r["sustained_mails_per_s"], r["baseline_mails_per_s"], "≥ 0.5× baseline",
                    r["sustained_mails_per_s"] >= half),
                row("mails/s accepted by the mailhandlers", r["feed_mails_per_s"], r["baseline_mails_per_s"]),
                row("mailhandler median per call (ms)", r["call_median_ms"], r["baseline_call_median_ms"], "≤ 2× baseline",
                    r["call_median_ms"] <= double, digits=2),
                row("mailhandler p99 per call (ms)", r["call_p99_ms"], r["baseline_call_p99_ms"], digits=2),
                row("exit → job row p50 (ms)", r["exit_to_job_p50_ms"], digits=2),
                row("exit → job done p50 (ms)", r["latency_p50_ms"], digits=2),
                row("exit → job done p99 (ms)", r["latency_p99_ms"], digits=2),
                row("average job run (ms)", r["avg_job_run_ms"], digits=2),
                "", f"Rows written: {r['rows']:,} (one per mail). Average step durations (ms): "
                + ", ".join(f"{k} {v}" for k, v in r["avg_step_ms"].items()) + ".", ""]
        if "cpu_ms_per_mail" in r:
            cpu = r["cpu_ms_per_mail"]
            total = sum(cpu.values())
            out += ["Where the time goes: CPU per mail, by process, over the run (the case is CPU-bound: "
                    f"{r['cores']} cores × {r['wall_s']:.1f} s = {r['cores'] * r['wall_s'] * 1000 / r['mails']:.2f} ms "
                    "of CPU available per mail).", "",
                    "| process | CPU ms per mail |", "|---|---|"]
            out += [f"| {k} | {v:.2f} |" for k, v in cpu.items()]
            out += [f"| **total** | **{total:.2f}** |", ""]
    if "crash" in results:
        r = results["crash"]
        out += [f"## Crashes during mail ({r['mails']:,} alert mails, callers retrying 75 as Postfix does)", "",
                f"`kill -9` of `dataprocessor serve` after {r['serve_killed_after']} mails (restarted {r['serve_down_s']} s "
                f"later) and `pg_ctl stop -m immediate` of Postgres after {r['pg_stopped_after']} mails (started again "
                f"{r['pg_down_s']} s later), while the mails keep coming.", "", HEADER,
                row("mails accepted (exit 0)", r["accepted"], r["mails"], "all", r["accepted"] == r["mails"], 0),
                row("mailhandler exits 75 (retried)", r["tempfails"], None, "", None, 0),
                row("jobs", r["jobs"], r["mails"], "one per mail", r["jobs"] == r["mails"], 0),
                row("jobs done", r["done"], r["mails"], "all", r["done"] == r["mails"], 0),
                row("alert rows", r["rows"], r["mails"], "one per mail", r["rows"] == r["mails"], 0),
                row("rows duplicated", r["rows_duplicated"], None, "0", r["rows_duplicated"] == 0, 0),
                row("tickets left", r["tickets_left"], None, "0", r["tickets_left"] == 0, 0),
                row("seconds from the last mail to all done", r["seconds_to_all_done"]), ""]
    if "upload" in results:
        r = results["upload"]
        out += [f"## Upload ({r['uncompressed_mb']:,.0f} MB `bpdbjobs -all_columns`, {r['compressed_mb']:,.0f} MB tar.gz, "
                f"{r['records']:,} records)", "",
                "`aws s3 cp` to moto, trigger, download, extraction, parsing and upserts (rows/s over the job's run). "
                "Baseline: `gzip -dc | tar -xO | psql \\copy` of the same lines into a one-column table.", "", HEADER,
                row("rows/s (netbackup_jobs)", r["rows_per_s"], r["baseline_rows_per_s"], "≥ ½ baseline",
                    r["rows_per_s"] >= r["baseline_rows_per_s"] / 2),
                row("MB/s (uncompressed)", r["mb_per_s"]),
                row("job run (s)", r["job_seconds"], r["baseline_seconds"]),
                row("trigger answer incl. download (s)", r["trigger_seconds"]),
                row("peak RSS of `dataprocessor serve` (MB)", r["peak_rss_mb"], None, "< 256", r["peak_rss_mb"] < 256), "",
                f"Rows: {r['rows_jobs']:,} jobs and {r['rows_tries']:,} tries.", ""]
    if "s3" in results:
        r = results["s3"]
        out += [f"## S3 endpoint (`aws s3 cp` of {r['megabytes']:,.0f} MB of random bytes, best of {r['runs']})", "",
                "The real aws CLI (multipart, 8 MB parts) to the embedded endpoint on serve's API port, over plain "
                "HTTP and over TLS on the same port, and to moto; each upload read back and compared. Baseline: a "
                "plain file copy of the same bytes (`dd bs=8M conv=fsync`: as durable as the embedded store's "
                "writes), same run.", "", HEADER,
                row("embedded endpoint, HTTP (MB/s)", r["embedded_mb_per_s"], r["copy_mb_per_s"]),
                row("embedded endpoint, TLS (MB/s)", r["embedded_tls_mb_per_s"], r["copy_mb_per_s"]),
                row("moto (MB/s)", r["moto_mb_per_s"], r["copy_mb_per_s"]),
                row("embedded vs moto (MB/s)", r["embedded_mb_per_s"], r["moto_mb_per_s"]),
                row("serve CPU per upload (s)", r["serve_cpu_seconds_per_upload"], None, digits=2),
                row("peak RSS of `dataprocessor serve` (MB)", r["peak_rss_mb"], None, "< 256", r["peak_rss_mb"] < 256), ""]
    if "api" in results:
        r = results["api"]
        out += [f"## API (`GET /api/1.0/jobs?limit=50`, {r['jobs']:,} jobs, wrk 2 threads × 32 connections, {r['seconds']} s)", "",
                "With the default listing cache (`api.listing_cache_ms` = 250: identical queries share an answer "
                "for 250 ms; the table does not change during the run), then with it off, every request reading "
                "Postgres. Baseline: `GET /api/1.0/health` (key check, pool, `SELECT 1`).", "", HEADER,
                row("requests/s", r["listing"]["requests_per_s"], r["baseline"]["requests_per_s"], "≥ 10,000",
                    r["listing"]["requests_per_s"] >= 10000),
                row("p99 (ms)", r["listing"]["p99_ms"], r["baseline"]["p99_ms"], "< 20", r["listing"]["p99_ms"] < 20, digits=2),
                row("p50 (ms)", r["listing"]["p50_ms"], r["baseline"]["p50_ms"], digits=2),
                row("requests/s with `status` + `customer` filters", r["filtered"]["requests_per_s"]),
                row("p99 with filters (ms)", r["filtered"]["p99_ms"], digits=2)]
        if "uncached" in r:
            u, uf = r["uncached"], r["uncached_filtered"]
            out += [row("requests/s, cache off", u["requests_per_s"], r["baseline"]["requests_per_s"], "≥ 10,000",
                        u["requests_per_s"] >= 10000),
                    row("p99, cache off (ms)", u["p99_ms"], r["baseline"]["p99_ms"], "< 20", u["p99_ms"] < 20, digits=2),
                    row("p50, cache off (ms)", u["p50_ms"], r["baseline"]["p50_ms"], digits=2),
                    row("requests/s with filters, cache off", uf["requests_per_s"]),
                    row("p99 with filters, cache off (ms)", uf["p99_ms"], digits=2)]
        errors = r["listing"]["errors"] + r.get("uncached", {}).get("errors", 0)
        out += ["", f"Non-2xx answers: {errors} (listing), {r['baseline']['errors']} (baseline).", ""]
    if "recovery" in results:
        r, b = results["recovery"]["killed"], results["recovery"]["baseline"]
        out += [f"## Recovery (`kill -9` of `dataprocessor serve` half way through {r['jobs']:,} jobs, then restart)", "",
                "Lease 5 s, reaper every 1 s. Baseline: the same jobs without the kill.", "", HEADER,
                row("seconds until all done", r["seconds_to_all_done"], b["seconds_to_all_done"]),
                row("seconds from restart until all done", r["seconds_after_restart"]),
                row("jobs run twice", r["jobs_run_twice"], None, "", None, 0),
                row("rows duplicated", r["rows_duplicated"], None, "0", r["rows_duplicated"] == 0, 0),
                row("jobs lost", r["jobs_lost"], None, "0", r["jobs_lost"] == 0, 0),
                row("rows missing", r["rows_missing"], None, "0", r["rows_missing"] == 0, 0), ""]
    if "abuse" in results:
        r = results["abuse"]
        refused = ", ".join(f"{n:,} {code}" for code, n in sorted(r["uploads_refused"].items())) or "none"
        out += [f"## Under abuse ({r['idle']:,} silent connections, {r['one_byte']:,} one-byte ones, "
                f"{r['uploads']:,} abandoned multipart uploads)", "",
                "`dataprocessor serve` with TLS on and the defaults (`api.max_connections` 16,384, header timeout "
                "10 s, idle 60 s; `s3.max_open_uploads_per_key` 100). The connections are opened from one "
                "process, half of the one-byte ones sending a TLS handshake's first byte; then one key limited "
                "to one folder opens multipart uploads with one 5-byte part each, never completed. Health is "
                "timed on a new connection each time while all of it is open. Baseline: the same figures before "
                "the clients came (health on a quiet server).", "", HEADER,
                row("health p50 (ms)", r["health_loaded_p50_ms"], r["health_quiet_p50_ms"], digits=2),
                row("health slowest (ms)", r["health_loaded_max_ms"], None, "< 1,000",
                    r["health_loaded_max_ms"] is not None and r["health_loaded_max_ms"] < 1000, digits=2),
                row("health unanswered", r["health_unanswered"], None, "0", r["health_unanswered"] == 0, 0),
                row("serve's open descriptors, all clients open", r["fds_during"], r["fds_before"], digits=0),
                row("serve's open descriptors 15 s after they close", r["fds_after"], r["fds_before"],
                    "near before", r["fds_after"] <= r["fds_before"] + 20, 0),
                row("serve's RSS, all clients open (MB)", r["rss_during_mb"], r["rss_before_mb"]),
                row("serve's RSS 15 s after they close (MB)", r["rss_after_mb"], r["rss_before_mb"], "near before",
                    r["rss_after_mb"] <= r["rss_before_mb"] * 1.5 + 20),
                row("peak RSS of `dataprocessor serve` (MB)", r["peak_rss_mb"], None, "< 256", r["peak_rss_mb"] < 256),
                row("multipart uploads opened", r["uploads_opened"], r["uploads"], digits=0),
                row("seconds to try them all", r["uploads_seconds"], None, digits=2), "",
                f"Refused uploads: {refused}. The store held {r['store_kb']:,} KB afterwards. Opening the "
                f"connections took {r['connections_opened_s']} s.", ""]
    if "reexport" in results:
        r = results["reexport"]
        floor = r["floor_records_per_s"]
        out += [f"## Daily re-export (`bpdbjobs -all_columns`, {r['records']:,} records, then the next day's with "
                f"{r['changed']:,} changed)", "",
                "Uploaded with the real `aws s3 cp` to the embedded endpoint, triggered with curl; records/s over "
                "the job's run (download, extraction, parsing, storing, commit). Day 2 is the same records "
                "under a new key, 5 % of them with another try status text. Baseline (the floor): `COPY` of the "
                "typed rows the jobs wrote into empty `LIKE … INCLUDING ALL` copies of `netbackup_jobs` and "
                "`netbackup_job_tries` (indexes included), one transaction, fastest of 3, same run.", "", HEADER,
                row("day 1 records/s", r["day1_records_per_s"], floor, "≥ 0.8× floor",
                    r["day1_records_per_s"] >= 0.8 * floor),
                row("day 2 records/s (5 % changed)", r["day2_records_per_s"], floor, "≥ 1.5× floor",
                    r["day2_records_per_s"] >= 1.5 * floor),
                row("day 1 job run (s)", r["day1"]["job_seconds"], r["floor_seconds"], digits=2),
                row("day 2 job run (s)", r["day2"]["job_seconds"], r["floor_seconds"], digits=2),
                row("day 1 CPU: serve / Postgres (s)", r["day1"]["serve_cpu_seconds"], r["day1"]["postgres_cpu_seconds"], digits=2),
                row("day 2 CPU: serve / Postgres (s)", r["day2"]["serve_cpu_seconds"], r["day2"]["postgres_cpu_seconds"], digits=2),
                row("peak RSS of `dataprocessor serve` through both (MB)", r["peak_rss_mb"], None, "< 256",
                    r["peak_rss_mb"] < 256), "",
                f"Rows written: day 1 {r['day1']['rows']}, day 2 {r['day2']['rows']}.", ""]
    if "listing" in results:
        r = results["listing"]
        out += [f"## Job listing filters (`GET /api/1.0/jobs?limit=50&…`, {r['jobs']:,} jobs, wrk 2 threads × 16 "
                f"connections, {r['seconds']} s, listing cache off)", "",
                "50 customers; 96 % done, 3 % error, 1 % queued; types alert 90 %, system_report 9.9 %, "
                "veritas2hview 0.1 %. Each filter against the unfiltered page of the same round (ratio of "
                "requests/s); the round without the listing indexes (migration `2026-12-07-000008` undone) "
                "and the round with them, same run. Plans: docs/benchmark-notes.md.", "",
                "| filter | without: req/s | ratio | p99 (ms) | with: req/s | ratio | p99 (ms) | target | met |",
                "|---|---|---|---|---|---|---|---|---|"]
        b0, a0 = r["before"]["unfiltered"]["requests_per_s"], r["after"]["unfiltered"]["requests_per_s"]
        for name, a in r["after"].items():
            b = r["before"][name]
            ok = a["requests_per_s"] >= 0.8 * a0 and a["p99_ms"] < 25
            out.append(f"| {name} | {f(b['requests_per_s'])} | {b['requests_per_s'] / b0:.2f}× | {f(b['p99_ms'], 2)} | "
                       f"{f(a['requests_per_s'])} | {a['requests_per_s'] / a0:.2f}× | {f(a['p99_ms'], 2)} | "
                       f"≥ 0.8×, p99 < 25 | {'yes' if ok else '**no**'} |")
        errors = sum(x["errors"] for x in list(r["before"].values()) + list(r["after"].values()))
        out += ["", f"Non-2xx answers: {errors}.", ""]
    if "cluster" in results:
        out += cluster_section(results["cluster"])
    if notes:
        out += ["## Notes", "", notes, ""]
    out = with_run_dates(out, results)
    (REPO / "docs").mkdir(exist_ok=True)
    (REPO / "docs" / "benchmarks.md").write_text("\n".join(out))
    (REPO / "docs" / "benchmarks.json").write_text(json.dumps({"machine": m, "results": results}, indent=2) + "\n")


def cluster_section(r):
    """The mail case with 1, 2 and 3 nodes, what a mail costs, and the model built on it."""
    runs = r["runs"]
    one = runs[0]["sustained_mails_per_s"]
    out = [f"## More than one node ({runs[0]['mails']:,} alert mails end to end, {runs[0]['callers']} callers, "
           "nodes on this machine sharing one database and one data root)", "",
           "Each node a `dataprocessor serve` with its own port and name; the mailhandlers feed the shared data "
           "root; any node ingests and runs. On 2 cores the nodes share the same CPUs, so more nodes cannot add "
           "capacity here: the target is that adding nodes does not make it slower.", "",
           "| nodes | mails/s sustained | against 1 node | commits per mail | rows written per mail | "
           "bytes on the shared volume per mail | jobs claimed per node | met (≥ 0.9× of 1 node) |",
           "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        ratio = run["sustained_mails_per_s"] / one
        claims = ", ".join(f"{k}: {v}" for k, v in sorted(run["claims_by_node"].items()))
        out.append(f"| {run['nodes']} | {f(run['sustained_mails_per_s'])} | {ratio:.2f}× | "
                   f"{f(run['commits_per_mail'], 2)} | {f(run['rows_written_per_mail'], 1)} | "
                   f"{f(run['shared_volume_bytes_per_mail'], 0)} | {claims} | {'yes' if ratio >= 0.9 else '**no**'} |")
    commits = runs[0]["commits_per_mail"]
    fsyncs = r["mailhandler_fsyncs_per_mail"] + r["serve_fsyncs_per_mail"]
    volume = runs[0]["shared_volume_bytes_per_mail"]
    last = runs[-1]
    out += ["", f"fsync-family calls per mail (strace): {f(r['mailhandler_fsyncs_per_mail'], 2)} in the mailhandler, "
            f"{f(r['serve_fsyncs_per_mail'], 2)} in serve (batched ingest and the job's archive move).", "",
            "**Where the time goes as nodes are added** (same machine, so same CPUs): the rows and bytes per mail "
            f"stay the same, the commits per mail grow ({f(commits, 2)} with one node, "
            f"{f(last['commits_per_mail'], 2)} with {last['nodes']}): jobs are claimed in smaller batches when "
            "several nodes share them (a claim per batch), and every node wakes on every queued job and every "
            "ticket (NOTIFY, inotify on one machine) and asks once (a claim that finds nothing, a ticket-ingest "
            "lock already held: transactions that write no WAL, but CPU on the same two cores). Ticket ingest "
            "takes a cluster-wide advisory lock, so the same tickets are not derived by every node (before it: "
            "186, 162 and 110 mails/s with 1, 2 and 3 nodes).", "",
            "**The model.** A mail costs the cluster, whatever node takes it: "
            f"{f(commits, 2)} Postgres commits, {f(runs[0]['rows_written_per_mail'], 1)} rows written, "
            f"{f(fsyncs, 2)} fsync calls and {f(volume / 1024, 1)} KiB on the shared volume (kept until retention). "
            "CPU per mail is what the end-to-end case measures (serve, Postgres, the mailhandler). At a rate of "
            "R mails/s the cluster needs: Postgres sustaining "
            f"{f(commits, 2)}·R commits/s and more as nodes are added (those that write a job, a row or an "
            "event flush the WAL: a Postgres on SSD with synchronous commit does some thousands per second, so "
            f"it saturates first near that many mails/s divided by {f(commits, 2)}); the shared volume sustaining {f(fsyncs, 2)}·R fsyncs/s (an NFS server or CephFS "
            "pool with a few hundred to a few thousand synchronous writes per second is the next limit); and "
            f"CPU for ceil(R / {f(one)}) nodes of this machine's size. A NetBackup upload costs one object write "
            "in the store, one download to the shared volume and its rows in Postgres (see Upload and Daily "
            "re-export): at daily exports per grid it is small beside mail. What saturates first is Postgres' "
            "commit rate, then the shared volume's fsync rate; adding nodes adds CPU only.", ""]
    return out
