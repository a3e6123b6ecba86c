#!/usr/bin/env python3
"""Schemathesis against the running service, as a new user would try it, with every check.

Starts the service (`--binary`, default the debug build) on a fresh SQLite database in the
embedded default (demonstration data, e-mail written as files), signs in as the administrator and
as a coordinator of 長野市 (invited, accepting by the link in the e-mail), and runs
`schemathesis run <base>/api-docs/openapi.json --checks all` once as each, each bounded by
`--max-time`. The allowances are in schemathesis.toml beside this file, each with its reason; the
hooks in hooks.py make each Idempotency-Key unique as a client does. Exits non-zero when either
run reports a failure or an error.

Usage: python3 api-spec/schemathesis/run.py [--binary target/debug/kyodo] [--max-time 150] [--seed N]
Needs: pip install schemathesis==4.32.5 (CI installs it).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PORT = 8099
BASE = f"http://127.0.0.1:{PORT}"
ADMIN = ("schemathesis@pref.nagano.lg.jp", "a schemathesis admin passphrase")
COORDINATOR = ("schemathesis@city.nagano.lg.jp", "a schemathesis coordinator passphrase")


def call(method, path, token=None, body=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait_ready(timeout=60.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            urllib.request.urlopen(BASE + "/ready", timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{BASE}/ready did not answer within {timeout}s")


def login(email, password):
    return call("POST", "/api/v1/auth/login", body={"email": email, "password": password})["access_token"]


def invitation_token(outbox, address):
    """The one-time token in the invitation e-mailed (as a file) to `address`."""
    for _ in range(200):
        for message in sorted(outbox.glob("*.eml")):
            text = message.read_text(errors="replace")
            if address in text:
                found = re.search(r"invitations/(kyi_[A-Za-z0-9_-]+)", text)
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"no invitation reached {address}")


def coordinator_token(admin, outbox):
    email, password = COORDINATOR
    call(
        "POST",
        "/api/v1/users",
        admin,
        {"email": email, "display_name": "試験 花子", "role": "coordinator", "organization": "202011"},
    )
    token = invitation_token(outbox, email)
    call("POST", f"/api/v1/invitations/{token}/accept", body={"password": password})
    return login(email, password)


def schemathesis(role, token, max_time, seed, report_dir):
    command = [
        "schemathesis", "--no-color", "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{BASE}/api-docs/openapi.json",
        "--checks", "all",
        "--max-time", str(max_time),
        "--workers", "2",
        "--seed", str(seed),
        "--report", "junit",
        "--report-dir", str(report_dir / role),
    ]
    print(f"== schemathesis as {role}", flush=True)
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="hooks",
        PYTHONPATH=str(HERE),
        PYTHONDONTWRITEBYTECODE="1",
        KYODO_TOKEN=token,
    )
    # Run from the report directory: schemathesis keeps its example database there, not in the tree.
    (report_dir / role).mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, env=env, cwd=report_dir).returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target/debug/kyodo"))
    parser.add_argument("--max-time", type=int, default=150, help="seconds per role")
    parser.add_argument("--report-dir", default=str(ROOT / "target/schemathesis"))
    parser.add_argument(
        "--seed", type=int, default=20261202, help="another seed explores other cases (CI's is fixed)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kyodo-schemathesis-") as data:
        env = dict(
            os.environ,
            DATA_DIR=data,
            BIND_ADDRESS=f"127.0.0.1:{PORT}",
            ADMIN_EMAIL=ADMIN[0],
            ADMIN_PASSWORD=ADMIN[1],
            # Schemathesis sends thousands of requests from one address; the throttle would answer
            # most of them 429 and test nothing else (tests/api/auth.rs tests the throttle).
            LOGIN_ATTEMPTS_PER_ADDRESS="100000",
            LOGIN_ATTEMPTS_PER_ACCOUNT="100000",
            ACCESS_TOKEN_TTL_SECONDS="3600",
            RUST_LOG="warn",
        )
        env.pop("DATABASE_URL", None)
        log = open(Path(data) / "service.log", "w")
        failed = []
        service = subprocess.Popen([args.binary], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready()
            admin = login(*ADMIN)
            coordinator = coordinator_token(admin, Path(data) / "outbox")
            for role, token in [("admin", admin), ("coordinator", coordinator)]:
                if schemathesis(role, token, args.max_time, args.seed, Path(args.report_dir)) != 0:
                    failed.append(f"schemathesis as {role}")
            if service.poll() is not None:
                raise SystemExit(f"the service exited with {service.returncode}")
        finally:
            service.terminate()
            # A graceful stop waits up to actix's 30 s for open connections (an estimate stream
            # schemathesis left open), then ends them.
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
                failed = [*failed, "the service did not stop within 60 s of SIGTERM"]
            log.close()
            log_text = (Path(data) / "service.log").read_text(errors="replace")
            panics = [line for line in log_text.splitlines() if "panicked" in line]
            if panics:
                print("the service panicked:", *panics[:5], sep="\n")
                failed = [*failed, "the service panicked"]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")
    print("schemathesis: no failures")


if __name__ == "__main__":
    main()
