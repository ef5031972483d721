"""Benchmarks: the cost of a sync at 1,000 to 100,000 runs, ours beside the usual script, on one machine.

    python bench/run.py [--runs 1000,10000,100000] [--columns 100] [--repeat 3] [--check] [--json FILE]
                        [--deletions 10000,100000]
    python bench/run.py --history [--runs 1000,10000] [--repeat 1]    # what HISTORY adds (bench/README.md)
    python bench/run.py --page-keys [--keys 2000]    # bytes of a page of 200 runs, every key vs selected keys

The fake Google and W&B servers run in this process; each sync runs in a child process (bench/child.py) so its
CPU seconds and peak RSS are its own. For each size: a first sync into an empty sheet, an incremental sync
where 1% of runs changed, and a no-change sync, each as a `--once` would run it: a fresh child process per sync
of ours (issue 24: the no-change sync after a 100,000-run first sync no longer inherits its heap), whose
imports and clients are built before the measurement window starts; the same three for the baseline (W&B's
documented export idiom with default lazy loading, then the whole sheet rewritten with gspread), which keeps
one process for its three syncs, as before. Medians of --repeat runs.
The fake Google has Google's edges on, the 10 MiB read-answer cap among them (`--max-read-bytes` changes it).
--check exits non-zero when a budget of bench/README.md is missed; issue 24's budgets apply at the size they
name (10,000 x 100 and 100,000 x 90: `--runs 10000,100000 --columns 100`, 100,000 runs get 90 columns).
--deletions measures what finding deleted runs costs (the listing every incremental sync reads) at those sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes import a1  # noqa: E402
from tests.fakes.credentials import write_service_account  # noqa: E402
from tests.fakes.google_api import FakeGoogle  # noqa: E402
from tests.fakes.httpfake import encode_json  # noqa: E402
from tests.fakes.wandb_api import DEFAULT_KEY, FakeWandb  # noqa: E402
from wandb_sheet_sync.config import KEYS  # noqa: E402
from wandb_sheet_sync.sources.wandb_api import LIST_PAGE  # noqa: E402

PHASES = ("first", "changed", "no-change")
REQUEST_BYTES = KEYS["REQUEST_BYTES"].default  # the budget: the default REQUEST_BYTES
FIXED = ["run_id", "run_name", "user", "state", "created_at", "updated_at", "runtime", "tags", "notes"]
MAX_CELLS = 9_000_000  # leave room under Google's 10,000,000 for the base and the baseline's sheet


def cells_written(entry) -> int:
    body = entry.body if isinstance(entry.body, dict) else {}
    if entry.path.endswith(":batchUpdate"):
        n = 0
        for req in body.get("requests", []):
            for kind in ("updateCells", "appendCells"):
                if kind in req:
                    n += sum(len(r.get("values", [])) for r in req[kind].get("rows", []))
        return n
    if entry.method in ("PUT", "POST") and "values" in body:
        return sum(len(r) for r in body.get("values") or [])
    return 0


def is_values_read(entry) -> bool:
    """A Sheets read of cell values (values.get, values:batchGet, values:batchGetByDataFilter, spreadsheets.get with
    grid data), as opposed to the metadata read that opens the spreadsheet (its sheets, protections, rules)."""
    if not entry.is_sheets_read:
        return False
    if "/values" in entry.path:
        return True
    grid = entry.query.get("includeGridData", ["false"])[-1].lower() == "true"
    return grid or "data" in entry.query.get("fields", [""])[-1]


def full_read_bytes(google, ss) -> int:
    """The sheet's bytes: what one values:batchGet of every worksheet of the spreadsheet (the runs tab and its
    hidden base; the lease adds no tab) would answer, typed as the tool reads it and encoded as the tool asks for
    it (compact JSON, prettyPrint=false: the pretty-printed answer Google sends by default is about twice that, so
    this is the stricter yardstick). Built from the fake's model in this process, not asked over HTTP: a single
    answer that size is what the fake, like Google, refuses."""
    with google.world.lock:
        payload = {"spreadsheetId": ss.spreadsheet_id, "valueRanges": [
            ss.values_get(a1.quote_title(s.title), "UNFORMATTED_VALUE", "SERIAL_NUMBER") for s in ss.sheets]}
        return len(encode_json(payload, None))


def start_child(cfg: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "child.py"), str(cfg)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop_child(child: subprocess.Popen) -> None:
    child.stdin.close()
    child.wait(timeout=60)


def measure(size: int, columns: int, baseline_max: int, workdir: Path, profile: str | None = None,
            extra_config: dict | None = None, history_rows: int = 0, max_read_bytes: int | None = None) -> dict:
    """One repetition at one size: every phase of ours (each in a fresh process), then of the baseline (one
    process for its three)."""
    results: dict = {}
    with FakeGoogle() as google, FakeWandb() as wandb_fake:
        google.world.validate = False  # schema checks belong to the tests; here they would only cost time
        if max_read_bytes is not None:
            google.world.max_read_bytes = max_read_bytes
        key_file = workdir / "sa.json"
        google.register_service_account(write_service_account(key_file, google.token_uri))
        ours_sheet = google.world.add_spreadsheet("bench ours", rows=1, cols=1)
        base_sheet = google.world.add_spreadsheet("bench baseline", rows=1, cols=1)
        config_keys = max(4, (columns - len(FIXED)) // 2 - 1)
        summary_keys = max(4, columns - len(FIXED) - config_keys - 1)
        wandb_fake.world.generate(size, config_keys=config_keys, summary_keys=summary_keys, history_rows=history_rows)
        cfg = workdir / "config.json"
        cfg.write_text(json.dumps({"SPREADSHEET": ours_sheet.spreadsheet_id, "WORKSHEET": "runs",
                                   "WANDB_ENTITY": "alice", "WANDB_PROJECT": "proj", "FIXED_HEADERS": FIXED,
                                   "PER_PAGE": 1000, "MAX_COLUMNS": 18_000, "TIMEZONE": "UTC",
                                   "REQUEST_TIMEOUT": 600, "WANDB_PACE_SECONDS": 0} | (extra_config or {})))
        env = dict(os.environ, WANDB_BASE_URL=wandb_fake.url, WANDB_API_KEY=DEFAULT_KEY, GCP_JSON=str(key_file),
                   GOOGLE_API_ENDPOINT=google.url, BENCH_BASELINE_SHEET=base_sheet.spreadsheet_id,
                   WANDB_DIR=str(workdir), WANDB_SILENT="true", WANDB_ERROR_REPORTING="false",
                   NO_GCE_CHECK="True", GCE_METADATA_HOST="127.0.0.1:9", BENCH_PROFILE="1" if profile else "")
        impls = ["ours"] + (["baseline"] if size <= baseline_max else [])
        runs = wandb_fake.world.project("alice", "proj")
        sheet_bytes = 0
        for impl in impls:
            shared = start_child(cfg, env) if impl == "baseline" else None
            try:
                for phase in PHASES:
                    if phase == "changed":
                        latest = max(r.heartbeat_at for r in runs)
                        for run in runs[:: 100]:  # 1% of the runs finish a step
                            run.summary["loss"] = run.summary["loss"] / 2
                            run.heartbeat_at = latest + dt.timedelta(minutes=5)
                    google.world.clear_log()
                    google.world.largest_read_bytes = 0
                    wandb_fake.world.clear_log()
                    child = shared or start_child(cfg, env)  # ours: a fresh process, as a --once
                    try:
                        child.stdin.write(json.dumps({"impl": impl}) + "\n")
                        child.stdin.flush()
                        out = json.loads(child.stdout.readline())
                    finally:
                        if shared is None:
                            stop_child(child)
                    text = out.pop("profile", None)
                    if text and profile:
                        Path(profile).mkdir(parents=True, exist_ok=True)
                        (Path(profile) / f"{impl}-{size}-{phase}.txt").write_text(text)
                    if impl == "ours" and phase == "first":
                        sheet_bytes = full_read_bytes(google, ours_sheet)  # once per size, after the first sync
                    sheets = [r for r in google.world.log if r.is_sheets]
                    reads = [r for r in sheets if r.is_sheets_read]
                    ops = wandb_fake.world.operations()
                    out.update(
                        sheets_requests=len(sheets), sheets_reads=len(reads),
                        sheets_values_reads=sum(is_values_read(r) for r in reads),
                        sheets_meta_reads=sum(not is_values_read(r) for r in reads),
                        sheets_reads_refused=sum(r.status == 503 for r in reads),
                        sheets_writes=sum(r.is_sheets_write for r in sheets),
                        largest_request=max((r.bytes_in for r in sheets), default=0),
                        largest_read=google.world.largest_read_bytes,  # built, refused or not
                        write_bytes=sum(r.bytes_in for r in sheets if r.is_sheets_write),
                        sheets_bytes_received=sum(r.bytes_out for r in sheets),
                        cells_read=sum(r.cells_read for r in reads),
                        sheet_bytes=sheet_bytes if impl == "ours" else 0,
                        wandb_requests=len(ops), wandb_pages=ops.count("Runs"), wandb_per_run=ops.count("Run"),
                        wandb_bytes=sum(r.bytes_out for r in wandb_fake.world.log),
                        cells_written=sum(cells_written(r) for r in google.world.log),
                        bytes_sent=sum(r.bytes_in for r in google.world.log + wandb_fake.world.log),
                        bytes_received=sum(r.bytes_out for r in google.world.log + wandb_fake.world.log),
                        page_bytes=max((r.bytes_out for r in wandb_fake.world.log
                                        if "query Runs" in (r.body or {}).get("query", "")), default=0))
                    out["bytes_per_cell"] = out["write_bytes"] / out["cells_written"] if out["cells_written"] else 0
                    results[(impl, phase)] = out
            finally:
                if shared is not None:
                    stop_child(shared)
    return results


def help_seconds(repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--help"], capture_output=True,
                       check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_results(reps: list[dict]) -> dict:
    out = {}
    for key in reps[0]:
        rows = [r[key] for r in reps if key in r]
        merged = {}
        for metric in rows[0]:
            values = [r[metric] for r in rows]
            merged[metric] = statistics.median(values) if all(isinstance(v, (int, float)) and
                                                              not isinstance(v, bool) for v in values) else values[0]
        out[key] = merged
    return out


METRICS = [("wall s", "wall", "{:.2f}"), ("CPU s", "cpu", "{:.2f}"), ("peak RSS MB", "rss_mb", "{:.0f}"),
           ("Sheets req", "sheets_requests", "{:.0f}"), ("writes", "sheets_writes", "{:.0f}"),
           ("largest req MB", "largest_request", "{:.2f}"), ("bytes / cell", "bytes_per_cell", "{:.0f}"),
           ("W&B req", "wandb_requests", "{:.0f}"), ("W&B pages", "wandb_pages", "{:.0f}"),
           ("W&B MB", "wandb_bytes", "{:.2f}"),
           ("cells written", "cells_written", "{:,.0f}"), ("MB sent", "bytes_sent", "{:.1f}"),
           ("MB received", "bytes_received", "{:.1f}"), ("Sheets MB received", "sheets_bytes_received", "{:.2f}"),
           ("values reads", "sheets_values_reads", "{:.0f}"), ("cells read", "cells_read", "{:,.0f}"),
           ("reads refused", "sheets_reads_refused", "{:.0f}")]
MB_KEYS = ("bytes_sent", "bytes_received", "largest_request", "wandb_bytes", "sheets_bytes_received")


def table(all_results: dict) -> str:
    lines = ["| runs x cols | sync | impl | " + " | ".join(m[0] for m in METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for (size, cols), res in all_results.items():
        for phase in PHASES:
            for impl in ("ours", "baseline"):
                r = res.get((impl, phase))
                if r is None:
                    continue
                cells = []
                for _, key, fmt in METRICS:
                    v = r[key] / 1e6 if key in MB_KEYS else r[key]
                    cells.append(fmt.format(v))
                label = "baseline" if impl == "baseline" else "**ours**"
                if r.get("error"):
                    label += f" (failed: {r['error'][:60]})"
                lines.append(f"| {size:,} x {cols} | {phase} | {label} | " + " | ".join(cells) + " |")
            ours, base = res.get(("ours", phase)), res.get(("baseline", phase))
            if ours and base:
                ratios = []
                for _, key, _fmt in METRICS:
                    ratios.append(f"{base[key] / ours[key]:.1f}x" if ours[key] else ("=" if not base[key] else "∞"))
                lines.append(f"| | {phase} | baseline / ours | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


# Issue 24's budgets, each at the size it names (runs, and at least that many columns: a narrower sheet would make
# it too easy). MB are 1,000,000 bytes, as everywhere in this bench.
NO_CHANGE_BUDGETS = {  # (runs, columns): Sheets bytes received, W&B pages (None: the general rule), CPU s, peak RSS MB
    (10_000, 100): (1_000_000, 2, 0.3, 150),
    (100_000, 90): (1_000_000, None, 0.5, 200),
}
CHANGED_BUDGETS = {(100_000, 90): (0.05, 1.0)}  # share of the sheet's bytes received, CPU s
FIRST_PEAK_MB = {(100_000, 90): 400}
FLAT_FROM, FLAT_TO, FLAT_SLOPE = 10_000, 100_000, 15.0  # "flat": at most 15 MB of first-sync peak per 10,000 runs
# Reading by need (issue 24), a changed sync reads values 4 times: the head (header row + the base's head), the key
# columns, the rows it will write, check or adopt, and the check just before the write.
CHANGED_VALUES_READS = 4


def named(size: int, cols: int, table: dict):
    """The budget `table` names for this size, if the measured sheet is at least as wide as it says."""
    return next((v for (runs, wide), v in table.items() if size == runs and cols >= wide), None)


def check(all_results: dict, help_s: float) -> list[str]:
    """The budgets of bench/README.md; each miss is one line."""
    misses = []
    for (size, cols), res in all_results.items():
        first, changed, quiet = (res[("ours", p)] for p in PHASES)
        for name, r in (("first", first), ("changed", changed), ("no-change", quiet)):
            if r.get("error"):
                misses.append(f"{size} runs: the {name} sync failed: {r['error']}")
            if r["wandb_per_run"]:
                misses.append(f"{size} runs: the {name} sync made {r['wandb_per_run']} per-run W&B requests")
            if r["sheets_reads_refused"]:
                misses.append(f"{size} runs: the {name} sync had {r['sheets_reads_refused']} reads refused (an answer "
                              f"over the fake's read cap, as Google's 503; largest {r['largest_read']:,} bytes)")
        for name, r in (("first", first), ("changed", changed)):
            if r["largest_request"] > REQUEST_BYTES:
                misses.append(f"{size} runs: a {name}-sync request of {r['largest_request']:,} bytes "
                              f"(budget {REQUEST_BYTES:,})")
        # The write lease (issue 23, sinks/google_lease.py) costs every sync that writes two batchUpdates more: one
        # to take it before the check, one to give it back after the last write (renewing it rides on the data
        # writes, at no request). Measured at 1,000 x 100: first sync 5 writes (3 data + 2 lease), changed 3 (1 + 2).
        # Every sync is a fresh process (a --once), so each opens the spreadsheet with one metadata read.
        lease = 2
        writes_needed = -(-first["write_bytes"] // (REQUEST_BYTES * 3 // 4))  # chunks at least 3/4 full
        # A first sync streams (issue 24): each W&B page is written as it arrives, and every page after the first is
        # checked before its write (one small read: the header, the rows it fills), so reads = 1 + pages - 1.
        first_reads = 1 + max(first["wandb_pages"] - 1, 0)
        if first["sheets_writes"] > max(1, writes_needed) + lease or first["sheets_reads"] > first_reads:
            misses.append(f"{size} runs: first sync made {first['sheets_reads']} reads and {first['sheets_writes']} "
                          f"writes for {first['write_bytes']:,} bytes (budget {first_reads} reads: the metadata that "
                          f"opens the spreadsheet and a check before each page's write after the first; "
                          f"{max(1, writes_needed)} writes + {lease} for the lease)")
        if changed["sheets_values_reads"] > CHANGED_VALUES_READS or changed["sheets_meta_reads"] > 1 \
                or changed["sheets_writes"] > 1 + lease:
            misses.append(f"{size} runs: changed sync made {changed['sheets_values_reads']} values reads, "
                          f"{changed['sheets_meta_reads']} metadata reads and {changed['sheets_writes']} writes "
                          f"(budget {CHANGED_VALUES_READS} values reads: the head, the key columns, the rows, the "
                          f"check; 1 metadata read; 1 write + {lease} for the lease: take, give back)")
        if quiet["sheets_values_reads"] > 1 or quiet["sheets_meta_reads"] > 1 or quiet["sheets_writes"]:
            misses.append(f"{size} runs: no-change sync made {quiet['sheets_values_reads']} values reads, "
                          f"{quiet['sheets_meta_reads']} metadata reads and {quiet['sheets_writes']} writes (budget "
                          "1 values read, 1 metadata read that opens the spreadsheet, no write)")
        listing = -(-size // LIST_PAGE)
        if size // 100 <= 1000 and changed["wandb_pages"] > listing + 1:
            misses.append(f"{size} runs: incremental sync read {changed['wandb_pages']} W&B pages (budget "
                          f"{listing + 1}: the listing and one page of changed runs)")
        quiet_budget = named(size, cols, NO_CHANGE_BUDGETS)
        pages = quiet_budget[1] if quiet_budget and quiet_budget[1] is not None else listing + 1
        if quiet["wandb_pages"] > pages:
            misses.append(f"{size} runs: no-change sync read {quiet['wandb_pages']} W&B pages (budget {pages})")
        if quiet_budget:
            mb, _, cpu, rss = quiet_budget
            if quiet["sheets_bytes_received"] > mb:
                misses.append(f"no-change sync of {size:,} x {cols}: {quiet['sheets_bytes_received'] / 1e6:.2f} Sheets "
                              f"MB received (budget {mb / 1e6:g})")
            if quiet["cpu"] > cpu:
                misses.append(f"no-change sync of {size:,} x {cols}: {quiet['cpu']:.2f} s CPU (budget {cpu})")
            if quiet["rss_mb"] > rss:
                misses.append(f"no-change sync of {size:,} x {cols}: {quiet['rss_mb']:.0f} MB peak RSS (budget {rss})")
        changed_budget = named(size, cols, CHANGED_BUDGETS)
        if changed_budget:
            share, cpu = changed_budget
            if changed["sheets_bytes_received"] > share * changed["sheet_bytes"]:
                misses.append(f"1%-changed sync of {size:,} x {cols}: {changed['sheets_bytes_received'] / 1e6:.2f} "
                              f"Sheets MB received (budget {share:.0%} of the sheet's "
                              f"{changed['sheet_bytes'] / 1e6:.1f} MB)")
            if changed["cpu"] > cpu:
                misses.append(f"1%-changed sync of {size:,} x {cols}: {changed['cpu']:.2f} s CPU (budget {cpu})")
        peak = named(size, cols, FIRST_PEAK_MB)
        if peak and first["rss_mb"] > peak:
            misses.append(f"first sync of {size:,} x {cols}: {first['rss_mb']:.0f} MB peak RSS (budget {peak})")
        if size == 10_000 and cols >= 100 and not quiet.get("error") and first["rss_mb"] > quiet["rss_mb"] + 100:
            misses.append(f"{size} runs: first sync peak RSS {first['rss_mb']:.0f} MB, more than the no-change "
                          f"sync's {quiet['rss_mb']:.0f} MB + 100")
    per = first_sync_slope(all_results)
    if per is not None and per > FLAT_SLOPE:
        misses.append(f"first-sync peak RSS grows {per:.1f} MB per 10,000 runs from {FLAT_FROM:,} to {FLAT_TO:,} runs "
                      f"(budget {FLAT_SLOPE:g}: flat)")
    if help_s >= 0.5:
        misses.append(f"--help took {help_s:.2f} s (budget 0.5)")
    return misses


def first_sync_slope(all_results: dict) -> float | None:
    """MB of first-sync peak RSS per 10,000 runs from FLAT_FROM to FLAT_TO runs; None unless both were measured."""
    peaks = {size: res[("ours", "first")]["rss_mb"] for (size, _), res in all_results.items()}
    if FLAT_FROM not in peaks or FLAT_TO not in peaks:
        return None
    return (peaks[FLAT_TO] - peaks[FLAT_FROM]) / ((FLAT_TO - FLAT_FROM) / 10_000)


def deletion_cost(size: int) -> dict:
    """What finding deleted runs costs at this size: the listing an incremental sync reads anyway (ids, stamps and
    the fields people edit), beside a listing of ids alone, as W&B's fake answers them (compact JSON)."""
    import requests

    from wandb_sheet_sync.sources.wandb_api import LIST_FIELDS, runs_query

    out = {"runs": size}
    with FakeWandb() as wandb_fake:
        wandb_fake.world.generate(size, config_keys=4, summary_keys=4)
        for name, fields in (("listing", LIST_FIELDS), ("ids only", "name")):
            wandb_fake.world.clear_log()
            variables = {"entity": "alice", "project": "proj", "perPage": LIST_PAGE, "order": "+created_at",
                         "filters": "{}", "cursor": None}
            while True:
                body = requests.post(wandb_fake.url + "/graphql", auth=("api", DEFAULT_KEY), timeout=600, json={
                    "query": runs_query(fields=fields), "variables": variables}).json()
                block = body["data"]["project"]["runs"]
                if not block["pageInfo"]["hasNextPage"]:
                    break
                variables["cursor"] = block["pageInfo"]["endCursor"]
            log = wandb_fake.world.log
            out[name] = {"requests": len(log), "mb": sum(r.bytes_out for r in log) / 1e6,
                         "bytes_per_run": sum(r.bytes_out for r in log) / size}
    return out


