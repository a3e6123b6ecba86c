"""What the fault scripts share: the service binary started with its settings, an HTTP client
that records every answer, the registration writers and readers of the load and the checks of what
they wrote, a throw-away PostgreSQL cluster, and the verdict.

Standard library only. Every resource made here is released by the context managers, also when a
check fails or the script is interrupted.
"""

import collections
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from smtp_sink import Smtp, received as smtp_received  # noqa: E402,F401  (the fault scripts' SMTP sink)
ADMIN = ("faults@pref.nagano.lg.jp", "fault injection admin passphrase")
JWT_SECRET = "fault-secret-fault-secret-fault-secret-000"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The service waits this long for a pooled connection (src/db/mod.rs); a request that takes much
# longer than that hangs.
POOL_TIMEOUT_SECONDS = 10
HANG_SECONDS = POOL_TIMEOUT_SECONDS + 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(args_binary):
    path = Path(args_binary or os.environ.get("KYODO_BINARY", ROOT / "target/debug/kyodo"))
    if not path.exists():
        raise SystemExit(f"{path} does not exist: cargo build --bin kyodo")
    return path.resolve()


FAILED = []


class Failures:
    """Collects failed properties; `finish` prints them and gives the exit status."""

    def __init__(self, name):
        self.name, self.items = name, FAILED

    def check(self, ok, message):
        print(f"  [{'ok' if ok else 'FAIL'}] {message}", flush=True)
        if not ok:
            self.items.append(message)
        return ok

    def finish(self):
        if self.items:
            print(f"\n{self.name}: FAIL ({len(self.items)} properties failed)")
            for item in self.items:
                print(f"  - {item}")
            return 1
        print(f"\n{self.name}: PASS")
        return 0


class Answer:
    __slots__ = ("status", "headers", "body", "seconds", "error", "started")

    def __init__(self, status, headers, body, seconds, error, started):
        self.status, self.headers, self.body, self.seconds, self.error, self.started = (
            status, headers, body, seconds, error, started)

    def json(self):
        try:
            return json.loads(self.body)
        except (ValueError, TypeError):
            return None

    @property
    def code(self):
        data = self.json()
        return data.get("code") if isinstance(data, dict) else None

    @property
    def problem(self):
        """Whether the answer is problem+json with a code."""
        return (self.headers.get("content-type", "").startswith("application/problem+json")
                and bool(self.code))

    def label(self):
        if self.error:
            return f"error:{self.error}"
        if self.status >= 400:
            return f"{self.status} {self.code}"
        return str(self.status)


