#!/usr/bin/env python3
"""PostgreSQL restarts under load: the service answers 503 while it is away and recovers alone.

A throw-away PostgreSQL cluster; the service on it; writer threads answering for 60 bodies
(`PUT /rounds/{id}/participations/{org}`, each with its own `Idempotency-Key` and a note of its
own), reader threads, and a poller of `/ready`. In the middle PostgreSQL is restarted
(`pg_ctl restart -m fast`), and later stopped at once (`-m immediate`, as a crash) and started
again after a pause. Every client retries each request that was not acknowledged with the same key
and body until it is. The service itself is never restarted. Checks:

- while PostgreSQL is down `/ready` is 503, and it is 200 again soon after PostgreSQL is back;
- every answer is 2xx, or a 503 `application/problem+json` with code `database_unavailable`
  (`not_ready` on /ready): never a 500, never a dropped connection, none slower than the
  service's own pool timeout allows;
- afterwards each body has exactly one participation, its history rows are exactly the
  acknowledged writes (each note once: none lost, none doubled), with one audit event and one
  feed entry each (counted in the database with psql), and every retry that was replayed
  matches.

Usage: tests/faults/postgres_restart.py [--binary target/debug/kyodo]
Needs: root (the cluster runs as user postgres), PostgreSQL 15 in /usr/lib/postgresql/15/bin, psql.
"""

import argparse
import collections
import sys
import threading
import time

from common import (
    HANG_SECONDS, Client, Failures, Reader, Recorded, Stop, Writer, binary, login, municipal_codes, percentile,
    postgres_cluster, print_tally, published_procurement, round_of, round_reads, service, terminate_on_signals,
    workdir,
)

BODIES = 60
WRITERS = 6
READERS = 2
GIVE_UP_SECONDS = 60


class ReadyPoller(threading.Thread):
    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.client = Client(port, timeout=HANG_SECONDS + 15)
        self.stop, self.samples = stop, []  # (monotonic start, answer)

    def run(self):
        while not self.stop:
            answer = self.client.request("GET", "/ready")
            self.samples.append((answer.started, answer))
            time.sleep(0.1)


