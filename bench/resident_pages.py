#!/usr/bin/env python3
"""Which of the binary's own pages are resident once the service is ready, by crate; two builds compared.

Starts each release binary on a fresh SQLite data directory, waits for /ready, reads which pages of
the binary's mappings are present (/proc/PID/pagemap, bit 63; needs root) and names each page by
the symbol it holds (`nm -n -C`), counted by the first segment of the symbol's path (the crate).
Prints the resident KiB of each build and the crates whose resident pages grew or shrank most.
A difference in crates the change between the builds never runs at start says it is where the
linker placed the code, not what the change does.

Usage: bench/resident_pages.py BASE_BINARY OTHER_BINARY [--top 15]
"""

import argparse
import bisect
import collections
import os
import struct
import subprocess
import tempfile
import time
import urllib.request

PORT = 8097
PAGE = 4096


def resident_by_crate(binary):
    binary = os.path.realpath(binary)
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, DATA_DIR=data, BIND_ADDRESS=f"127.0.0.1:{PORT}", RUST_LOG="warn")
        env.pop("DATABASE_URL", None)
        service = subprocess.Popen(
            [binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/ready")
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise SystemExit(f"{binary} did not get ready")
            time.sleep(0.5)
            mappings = [line.split() for line in open(f"/proc/{service.pid}/maps")]
            mine = [m for m in mappings if len(m) >= 6 and m[5] == binary]
            load = min(int(m[0].split("-")[0], 16) for m in mine)
            present = []
            with open(f"/proc/{service.pid}/pagemap", "rb") as pagemap:
                for m in mine:
                    low, high = (int(x, 16) for x in m[0].split("-"))
                    pagemap.seek(low // PAGE * 8)
                    entries = pagemap.read((high - low) // PAGE * 8)
                    for i in range(len(entries) // 8):
                        (entry,) = struct.unpack_from("<Q", entries, i * 8)
                        if entry >> 63 & 1:
                            present.append(low + i * PAGE - load)
        finally:
            service.kill()
            service.wait()
    symbols = []
    listing = subprocess.run(
        ["nm", "-n", "--defined-only", "-C", binary], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            symbols.append((int(parts[0], 16), parts[2]))
    addresses = [address for address, _ in symbols]
    by_crate = collections.Counter()
    for page in present:
        i = bisect.bisect_right(addresses, page) - 1
        name = symbols[i][1] if i >= 0 else "?"
        by_crate[name.lstrip("<&").removeprefix("mut ").split("::")[0].split("<")[0]] += PAGE // 1024
    return by_crate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("other")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    base, other = resident_by_crate(args.base), resident_by_crate(args.other)
    print(f"resident pages of the binary: base {sum(base.values())} KiB, other {sum(other.values())} KiB")
    change = sorted((other[c] - base[c], c) for c in set(base) | set(other))
    print("grew most:")
    for kib, crate in reversed(change[-args.top:]):
        if kib > 0:
            print(f"  {kib:+6d} KiB  {crate}")
    print("shrank most:")
    for kib, crate in change[: args.top]:
        if kib < 0:
            print(f"  {kib:+6d} KiB  {crate}")


if __name__ == "__main__":
    main()
