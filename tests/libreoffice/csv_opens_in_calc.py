#!/usr/bin/env python3
"""The allocation CSV, opened by a spreadsheet as a person would open it: LibreOffice Calc converts
it to .xlsx, and the workbook must hold the Japanese headers and names intact (the byte order mark
not left in the first header), money as numbers, and a totals row equal to the contracted total.
Exits non-zero on any difference.

Excel takes the encoding from the byte order mark. LibreOffice's headless import does not sniff it
(7.4 reads the file as Windows-1252 without filter options, whatever the locale), so the import
names UTF-8, comma and double quote, as a person picks them in Calc's import dialog.

Usage: tests/libreoffice/csv_opens_in_calc.py [--binary target/debug/kyodo]
Needs: LibreOffice Calc (apt-get install libreoffice-calc-nogui). Starts the service on a fresh
embedded database, whose demonstration data has a finalized round (電子入札システム, 31 bodies).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORT = 8097
ADMIN = ("calc@pref.nagano.lg.jp", "spreadsheet check passphrase")
HEADERS = ["団体コード", "団体名", "人口", "人口基準日", "年度", "費用区分",
           "均等割", "人口割", "利用割", "固定額", "端数調整", "負担額"]
NS = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def call(base, path, token=None, body=None, raw=False):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                     method="POST" if body else "GET")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        data = response.read()
        return data if raw else json.loads(data)


def column(ref):
    letters = "".join(c for c in ref if c.isalpha())
    n = 0
    for c in letters:
        n = n * 26 + ord(c) - 64
    return n - 1


def read_xlsx(path):
    """Rows of the first sheet as lists of (value, is_number)."""
    with zipfile.ZipFile(path) as book:
        strings = []
        if "xl/sharedStrings.xml" in book.namelist():
            for si in ET.fromstring(book.read("xl/sharedStrings.xml")).findall("s:si", NS):
                strings.append("".join(t.text or "" for t in si.iter(f"{{{NS['s']}}}t")))
        sheet = ET.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{NS['s']}}}row"):
        cells = {}
        for cell in row.findall("s:c", NS):
            value = cell.find("s:v", NS)
            kind = cell.get("t", "n")
            if value is None:
                inline = cell.find("s:is/s:t", NS)
                cells[column(cell.get("r"))] = (inline.text if inline is not None else "", False)
            elif kind == "s":
                cells[column(cell.get("r"))] = (strings[int(value.text)], False)
            elif kind == "n":
                cells[column(cell.get("r"))] = (value.text, True)
            else:
                cells[column(cell.get("r"))] = (value.text, False)
        rows.append([cells.get(i, ("", False)) for i in range(max(cells) + 1 if cells else 0)])
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / "target/debug/kyodo"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kyodo-calc-"))
    env = {**os.environ, "DATA_DIR": str(work / "data"), "BIND_ADDRESS": f"127.0.0.1:{PORT}",
           "ADMIN_EMAIL": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "RUST_LOG": "warn", "LOG_FORMAT": "text",
           "SCHEDULER_INTERVAL_SECONDS": "0"}
    env.pop("DATABASE_URL", None)
    base = f"http://127.0.0.1:{PORT}"
    process = subprocess.Popen([args.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/ready", timeout=1).read()
                break
            except Exception:
                time.sleep(0.1)
        token = call(base, "/api/v1/auth/login", body={"email": ADMIN[0], "password": ADMIN[1]})["access_token"]
        procurements = call(base, "/api/v1/procurements?per_page=200", token)["items"]
        bidding = next(p for p in procurements if p["title"] == "電子入札システム")
        round_id = call(base, f"/api/v1/procurements/{bidding['id']}/rounds", token)[0]["id"]
        allocation = call(base, f"/api/v1/rounds/{round_id}/allocation", token)
        csv_bytes = call(base, f"/api/v1/rounds/{round_id}/allocation?format=csv", token, raw=True)
    finally:
        process.terminate()
        process.wait()

    source = work / "allocation.csv"
    source.write_bytes(csv_bytes)
    subprocess.run(["libreoffice", f"-env:UserInstallation=file://{work}/profile", "--headless",
                    "--infilter=Text - txt - csv (StarCalc):44,34,76,1", "--convert-to", "xlsx",
                    "--outdir", str(work), str(source)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    rows = read_xlsx(work / "allocation.xlsx")
    failures = []
    header = [value for value, _ in rows[0]]
    if header != HEADERS:
        failures.append(f"headers read as {header}")
    body, totals = rows[1:-1], rows[-1]
    expected_rows = sum(len(pool["shares"]) for pool in allocation["pools"])
    if len(body) != expected_rows:
        failures.append(f"{len(body)} rows, expected {expected_rows}")
    names = {value for row in body for value, _ in row[1:2]}
    expected_names = {p["name"] for p in allocation["participants"]}
    if names != expected_names:
        failures.append(f"names read as {sorted(names - expected_names)[:5]}…")
    if any(not row[11][1] for row in body):
        failures.append("a 負担額 cell is not a number")
    if totals[1][0] != "合計":
        failures.append(f"the last row is labelled {totals[1][0]!r}, not 合計")
    total_cell = totals[11]
    if not total_cell[1] or int(float(total_cell[0])) != allocation["total"]:
        failures.append(f"the totals row says {total_cell}, the contracted total is {allocation['total']}")
    if sum(int(float(row[11][0])) for row in body) != allocation["total"]:
        failures.append("the rows do not add up to the contracted total")
    if failures:
        print("FAIL: the CSV does not open as it should in LibreOffice Calc:", *failures, sep="\n  ")
        print(f"  (files in {work})")
        return 1
    print(f"PASS: LibreOffice Calc read {len(body)} rows with Japanese intact; 合計 = ¥{allocation['total']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
