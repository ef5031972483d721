"""Prints a workbook the sync wrote as a table in the terminal: python examples/show.py demo/runs.xlsx"""

from __future__ import annotations

import datetime as dt
import sys

import openpyxl

COLUMNS = ["run_id", "run_name", "state", "lr", "optimizer", "epochs", "train/loss", "val/loss", "val/acc"]


def text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def main(path: str) -> None:
    ws = openpyxl.load_workbook(path)["runs"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = [str(h) for h in rows[0]]
    cols = [header.index(c) for c in COLUMNS if c in header]
    table = [[header[c] for c in cols]] + [[text(r[c] if c < len(r) else None) for c in cols] for r in rows[1:]]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for n, row in enumerate(table):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{len(rows) - 1} runs, {len(header)} columns in {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo/runs.xlsx")
