#!/usr/bin/env python3
"""Runs the DataProcessor benchmarks and writes docs/benchmarks.md. See scripts/bench.sh."""

import argparse
import json
from pathlib import Path

import abuse
import api
import cluster
import crash
import mail
import listing
import recovery
import reexport
import report
import s3_endpoint
import upload
from common import REPO, log

CASES = ["ingest", "e2e", "crash", "upload", "reexport", "s3", "api", "listing", "recovery", "abuse", "cluster"]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("cases", nargs="*", default=CASES, help=f"any of {', '.join(CASES)}")
    p.add_argument("--quick", action="store_true", help="small sizes: checks the harness, not for the report")
    p.add_argument("--notes", type=Path, default=REPO / "docs" / "benchmark-notes.md",
                   help="markdown appended to the report under Notes (default: docs/benchmark-notes.md)")
    args = p.parse_args()
    q = args.quick
    runners = {
        "ingest": lambda: mail.ingest(20 if q else 200),
        "e2e": lambda: mail.end_to_end(300 if q else 2_000),
        "crash": lambda: crash.crash(200 if q else 1_000),
        "upload": lambda: upload.upload(5_000_000 if q else 1_000_000_000),
        "s3": lambda: s3_endpoint.s3_endpoint(20 if q else 512),
        "api": lambda: api.api(20_000 if q else 1_000_000, 3 if q else 15),
        "reexport": lambda: reexport.reexport(5_000 if q else 300_000),
        "listing": lambda: listing.listing(20_000 if q else 1_000_000, 2 if q else 8),
        "recovery": lambda: recovery.recovery(300 if q else 5_000),
        "cluster": lambda: cluster.cluster(300 if q else 2_000),
        "abuse": lambda: abuse.abuse(1_000 if q else 10_000, 100 if q else 1_000, 300 if q else 3_000),
    }
    previous = REPO / "docs" / "benchmarks.json"
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    for case in args.cases:
        log(f"== {case}")
        results[case] = runners[case]()
        m = report.machine()
        results[case]["measured"] = f"{m['date']}, commit `{m['commit']}`"
        log(json.dumps(results[case]))
    notes = args.notes.read_text() if args.notes and args.notes.exists() else None
    report.write(results, notes)
    log("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
