#!/usr/bin/env python3
"""What PostgreSQL alone can do with the statements behind the two hot lists.

Sets up the benchmark's database as bench/run.py does (a published procurement, a round open now
with 60 answers, an API token) on PostgreSQL, stops the service, and runs each script under
bench/statements/ with `pgbench -M prepared` (8 clients, 2 threads): the statements each list sends
per request, without the service, so nothing but PostgreSQL and pgbench share the machine. Prints
transactions/s (one transaction = one request's statements) beside `SELECT 1`, the protocol's
floor. A list cannot be served faster than PostgreSQL runs its statements here; the service then
needs CPU of its own on the same cores.

The scripts hold the statements as captured from PostgreSQL's log; literal NULLs stand where
the service binds NULL, which lets the planner drop those conditions, so the figures are, if
anything, above what the service's own statements could reach. To capture them again after a
query changes: `ALTER SYSTEM SET log_statement = 'all'` and `SELECT pg_reload_conf()` on a
server nothing else uses, one request of each list against bench/run.py's set-up, the setting
reset the same way, then each statement copied from the server's log (Debian:
/var/log/postgresql/) with its binds written as below.

Usage: bench/statements.py [--seconds 5] [--runs 2]
Needs: pgbench (in Debian's postgresql server package), the release binary as bench/run.py builds it (or
KYODO_BINARY), a server at $BENCH_POSTGRES as bench/run.py takes it.
"""

import argparse
import hashlib
import re
import subprocess
import tempfile
import time
from pathlib import Path

import run

SCRIPTS = Path(__file__).resolve().parent / "statements"


def pgbench(url, script, seconds, variables):
    command = ["pgbench", "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", str(seconds), "-f", str(script)]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if failed and int(failed.group(1)):
        raise SystemExit(f"{script.name}: {failed.group(1)} failed transactions\n{output}")
    return float(re.search(r"tps = ([\d.]+)", output).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    run.build()
    with run.service("postgres", "statements") as (process, base, url, _):
        _, token, round_id, _ = run.setup(base)
        # The service's own connections and background work stay out of the measurement.
        process.terminate()
        process.wait()
        variables = {
            "digest": hashlib.sha256(token.encode()).hexdigest(),
            "now": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "round": round_id,
        }
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as floor:
            floor.write("SELECT 1;\n")
            floor.flush()
            scripts = [("SELECT 1 (the floor)", Path(floor.name))]
            scripts += [(path.stem, path) for path in sorted(SCRIPTS.glob("*.sql"))]
            print(f"pgbench -M prepared -c 8 -j 2 -T {args.seconds}, {args.runs} runs each, transactions/s:")
            for name, script in scripts:
                rates = [pgbench(url, script, args.seconds, variables) for _ in range(args.runs)]
                print(f"  {name:<24} " + "  ".join(f"{rate:>9,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