class Client:
    """One keep-alive connection (per thread); every answer also goes to `log` if given."""

    def __init__(self, port, token=None, timeout=30.0, log=None):
        self.port, self.token, self.timeout, self.log = port, token, timeout, log
        self.connection = None

    def request(self, method, path, body=None, headers=None):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        all_headers = {"accept": "application/json"}
        if body is not None:
            all_headers["content-type"] = "application/json"
            body = json.dumps(body).encode()
        if self.token:
            all_headers["authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        started = time.monotonic()
        try:
            self.connection.request(method, path, body=body, headers=all_headers)
            response = self.connection.getresponse()
            payload = response.read()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, payload,
                            time.monotonic() - started, None, started)
            if response.getheader("connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            kind = "timeout" if isinstance(e, (socket.timeout, TimeoutError)) else type(e).__name__
            answer = Answer(None, {}, b"", time.monotonic() - started, kind, started)
        if self.log is not None:
            self.log.append((method, path.split("?")[0], answer))
        return answer

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def ok(self, method, path, body=None, headers=None):
        """The JSON of a 2xx answer; anything else stops the script (set-up steps)."""
        answer = self.request(method, path, body, headers)
        if answer.status is None or answer.status >= 300:
            raise SystemExit(f"{method} {path}: {answer.label()} {answer.body[:300]!r}")
        return answer.json()


def wait_ready(port, timeout=60.0, process=None):
    client = Client(port, timeout=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode} before it was ready")
        if client.request("GET", "/ready").status == 200:
            return
        time.sleep(0.1)
    raise SystemExit(f"the service on port {port} was not ready within {timeout:.0f} s")


@contextlib.contextmanager
def service(kyodo, workdir, name, database_url, port=None, **settings):
    """The service on `database_url`; yields (process, port). Its log is `workdir/<name>.log`."""
    port = port or free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": database_url,
        "DATA_DIR": str(workdir / f"{name}-data"), "BIND_ADDRESS": f"127.0.0.1:{port}",
        "ADMIN_EMAIL": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "JWT_SECRET": JWT_SECRET,
        "LOGIN_ATTEMPTS_PER_ADDRESS": "1000", "LOG_FORMAT": "json",
        "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **settings,
    }
    log = open(workdir / f"{name}.log", "ab")
    process = subprocess.Popen([str(kyodo)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, process=process)
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def login(port):
    client = Client(port)
    token = client.ok("POST", "/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})["access_token"]
    return token


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def published_procurement(client, title):
    """A published procurement open to every body, one fixed pool shared equally; its id."""
    procurement = client.ok("POST", "/api/v1/procurements", {
        "title": title, "category": "administration", "lead_organization": "200000",
        "cost_model": {"pools": [{"code": "base", "total": {"kind": "fixed", "amount": 1000000},
                                  "weights": {"equal": 10000}}]},
        "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2027,
    })["id"]
    client.ok("POST", f"/api/v1/procurements/{procurement}/publish", {})
    return procurement


def round_of(client, procurement, opens_at, closes_at, reminder_days=None):
    body = {"kind": "commitment", "opens_at": iso(opens_at), "closes_at": iso(closes_at),
            "population_base_date": "2020-01-01"}
    if reminder_days is not None:
        body["reminder_days"] = reminder_days
    return client.ok("POST", f"/api/v1/procurements/{procurement}/rounds", body)


def municipal_codes(client, count):
    bodies = client.ok("GET", "/api/v1/organizations?per_page=200")["items"]
    codes = [b["lg_code"] for b in bodies if b["lg_code"] and b["kind"] in ("city", "town", "village")]
    return codes[:count]


def log_lines(path, level="ERROR"):
    """The service's JSON log lines at `level`."""
    lines = []
    with contextlib.suppress(FileNotFoundError):
        for line in Path(path).read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") == level:
                    lines.append(entry)
    return lines


class PostgresCluster:
    """A throw-away PostgreSQL 15 cluster, run as user postgres on its own port and socket
    directory; `close` stops it and deletes it."""

    def __init__(self, workdir):
        self.dir = Path(tempfile.mkdtemp(prefix="kyodo-faults-pg-"))
        self.data = self.dir / "data"
        self.socket = self.dir / "socket"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.socket.mkdir()
        shutil.chown(self.dir, "postgres")
        shutil.chown(self.socket, "postgres")
        self.pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8",
                quiet=True)
        self.start()

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def pg(self, tool, *args, quiet=False, check=True):
        command = ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise SystemExit(f"{tool} {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result

    def ctl(self, *args, check=True):
        return self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args, check=check)

    def options(self):
        return f"-p {self.port} -k {self.socket} -c listen_addresses=127.0.0.1 -c max_connections=100"

    def start(self):
        self.ctl("-o", self.options(), "start")

    def restart_fast(self):
        self.ctl("-m", "fast", "-o", self.options(), "restart")

    def stop(self, mode="fast"):
        self.ctl("-m", mode, "stop")

    def psql(self, query, database="postgres"):
        result = subprocess.run(["psql", f"postgres://postgres@127.0.0.1:{self.port}/{database}", "-qtA",
                                 "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"psql: {result.stderr}")
        return [tuple(line.split("\t")) for line in result.stdout.splitlines() if line]

    def close(self):
        if (self.data / "postmaster.pid").exists():
            self.ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster(workdir):
    cluster = PostgresCluster(workdir)
    try:
        yield cluster
    finally:
        cluster.close()


@contextlib.contextmanager
def workdir(prefix):
    """A temporary directory for logs and data, deleted afterwards; kept (and named) when a check
    failed or the script stopped on an error, for its logs. KEEP_FAULTS_DIR=1 always keeps it."""
    path = Path(tempfile.mkdtemp(prefix=f"kyodo-faults-{prefix}-"))
    ok = False
    try:
        yield path
        ok = not FAILED
    finally:
        if ok and not os.environ.get("KEEP_FAULTS_DIR"):
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"(logs kept in {path})", file=sys.stderr)


def terminate_on_signals():
    """SIGTERM and SIGHUP unwind like Ctrl-C, so that every `finally` cleans up."""
    def raise_interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, raise_interrupt)


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class Stop:
    """A flag the load threads watch."""

    def __init__(self):
        self.event = threading.Event()

    def __bool__(self):
        return self.event.is_set()

    def set(self):
        self.event.set()


class Writer(threading.Thread):
    """Answers for its bodies in turn (`PUT /rounds/{id}/participations/{org}`), each write with a
    new `Idempotency-Key` and a note of its own, retried with the same key and body until it is
    acknowledged. With several ports a retry goes to the next instance, as behind a load balancer.
    A write is given up once `give_up` is set, or after `give_up_after` seconds of retrying."""

    def __init__(self, ports, token, round_id, codes, stop, log, give_up=None, give_up_after=None):
        super().__init__(daemon=True)
        self.clients = [Client(port, token, timeout=HANG_SECONDS + 15, log=log) for port in ports]
        self.round_id, self.codes, self.stop = round_id, codes, stop
        self.give_up, self.give_up_after = give_up, give_up_after
        self.acknowledged = collections.defaultdict(list)  # code -> notes, in order
        self.by_instance = collections.Counter()  # index of the port that acknowledged
        self.retried = 0
        self.replayed = 0
        self.given_up = []  # (code, note, last answer)

    def run(self):
        n = 0
        while not self.stop:
            code = self.codes[n % len(self.codes)]
            which = n % len(self.clients)
            n += 1
            note = f"{code}-{n}-{uuid.uuid4().hex[:6]}"
            key = str(uuid.uuid4())
            body = {"status": "joined", "note": note, "reason": "障害試験"}
            path = f"/api/v1/rounds/{self.round_id}/participations/{code}"
            started = time.monotonic()
            attempt = 0
            while True:
                instance = (which + attempt) % len(self.clients)
                attempt += 1
                answer = self.clients[instance].request("PUT", path, body, {"idempotency-key": key})
                if answer.status in (200, 201):
                    data = answer.json() or {}
                    if data.get("note") != note:
                        self.given_up.append((code, note, f"acknowledged with note {data.get('note')!r}"))
                    self.acknowledged[code].append(note)
                    self.by_instance[instance] += 1
                    self.retried += attempt > 1
                    self.replayed += answer.headers.get("idempotent-replayed") == "true"
                    break
                if (self.give_up is not None and self.give_up.is_set()) or (
                        self.give_up_after is not None and time.monotonic() - started > self.give_up_after):
                    self.given_up.append((code, note, answer.label()))
                    break
                time.sleep(0.2)


class Reader(threading.Thread):
    """Reads `paths` in turn, pausing a little after each answer (longer after a refusal)."""

    def __init__(self, port, token, paths, stop, log):
        super().__init__(daemon=True)
        self.client = Client(port, token, timeout=HANG_SECONDS + 15, log=log)
        self.paths, self.stop = paths, stop

    def run(self):
        n = 0
        while not self.stop:
            answer = self.client.request("GET", self.paths[n % len(self.paths)])
            n += 1
            time.sleep(0.05 if answer.status == 200 else 0.2)


def round_reads(round_id):
    """What the readers of a registration load read."""
    return [f"/api/v1/rounds/{round_id}/participations", "/api/v1/procurements", f"/api/v1/rounds/{round_id}"]


def print_tally(log, round_id):
    """The answers of a load by request and status."""
    print("\nanswers by request (status code):")
    tally = collections.Counter(
        (m, p.replace(round_id, "{id}").rsplit("/", 1)[0] if m == "PUT" else p.replace(round_id, "{id}"), a.label())
        for m, p, a in log)
    for (method, path, label), count in sorted(tally.items()):
        print(f"  {count:6d}  {method} {path}  {label}")


class Recorded:
    """What the database holds of a round's registrations. `query(sql)` runs a query in which
    `:round` stands for the round's id and gives its rows."""

    def __init__(self, query):
        self.participations = {code: int(n) for code, n in query(
            "SELECT o.lg_code, COUNT(*) FROM participations p JOIN organizations o ON o.id = p.organization_id "
            "WHERE p.round_id = :round GROUP BY o.lg_code")}
        self.history = collections.defaultdict(list)
        for code, note in query(
                "SELECT o.lg_code, h.note FROM participation_history h JOIN participations p ON p.id = h.participation_id "
                "JOIN organizations o ON o.id = p.organization_id WHERE p.round_id = :round ORDER BY h.version"):
            self.history[code].append(note)
        [(audit,)] = query("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'participation' AND entity_id IN "
                           "(SELECT id FROM participations WHERE round_id = :round)")
        [(feed,)] = query("SELECT COUNT(*) FROM changes WHERE entity_type = 'participation' AND entity_id IN "
                          "(SELECT id FROM participations WHERE round_id = :round)")
        self.audit, self.feed = int(audit), int(feed)
        self.history_rows = sum(len(notes) for notes in self.history.values())

    def summary(self):
        return (f"database: {len(self.participations)} bodies with a participation "
                f"({sum(self.participations.values())} rows), {self.history_rows} history rows, "
                f"{self.audit} audit events, {self.feed} feed entries")

    def check(self, verdict, codes, writers):
        """Every write the writers had acknowledged is in the database once, in order, with its
        audit event and feed entry; nothing else is; each body has one participation."""
        expected = {}
        for w in writers:
            expected.update(w.acknowledged)
        acknowledged = sum(len(notes) for notes in expected.values())
        history = self.history
        lost = sum(len(set(notes) - set(history.get(code, []))) for code, notes in expected.items())
        doubled = sum(len(notes) - len(set(notes)) for notes in history.values())
        others = sum(len(set(notes) - set(expected.get(code, []))) for code, notes in history.items())
        out_of_order = sum(1 for code, notes in expected.items() if history.get(code) != notes)
        given_up = [g for w in writers for g in w.given_up]
        verdict.check(not given_up, f"every write was acknowledged in the end ({given_up[:3]})")
        verdict.check(set(self.participations) == set(codes) and all(n == 1 for n in self.participations.values()),
                      f"each of the {len(codes)} bodies has exactly one participation")
        verdict.check(lost == 0, f"no acknowledged write is missing from the history ({lost} missing)")
        verdict.check(doubled == 0, f"no write is in the history twice ({doubled} doubled)")
        verdict.check(others == 0, f"the history holds only acknowledged writes ({others} others)")
        verdict.check(out_of_order == 0, f"each body's history is its writes in order ({out_of_order} bodies differ)")
        verdict.check(self.history_rows == acknowledged == self.audit == self.feed,
                      f"history rows {self.history_rows} = acknowledged {acknowledged} = audit events {self.audit} "
                      f"= feed entries {self.feed}")


@contextlib.contextmanager
def serving(server):
    """A socketserver served on a thread of its own; shut down afterwards."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
