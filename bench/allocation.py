#!/usr/bin/env python3
"""Cost shares under load: the engine alone, estimates through the API, finalization end to end.

Prints, for each backend:
- the engine for 1,741 bodies x 5 pools (examples/allocation_engine.rs; target <= 5 ms);
- GET /rounds/{id}/estimate?org=... with 1,740 bodies joined and the asker not yet, read cache off
  (every request reads the round and runs the engine twice: joining now, and everyone joining) and
  on, with 1 connection (one user's latency) and 8 (a crowd on 2 cores) (target p99 <= 50 ms);
- POST /rounds/{id}/finalize for 89 and for 1,741 participants, each timed once per fresh round
  (3 rounds each), with the stored document's size.

Usage: bench/allocation.py [--backends sqlite,postgres] [--seconds 10]
Needs: wrk, a release build (the script runs cargo build --release --example allocation_engine).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ADMIN, ROOT, call, iso, service, sql, wrk  # noqa: E402
from rush import add_bodies  # noqa: E402

OPTIONS = ["harp", "tiers", "usage", "option"]
COST_MODEL = {"pools": [
    {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 100, "amount": 300_000_000}, {"up_to": None, "amount": 900_000_000}]},
     "weights": {"equal": 1000, "population": 9000}},
    {"code": "harp", "total": {"kind": "fixed", "amount": 250_000_000}, "fixed_fee": 10_000,
     "weights": {"equal": 2000, "population": 8000}, "population_transform": {"kind": "degressive", "exponent": 0.585}},
    {"code": "tiers", "total": {"kind": "fixed", "amount": 120_000_000}, "weights": {"equal": 600, "population": 9400},
     "population_transform": {"kind": "tiered", "bands": [{"from": 0, "to": 4999, "points": 1}, {"from": 5000, "to": 29999, "points": 2},
                                                          {"from": 30000, "to": None, "points": 3}]}},
    {"code": "usage", "total": {"kind": "fixed", "amount": 80_000_000}, "weights": {"equal": 2000, "usage": 8000}},
    {"code": "option", "total": {"kind": "per_participant", "steps": [{"up_to": 500, "amount": 90_000}, {"up_to": None, "amount": 70_000}]},
     "weights": {"equal": 5000, "population": 5000}, "rounding": "lead_org"},
]}


def procurement(base, token):
    created = call("POST", f"{base}/api/v1/procurements", token, {
        "title": f"按分ベンチマーク {uuid.uuid4().hex[:6]}", "category": "administration", "lead_organization": "200000",
        "options": [{"code": code, "name": code} for code in OPTIONS], "cost_model": COST_MODEL,
        "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2027,
    })["id"]
    call("POST", f"{base}/api/v1/procurements/{created}/publish", token, {})
    return created


def joined_round(backend, url, base, token, organizations):
    """An open round of a new procurement that `organizations` joined (written straight to the
    database: the benchmark is about what comes after); returns the round id."""
    round_id = call("POST", f"{base}/api/v1/procurements/{procurement(base, token)}/rounds", token, {
        "kind": "commitment", "opens_at": iso(time.time() - 60), "closes_at": iso(time.time() + 86400),
        "population_base_date": "2026-01-01",
    })["id"]
    stamp = "2026-11-01 00:00:00"
    statements = []
    for i, org in enumerate(organizations):
        options = json.dumps(OPTIONS if i % 2 == 0 else OPTIONS[:3])
        statements.append(
            "INSERT INTO participations (id, round_id, organization_id, status, selected_options, declared_quantity, version, created_at, updated_at) "
            f"VALUES ('{uuid.uuid4()}', '{round_id}', '{org}', 'joined', '{options}', {10 + i % 500}, 1, '{stamp}', '{stamp}')")
    sql(backend, url, statements + ["SELECT 1"])
    return round_id


def finalize(base, token, round_id):
    """Closes the round and finalizes it at the model's prices; returns (seconds, document bytes)."""
    call("POST", f"{base}/api/v1/rounds/{round_id}/close", token, {})
    allocation_totals = []
    count = call("GET", f"{base}/api/v1/rounds/{round_id}/participations", token)["counts"]["joined"]
    for pool in COST_MODEL["pools"]:
        n = count if pool["code"] in ("base", "harp", "tiers", "usage") else (count + 1) // 2
        total = pool["total"]
        if total["kind"] == "fixed":
            amount = total["amount"]
        else:
            step = next(s for s in total["steps"] if s["up_to"] is None or n <= s["up_to"])
            amount = step["amount"] * (n if total["kind"] == "per_participant" else 1)
        allocation_totals.append({"pool": pool["code"], "fiscal_year": 2027, "amount": amount})
    body = json.dumps({"totals": allocation_totals}).encode()
    request = urllib.request.Request(f"{base}/api/v1/rounds/{round_id}/finalize", data=body, method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request) as response:
            document = response.read()
    except urllib.error.HTTPError as error:
        raise SystemExit(f"finalize: {error.code} {error.read().decode()}")
    return time.monotonic() - started, len(document)


