#!/usr/bin/env python3
"""Records real responses as the OpenAPI document's response examples (api-spec/examples.json).

Starts the release binary on a fresh SQLite database (with the demonstration data), walks every
operation whose success response the document would otherwise show without an example, and keeps
what the service answered, lists shortened to two items. `cargo run -- openapi` then puts each into
its response; a test checks that every success response has an example and that each recorded
example still fits its schema.

Usage: python3 api-spec/capture_examples.py && cargo run -- openapi > api-spec/openapi.json
"""

import json
import re
import socketserver
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import ADMIN, BINARY, wait_ready  # noqa: E402
from smtp_sink import Smtp, received  # noqa: E402

PORT = 8097
SMTP_PORT = 8098
BASE = f"http://127.0.0.1:{PORT}"
examples = {}


def invitation_token(address):
    """The one-time token in the latest invitation e-mailed to `address`."""
    for _ in range(100):
        for message in reversed(received):
            if message["to"] == address:
                text = message.get_body(("plain",)).get_content() if hasattr(message, "get_body") else ""
                if not text:
                    for part in message.walk():
                        if part.get_content_type() == "text/plain":
                            text = part.get_payload(decode=True).decode()
                found = re.search(r"invitations/(kyi_[A-Za-z0-9_-]+)", text)
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"no invitation reached {address}")


def shorten(value):
    if isinstance(value, list):
        return [shorten(v) for v in value[:2]]
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    return value


