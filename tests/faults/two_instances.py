#!/usr/bin/env python3
"""Two instances on one PostgreSQL database, both with scheduler and dispatcher: rounds open once,
every e-mail and every webhook delivery goes out once.

A throw-away PostgreSQL cluster; instances A and B started together on it (migrations, seed and
first administrator under their advisory lock), sending e-mail to the SMTP sink of bench/smtp_sink.py and
webhooks to a receiver in this script (`WEBHOOK_ALLOW_PRIVATE=true`). Every village gets a contact
address; three procurements for villages each get a round that opens a few seconds later by
itself, with its reminder (1 day before a deadline 6 hours away) due at once. Meanwhile writers
answer for the cities and towns in an open round, alternately through A and B, each write with its
own `Idempotency-Key`. Then the script waits for the outbox to drain and checks:

- each scheduled round opened, once: one `round.opened` audit event and one feed entry;
- every outbox message is one (event, round, recipient); the sink received each `Message-ID`
  exactly once, and every e-mail the outbox holds as sent (none lost, none twice);
- each round's `round_opened` and `reminder` reached every village contact exactly once;
- the webhook receiver got every feed entry since the endpoint's registration exactly once
  (by `webhook-id`, and by the entry's id);
- both instances answered, none with a 5xx, and every acknowledged registration is in the history
  once.

Usage: tests/faults/two_instances.py [--binary target/debug/kyodo]
Needs: root (the cluster runs as user postgres), PostgreSQL 15 in /usr/lib/postgresql/15/bin, psql.
"""

import argparse
import collections
import contextlib
import http.server
import json
import socketserver
import sys
import threading
import time

from common import (
    Client, Failures, Recorded, Smtp, Stop, Writer, binary, free_port, login, percentile, postgres_cluster,
    published_procurement, round_of, service, serving, smtp_received, terminate_on_signals, workdir,
)

SCHEDULED_ROUNDS = 3
WRITERS = 4
LOAD_SECONDS = 12
GIVE_UP_SECONDS = 30


