"""Schemathesis hooks for the service's own run (loaded by run.py through SCHEMATHESIS_HOOKS)."""

import sys
import uuid

import schemathesis

import hypothesis.internal.lambda_sources as lambda_sources

# Hypothesis describes the strategies of the procurement's nested cost model recursively, and to
# name a filter it parses the filter's source; deep in that recursion CPython 3.11's parser fails
# with "SystemError: AST constructor recursion depth mismatch" (a CPython bug, not a failure of the
# service), which schemathesis reports as an error of POST /procurements. A name is only for
# messages: fall back to Hypothesis's own "unknown" one.
sys.setrecursionlimit(20_000)
_describe = lambda_sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except (SystemError, RecursionError):
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description


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
