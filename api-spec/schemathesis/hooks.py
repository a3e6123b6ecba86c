"""Schemathesis hooks for the service's own run (loaded by run.py through SCHEMATHESIS_HOOKS)."""

import sys
import uuid

import schemathesis

# Hypothesis describes the strategies of the procurement's nested cost model recursively; Python's
# default limit of 1,000 frames cuts that short with a "recursion depth mismatch" error.
sys.setrecursionlimit(20_000)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # An Idempotency-Key names one request: a client makes a new one for each new request. The
    # generator draws few distinct keys and reuses them for different requests, which the service
    # rightly answers with 422 `idempotency_key_reused` (tests/api/idempotency.rs tests that, and
    # replays). Keep the key the generator drew when it breaks the header's rules (negative tests),
    # else make it unique, as a client would.
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            key = headers[name]
            if isinstance(key, str) and 1 <= len(key) <= 255 and key.isascii() and key.isprintable():
                headers[name] = f"{key[:200]}-{uuid.uuid4()}"