def run_backend(backend, args):
    results = {}
    for cache in ("0", "8"):
        with service(backend, "alloc", READ_CACHE_MIB=cache, LOGIN_ATTEMPTS_PER_ADDRESS="1000") as (_, base, url, _):
            bodies = add_bodies(backend, url, 1741)
            session = call("POST", f"{base}/api/v1/auth/login", body={"email": ADMIN[0], "password": ADMIN[1]})["access_token"]
            token = call("POST", f"{base}/api/v1/tokens", session, {"name": "bench", "scope": "read_write"})["token"]
            orgs = [org for org, _ in bodies]
            round_id = joined_round(backend, url, base, token, orgs[:-1])
            # The last body has not answered: its estimate adds it to the 1,740 who joined.
            path = f"/api/v1/rounds/{round_id}/estimate?org={orgs[-1]}"
            estimate = call("GET", base + path, token)
            assert estimate["if_joined_now"]["participants"] == 1741, estimate["if_joined_now"]["participants"]
            label = "cache off" if cache == "0" else "cache on"
            for connections in (1, 8):
                results[f"estimate, 1,741 bodies ({label}, {connections} conn)"] = wrk(
                    base + path, args.seconds, connections, ROOT / "bench/get.lua", {"BENCH_TOKEN": token})
            if cache != "0":
                continue
            # The council's bodies with a population (the association has none, and population
            # weighs here), and one more: 89 participants.
            council = [row[0] for row in sql(backend, url, [
                "SELECT id FROM organizations WHERE population IS NOT NULL AND name NOT LIKE 'ラッシュ町%'"])]
            council = council[:88] + orgs[:89 - len(council[:88])]
            for label, members in (("89", council), ("1,741", orgs)):
                times = []
                for _ in range(3):
                    seconds, size = finalize(base, token, joined_round(backend, url, base, token, members))
                    times.append(seconds)
                results[f"finalize, {label} participants"] = {"median_ms": statistics.median(times) * 1000,
                                                              "max_ms": max(times) * 1000, "document_kib": size / 1024,
                                                              "participants": len(members)}
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "kyodo", "--example", "allocation_engine"], cwd=ROOT, check=True)
    engine = subprocess.run([str(ROOT / "target/release/examples/allocation_engine")], capture_output=True, text=True, check=True).stdout
    print(engine.strip())
    for backend in args.backends.split(","):
        for name, figures in run_backend(backend, args).items():
            if "rps" in figures:
                print(f"{backend:8} {name:42} {figures['rps']:8.0f}/s  p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms"
                      f"  non-2xx {figures['failed']}")
            else:
                print(f"{backend:8} {name:42} median {figures['median_ms']:7.1f} ms  max {figures['max_ms']:7.1f} ms"
                      f"  ({figures['participants']} bodies, document {figures['document_kib']:.0f} KiB)")


if __name__ == "__main__":
    main()
