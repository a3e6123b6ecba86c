#!/usr/bin/env python3
"""Deadline rush: 1,741 bodies register in the last seconds of a round; none lost, none doubled.

Japan has 1,741 municipalities. This script adds that many bodies (each with a coordinator and a
read-write API token) to a fresh database, opens a commitment round that closes a few seconds
later, and has every body register at once over 64 connections, each with an `Idempotency-Key`.
A fifth of them send their request a second time with the same key, as a client does when a
response is lost; a further set of bodies registers only after the deadline. Then it counts, in
the database itself:

- every body whose request was acknowledged has exactly one participation, one history row, one
  audit event and one feed entry (so no write was lost and no retry doubled one);
- every retry got the stored answer back; every late request got 409 `round_not_open` and wrote
  nothing.

Usage: bench/rush.py [--backends sqlite,postgres] [--bodies 1741] [--connections 64]
Needs a release build (the script runs cargo build --release) and, for PostgreSQL, a server at
$BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
"""

import argparse
import hashlib
import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ADMIN, ROOT, SERVICE_PORT, call, open_round, published_procurement, service, sql  # noqa: E402

LATE = 50
RETRY_EVERY = 5


def add_bodies(backend, url, count):
    """`count` towns, each with a coordinator and an API token; returns (org id, token) pairs."""
    stamp = "2026-11-01 00:00:00"
    bodies, statements = [], []
    for i in range(count):
        org, user, token_id = (str(uuid.uuid4()) for _ in range(3))
        token = f"kyd_rush{uuid.uuid4().hex}"
        digest = hashlib.sha256(token.encode()).hexdigest()
        statements += [
            "INSERT INTO organizations (id, name, romaji, kind, population, population_base_date, contacts, created_at, updated_at) "
            f"VALUES ('{org}', 'ラッシュ町{i:04d}', 'Rush {i:04d}', 'town', {1000 + i * 37}, '2020-10-01', '[]', '{stamp}', '{stamp}')",
            "INSERT INTO users (id, organization_id, email, display_name, role, created_at, updated_at) "
            f"VALUES ('{user}', '{org}', 'rush{i:04d}@example.jp', 'rush {i}', 'coordinator', '{stamp}', '{stamp}')",
            "INSERT INTO api_tokens (id, user_id, name, token_hash, scope, expires_at, created_at) "
            f"VALUES ('{token_id}', '{user}', 'rush', '{digest}', 'read_write', '2030-01-01 00:00:00', '{stamp}')",
        ]
        bodies.append((org, token))
    sql(backend, url, statements + ["SELECT 1"])
    return bodies


def worker(port, jobs, results):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            break
        name, org, token, key, path, body = job
        for attempt in range(3):
            try:
                connection.request("PUT", path, body=body, headers={
                    "authorization": f"Bearer {token}", "content-type": "application/json", "idempotency-key": key,
                })
                response = connection.getresponse()
                payload = response.read()
                results.append((name, org, response.status, payload, response.getheader("idempotent-replayed")))
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        else:
            results.append((name, org, None, b"", None))
    connection.close()


