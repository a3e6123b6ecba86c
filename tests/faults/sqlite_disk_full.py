#!/usr/bin/env python3
"""SQLite on a full disk: writes are refused cleanly, reads go on, nothing acknowledged is lost.

The data directory (SQLite file, its WAL, the .eml outbox) is put on a small tmpfs of its own; the
service starts there and writer threads answer for 40 bodies
(`PUT /rounds/{id}/participations/{org}`, each with its own `Idempotency-Key` and note) while
readers read. Then a filler file takes every free byte, and the writers go on until the service
refuses them; then the filler is deleted and every client retries what was not acknowledged, with
the same key, until it is. The service is never restarted. Checks:

- while the disk is full every refused write is 503 `application/problem+json` with code
  `storage_full` and a `Retry-After` (never a 500, never a dropped connection), and writes were
  refused at all (the disk really filled);
- reads (`GET /rounds/{id}/participations`, `/procurements`, `/rounds/{id}`) and `/ready` still
  answer 200 while it is full;
- `PRAGMA integrity_check` is `ok` while full and after;
- once space is free, writes are acknowledged again without restarting the service;
- each body has exactly one participation, and its history rows are exactly its acknowledged
  writes, in order (none lost, none doubled), each with one audit event and one feed entry.

Usage: tests/faults/sqlite_disk_full.py [--binary target/debug/kyodo] [--size-mib 64]
Needs root (to mount the tmpfs). Exits 77 when no tmpfs can be mounted here (with
--skip-if-unsupported: prints why and exits 0).
"""

import argparse
import collections
import contextlib
import errno
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import (
    HANG_SECONDS, Client, Failures, Reader, Recorded, Stop, Writer, binary, login, municipal_codes, percentile,
    print_tally, published_procurement, round_of, round_reads, service, terminate_on_signals, workdir,
)

BODIES = 40
WRITERS = 4
READERS = 2
SKIP = 77


