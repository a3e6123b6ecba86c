#!/usr/bin/env python3
"""Mixed load: readers refreshing while bodies register, as in a deadline rush.

64 connections (by default), each sending nine reads and then one registration, over and over:
the reads alternate GET /procurements (7 rows) and GET /rounds/{id}/participations (60 rows),
the registrations answer for the next body of the list as an administrator (PUT
.../participations/{org}). Every write empties the read cache, so readers mostly get the uncached
path; the run is repeated with the cache off (READ_CACHE_MIB=0), for SQLite and PostgreSQL.
Prints the rate, p50 and p99 of reads and of writes, and checks that every acknowledged write left
exactly one history row. The load generator is examples/mixed_load.rs (wrk reports one latency
distribution for all requests, not one per kind).

Usage: bench/mixed.py [--backends sqlite,postgres] [--seconds 10] [--connections 64] [--history ROUNDS]
Needs a release build (the script runs cargo build --release, unless KYODO_BINARY names a binary
to run instead; the load generator is then taken as built) and, for PostgreSQL, a server at
$BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, add_history, arguments, bench_env, build, count_history, service, setup  # noqa: E402

LOAD = ROOT / "target/release/examples/mixed_load"


def run(backend, args, settings):
    with service(backend, "mixed", LOGIN_ATTEMPTS_PER_ADDRESS="1000", **settings) as (_, base, url, _ready):
        _session, token, round_id, codes = setup(base)
        add_history(backend, url, round_id, args.history)
        before = count_history(backend, url)
        env = {**os.environ, **bench_env(token, round_id, codes)}
        out = subprocess.run([str(LOAD), base, str(args.seconds), str(args.connections)], env=env,
                             capture_output=True, text=True, check=True).stdout
        report = json.loads(out)
        written = count_history(backend, url) - before
        acknowledged = report["writes"]["requests"] - report["writes"]["failed"]
        report["integrity"] = f"{acknowledged} acknowledged, {written} history rows"
        report["ok"] = acknowledged == written
        return report


def main():
    args = arguments()
    build()
    if not LOAD.exists():
        raise SystemExit(f"{LOAD} is missing: cargo build --release --examples")
    print(f"machine: {os.cpu_count()} cpus, {args.connections} connections, {args.seconds}s per run, 9 reads : 1 write")
    print(f"{'backend':<9} {'cache':<6} {'reads/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7}  notes")
    healthy = True
    for backend in args.backends.split(","):
        for cache, settings in [("on", {}), ("off", {"READ_CACHE_MIB": "0"})]:
            r = run(backend, args, settings)
            reads, writes = r["reads"], r["writes"]
            failed = reads["failed"] + writes["failed"]
            notes = "; ".join(x for x in [r["integrity"], f"{failed} failed" if failed else ""] if x)
            print(f"{backend:<9} {cache:<6} {reads['rps']:>8.0f} {reads['p50_ms']:>7.2f} {reads['p99_ms']:>7.2f} "
                  f"{writes['rps']:>9.0f} {writes['p50_ms']:>7.2f} {writes['p99_ms']:>7.2f}  {notes}")
            healthy &= r["ok"] and failed == 0
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
