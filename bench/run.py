#!/usr/bin/env python3
"""Throughput, latency and memory of the service under load, against its ceiling.

On one machine (load generator and service sharing it), over loopback, with 64 connections and
bearer-token auth (an API token, which costs a lookup; one read is repeated with a JWT access
token, which does not), for SQLite and PostgreSQL: GET /procurements, GET /rounds/{id}/participations
(60 rows), and registration writes (PUT .../participations/{org}); and in the same run a bare
actix-web endpoint returning fixed JSON (examples/ceiling.rs), the machine's ceiling. Prints
requests/s, the share of the ceiling, p50/p99 latency, the service's resident memory under load
(sampled every 20 ms; and its peak including the set-up's Argon2 logins), the
time from start to /ready, and checks that every acknowledged write left exactly one history row.

Usage: bench/run.py [--backends sqlite,postgres] [--seconds 10] [--connections 64] [--history ROUNDS]
Needs: wrk (apt-get install wrk), a release build (the script runs cargo build --release, unless
KYODO_BINARY names a binary to run instead), and for
PostgreSQL a server at $BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres; a query
such as ?sslmode=disable is kept for the service's database).
"""

import argparse
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# KYODO_BINARY runs another build (an earlier commit's, to compare) and skips building this one.
BINARY = Path(os.environ.get("KYODO_BINARY", ROOT / "target/release/kyodo"))
CEILING = ROOT / "target/release/examples/ceiling"
SERVICE_PORT = 8098
CEILING_PORT = 8099
ADMIN = ("bench@pref.nagano.lg.jp", "benchmark admin passphrase")