def fire(port, jobs, connections):
    work, results = queue.Queue(), []
    for job in jobs:
        work.put(job)
    threads = [threading.Thread(target=worker, args=(port, work, results)) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started


def run_backend(backend, args):
    with service(backend, "rush", SCHEDULER_INTERVAL_SECONDS="1") as (_, base, url, _):
        bodies = add_bodies(backend, url, args.bodies + LATE)
        session = call("POST", f"{base}/api/v1/auth/login", body={"email": ADMIN[0], "password": ADMIN[1]})["access_token"]
        procurement = published_procurement(base, session, "締切集中テスト")
        closes = int(time.time()) + args.window
        round_id = open_round(base, session, procurement, closes)

        def job(name, org, token, n):
            body = json.dumps({"status": "joined", "contact": {"name": f"担当{n}", "email": f"rush{n}@example.jp"}})
            return (name, org, token, f"rush-{n}", f"/api/v1/rounds/{round_id}/participations/{org}", body)

        rush = [job("first", org, token, n) for n, (org, token) in enumerate(bodies[:args.bodies])]
        retries = [job("retry", *rush[n][1:3], n) for n in range(0, args.bodies, RETRY_EVERY)]
        # Each retry right behind its first attempt, so that some arrive while it is in flight.
        jobs = []
        for n, first in enumerate(rush):
            jobs.append(first)
            if n % RETRY_EVERY == 0:
                jobs.append(retries[n // RETRY_EVERY])
        results, seconds = fire(SERVICE_PORT, jobs, args.connections)
        # A client whose duplicate met its first attempt in flight (409 idempotency_key_in_progress)
        # asks again once that has finished, and must get the first attempt's answer back.
        settled, _ = fire(SERVICE_PORT, retries, args.connections)
        left = closes - time.time()
        time.sleep(max(0.0, left) + 1.5)
        late = [job("late", org, token, args.bodies + n) for n, (org, token) in enumerate(bodies[args.bodies:])]
        late_results, _ = fire(SERVICE_PORT, late, min(args.connections, LATE))

        def tally(answers):
            counts = {}
            for _, _, status, payload, replayed in answers:
                code = json.loads(payload).get("code") if status and status >= 400 else ("replayed" if replayed else "new")
                counts[(status, code)] = counts.get((status, code), 0) + 1
            return counts

        first_answer = {}
        for _, org, status, payload, replayed in results:
            if status in (200, 201) and not replayed:
                first_answer[org] = json.loads(payload)
        acknowledged = set(first_answer)
        replay_mismatches = sum(1 for _, org, status, payload, _ in settled
                                if status not in (200, 201) or json.loads(payload) != first_answer.get(org))
        other = [(name, status, payload[:200]) for name, org, status, payload, _ in results
                 if status not in (200, 201) and not (payload and json.loads(payload).get("code") == "idempotency_key_in_progress")]
        late_statuses = tally(late_results)

        def per_body(table):
            rows = sql(backend, url, [
                f"SELECT p.organization_id, COUNT(*) FROM {table} WHERE p.round_id = '{round_id}' GROUP BY p.organization_id"])
            return {org: int(n) for org, n in rows}

        rows = per_body("participations p")
        history = per_body("participation_history h JOIN participations p ON p.id = h.participation_id")
        late_orgs = {org for org, _ in bodies[args.bodies:]}
        report = {
            "sent": len(rush), "retries": len(retries), "seconds": seconds,
            "acknowledged": len(acknowledged), "refused": other[:5], "refused_count": len(other),
            "rush_answers": tally(results), "settled_answers": tally(settled), "replay_mismatches": replay_mismatches,
            "late_statuses": late_statuses,
            "rows": sum(rows.values()), "bodies_with_rows": len(rows),
            "doubled_rows": sum(1 for n in rows.values() if n != 1),
            "history_rows": sum(history.values()), "doubled_history": sum(1 for n in history.values() if n != 1),
            "lost": len(acknowledged - set(rows)), "unacknowledged_but_written": len(set(rows) - acknowledged - late_orgs),
            "late_written": len(set(rows) & late_orgs),
            "closes_in_after_rush": left,
        }
        report.update(count_events(backend, url, round_id))
        return report


def count_events(backend, url, round_id):
    """Audit events and feed entries about this round's participations."""
    [(audit,)] = sql(backend, url, [
        "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'participation' "
        f"AND entity_id IN (SELECT id FROM participations WHERE round_id = '{round_id}')"])
    [(feed,)] = sql(backend, url, [
        "SELECT COUNT(*) FROM changes WHERE entity_type = 'participation' "
        f"AND entity_id IN (SELECT id FROM participations WHERE round_id = '{round_id}')"])
    return {"audit_events": int(audit), "feed_entries": int(feed)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--bodies", type=int, default=1741)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--window", type=int, default=8, help="seconds from the round's creation to its deadline")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins", "--examples"], cwd=ROOT, check=True)
    for backend in args.backends.split(","):
        r = run_backend(backend, args)
        verdict = "PASS" if (r["lost"] == 0 and r["refused_count"] == 0 and r["replay_mismatches"] == 0 and r["doubled_rows"] == 0 and r["doubled_history"] == 0
                             and r["rows"] == r["acknowledged"] == r["history_rows"] == r["audit_events"] == r["feed_entries"]
                             and r["late_written"] == 0 and r["unacknowledged_but_written"] == 0
                             and r["closes_in_after_rush"] > 0) else "FAIL"
        print(f"\n## {backend}: {verdict}")
        print(f"{r['sent']} bodies registered in {r['seconds']:.2f} s ({r['sent'] / r['seconds']:.0f}/s) over "
              f"{args.connections} connections, plus {r['retries']} retries with the same Idempotency-Key; "
              f"the round closed {r['closes_in_after_rush']:.1f} s after the retries settled")
        print(f"acknowledged {r['acknowledged']}; refused {r['refused_count']} {r['refused']}")
        print(f"answers during the rush (status, code or new/replayed): {r['rush_answers']}")
        print(f"every retry asked again after the rush: {r['settled_answers']}; "
              f"answers differing from the first attempt's: {r['replay_mismatches']}")
        print(f"participations {r['rows']} (bodies with more than one: {r['doubled_rows']}), history rows {r['history_rows']} "
              f"(doubled: {r['doubled_history']}), audit events {r['audit_events']}, feed entries {r['feed_entries']}")
        print(f"acknowledged but missing: {r['lost']}; written without acknowledgement: {r['unacknowledged_but_written']}")
        print(f"{LATE} late requests answered: {r['late_statuses']}; written: {r['late_written']}")


if __name__ == "__main__":
    sys.exit(main())