@contextlib.contextmanager
def tmpfs(size_mib):
    """A tmpfs of `size_mib` MiB mounted on a new directory; unmounted and removed afterwards."""
    mountpoint = Path(tempfile.mkdtemp(prefix="kyodo-faults-tmpfs-"))
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(mountpoint)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        mountpoint.rmdir()
        raise Unsupported(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mountpoint
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
        with contextlib.suppress(OSError):
            mountpoint.rmdir()


class Unsupported(Exception):
    pass


def fill(path):
    """Writes `path` until the file system has no byte left; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += f.write(block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return written


def integrity(database):
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute("PRAGMA integrity_check").fetchall()


def du(directory):
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())


def main():
    terminate_on_signals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary")
    # Room for the seconds of load before and after the disk is full: the writers go as fast as
    # the service answers, and the WAL grows by 2–3 KiB a write while they do (16 MiB filled up
    # again within the 4 s after the filler was deleted once writes ran at 700/s).
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--skip-if-unsupported", action="store_true")
    args = parser.parse_args()
    kyodo = binary(args.binary)
    verdict = Failures("sqlite_disk_full")
    try:
        with workdir("disk-full") as work, tmpfs(args.size_mib) as disk:
            data = disk / "data"
            database = data / "kyodo.db"
            filler = disk / "filler"
            with service(kyodo, work, "kyodo", f"sqlite://{database}", DATA_DIR=str(data)) as (process, port):
                run(verdict, process, port, data, database, filler, disk)
    except Unsupported as e:
        print(f"sqlite_disk_full: SKIPPED: {e}")
        return 0 if args.skip_if_unsupported else SKIP
    return verdict.finish()


def run(verdict, process, port, data, database, filler, disk):
    token = login(port)
    admin = Client(port, token)
    procurement = published_procurement(admin, "障害試験 ディスク満杯")
    round_id = round_of(admin, procurement, time.time() - 60, time.time() + 3600)["id"]
    codes = municipal_codes(admin, BODIES)
    stop, give_up, log = Stop(), threading.Event(), []
    writers = [Writer([port], token, round_id, codes[i::WRITERS], stop, log, give_up=give_up) for i in range(WRITERS)]
    readers = [Reader(port, token, [*round_reads(round_id), "/ready"], stop, log) for _ in range(READERS)]
    for thread in [*writers, *readers]:
        thread.start()
    t0 = time.monotonic()
    marks = {}

    def at(name, extra=""):
        marks[name] = time.monotonic()
        usage = os.statvfs(disk)
        free = usage.f_bavail * usage.f_frsize
        print(f"  t={marks[name] - t0:5.1f}s {name}; data {du(data) / 2**20:.2f} MiB, free {free / 2**20:.2f} MiB {extra}",
              flush=True)

    at("load started")
    time.sleep(3)
    at("filling the disk")
    filled = fill(filler)
    at("disk full", f"(filler {filled / 2**20:.2f} MiB)")
    # The writers go on until the service refuses them steadily (the WAL may take a few first).
    full_since = len(log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        refused = [a for m, _, a in log[full_since:] if m == "PUT" and a.status == 503]
        if len(refused) >= 20:
            break
        time.sleep(0.2)
    time.sleep(2)  # reads and /ready while full
    at("still full")
    full_checks = integrity(database)
    during_full = log[full_since:]
    filler.unlink()
    at("filler deleted")
    freed = len(log)
    # Every refused write is retried with its key; the load goes on a little with space again.
    time.sleep(4)
    at("load stops")
    stop.set()
    timer = threading.Timer(30, give_up.set)
    timer.start()
    for thread in [*writers, *readers]:
        thread.join(timeout=60)
    timer.cancel()
    alive = process.poll() is None
    after_checks = integrity(database)
    after_free = log[freed:]

    print_tally(log, round_id)
    acknowledged = sum(len(n) for w in writers for n in w.acknowledged.values())
    retried = sum(w.retried for w in writers)
    refused_full = [a for m, _, a in during_full if m == "PUT" and a.status != 200 and a.status != 201]
    wrong = [(m, a) for m, _, a in log if a.status is not None and a.status >= 300
             and not (a.status == 503 and a.problem and a.code == "storage_full" and a.headers.get("retry-after"))]
    dropped = [a for _, _, a in log if a.status is None]
    reads_full = [a for m, _, a in during_full if m == "GET"]
    writes_after = [a for m, _, a in after_free if m == "PUT" and a.status in (200, 201)]
    latencies = [a.seconds for _, _, a in log]
    print(f"\n{len(log)} requests; {acknowledged} writes acknowledged ({retried} after a retry); while full: "
          f"{len(refused_full)} writes refused, {len(reads_full)} reads "
          f"({dict(collections.Counter(a.label() for a in reads_full))}); after freeing: {len(writes_after)} writes "
          f"acknowledged; latency p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 "
          f"{percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies, default=0):.2f} s")
    print(f"integrity_check while full: {full_checks}; after: {after_checks}")

    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        recorded = Recorded(lambda sql: db.execute(sql, {"round": round_id}).fetchall())
    print(recorded.summary())

    print("\nchecks:")
    verdict.check(alive, "the service kept running (never restarted)")
    verdict.check(len(refused_full) > 0, f"the full disk refused writes ({len(refused_full)})")
    kinds = collections.Counter(f"{m} {a.label()} {a.headers.get('content-type')}" for m, a in wrong)
    verdict.check(not wrong, f"every refusal was 503 problem+json storage_full with Retry-After ({kinds.most_common(5)})")
    verdict.check(not dropped, f"no request was dropped or timed out ({collections.Counter(a.label() for a in dropped)})")
    verdict.check(max(latencies, default=0) < HANG_SECONDS, f"no request took {HANG_SECONDS} s or more")
    verdict.check(reads_full and all(a.status == 200 for a in reads_full),
                  f"reads and /ready answered 200 while the disk was full ({len(reads_full)})")
    verdict.check(full_checks == [("ok",)] and after_checks == [("ok",)], "PRAGMA integrity_check is ok, full and after")
    verdict.check(len(writes_after) > 0, f"writes were acknowledged again once space was free ({len(writes_after)})")
    recorded.check(verdict, codes, writers)


if __name__ == "__main__":
    sys.exit(main())