def main():
    terminate_on_signals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds PostgreSQL stays down after the immediate stop")
    args = parser.parse_args()
    kyodo = binary(args.binary)
    verdict = Failures("postgres_restart")
    with workdir("pg-restart") as work, postgres_cluster(work) as pg, \
            service(kyodo, work, "kyodo", pg.url, SCHEDULER_INTERVAL_SECONDS="1") as (process, port):
        token = login(port)
        admin = Client(port, token)
        procurement = published_procurement(admin, "障害試験 PostgreSQL 再起動")
        round_id = round_of(admin, procurement, time.time() - 60, time.time() + 3600)["id"]
        codes = municipal_codes(admin, BODIES)
        stop, log = Stop(), []
        writers = [Writer([port], token, round_id, codes[i::WRITERS], stop, log, give_up_after=GIVE_UP_SECONDS)
                   for i in range(WRITERS)]
        readers = [Reader(port, token, round_reads(round_id), stop, log) for _ in range(READERS)]
        poller = ReadyPoller(port, stop)
        for thread in [*writers, *readers, poller]:
            thread.start()
        t0 = time.monotonic()
        events = {}

        def at(name):
            events[name] = time.monotonic()
            print(f"  t={events[name] - t0:5.1f}s {name}", flush=True)

        time.sleep(4)
        at("restart -m fast begins")
        pg.restart_fast()
        at("restart -m fast done")
        time.sleep(6)
        at("stop -m immediate begins")
        pg.stop("immediate")
        at("stopped")
        time.sleep(args.pause)
        at("start begins")
        pg.start()
        at("started")
        ready_again = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ready_again is None:
            for started, answer in list(poller.samples):
                if started > events["started"] and answer.status == 200:
                    ready_again = started
                    break
            time.sleep(0.1)
        at("/ready is 200 again" if ready_again else "/ready did not come back")
        time.sleep(4)
        at("load stops")
        stop.set()
        for thread in [*writers, *readers, poller]:
            thread.join(timeout=GIVE_UP_SECONDS + HANG_SECONDS + 30)
        alive = process.poll() is None

        # What the clients saw.
        print_tally(log, round_id)
        ready_tally = collections.Counter(a.label() for _, a in poller.samples)
        print(f"  /ready samples: {dict(ready_tally)}")
        acknowledged = sum(len(notes) for w in writers for notes in w.acknowledged.values())
        retried = sum(w.retried for w in writers)
        replayed = sum(w.replayed for w in writers)
        outage = [a for _, _, a in log if a.status is None or a.status >= 300]
        wrong = [(m, p, a) for m, p, a in log if a.status is not None and a.status >= 300
                 and not (a.status == 503 and a.problem and a.code == "database_unavailable")]
        dropped = [(m, p, a) for m, p, a in log if a.status is None]
        latencies = [a.seconds for _, _, a in log]
        slowest_refusal = max((a.seconds for a in outage), default=0.0)
        ready_wrong = [a for _, a in poller.samples if a.status not in (200, 503)
                       or (a.status == 503 and not (a.problem and a.code == "not_ready"))]
        down = [a for s, a in poller.samples if events["stopped"] + 0.5 < s and s + a.seconds < events["start begins"]]
        print(f"\n{len(log)} requests in {events['load stops'] - t0:.1f} s; {acknowledged} writes acknowledged "
              f"({retried} after a retry, {replayed} of those replayed); {len(outage)} refused or dropped; "
              f"latency p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms, "
              f"max {max(latencies, default=0):.2f} s; slowest refusal {slowest_refusal:.2f} s")
        overlapping = [a for st, a in poller.samples if events["stopped"] < st < events["start begins"]]
        print(f"/ready asked while PostgreSQL was down: {len(overlapping)} times, answers "
              f"{dict(collections.Counter(a.label() for a in overlapping))}, slowest {max((a.seconds for a in overlapping), default=0):.2f} s")
        back = f"{ready_again - events['started']:.2f} s" if ready_again else "never"
        print(f"/ready while PostgreSQL was down: {dict(collections.Counter(a.label() for a in down))}; "
              f"200 again {back} after PostgreSQL started")

        # What the database holds.
        recorded = Recorded(lambda sql: pg.psql(sql.replace(":round", f"'{round_id}'")))
        print(recorded.summary())

        print("\nchecks:")
        verdict.check(alive, "the service kept running (never restarted)")
        verdict.check(len(down) > 0 and all(a.status == 503 for a in down),
                      f"/ready was 503 all the time PostgreSQL was down ({len(down)} samples)")
        verdict.check(ready_again is not None and ready_again - events["started"] < 15,
                      "/ready was 200 again within 15 s of PostgreSQL starting")
        verdict.check(not ready_wrong, f"/ready answered only 200 or 503 not_ready problem+json "
                                       f"({[a.label() for a in ready_wrong][:5]})")
        verdict.check(len(outage) > 0, f"the outage reached the clients ({len(outage)} refusals)")
        wrong_kinds = collections.Counter(f"{m} {a.label()} {a.headers.get('content-type')}" for m, _, a in wrong)
        verdict.check(not wrong, f"every refusal was 503 problem+json database_unavailable ({wrong_kinds.most_common(5)})")
        verdict.check(not dropped, f"no request was dropped or timed out ({collections.Counter(a.label() for _, _, a in dropped)})")
        verdict.check(max(latencies, default=0) < HANG_SECONDS,
                      f"no request took {HANG_SECONDS} s or more (the pool waits {HANG_SECONDS - 5} s)")
        recorded.check(verdict, codes, writers)
    return verdict.finish()


if __name__ == "__main__":
    sys.exit(main())