class Hooks(http.server.BaseHTTPRequestHandler):
    received = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.lock:
            self.received.append((self.headers.get("webhook-id"), json.loads(body)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


def main():
    terminate_on_signals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary")
    args = parser.parse_args()
    kyodo = binary(args.binary)
    verdict = Failures("two_instances")
    smtp_port, hook_port = free_port(), free_port()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", smtp_port), Smtp)
    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hooks)
    settings = {"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "WEBHOOK_ALLOW_PRIVATE": "true",
                "SCHEDULER_INTERVAL_SECONDS": "1", "DISPATCH_INTERVAL_MS": "300"}
    with workdir("two-instances") as work, postgres_cluster(work) as pg, serving(smtp), serving(hooks), \
            contextlib.ExitStack() as stack:
        # Both start at once: migrations, seed and the first administrator happen once.
        starting = {}

        def start(name):
            starting[name] = stack.enter_context(service(kyodo, work, name, pg.url, **settings))
        threads = [threading.Thread(target=start, args=(n,)) for n in "AB"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if set(starting) != {"A", "B"}:
            raise SystemExit(f"only {sorted(starting)} started; see the logs in {work}")
        (process_a, port_a), (process_b, port_b) = starting["A"], starting["B"]
        token = login(port_a)
        admin = Client(port_a, token)
        bodies = admin.ok("GET", "/api/v1/organizations?per_page=200")["items"]
        villages = [b for b in bodies if b["kind"] == "village"]
        writers_codes = [b["lg_code"] for b in bodies if b["kind"] in ("city", "town")]
        addresses = set()
        for village in villages:
            address = f"dx-{village['lg_code']}@vill.example.lg.jp"
            admin.ok("PATCH", f"/api/v1/organizations/{village['id']}",
                     {"contacts": [{"name": "情報担当", "email": address}]})
            addresses.add(address)
        admin.ok("POST", "/api/v1/webhooks", {"url": f"http://127.0.0.1:{hook_port}/hook", "events": ["*"]})
        [(registered_at,)] = pg.psql("SELECT COALESCE(MAX(seq), 0) FROM changes")
        load_round = round_of(admin, published_procurement(admin, "障害試験 二重起動 負荷用"),
                              time.time() - 60, time.time() + 3600)["id"]
        scheduled = []
        for i in range(SCHEDULED_ROUNDS):
            procurement = admin.ok("POST", "/api/v1/procurements", {
                "title": f"障害試験 村向け {i + 1}", "category": "administration", "lead_organization": "200000",
                "eligibility": {"kinds": ["village"]},
                "cost_model": {"pools": [{"code": "base", "total": {"kind": "fixed", "amount": 1000000},
                                          "weights": {"equal": 10000}}]},
                "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2027,
            })["id"]
            admin.ok("POST", f"/api/v1/procurements/{procurement}/publish", {})
            scheduled.append(round_of(admin, procurement, time.time() + 4 + 2 * i, time.time() + 6 * 3600,
                                      reminder_days=[1])["id"])
        stop, log = Stop(), []
        writers = [Writer([port_a, port_b], token, load_round, writers_codes[i::WRITERS], stop, log,
                          give_up_after=GIVE_UP_SECONDS) for i in range(WRITERS)]
        for writer in writers:
            writer.start()
        t0 = time.monotonic()
        time.sleep(LOAD_SECONDS)
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
        # The outbox drains: every message sent (or failed), every feed entry relayed.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            [(waiting,)] = pg.psql("SELECT COUNT(*) FROM outbox WHERE state NOT IN ('sent', 'failed')")
            states = [s for (s,) in pg.psql(f"SELECT state FROM rounds WHERE id IN ({quoted(scheduled)})")]
            [(changes,)] = pg.psql("SELECT COUNT(*) FROM changes")
            [(hooked,)] = pg.psql("SELECT COUNT(*) FROM outbox WHERE channel = 'webhook'")
            if int(waiting) == 0 and states == ["open"] * SCHEDULED_ROUNDS and len(Hooks.received) >= int(hooked) > 0:
                time.sleep(3)  # anything sent twice would arrive now
                [(waiting,)] = pg.psql("SELECT COUNT(*) FROM outbox WHERE state NOT IN ('sent', 'failed')")
                if int(waiting) == 0:
                    break
            time.sleep(0.5)
        drained = time.monotonic() - t0
        alive = process_a.poll() is None and process_b.poll() is None

        # Rounds.
        opened = dict(pg.psql("SELECT entity_id, COUNT(*) FROM audit_events WHERE action = 'round.opened' "
                              f"AND entity_id IN ({quoted(scheduled)}) GROUP BY entity_id"))
        opened_feed = dict(pg.psql("SELECT entity_id, COUNT(*) FROM changes WHERE entity_type = 'round' AND action = 'opened' "
                                   f"AND entity_id IN ({quoted(scheduled)}) GROUP BY entity_id"))
        # E-mail.
        outbox = pg.psql("SELECT id, event, COALESCE(round_id, ''), recipient, state FROM outbox WHERE channel = 'email'")
        received = [(m["Message-ID"], m.envelope_to) for m in smtp_received]
        per_message = collections.Counter(m.strip("<>").split("@")[0] for m, _ in received)
        sent_ids = {i for i, _, _, _, s in outbox if s == "sent"}
        outbox_keys = collections.Counter((e, r, rcpt.lower()) for _, e, r, rcpt, _ in outbox)
        by_round = collections.defaultdict(collections.Counter)
        outbox_by_id = {i: (e, r) for i, e, r, _, _ in outbox}
        for message_id, recipients in received:
            event, round_id = outbox_by_id.get(message_id.strip("<>").split("@")[0], ("?", "?"))
            for recipient in recipients:
                by_round[(round_id, event)][recipient] += 1
        # Webhooks.
        hook_rows = pg.psql("SELECT id, state FROM outbox WHERE channel = 'webhook'")
        per_hook = collections.Counter(i for i, _ in Hooks.received)
        per_entry = collections.Counter(json.dumps(data.get("data", {}).get("cursor") or data.get("data"), sort_keys=True)
                                        for _, data in Hooks.received)
        [(feed_total,)] = pg.psql(f"SELECT COUNT(*) FROM changes WHERE seq > {registered_at}")
        # Registrations.
        recorded = Recorded(lambda sql: pg.psql(sql.replace(":round", f"'{load_round}'")))
        acknowledged = sum(len(notes) for w in writers for notes in w.acknowledged.values())
        by_instance = collections.Counter()
        for w in writers:
            by_instance.update({"AB"[i]: n for i, n in w.by_instance.items()})
        failures = [a for _, _, a in log if a.status is None or a.status >= 500]
        latencies = [a.seconds for _, _, a in log]
        [(admins,)] = pg.psql("SELECT COUNT(*) FROM users WHERE role = 'admin'")

        print(f"\ntwo instances (ports {port_a}, {port_b}); {len(villages)} village addresses; "
              f"{SCHEDULED_ROUNDS} rounds scheduled to open; drained {drained:.1f} s after the load started")
        print(f"registrations: {acknowledged} acknowledged ({dict(by_instance)} by instance) in {LOAD_SECONDS} s; "
              f"answers {dict(collections.Counter(a.label() for _, _, a in log))}; latency p50 "
              f"{percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms")
        print(f"rounds opened (audit events per round): {sorted(opened.values())}; feed entries: {sorted(opened_feed.values())}")
        print(f"outbox e-mail: {len(outbox)} messages ({dict(collections.Counter(s for *_, s in outbox))}), "
              f"{dict(collections.Counter(e for _, e, _, _, _ in outbox))}; sink received {len(received)}")
        print(f"webhooks: {len(hook_rows)} deliveries in the outbox, {len(Hooks.received)} received, "
              f"{len(per_hook)} distinct webhook-ids; feed entries since the endpoint's registration {feed_total}")

        print("\nchecks:")
        verdict.check(alive, "both instances kept running")
        verdict.check(int(admins) == 1, f"the two instances starting together created one administrator ({admins})")
        verdict.check(all(opened.get(r) == "1" for r in scheduled) and all(opened_feed.get(r) == "1" for r in scheduled),
                      f"each of the {SCHEDULED_ROUNDS} scheduled rounds opened once (audit {opened}, feed {opened_feed})")
        verdict.check(all(n == 1 for n in outbox_keys.values()),
                      f"the outbox has one e-mail per (event, round, recipient) "
                      f"({[k for k, n in outbox_keys.items() if n > 1][:3]})")
        twice = {m: n for m, n in per_message.items() if n > 1}
        verdict.check(not twice, f"no e-mail was received twice ({len(twice)} Message-IDs more than once)")
        verdict.check(set(per_message) == sent_ids and len(sent_ids) == len(outbox),
                      f"every e-mail was sent and received ({len(sent_ids)} sent of {len(outbox)}, "
                      f"{len(set(per_message))} received, {len(sent_ids - set(per_message))} missing)")
        for event in ("round_opened", "reminder"):
            reached = [by_round[(r, event)] for r in scheduled]
            verdict.check(all(set(c) == addresses and all(n == 1 for n in c.values()) for c in reached),
                          f"each scheduled round's {event} reached each of the {len(addresses)} village addresses once "
                          f"({[sum(c.values()) for c in reached]} messages)")
        verdict.check(len(hook_rows) > 0 and all(n == 1 for n in per_hook.values()) and set(per_hook) == {i for i, _ in hook_rows},
                      f"each webhook delivery arrived once ({len(per_hook)} of {len(hook_rows)}; "
                      f"{sum(1 for n in per_hook.values() if n > 1)} more than once)")
        verdict.check(all(n == 1 for n in per_entry.values()) and len(per_entry) == int(feed_total),
                      f"every feed entry since the registration was delivered, once ({len(per_entry)} of {feed_total})")
        verdict.check(not failures, f"no 5xx and no dropped request ({collections.Counter(a.label() for a in failures)})")
        verdict.check(by_instance["A"] > 0 and by_instance["B"] > 0, "both instances took registrations")
        recorded.check(verdict, writers_codes, writers)
    return verdict.finish()


def quoted(ids):
    return ", ".join(f"'{i}'" for i in ids)


if __name__ == "__main__":
    sys.exit(main())