def call(method, template, bearer=None, body=None, record=True, **params):
    """Calls `template` with `params` filled in; records the answer under the template."""
    path = template.format(**params)
    query = params.get("query", "")
    request = urllib.request.Request(BASE + path + query, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("content-type", "application/json")
    if bearer:
        request.add_header("authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path}: {error.code} {error.read().decode()}")
    value = json.loads(text) if text else None
    if record and value is not None:
        examples.setdefault(f"{method.lower()} {template}", {})[str(status)] = shorten(value)
    return value


def iso(seconds_from_now):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def walk():
    call("GET", "/health")
    call("GET", "/ready")
    login = lambda email, password: call("POST", "/api/v1/auth/login", body={"email": email, "password": password},
                                         record=False)["access_token"]
    admin = login(*ADMIN)
    call("GET", "/api/v1/me", admin)
    call("GET", "/api/v1/organizations", admin, query="?kind=city&per_page=2")
    call("GET", "/api/v1/organizations/{key}", admin, key="202011")
    call("PATCH", "/api/v1/organizations/{key}", admin, {"contacts": [
        {"name": "信州 太郎", "department": "企画課", "email": "dx@city.nagano.lg.jp", "phone": "026-000-0000"}]}, key="202011")
    invited = call("POST", "/api/v1/users", admin, {"email": "dx@city.nagano.lg.jp", "display_name": "信州 太郎",
                                                    "role": "coordinator", "organization": "202011"})
    password = "a passphrase of at least 12 characters"
    call("POST", "/api/v1/invitations/{token}/accept", None, {"password": password},
         token=invitation_token(invited["user"]["email"]))
    call("GET", "/api/v1/users", admin, query="?per_page=2")
    nagano = login("dx@city.nagano.lg.jp", password)
    call("POST", "/api/v1/tokens", nagano, {"name": "nightly sync", "scope": "read_only", "expires_in_days": 90})
    call("GET", "/api/v1/tokens", nagano)
    call("POST", "/api/v1/me/calendar", nagano)
    call("GET", "/api/v1/me/calendar", nagano)

    procurement = call("POST", "/api/v1/procurements", admin, {
        "title": "AIチャットボット", "category": "residents", "lead_organization": "200000",
        "options": [{"code": "lgwan", "name": "LGWAN接続"}],
        "cost_model": {"pools": [
            {"code": "base", "total": {"kind": "schedule", "steps": [{"up_to": 10, "amount": 10000000},
                                                                      {"up_to": None, "amount": 14000000}]},
             "weights": {"equal": 1000, "population": 9000}},
            {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "weights": {"equal": 10000}}]},
        "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2029})["id"]
    call("PATCH", "/api/v1/procurements/{id}", admin, {"summary": "仕様書を更新しました", "small_body_friendly": True},
         id=procurement)
    call("POST", "/api/v1/procurements/{id}/publish", admin, {}, id=procurement)
    call("GET", "/api/v1/procurements/{id}", nagano, id=procurement)
    round_id = call("POST", "/api/v1/procurements/{id}/rounds", admin, {
        "kind": "commitment", "opens_at": iso(0), "closes_at": iso(14 * 86400),
        "population_base_date": "2026-01-01"}, id=procurement)["id"]
    call("GET", "/api/v1/procurements", nagano, query="?awaiting_my_response=true&per_page=2")
    call("PATCH", "/api/v1/rounds/{id}", admin, {"closes_at": iso(21 * 86400)}, id=round_id)
    answer = {"status": "joined", "selected_options": ["lgwan"],
              "contact": {"name": "信州 太郎", "email": "dx@city.nagano.lg.jp"}, "note": "4月から利用予定"}
    call("PUT", "/api/v1/rounds/{id}/participations/{org}", nagano, answer, id=round_id, org="202011")
    call("PUT", "/api/v1/rounds/{id}/participations/{org}", nagano, {**answer, "selected_options": []},
         id=round_id, org="202011")
    call("PUT", "/api/v1/rounds/{id}/participations/{org}", admin, {"status": "declined", "reason": "電話で回答あり"},
         id=round_id, org="202029", record=False)
    call("GET", "/api/v1/rounds/{id}", nagano, id=round_id)
    call("GET", "/api/v1/procurements/{id}/rounds", nagano, id=procurement)
    call("GET", "/api/v1/rounds/{id}/participations", nagano, id=round_id)
    call("GET", "/api/v1/rounds/{id}/participations/{org}/history", nagano, id=round_id, org="202011")
    call("GET", "/api/v1/rounds/{id}/non-respondents", admin, id=round_id)
    call("DELETE", "/api/v1/rounds/{id}/participations/{org}", nagano, id=round_id, org="202011")
    question = call("POST", "/api/v1/procurements/{id}/questions", nagano,
                    {"question": "LGWAN環境から利用できますか。"}, id=procurement)["id"]
    call("POST", "/api/v1/questions/{id}/answer", admin, {"answer": "LGWAN-ASPとして提供されるため利用可能です。"},
         id=question)
    call("GET", "/api/v1/procurements/{id}/questions", nagano, id=procurement)
    call("POST", "/api/v1/rounds/{id}/close", admin, {}, id=round_id)
    call("POST", "/api/v1/rounds/{id}/reopen", admin, {"closes_at": iso(28 * 86400)}, id=round_id)
    call("POST", "/api/v1/rounds/{id}/cancel", admin, {"reason": "予算措置の遅れのため"}, id=round_id)
    later = call("POST", "/api/v1/procurements/{id}/rounds", admin, {
        "kind": "commitment", "opens_at": iso(7 * 86400), "closes_at": iso(21 * 86400),
        "population_base_date": "2026-01-01"}, id=procurement, record=False)["id"]
    call("POST", "/api/v1/rounds/{id}/open", admin, {}, id=later)
    call("POST", "/api/v1/procurements/{id}/cancel", admin, {"reason": "仕様の見直しのため"}, id=procurement)
    call("GET", "/api/v1/audit-events", admin, query="?per_page=2")
    cost_shares(admin, nagano)
    notifications(admin)


def notifications(admin):
    """A message the SMTP server refuses for good, seen in the outbox and retried."""
    call("POST", "/api/v1/users", admin, {"email": "reject.example@city.nagano.lg.jp", "display_name": "信州 次郎",
                                          "role": "viewer", "organization": "202011"}, record=False)
    for _ in range(100):
        failed = call("GET", "/api/v1/notifications", admin, query="?state=failed&per_page=2", record=False)
        if failed["items"]:
            break
        time.sleep(0.1)
    call("GET", "/api/v1/notifications", admin, query="?state=failed&per_page=2")
    call("POST", "/api/v1/notifications/{id}/retry", admin, {}, id=failed["items"][0]["id"])
    webhooks(admin)


def webhooks(admin):
    """An endpoint of 長野市 on a public address written as such (nothing to look up), its log."""
    hook = call("POST", "/api/v1/webhooks", admin, {"url": "https://203.0.114.10/kyodo",
                                                   "events": ["round.opened", "participation.joined"],
                                                   "organization": "202011"})
    call("GET", "/api/v1/webhooks", admin, query="?organization=202011")
    call("GET", "/api/v1/webhooks/{id}", admin, id=hook["id"])
    call("POST", "/api/v1/webhooks/{id}/rotate-secret", admin, {}, id=hook["id"])
    call("GET", "/api/v1/webhooks/{id}/deliveries", admin, query="?per_page=2", id=hook["id"])


def cost_shares(admin, nagano):
    """Estimates while a round runs, then finalization, a correction and the exports."""
    procurement = call("POST", "/api/v1/procurements", admin, {
        "title": "AI音声文字起こしツール", "category": "administration", "lead_organization": "200000",
        "options": [{"code": "lgwan", "name": "LGWAN接続"}],
        "cost_model": {"pools": [
            {"code": "base", "total": {"kind": "fixed", "amount": 9000000}, "weights": {"equal": 2000, "population": 8000}},
            {"code": "lgwan", "total": {"kind": "fixed", "amount": 1200000}, "weights": {"equal": 10000}}]},
        "contract_start_fiscal_year": 2027, "contract_end_fiscal_year": 2027}, record=False)["id"]
    call("POST", "/api/v1/procurements/{id}/publish", admin, {}, id=procurement, record=False)
    round_id = call("POST", "/api/v1/procurements/{id}/rounds", admin, {
        "kind": "commitment", "opens_at": iso(0), "closes_at": iso(14 * 86400),
        "population_base_date": "2026-01-01"}, id=procurement, record=False)["id"]
    call("PUT", "/api/v1/rounds/{id}/participations/{org}", nagano, {"status": "joined", "selected_options": ["lgwan"]},
         id=round_id, org="202011", record=False)
    for org in ("202029", "203041"):
        call("PUT", "/api/v1/rounds/{id}/participations/{org}", admin, {"status": "joined", "reason": "電話で回答あり"},
             id=round_id, org=org, record=False)
    call("GET", "/api/v1/rounds/{id}/estimate", nagano, id=round_id)
    call("POST", "/api/v1/rounds/{id}/estimate", admin, {"participants": [
        {"organization": "202011", "options": ["lgwan"]}, {"organization": "203041"}]}, id=round_id)
    call("POST", "/api/v1/rounds/{id}/close", admin, {}, id=round_id, record=False)
    call("POST", "/api/v1/rounds/{id}/finalize", admin, {"totals": [
        {"pool": "base", "fiscal_year": 2027, "amount": 8800000},
        {"pool": "lgwan", "fiscal_year": 2027, "amount": 1200000}]}, id=round_id)
    call("POST", "/api/v1/rounds/{id}/allocations", admin, {"totals": [
        {"pool": "base", "fiscal_year": 2027, "amount": 8750000},
        {"pool": "lgwan", "fiscal_year": 2027, "amount": 1200000}], "reason": "変更契約（第1号）による減額"}, id=round_id)
    call("GET", "/api/v1/rounds/{id}/allocation", nagano, id=round_id)
    call("GET", "/api/v1/rounds/{id}/allocations", nagano, id=round_id)
    call("GET", "/api/v1/ocds/releases", None, query=f"?procurement={procurement}")


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins", "--examples"], cwd=ROOT, check=True)
    workdir = Path(tempfile.mkdtemp(prefix="kyodo-examples-"))
    env = {"DATA_DIR": str(workdir), "BIND_ADDRESS": f"127.0.0.1:{PORT}", "ADMIN_EMAIL": ADMIN[0],
           "ADMIN_PASSWORD": ADMIN[1], "RUST_LOG": "warn", "PATH": "/usr/bin:/bin",
           "SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}", "DISPATCH_INTERVAL_MS": "100"}
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", SMTP_PORT), Smtp)
    __import__("threading").Thread(target=smtp.serve_forever, daemon=True).start()
    service = subprocess.Popen([str(BINARY)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"{BASE}/ready")
        walk()
    finally:
        service.terminate()
        service.wait()
    out = ROOT / "api-spec/examples.json"
    out.write_text(json.dumps(dict(sorted(examples.items())), ensure_ascii=False, indent=2) + "\n")
    print(f"{sum(len(v) for v in examples.values())} examples written to {out}")


if __name__ == "__main__":
    main()
