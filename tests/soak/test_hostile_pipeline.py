"""The whole pipeline on hostile runs (tests/fakes/hostile_runs.py), through the real CLI into the Google fake, .xlsx
and .csv, with a person editing between syncs. After every sync: exit 0, no traceback, every run exactly once, the
next sync writes nothing, the person's edit kept, the runs added since arrive, and every value of every run is in
a cell of its row (as the sink holds it) or named in a warning. NaN and +-inf are empty cells by design.

HOSTILE_SEED picks the runs. 2 rounds by default, 12 with --soak.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from wandb_sheet_sync.columns import clean
from wandb_sheet_sync.sinks.local import csv_text, xlsx_value
from tests.fakes.hostile_runs import hostile_config, leaves
from tests.fakes.offline_runs import RunSpec, make_runs
from tests.local.test_files import by_id, read, write_grid

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("HOSTILE_SEED", "2206"))
FIXED = ["run_id", "run_name", "state", "notes"]
RUNS_PER_ROUND = 3
MAX_COLUMNS = 2_000  # room for the run of 1,200 keys: the cap's own warning is tested in test_hostile_input.py


@pytest.fixture
def rounds(request) -> int:
    return 12 if request.config.getoption("--soak") else 2


def _norm(value):
    """A cell compared as a person reads it: numbers to 15 digits, text as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        return float(f"{value:.15g}")
    return value


def expected_cells(config: dict, summary: dict, form) -> Counter:
    """Every value of the run as its cell should hold it (empty ones left out: they have no cell to find)."""
    out: Counter = Counter()
    for _, value in leaves(config) + leaves(summary):
        cell = clean(value, dt.timezone.utc)
        if cell is None or cell == "":
            continue
        out[_norm(form(cell))] += 1
    return out


def missing_values(row: dict, config: dict, summary: dict, form, edited: list) -> Counter:
    """The run's values not found in any cell of its row (a cell a person edited stands for what it held)."""
    found = Counter(_norm(v) for h, v in row.items() if h not in FIXED and v not in (None, ""))
    for held in edited:
        found[_norm(held)] += 1
    return expected_cells(config, summary, form) - found