def call(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None


def wait_ready(url, timeout=30.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return time.monotonic() - start
        except Exception:
            time.sleep(0.01)
    raise SystemExit(f"{url} did not answer within {timeout}s")


def rss_mib(pid, field="VmHWM"):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


class RssSampler(threading.Thread):
    """The largest resident size seen every 20 ms while the load runs (logins excluded)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mib(self.pid, "VmRSS"))
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def wrk(url, seconds, connections, script=None, env=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(percent):
        value, suffix = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * unit[suffix]

    requests = int(re.search(r"(\d+) requests in", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency(50),
        "p99": latency(99),
        "requests": requests,
        "failed": int(failed.group(1)) if failed else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def published_procurement(base, token, title):
    """A published procurement with one fixed-cost pool shared equally; returns its id."""
    procurement = call("POST", f"{base}/api/v1/procurements", token, {
        "title": title, "category": "administration", "lead_organization": "200000",
        "cost_model": {"pools": [{"code": "base", "total": {"kind": "fixed", "amount": 1000000}, "weights": {"equal": 10000}}]},
        "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2027,
    })["id"]
    call("POST", f"{base}/api/v1/procurements/{procurement}/publish", token, {})
    return procurement


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def open_round(base, token, procurement, closes_at):
    """A commitment round of `procurement`, open since a minute ago; returns its id."""
    return call("POST", f"{base}/api/v1/procurements/{procurement}/rounds", token, {
        "kind": "commitment", "opens_at": iso(time.time() - 60), "closes_at": iso(closes_at), "population_base_date": "2020-01-01",
    })["id"]


def setup(base):
    """A published procurement with a round open now and 60 bodies answered; an API token."""
    session = call("POST", f"{base}/api/v1/auth/login", body={"email": ADMIN[0], "password": ADMIN[1]})["access_token"]
    token = call("POST", f"{base}/api/v1/tokens", session, {"name": "bench", "scope": "read_write"})["token"]
    procurement = published_procurement(base, token, "ベンチマーク案件")
    round_id = open_round(base, token, procurement, time.time() + 86400)
    bodies = call("GET", f"{base}/api/v1/organizations?per_page=200", token)["items"]
    codes = [b["lg_code"] for b in bodies if b["lg_code"] and b["kind"] != "prefecture"][:60]
    for code in codes:
        call("PUT", f"{base}/api/v1/rounds/{round_id}/participations/{code}", token, {"status": "joined", "reason": "bench"})
    return session, token, round_id, codes


def sql(backend, url, statements):
    """Runs statements in one transaction; returns the rows of the last one."""
    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            for statement in statements[:-1]:
                db.execute(statement)
            return db.execute(statements[-1]).fetchall()
    out = subprocess.run(["psql", url, "-qtA", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-1"], input=";\n".join(statements) + ";",
                         capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def add_history(backend, url, round_id, rounds):
    """Years of earlier answers: `rounds` closed copies of the round, each answered as it is (60
    answers apiece), and a message sent for each answer, written straight into the database. The
    lists look at open rounds only and the dispatcher at undelivered messages only, so what they
    then cost shows whether a query reads past rows it does not need."""
    if rounds <= 0:
        return

    def columns(table):
        if backend == "sqlite":
            return [row[1] for row in sql(backend, url, [f"PRAGMA table_info({table})"])]
        query = (f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' "
                 "AND table_schema = 'public' ORDER BY ordinal_position")
        return [name for (name,) in sql(backend, url, [query])]

    # 1, 2, …, rounds: the earlier rounds' numbers.
    numbers = f"WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < {int(rounds)}) "

    def copy(table, replaced, where):
        names = columns(table)
        values = ", ".join(replaced.get(name, f"t.{name}") for name in names)
        return f"INSERT INTO {table} ({', '.join(names)}) {numbers}SELECT {values} FROM {table} t, n WHERE {where}"

    round_of = "'history-' || n.g"
    sql(backend, url, [
        copy("rounds", {"id": round_of, "state": "'closed'"}, f"t.id = '{round_id}'"),
        copy("participations", {"id": f"{round_of} || '-' || t.organization_id", "round_id": round_of},
             f"t.round_id = '{round_id}'"),
        # Sent messages are never read again; the dispatcher looks for due ones on every wake.
        "INSERT INTO outbox (id, channel, event, recipient, organization_id, round_id, context, state, "
        f"attempts, next_attempt_at, created_at, sent_at) {numbers}"
        f"SELECT {round_of} || '-' || p.organization_id, 'email', 'participation_changed', 'history@example.jp', "
        f"p.organization_id, {round_of}, '{{}}', 'sent', 1, p.updated_at, p.updated_at, p.updated_at "
        f"FROM participations p, n WHERE p.round_id = '{round_id}'",
        "ANALYZE" if backend == "postgres" else "SELECT 1",
    ])


def count_history(backend, url):
    [(count,)] = sql(backend, url, ["SELECT COUNT(*) FROM participation_history"])
    return int(count)


@contextlib.contextmanager
def service(backend, prefix, **settings):
    """The release binary on a fresh database (an SQLite file, or a PostgreSQL database dropped
    afterwards), with `settings` added to its environment. Yields the process, its base URL, the
    database URL and the seconds from start to /ready."""
    workdir = Path(tempfile.mkdtemp(prefix=f"kyodo-{prefix}-"))
    database = None
    if backend == "sqlite":
        url = f"sqlite://{workdir}/{prefix}.db"
    else:
        server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
        database = f"kyodo_{prefix}_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {database}"], check=True)
        # A query on the server's URL (`?sslmode=disable`) is kept for the service's database.
        base, _, options = server.partition("?")
        url = base.rsplit("/", 1)[0] + "/" + database + (f"?{options}" if options else "")
    env = {
        **os.environ, "DATABASE_URL": url, "DATA_DIR": str(workdir), "BIND_ADDRESS": f"127.0.0.1:{SERVICE_PORT}",
        "ADMIN_EMAIL": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "JWT_SECRET": "bench-secret-bench-secret-bench-secret-0000",
        "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **settings,
    }
    log = open(workdir / "service.log", "w")
    started = time.monotonic()
    process = subprocess.Popen([str(BINARY)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{SERVICE_PORT}"
    try:
        wait_ready(f"{base}/ready")
        ready_seconds = time.monotonic() - started
        if process.poll() is not None:
            raise SystemExit(f"the service exited (is port {SERVICE_PORT} taken?): see {workdir}/service.log")
        yield process, base, url, ready_seconds
    finally:
        process.terminate()
        process.wait()
        log.close()
        if database:
            subprocess.run(["psql", server, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False)


def run_backend(backend, args, ceiling_rps):
    with service(backend, "bench", LOGIN_ATTEMPTS_PER_ADDRESS="1000") as (process, base, url, ready_seconds):
        session, token, round_id, codes = setup(base)
        add_history(backend, url, round_id, args.history)
        load_env = bench_env(token, round_id, codes)
        results = {}
        sampler = RssSampler(process.pid)
        sampler.start()
        for name, path, script, bearer in [
            ("GET /procurements", "/api/v1/procurements", "get.lua", token),
            ("GET /procurements (access token, no lookup)", "/api/v1/procurements", "get.lua", session),
            ("GET /rounds/{id}/participations (60 rows)", f"/api/v1/rounds/{round_id}/participations", "get.lua", token),
            ("PUT /rounds/{id}/participations/{org}", f"/api/v1/rounds/{round_id}/participations/x", "put.lua", token),
        ]:
            before = count_history(backend, url) if script == "put.lua" else None
            result = wrk(base + path, args.seconds, args.connections, ROOT / "bench" / script, {**load_env, "BENCH_TOKEN": bearer})
            if before is not None:
                written = count_history(backend, url) - before
                result["integrity"] = f"{result['requests'] - result['failed']} acknowledged, {written} history rows"
            result["share"] = result["rps"] / ceiling_rps
            results[name] = result
        under_load = sampler.stop()
        return {"ready_seconds": ready_seconds, "peak_rss_mib": rss_mib(process.pid), "load_rss_mib": under_load,
                "results": results}


def arguments():
    """The options every benchmark of the service takes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--history", type=int, default=0, metavar="ROUNDS",
                        help="closed rounds of 60 answers each added before the load (see add_history)")
    return parser.parse_args()


def bench_env(token, round_id, codes):
    """What the load generators read: the bearer token, the round and the bodies to answer for."""
    return {"BENCH_TOKEN": token, "BENCH_ROUND": round_id, "BENCH_CODES": ",".join(codes)}


def build():
    """The release binary and the examples, unless KYODO_BINARY names a binary built before."""
    if "KYODO_BINARY" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bins", "--examples"], cwd=ROOT, check=True)


def main():
    args = arguments()
    build()
    ceiling = subprocess.Popen([str(CEILING), f"127.0.0.1:{CEILING_PORT}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{CEILING_PORT}/ceiling")
        print(f"machine: {os.cpu_count()} cpus, {args.connections} connections, {args.seconds}s per run, wrk -t2, loopback")
        for backend in args.backends.split(","):
            top = wrk(f"http://127.0.0.1:{CEILING_PORT}/ceiling", args.seconds, args.connections)
            report = run_backend(backend, args, top["rps"])
            print(f"\n## {backend}: start to /ready {report['ready_seconds'] * 1000:.0f} ms, RSS under load "
                  f"{report['load_rss_mib']:.1f} MiB (peak {report['peak_rss_mib']:.1f} MiB, with the set-up's logins)")
            print(f"{'endpoint':<44} {'req/s':>9} {'of ceiling':>10} {'p50 ms':>7} {'p99 ms':>7}  notes")
            print(f"{'ceiling (fixed JSON, no database)':<44} {top['rps']:>9.0f} {'100%':>10} {top['p50']:>7.2f} {top['p99']:>7.2f}")
            for name, r in report["results"].items():
                notes = "; ".join(x for x in [r.get("integrity", ""), f"{r['failed']} non-2xx" if r["failed"] else "", r["socket_errors"]] if x)
                print(f"{name:<44} {r['rps']:>9.0f} {r['share'] * 100:>9.1f}% {r['p50']:>7.2f} {r['p99']:>7.2f}  {notes}")
    finally:
        ceiling.terminate()


if __name__ == "__main__":
    sys.exit(main())