def slope(all_results: dict) -> str:
    points = sorted((size, res[("ours", "first")]["rss_mb"]) for (size, _), res in all_results.items())
    if len(points) < 2:
        return "memory slope: needs two sizes"
    (s1, m1), (s2, m2) = points[0], points[-1]
    per = (m2 - m1) / ((s2 - s1) / 10_000)
    line = (f"memory: first-sync peak RSS {m1:.0f} MB at {s1:,} runs, {m2:.0f} MB at {s2:,} runs: "
            f"{per:.1f} MB per 10,000 runs")
    flat = first_sync_slope(all_results)
    if flat is not None:
        line += (f"; from {FLAT_FROM:,} to {FLAT_TO:,}: {flat:.1f} MB per 10,000 runs ("
                 f"{'flat' if flat <= FLAT_SLOPE else 'not flat'}: flat is at most {FLAT_SLOPE:g})")
    return line


# ---- what HISTORY adds (--history) ------------------------------------------------------------------------

HISTORY_CONFIG = {"HISTORY": {"val_loss": "min", "val_acc": "max"}, "HISTORY_STEPS": True, "CURVES": ["val_loss"]}
HISTORY_ROWS = 500  # rows each generated run logged


def page_bytes_by_samples(per_page: int, samples: tuple[int, ...] = (0, 12, 50, 200)) -> dict[int, int]:
    """Bytes of one Runs page of per_page runs, for each samples count (0: no history), with the query the tool
    sends; counted as compact JSON (the fake indents its answers as Google does; W&B's server does not)."""
    import requests

    from wandb_sheet_sync.sources.history import selection
    from wandb_sheet_sync.sources.wandb_api import runs_query

    out = {}
    with FakeWandb() as wandb_fake:
        wandb_fake.world.history_row_limit = 10**9  # the cost, not the refusal, is measured here
        wandb_fake.world.generate(per_page, history_rows=HISTORY_ROWS)
        for n in samples:
            body = {"query": runs_query(extra=selection(("val_loss", "val_acc"), n)),
                    "variables": {"entity": "alice", "project": "proj", "perPage": per_page}}
            answer = requests.post(wandb_fake.url + "/graphql", json=body, auth=("api", DEFAULT_KEY), timeout=600)
            answer.raise_for_status()
            out[n] = len(json.dumps(answer.json(), separators=(",", ":")))  # compact, as W&B's server sends it
    return out