class World:
    """The runs W&B has: id -> (config, summary), and what a person did."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.runs: dict[str, tuple[dict, dict]] = {}
        self.edits: dict[str, dict[tuple[str, str], object]] = {}  # sink -> (run id, header) -> typed text
        self.was: dict[str, dict[str, list]] = {}  # sink -> run id -> what the edited cells held before
        self.wide: set[str] = set()

    def new_runs(self, round_no: int, wide: bool) -> list[tuple[str, dict, dict]]:
        out = []
        for i in range(RUNS_PER_ROUND):
            rid = f"h{round_no:03d}{i:02d}{self.rng.randrange(10**4):04d}"
            config, summary = hostile_config(self.rng, wide=wide and i == 0)
            if wide and i == 0:
                self.wide.add(rid)
            self.runs[rid] = (config, summary)
            out.append((rid, config, summary))
        return out

    def edit(self, sink: str, rows: dict[str, dict]) -> tuple[str, str, object] | None:
        """A person types into one managed cell of one run; returns (run id, header, what it held)."""
        rid = self.rng.choice(sorted(rows))
        headers = sorted(h for h, v in rows[rid].items() if h not in FIXED and v not in (None, ""))
        if not headers:
            return None
        header = self.rng.choice(headers)
        typed = f"typed by a person {self.rng.randrange(10**6)}"
        self.edits.setdefault(sink, {})[(rid, header)] = typed
        self.was.setdefault(sink, {}).setdefault(rid, []).append(rows[rid][header])
        return rid, header, typed


def check(world: World, sink: str, rows: dict[str, dict], result, form) -> None:
    assert result.returncode == 0, f"seed {SEED}: {result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr + result.stdout
    assert set(rows) == set(world.runs), f"seed {SEED}: runs missing {set(world.runs) - set(rows)}"
    for (rid, header), typed in world.edits.get(sink, {}).items():
        assert rows[rid][header] == typed, f"seed {SEED}: {sink} lost a person's edit in {rid}/{header!r}"
    for rid, (config, summary) in world.runs.items():
        lost = missing_values(rows[rid], config, summary, form, world.was.get(sink, {}).get(rid, []))
        assert not lost, f"seed {SEED}: {sink} run {rid} lost {dict(list(lost.items())[:5])} silently"


def _quiet(result) -> bool:
    return "0 new, 0 updated" in result.stdout and "0 columns added" in result.stdout


# ---- files ---------------------------------------------------------------------------------------------

def _cli_file(tmp: Path, source: Path, out: Path):
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps({"FIXED_HEADERS": FIXED, "TIMEZONE": "UTC", "MAX_COLUMNS": MAX_COLUMNS}))
    return subprocess.run([sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source", str(source),
                           "--output", str(out), "--config_path", str(cfg)], capture_output=True, text=True, cwd=tmp,
                          timeout=600)


def test_hostile_runs_through_xlsx_and_csv(tmp_path, rounds):
    world = World(SEED)
    source = tmp_path / "source"
    outs = {"xlsx": (tmp_path / "runs.xlsx", xlsx_value), "csv": (tmp_path / "runs.csv", csv_text)}
    for round_no in range(rounds):
        specs = [RunSpec(id=rid, name=f"hostile-{rid}", config=config, summary=summary)
                 for rid, config, summary in world.new_runs(round_no, wide=round_no == 1)]
        make_runs(source / f"round{round_no}", specs, timeout=600)
        for sink, (out, form) in outs.items():
            result = _cli_file(tmp_path, source, out)
            check(world, sink, by_id(read(out)), result, form)
            again = _cli_file(tmp_path, source, out)
            assert again.returncode == 0 and _quiet(again), f"seed {SEED}: {sink} second sync wrote: {again.stdout}"
            grid = [list(r) for r in read(out)]
            edit = world.edit(sink, by_id(grid))
            if edit:
                rid, header, typed = edit
                row = next(i for i, r in enumerate(grid) if r and r[0] == rid)
                grid[row][grid[0].index(header)] = typed
                write_grid(out, grid)
    for sink, (out, form) in outs.items():  # after the last edit: it survives a sync
        check(world, sink, by_id(read(out)), _cli_file(tmp_path, source, out), form)


# ---- Google ----------------------------------------------------------------------------------------------

def _google_form(value):
    return value  # Google holds the cleaned value itself


def test_hostile_runs_through_the_google_fake(e2e, rounds):
    world = World(SEED + 1)
    # hostile inputs, not Google's quota: a --soak's hundreds of back-to-back processes (5 reads a sync, reading by
    # need) would meet the 60 reads a minute by the wall clock (test_soak_google and test_failures test the quota)
    e2e.google.world.raise_quota(100_000)
    e2e.config(FIXED_HEADERS=FIXED, MAX_COLUMNS=MAX_COLUMNS)
    for round_no in range(rounds):
        for rid, config, summary in world.new_runs(round_no, wide=round_no == 1):
            e2e.wandb.world.add_run(name=rid, display_name=f"hostile-{rid}", config=config, summary=summary)
        result = e2e.cli("--once")
        check(world, "google", e2e.rows(), result, _google_form)
        again = e2e.cli("--once")
        assert again.returncode == 0 and _quiet(again) and "0 sheet writes" in again.stdout, again.stdout
        edit = world.edit("google", e2e.rows())
        if edit:
            rid, header, typed = edit
            sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
            grid = e2e.sheet()
            r = next(i for i, row in enumerate(grid) if row and row[0] == rid)
            sheet.put(r, grid[0].index(header), sheet.get(r, 0).with_(value=typed, extra={}))
    check(world, "google", e2e.rows(), e2e.cli("--once"), _google_form)
