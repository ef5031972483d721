"""Prints a workbook the sync wrote as tables in the terminal: python examples/show.py demo/runs.xlsx

The runs tab, then the sweeps and groups tabs when the workbook has them (SUMMARIES)."""

from __future__ import annotations

import datetime as dt
import sys

import openpyxl

COLUMNS = ["run_id", "run_name", "state", "lr", "optimizer", "val/loss", "val/loss (min)", "val/loss (curve)",
           "val/acc"]


def text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


TABS = {"runs sweeps": ["sweep_id", "sweep_name", "method", "metric", "goal", "runs", "finished", "failed",
                        "best_run", "best_value", "lr", "seed"],
        "runs groups": ["group", "runs", "finished", "val/loss mean", "val/loss std", "val/acc mean", "val/acc std"]}


def table(ws, columns: list[str]) -> tuple[list[list[str]], int, int]:
    """The sheet's rows as text in these columns (those it has), its row count and its column count."""
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = [str(h) for h in rows[0]]
    cols = [header.index(c) for c in columns if c in header]
    out = [[header[c] for c in cols]] + [[text(r[c] if c < len(r) else None) for c in cols] for r in rows[1:]]
    return out, len(rows) - 1, len(header)


def show(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(path: str) -> None:
    book = openpyxl.load_workbook(path)
    rows, count, width = table(book["runs"], COLUMNS)
    show(rows)
    print(f"\n{count} runs, {width} columns in {path}")
    for title, columns in TABS.items():
        if title in book.sheetnames:
            rows, count, _ = table(book[title], columns)
            print(f"\n{title} ({count} rows):")
            show(rows)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo/runs.xlsx")