def history_report(sizes: list[int], columns: int, repeat: int) -> str:
    lines = ["### Bytes of one W&B page (HISTORY of 2 metrics, runs that logged 500 rows each; compact JSON)", "",
             "| runs per page | samples per metric | page bytes | added bytes per run |", "|---|---|---|---|"]
    for per_page in (200, 1000):
        pages = page_bytes_by_samples(per_page)
        for n, size in pages.items():
            lines.append(f"| {per_page} | {n or 'no HISTORY'} | {size:,} | "
                         f"{(size - pages[0]) / per_page:,.0f} |")
    lines += ["", "### Per sync (config: " + json.dumps(HISTORY_CONFIG) + "; PER_PAGE 1000; W&B bytes as the "
              "fake sends them, indented)", "",
              "| runs x cols | sync | HISTORY | W&B req | W&B MB received | largest W&B page MB | Sheets writes | "
              "cells written | Sheets MB sent | CPU s | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        cols = min(columns, MAX_CELLS // size)
        for label, extra in (("off", {}), ("on", HISTORY_CONFIG)):
            reps = []
            for _ in range(repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    reps.append(measure(size, cols, 0, Path(tmp), extra_config=extra, history_rows=HISTORY_ROWS))
            res = median_results(reps)
            for phase in PHASES:
                r = res[("ours", phase)]
                lines.append(f"| {size:,} x {cols} | {phase} | {label} | {r['wandb_requests']:.0f} | "
                             f"{r['wandb_bytes'] / 1e6:.2f} | {r['page_bytes'] / 1e6:.2f} | {r['sheets_writes']:.0f} | "
                             f"{r['cells_written']:,.0f} | {r['write_bytes'] / 1e6:.2f} | {r['cpu']:.2f} | "
                             f"{r['rss_mb']:.0f} |")
            print(f"  {size:,} runs, HISTORY {label}: done", file=sys.stderr, flush=True)
    return "\n".join(lines)


# ---- bytes of one page with many keys (--page-keys) --------------------------------------------------------------

PAGE_KEY_CONFIGS = (("every key (`DYNAMIC_HEADERS: true`)", True),
                    ('`DYNAMIC_HEADERS: {"include": ["val/*"]}`', {"include": ["val/*"]}),
                    ('`DYNAMIC_HEADERS: {"exclude": ["metric_*", "param_*"]}`', {"exclude": ["metric_*", "param_*"]}),
                    ("`DYNAMIC_HEADERS: false` (8 columns)", False))


def page_key_bytes(keys: int, runs: int = 200) -> list[dict]:
    """A page of `runs` live runs with `keys` summary keys (10 of them val/*), synced by the tool (`--once
    --output x.csv`, a fresh process each time): the full read, then a sync after every run heartbeated (a
    running run, read by id). Before this change a glob config read that page with every key; now with the keys
    a full read learned."""
    out = []
    with FakeWandb() as wandb_fake, tempfile.TemporaryDirectory() as tmp:
        world = wandb_fake.world
        for run in world.generate(runs, config_keys=8, summary_keys=keys - 6):
            run.state = "running"
            run.summary.update({f"val/m{k}": k / 10 for k in range(10)})
        names = [r.name for r in world.project("alice", "proj")]
        env = dict(os.environ, WANDB_BASE_URL=wandb_fake.url, WANDB_API_KEY=DEFAULT_KEY, WANDB_DIR=tmp,
                   WANDB_SILENT="true", WANDB_ERROR_REPORTING="false")
        for n, (label, dynamic) in enumerate(PAGE_KEY_CONFIGS):
            cfg = Path(tmp) / f"config{n}.json"
            cfg.write_text(json.dumps({"WANDB_ENTITY": "alice", "WANDB_PROJECT": "proj", "PER_PAGE": runs,
                                       "DYNAMIC_HEADERS": dynamic, "MAX_COLUMNS": 18_000, "TIMEZONE": "UTC",
                                       "FIXED_HEADERS": ["run_id", "state", "lr", "loss", "val_loss", "accuracy",
                                                         "val/m0", "val/m1"], "WANDB_PACE_SECONDS": 0}))
            sizes = []
            for beat in (False, True):
                if beat:
                    world.heartbeat(names, **{"val/m0": n})
                world.clear_log()
                subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--config_path",
                                str(cfg), "--output", str(Path(tmp) / f"runs{n}.csv")], env=env, check=True,
                               capture_output=True)
                pages = [r.bytes_out for r in world.log if "summaryMetrics" in (r.body or {}).get("query", "")]
                sizes.append((max(pages), sum(r.bytes_out for r in world.log)))
            out.append({"config": label, "full_page": sizes[0][0], "heartbeat_page": sizes[1][0],
                        "heartbeat_sync": sizes[1][1]})
    return out


