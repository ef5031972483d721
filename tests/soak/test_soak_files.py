"""Soak against the .xlsx and .csv outputs: W&B changes, people editing the file, the file locked or replaced
between rounds, and sync processes killed mid-write. Nothing typed is lost; a file is never half written.
After a last quiet sync, lost runs and cells, duplicates and stuck runs are counted from the final file,
printed, and must all be 0."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from wandb_sheet_sync.errors import SinkError
from wandb_sheet_sync.run import Run
from wandb_sheet_sync.sinks.local import CsvSink, XlsxSink
from wandb_sheet_sync.sync import sync
from tests.fakes.memory_source import MemorySource
from tests.fakes.offline_runs import RunSpec, make_runs
from tests.settings import settings_for
from tests.soak.conftest import Tally, by_kind, tally

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks

SEED = int(os.environ.get("SOAK_SEED", "20261122"))
ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc


def load(path: Path) -> list[list]:
    if not path.exists():
        return []
    if path.suffix == ".xlsx":
        return [list(r) for r in openpyxl.load_workbook(path)["runs"].iter_rows(values_only=True)]
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [[v if v != "" else None for v in row] for row in csv.reader(fh)]


def save(path: Path, grid: list[list]) -> None:
    """A person saves the file from their spreadsheet program (replacing it)."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        ws = book["runs"]
        ws.delete_rows(1, ws.max_row + 1)
        for r, row in enumerate(grid, start=1):
            for c, v in enumerate(row, start=1):
                if v is not None:
                    ws.cell(row=r, column=c, value=v)
        book.save(path)
    else:
        with open(path, "w", newline="", encoding="utf-8-sig") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in row] for row in grid])


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_soak_files(kind, tmp_path, request, capsys):
    rounds = 1000 if request.config.getoption("--soak") else 100
    rng = random.Random(SEED)
    path = tmp_path / f"runs.{kind}"
    settings = dataclasses.replace(settings_for(path, tmp_path), fixed_headers=("run_id", "state", "notes"))
    source = MemorySource()
    runs: dict[str, Run] = {}
    edited: dict[tuple[str, str], object] = {}
    deleted: set[str] = set()
    own: set[str] = set()
    stats = dict(rounds=0, locked=0, replaced=0, edits=0)
    people: Counter = Counter()  # what the person did, by kind
    as_text = kind == "csv"
    as_cell = str if as_text else (lambda v: v)  # what the file holds of a W&B value
    sink = XlsxSink if kind == "xlsx" else CsvSink
    for n in range(rounds):
        for _ in range(rng.randint(0, 2)):  # W&B
            rid = f"r{len(runs):05d}"
            runs[rid] = Run(id=rid, state="running", created_at=dt.datetime(2026, 1, 1, tzinfo=UTC)
                            + dt.timedelta(minutes=len(runs)), config={"lr": rng.randint(1, 9)},
                            summary={"loss": rng.randint(0, 10**6)})
        for rid in list(runs):
            if rng.random() < 0.3:
                runs[rid] = dataclasses.replace(runs[rid], summary={"loss": rng.randint(0, 10**6)},
                                                state=rng.choice(["running", "finished"]))
        source.runs = list(runs.values())
        grid = [list(r) for r in load(path)]
        if len(grid) > 1:  # the person
            header = grid[0]
            key = header.index("run_id")
            for _ in range(rng.randint(0, 2)):
                rows = [r for r in range(1, len(grid)) if key < len(grid[r]) and grid[r][key]]
                action = rng.choice(["edit", "own", "delete", "sort"])
                if action in ("edit", "delete") and not rows:
                    continue
                people[action] += 1
                if action == "edit":
                    r = rng.choice(rows)
                    grid[r].extend([None] * (len(header) - len(grid[r])))
                    grid[r][header.index("loss")] = f"mine-{stats['edits']}"
                    edited[(grid[r][key], "loss")] = f"mine-{stats['edits']}"
                    stats["edits"] += 1
                elif action == "own":
                    own.add(f"own-{len(own)}")
                    grid.append([None, f"own-{len(own) - 1}"])
                elif action == "delete":
                    r = rng.choice(rows)
                    deleted.add(grid[r][key])
                    del grid[r]
                elif action == "sort":
                    body = grid[1:]
                    rng.shuffle(body)
                    grid[1:] = body
            save(path, grid)
            stats["replaced"] += 1
        before = path.read_bytes() if path.exists() else None
        lock = path.with_name("~$" + path.name)
        if rng.random() < 0.05:  # the file is open in Excel this round
            lock.write_bytes(b"x")
            with pytest.raises(SinkError, match="open in a spreadsheet program"):
                sync(source, sink(path), settings)
            lock.unlink()
            assert (path.read_bytes() if path.exists() else None) == before
            stats["locked"] += 1
            continue
        sync(source, sink(path), settings)
        stats["rounds"] += 1
        grid = load(path)
        header = grid[0]
        key = header.index("run_id")
        rows = {row[key]: row for row in grid[1:] if key < len(row) and row[key]}
        ids = [row[key] for row in grid[1:] if key < len(row) and row[key]]
        assert len(ids) == len(set(ids)), "duplicate run ids"
        assert not deleted & set(rows), "a deleted row came back"
        assert own <= {v for row in grid[1:] for v in row if v}, "a person's own row was lost"
        for (rid, h), value in edited.items():
            if rid in rows:
                assert rows[rid][header.index(h)] == value, f"hand edit lost in round {n}"
        for rid, run in runs.items():
            if rid in deleted:
                continue
            assert rid in rows
            if (rid, "loss") not in edited:
                assert rows[rid][header.index("loss")] == as_cell(run.summary["loss"])
    sync(source, sink(path), settings)  # a last, quiet sync (the last round may have found the file locked)
    wandb = {rid: {"loss": as_cell(run.summary["loss"]), "state": run.state} for rid, run in runs.items()}
    final = tally(load(path), wandb, edited, deleted, own)
    with capsys.disabled():
        print(f"\nsoak {kind} (seed {SEED}): rounds {stats['rounds']}, locked {stats['locked']}, "
              f"replaced by a person {stats['replaced']}, people's actions {by_kind(people)}; "
              f"final file: {final}")
    assert final.runs and final.typed, f"the soak checked nothing: {final}"
    assert final == Tally(), f"the final file: {final}"


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_sync_processes_killed_mid_write_never_leave_a_broken_file(kind, tmp_path, capsys):
    make_runs(tmp_path / "runs", [RunSpec(id=f"k{i:04d}", project="demo", config={"lr": i, "pad": "x" * 2000},
                                          log=[{"loss": float(i)}]) for i in range(12)])
    out = tmp_path / f"runs.{kind}"
    rng = random.Random(SEED)
    cmd = [sys.executable, str(ROOT / "wandb_spreadsheet_sync.py"), "--once", "--source", str(tmp_path / "runs"),
           "--output", str(out), "--config_path", str(ROOT / "examples" / "demo_config.json")]
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        time.sleep(rng.uniform(0.3, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        grid = load(out)  # raises if a half-written file were ever left
        if grid:
            ids = [row[0] for row in grid[1:]]
            assert len(ids) == len(set(ids))
        if out.exists() and rng.random() < 0.5:  # and a person edits in between
            grid = [list(r) for r in grid]
            grid[1][grid[0].index("run_name")] = "renamed by a person"
            save(out, grid)
    final = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert final.returncode == 0, final.stderr
    grid = load(out)
    assert sorted(row[0] for row in grid[1:]) == [f"k{i:04d}" for i in range(12)]
    with capsys.disabled():
        print(f"\nkilled mid-sync ({kind}): {kills} kills, file always readable, 12 runs after the last sync")
