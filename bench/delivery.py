#!/usr/bin/env python3
"""E-mail delivery: how many messages per second the dispatcher hands to a local SMTP server.

One instance without a dispatcher (DISPATCH_INTERVAL_MS=0) writes N invitations to the outbox;
then an instance with a dispatcher starts on the same SQLite file, and the script times until the
local SMTP sink (bench/smtp_sink.py, on loopback) has received all N. Each message is rendered from
its template and sent over its own SMTP conversation.

Usage: cargo build --release && python3 bench/delivery.py [--messages 500]
"""

import argparse
import socketserver
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from run import ADMIN, BINARY, call, wait_ready
from smtp_sink import Smtp, received

PORT = 8095
SMTP_PORT = 8096
BASE = f"http://127.0.0.1:{PORT}"


def serve(data_dir, dispatch_ms):
    env = {"DATA_DIR": str(data_dir), "BIND_ADDRESS": f"127.0.0.1:{PORT}", "ADMIN_EMAIL": ADMIN[0],
           "ADMIN_PASSWORD": ADMIN[1], "RUST_LOG": "warn", "PATH": "/usr/bin:/bin",
           "SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}", "DISPATCH_INTERVAL_MS": str(dispatch_ms),
           "SCHEDULER_INTERVAL_SECONDS": "0"}
    service = subprocess.Popen([str(BINARY)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"{BASE}/ready")
    return service


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    n = parser.parse_args().messages
    sink = socketserver.ThreadingTCPServer(("127.0.0.1", SMTP_PORT), Smtp)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    data_dir = Path(tempfile.mkdtemp(prefix="kyodo-delivery-"))

    writer = serve(data_dir, 0)
    try:
        token = call("POST", f"{BASE}/api/v1/auth/login", body={"email": ADMIN[0], "password": ADMIN[1]})["access_token"]
        started = time.perf_counter()
        for i in range(n):
            call("POST", f"{BASE}/api/v1/users", token, {"email": f"bench{i}@example.lg.jp", "display_name": "ベンチ 太郎",
                                                         "role": "viewer", "organization": "202011"})
        written = time.perf_counter() - started
    finally:
        writer.terminate()
        writer.wait()
    print(f"{n} invitations written (request, transaction, outbox row) in {written:.2f} s: "
          f"{n / written:.0f}/s, {written / n * 1000:.2f} ms each")

    before = len(received)
    dispatcher = serve(data_dir, 100)
    try:
        started = time.perf_counter()
        while len(received) - before < n:
            if time.perf_counter() - started > 300:
                raise SystemExit(f"only {len(received) - before} of {n} messages arrived in 300 s")
            time.sleep(0.02)
        took = time.perf_counter() - started
    finally:
        dispatcher.terminate()
        dispatcher.wait()
    print(f"{n} messages delivered over SMTP in {took:.2f} s: {n / took:.0f} messages/s "
          f"(includes the instance's start-up, about 0.1 s)")


if __name__ == "__main__":
    main()
