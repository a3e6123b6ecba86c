#!/usr/bin/env python3
"""Weight and server time of the web console's main pages.

Starts the release binary with the demonstration data (SQLite in a temporary DATA_DIR, or a fresh
PostgreSQL database seeded with `kyodo seed --demo`), signs in through the login form as the
administrator and as a coordinator of 長野市 (invited through the API; the invitation link is read
from the .eml file the service writes), then for each page prints:
- its weight: the HTML plus every stylesheet and script it references, as served and gzip-ed
  (what a compressing proxy would send); the target is under 100 KB as served;
- its time: median and p95 of N sequential requests over one keep-alive connection, measured at
  the client on loopback (the service's time plus a loopback round trip).

Usage: bench/pages.py [--backends sqlite,postgres] [--requests 200]
Needs a release build (the script runs cargo build --release), and for PostgreSQL a server at
$BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
"""

import argparse
import contextlib
import glob
import gzip
import http.client
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target/release/kyodo"
PORT = 8097
ADMIN = ("bench@pref.nagano.lg.jp", "benchmark admin passphrase")
COORDINATOR = ("dx@city.nagano.example.jp", "a coordinator passphrase for the bench")


class Client:
    """One keep-alive connection with a cookie jar, as a browser without JavaScript."""

    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.cookies = {}

    def request(self, method, path, form=None, token=None, body=None):
        headers = {}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form)
            headers["content-type"] = "application/x-www-form-urlencoded"
        if body is not None:
            data = json.dumps(body)
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        text = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, rest = value.split("=", 1)
                content = rest.split(";", 1)[0]
                if content and "Max-Age=0" not in value:
                    self.cookies[name] = content
                else:
                    self.cookies.pop(name, None)
        return response.status, dict(response.getheaders()), text

    def sign_in(self, email, password):
        _, _, page = self.request("GET", "/login")
        token = re.search(rb'name="_csrf" value="([^"]+)"', page).group(1).decode()
        status, _, _ = self.request("POST", "/login", form={"_csrf": token, "email": email, "password": password, "next": "/"})
        assert status == 303, status


def wait_ready(timeout=60.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the service did not become ready")


@contextlib.contextmanager
def service(backend):
    workdir = Path(tempfile.mkdtemp(prefix="kyodo-pages-"))
    env = {
        **os.environ, "DATA_DIR": str(workdir), "BIND_ADDRESS": f"127.0.0.1:{PORT}",
        "ADMIN_EMAIL": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "RUST_LOG": "warn",
        "LOGIN_ATTEMPTS_PER_ADDRESS": "1000",
    }
    database = None
    if backend == "postgres":
        server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
        database = f"kyodo_pages_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {database}"], check=True)
        env["DATABASE_URL"] = server.rsplit("/", 1)[0] + "/" + database
        subprocess.run([str(BINARY), "seed", "--demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    log = open(workdir / "service.log", "w")
    process = subprocess.Popen([str(BINARY)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready()
        yield workdir
    finally:
        process.terminate()
        process.wait()
        log.close()
        if database:
            subprocess.run(["psql", server, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False)


def invitation_token(workdir, email, timeout=15.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for path in glob.glob(str(workdir / "outbox" / "*.eml")):
            text = Path(path).read_text(errors="replace")
            if email in text:
                found = re.search(r"invitations/(kyi_[A-Za-z0-9_-]+)", text)
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise SystemExit("no invitation e-mail was written")


def weight(client, html):
    """Bytes as served and gzip-ed: the page, then each stylesheet and script it references."""
    parts = [html]
    for asset in re.findall(rb'(?:href|src)="(/assets/[^"]+)"', html):
        _, _, body = client.request("GET", asset.decode())
        parts.append(body)
    served = sum(len(p) for p in parts)
    zipped = sum(len(gzip.compress(p, 6)) for p in parts)
    return len(html), served, zipped


def timings(client, path, n):
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        status, _, _ = client.request("GET", path)
        samples.append((time.perf_counter() - started) * 1000)
        assert status == 200, (path, status)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(backend, n):
    with service(backend) as workdir:
        admin = Client()
        _, _, login = admin.request("GET", "/login")
        login_weight = weight(admin, login)
        status, _, body = admin.request("POST", "/api/v1/auth/login", body={"email": ADMIN[0], "password": ADMIN[1]})
        token = json.loads(body)["access_token"]
        status, _, body = admin.request("POST", "/api/v1/users", token=token, body={
            "email": COORDINATOR[0], "display_name": "長野 太郎", "role": "coordinator", "organization": "202011"})
        assert status == 201, body
        invite = invitation_token(workdir, COORDINATOR[0])
        status, _, body = admin.request("POST", f"/api/v1/invitations/{invite}/accept", body={"password": COORDINATOR[1]})
        assert status == 200, body
        admin.sign_in(*ADMIN)
        coordinator = Client()
        coordinator.sign_in(*COORDINATOR)

        _, _, home = coordinator.request("GET", "/")
        open_round = re.search(rb'href="(/rounds/[^"]+)"', home).group(1).decode()
        _, _, admin_home = admin.request("GET", "/")
        procurement = re.search(rb'href="(/procurements/[0-9a-f-]{36})"', admin_home).group(1).decode()
        pages = [
            ("sign-in", None, "/login"),
            ("home (coordinator)", coordinator, "/"),
            ("round: answer and estimate (coordinator)", coordinator, open_round),
            ("estimate fragment (htmx)", coordinator, open_round + "/estimate?options=lgwan"),
            ("procurement (coordinator)", coordinator, procurement),
            ("account (coordinator)", coordinator, "/account"),
            ("home (secretariat)", admin, "/"),
            ("round dashboard (secretariat)", admin, open_round),
            ("new procurement form", admin, "/procurements/new"),
            ("outbox", admin, "/admin/outbox"),
            ("audit log", admin, "/admin/audit"),
        ]
        print(f"\n## {backend}: {n} sequential requests per page\n")
        print("| Page | HTML | HTML + CSS + JS | gzip-ed | median | p95 |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, client, path in pages:
            if client is None:
                html_bytes, served, zipped = login_weight
                client = Client()
            else:
                _, _, html = client.request("GET", path)
                html_bytes, served, zipped = weight(client, html)
            median, p95 = timings(client, path, n)
            print(f"| {name} | {html_bytes / 1024:.1f} KB | {served / 1024:.1f} KB | {zipped / 1024:.1f} KB | {median:.2f} ms | {p95:.2f} ms |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--bin", "kyodo"], cwd=ROOT, check=True)
    for backend in args.backends.split(","):
        run(backend, args.requests)


if __name__ == "__main__":
    main()
