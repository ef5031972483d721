"""CPU cost of the pure merge: N runs x C columns into a sheet that already holds them.

    python bench/merge_cpu.py [--runs 10000] [--columns 100] [--repeat 3]
Prints the median CPU seconds of: a no-change merge, a merge where 1% of runs changed, a first merge.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wandb_sheet_sync.base import Base  # noqa: E402
from wandb_sheet_sync.merge import MergeSettings, apply, merge  # noqa: E402


def rows(n: int, cols: int, seed: int = 0) -> tuple[tuple[str, ...], list[dict]]:
    rng = random.Random(seed)
    headers = ("run_id", "created_at", "updated_at") + tuple(f"k{i}" for i in range(cols - 3))
    out = []
    start = dt.datetime(2026, 1, 1)
    for r in range(n):
        row = {"run_id": f"run{r:07d}", "created_at": start + dt.timedelta(minutes=r),
               "updated_at": start + dt.timedelta(minutes=r + 30)}
        for i, h in enumerate(headers[3:]):
            row[h] = rng.random() if i % 3 else (rng.randint(0, 1000) if i % 2 else f"text-{rng.randint(0, 99)}")
        out.append(row)
    return headers, out


def cpu(fn) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--columns", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    headers, incoming = rows(a.runs, a.columns)
    settings = MergeSettings(headers=headers)
    first_times, same_times, changed_times = [], [], []
    for _ in range(a.repeat):
        t, plan = cpu(lambda: merge([], Base(), incoming, settings))
        first_times.append(t)
        grid, base = apply([], plan), Base.decode(plan.base.encode())  # as a sync reads it back
        t, same = cpu(lambda: merge(grid, base, incoming, settings))
        assert not same.has_changes
        same_times.append(t)
        changed = [dict(r, k1=-1.0) if i % 100 == 0 else r for i, r in enumerate(incoming)]
        t, plan2 = cpu(lambda: merge(grid, base, changed, settings))
        assert plan2.counts.updated == len(incoming) // 100
        changed_times.append(t)
    print(f"merge of {a.runs} runs x {a.columns} columns, median CPU seconds of {a.repeat}:")
    print(f"  first merge (empty sheet) {statistics.median(first_times):.3f}")
    print(f"  no change                 {statistics.median(same_times):.3f}")
    print(f"  1% of runs changed        {statistics.median(changed_times):.3f}")


if __name__ == "__main__":
    main()
