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
import uuid

from common import (
    HANG_SECONDS, Client, Failures, Stop, binary, login, municipal_codes, percentile, postgres_cluster,
    published_procurement, round_of, service, terminate_on_signals, workdir,
)

BODIES = 60
WRITERS = 6
READERS = 2
GIVE_UP_SECONDS = 60


class Writer(threading.Thread):
    """Answers for its bodies in turn, each write with a new key and note, retried until acknowledged."""

    def __init__(self, port, token, round_id, codes, stop, log):
        super().__init__(daemon=True)
        self.client = Client(port, token, timeout=HANG_SECONDS + 15, log=log)
        self.round_id, self.codes, self.stop = round_id, codes, stop
        self.acknowledged = collections.defaultdict(list)  # code -> notes, in order
        self.retried = 0
        self.replayed = 0
        self.given_up = []

    def run(self):
        n = 0
        while not self.stop:
            code = self.codes[n % len(self.codes)]
            n += 1
            note = f"{code}-{n}-{uuid.uuid4().hex[:6]}"
            key = str(uuid.uuid4())
            body = {"status": "joined", "note": note, "reason": "障害試験"}
            path = f"/api/v1/rounds/{self.round_id}/participations/{code}"
            deadline = time.monotonic() + GIVE_UP_SECONDS
            attempt = 0
            while True:
                attempt += 1
                answer = self.client.request("PUT", path, body, {"idempotency-key": key})
                if answer.status in (200, 201):
                    data = answer.json() or {}
                    if data.get("note") != note:
                        self.given_up.append((code, note, f"acknowledged with note {data.get('note')!r}"))
                    self.acknowledged[code].append(note)
                    self.retried += attempt > 1
                    self.replayed += answer.headers.get("idempotent-replayed") == "true"
                    break
                if time.monotonic() > deadline:
                    self.given_up.append((code, note, answer.label()))
                    break
                time.sleep(0.2)


class Reader(threading.Thread):
    def __init__(self, port, token, round_id, stop, log):
        super().__init__(daemon=True)
        self.client = Client(port, token, timeout=HANG_SECONDS + 15, log=log)
        self.round_id, self.stop = round_id, stop

    def run(self):
        paths = [f"/api/v1/rounds/{self.round_id}/participations", "/api/v1/procurements",
                 f"/api/v1/rounds/{self.round_id}"]
        n = 0
        while not self.stop:
            answer = self.client.request("GET", paths[n % len(paths)])
            n += 1
            time.sleep(0.05 if answer.status == 200 else 0.2)


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
        writers = [Writer(port, token, round_id, codes[i::WRITERS], stop, log) for i in range(WRITERS)]
        readers = [Reader(port, token, round_id, stop, log) for _ in range(READERS)]
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
        print("\nanswers by request (status code):")
        tally = collections.Counter((m, p.replace(round_id, "{id}").rsplit("/", 1)[0] if m == "PUT" else p.replace(round_id, "{id}"),
                                     a.label()) for m, p, a in log)
        for (method, path, label), count in sorted(tally.items()):
            print(f"  {count:6d}  {method} {path}  {label}")
        ready_tally = collections.Counter(a.label() for _, a in poller.samples)
        print(f"  /ready samples: {dict(ready_tally)}")
        acknowledged = sum(len(notes) for w in writers for notes in w.acknowledged.values())
        retried = sum(w.retried for w in writers)
        replayed = sum(w.replayed for w in writers)
        given_up = [g for w in writers for g in w.given_up]
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
        participations = dict(pg.psql(
            "SELECT o.lg_code, COUNT(*) FROM participations p JOIN organizations o ON o.id = p.organization_id "
            f"WHERE p.round_id = '{round_id}' GROUP BY o.lg_code"))
        history = collections.defaultdict(list)
        for code, note in pg.psql(
                "SELECT o.lg_code, h.note FROM participation_history h JOIN participations p ON p.id = h.participation_id "
                f"JOIN organizations o ON o.id = p.organization_id WHERE p.round_id = '{round_id}' ORDER BY h.version"):
            history[code].append(note)
        [(audit,)] = pg.psql("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'participation' AND entity_id IN "
                             f"(SELECT id FROM participations WHERE round_id = '{round_id}')")
        [(feed,)] = pg.psql("SELECT COUNT(*) FROM changes WHERE entity_type = 'participation' AND entity_id IN "
                            f"(SELECT id FROM participations WHERE round_id = '{round_id}')")
        expected = {}
        for w in writers:
            expected.update(w.acknowledged)
        lost = sum(len(set(notes) - set(history.get(code, []))) for code, notes in expected.items())
        doubled = sum(len(notes) - len(set(notes)) for notes in history.values())
        unacknowledged = sum(len(set(notes) - set(expected.get(code, []))) for code, notes in history.items())
        out_of_order = sum(1 for code, notes in expected.items() if history.get(code) != notes)
        history_rows = sum(len(n) for n in history.values())
        print(f"database: {len(participations)} bodies with a participation "
              f"({sum(int(n) for n in participations.values())} rows), {history_rows} history rows, "
              f"{audit} audit events, {feed} feed entries")

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
        verdict.check(not given_up, f"every write was acknowledged in the end ({given_up[:3]})")
        verdict.check(set(participations) == set(codes) and all(int(n) == 1 for n in participations.values()),
                      f"each of the {len(codes)} bodies has exactly one participation")
        verdict.check(lost == 0, f"no acknowledged write is missing from the history ({lost} missing)")
        verdict.check(doubled == 0, f"no write is in the history twice ({doubled} doubled)")
        verdict.check(unacknowledged == 0, f"the history holds only acknowledged writes ({unacknowledged} others)")
        verdict.check(out_of_order == 0, f"each body's history is its writes in order ({out_of_order} bodies differ)")
        verdict.check(history_rows == acknowledged == int(audit) == int(feed),
                      f"history rows {history_rows} = acknowledged {acknowledged} = audit events {audit} = feed entries {feed}")
    return verdict.finish()


if __name__ == "__main__":
    sys.exit(main())