def page_keys_report(keys: int) -> str:
    lines = [f"### A page of 200 running runs x {keys:,} summary keys (W&B bytes, compact JSON)", "",
             "| config | full read page | page after a heartbeat | whole sync after a heartbeat |",
             "|---|---|---|---|"]
    for r in page_key_bytes(keys):
        lines.append(f"| {r['config']} | {r['full_page'] / 1e6:.2f} MB | {r['heartbeat_page'] / 1e6:.3f} MB | "
                     f"{r['heartbeat_sync'] / 1e6:.3f} MB |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="1000,10000,100000")
    p.add_argument("--columns", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--baseline-max", type=int, default=10_000,
                   help="largest size the baseline runs at (it makes one W&B request per run)")
    p.add_argument("--check", action="store_true")
    p.add_argument("--max-read-bytes", type=int, default=None,
                   help="the fake Google's cap on one read answer (default: the fake's, 10,485,760, as Google's 503 "
                        "for a too-large read; a large number measures a product that still reads whole sheets)")
    p.add_argument("--profile", help="write cProfile output of every sync of ours to this folder")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    p.add_argument("--history", action="store_true", help="measure what HISTORY adds per W&B page and per sync")
    p.add_argument("--deletions", default="10000,100000",
                   help="sizes at which to measure what finding deleted runs costs ('' for none)")
    p.add_argument("--page-keys", action="store_true",
                   help="bytes of a page of 200 runs with --keys summary keys, every key vs selected keys")
    p.add_argument("--keys", type=int, default=2000)
    a = p.parse_args()
    if a.page_keys:
        print(page_keys_report(a.keys))
        return 0
    if a.history:
        print(history_report([int(x) for x in a.runs.split(",")], a.columns, a.repeat))
        return 0
    all_results: dict = {}
    for size in [int(x) for x in a.runs.split(",")]:
        cols = min(a.columns, MAX_CELLS // size)
        reps = []
        for i in range(a.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                reps.append(measure(size, cols, a.baseline_max, Path(tmp), a.profile,
                                    max_read_bytes=a.max_read_bytes))
                print(f"  {size:,} runs x {cols} columns, repetition {i + 1}/{a.repeat}: "
                      f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        all_results[(size, cols)] = median_results(reps)
    help_s = help_seconds()
    print(table(all_results))
    print(f"\n`wandb_spreadsheet_sync.py --help`: {help_s:.2f} s (median of 5)")
    print(slope(all_results))
    deletions = [deletion_cost(int(x)) for x in a.deletions.split(",") if x]
    for d in deletions:
        print(f"finding deleted runs at {d['runs']:,} runs: " + "; ".join(
            f"{name}: {d[name]['requests']} requests, {d[name]['mb']:.2f} MB ({d[name]['bytes_per_run']:.0f} bytes "
            "a run)" for name in ("listing", "ids only")))
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"help_seconds": help_s, "deletions": deletions,
                               "first_sync_mb_per_10000_runs": first_sync_slope(all_results), "results": [
        {"runs": size, "columns": cols, "impl": impl, "phase": phase, **metrics}
        for (size, cols), res in all_results.items() for (impl, phase), metrics in res.items()]}, indent=1))
    print(f"\nJSON: {out}")
    if a.check:
        misses = check(all_results, help_s)
        for miss in misses:
            print("BUDGET MISSED: " + miss)
        if misses:
            return 1
        print("all budgets hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
