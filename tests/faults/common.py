"""What the fault scripts share: the service binary started with its settings, an HTTP client
that records every answer, a throw-away PostgreSQL cluster, and the verdict.

Standard library only. Every resource made here is released by the context managers, also when a
check fails or the script is interrupted.
"""

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
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
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
