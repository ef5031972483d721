"""wandb_spreadsheet_sync.py --once against the fake W&B and Google: what lands in the sheet."""

from __future__ import annotations

import datetime as dt
import math
import threading

import pytest

from wandb_sheet_sync.base import serial_days
from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink, base_title
from wandb_sheet_sync.sources.wandb_api import WandbSource
from wandb_sheet_sync.sync import SyncMemory, sync


@pytest.mark.slow
def test_first_sync_of_250_runs_over_several_pages_into_an_empty_sheet(e2e):
    e2e.wandb.world.generate(250)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert "250 new" in result.stdout
    rows = e2e.rows()
    assert len(rows) == 250
    assert e2e.wandb.world.operations().count("Runs") == 3  # 100 + 100 + 50 per page, no per-run requests
    header = e2e.sheet()[0]
    assert header[:6] == ["run_id", "run_name", "user", "state", "created_at", "notes"]
    assert {"lr", "batch_size", "model.layers", "loss", "accuracy"} <= set(header)
    assert not {"_step", "_runtime", "_wandb.runtime", "samples"} & set(header)  # internals and media left out
    first = e2e.wandb.world.find("alice", "proj", "r00000000")
    row = rows["r00000000"]
    assert row["lr"] == float(f"{first.config['lr']:.15g}")  # the 15 digits a spreadsheet keeps
    assert row["batch_size"] == first.config["batch_size"]
    assert row["created_at"] == serial_days(first.created_at)  # a real date-time cell
    meta = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    runs_sheet = next(s for s in meta.sheets if s.title == "runs")
    base_sheet = next(s for s in meta.sheets if s.title == base_title("runs"))
    assert runs_sheet.frozen_rows == 1 and base_sheet.hidden
    assert runs_sheet.rows == 251  # grown only as needed
    link = runs_sheet.get(1, 0).extra["textFormatRuns"][0]["format"]["link"]["uri"]
    assert link.endswith("/alice/proj/runs/r00000000")


@pytest.mark.slow
def test_second_sync_makes_no_write_and_finished_run_updates_its_metrics(e2e):
    e2e.wandb.world.generate(20)
    assert e2e.cli("--once").returncode == 0
    e2e.google.world.clear_log()
    again = e2e.cli("--once")
    assert again.returncode == 0 and "0 new, 0 updated" in again.stdout
    assert [r for r in e2e.google.world.log if r.is_sheets_write] == []
    run = e2e.wandb.world.find("alice", "proj", "r00000003")
    run.state, run.summary["loss"] = "finished", 0.0125
    run.heartbeat_at += dt.timedelta(hours=1)
    assert e2e.cli("--once").returncode == 0
    assert e2e.rows()["r00000003"]["loss"] == 0.0125 and e2e.rows()["r00000003"]["state"] == "finished"


@pytest.mark.slow
def test_hand_edits_manual_columns_own_rows_sorting_and_moves_survive(e2e):
    e2e.wandb.world.generate(6)
    assert e2e.cli("--once").returncode == 0
    grid = e2e.sheet()
    header = grid[0]
    # A person: edits a metric, types notes, adds a column and a row of their own, deletes a run's row,
    # sorts the rows by loss and drags the loss column to the front.
    loss = header.index("loss")
    edited = dict(zip(header, grid[2]))["run_id"]
    grid[2][loss] = "bad run, ignore"
    grid[3][header.index("notes")] = "promising"
    grid[0].append("keep?")
    grid[1].append("yes")
    deleted = grid[4][0]
    del grid[4]
    grid.append([None, "Average of the week", None])
    body = sorted(grid[1:], key=lambda r: str(r[loss]) if loss < len(r) else "")
    order = [loss] + [i for i in range(len(header) + 1) if i != loss]
    new_grid = [[(row[i] if i < len(row) else None) for i in order] for row in [grid[0]] + body]
    _replace_sheet(e2e, new_grid)
    for run in e2e.wandb.world.project("alice", "proj"):
        run.summary["loss"] = 9.5
        run.config["warmup"] = 100  # a new config key
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    rows = e2e.rows()
    assert rows[edited]["loss"] == "bad run, ignore"
    assert deleted not in rows and len(rows) == 5
    assert sum(1 for r in rows.values() if r["notes"] == "promising") == 1
    assert sum(1 for r in rows.values() if r["keep?"] == "yes") == 1
    assert all(r["loss"] == 9.5 for rid, r in rows.items() if rid != edited)
    header = e2e.sheet()[0]
    assert header[0] == "loss" and header[-1] == "warmup" and "keep?" in header
    assert ["Average of the week"] == [v for row in e2e.sheet() for v in row if v == "Average of the week"]
    assert all(r["warmup"] == 100 for r in rows.values())


def _replace_sheet(e2e, grid):
    from tests.fakes.cells import parse_input

    sheet = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    sheet.cells.clear()
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if v is not None:
                sheet.put(r, c, parse_input(v, False, None))
    sheet.cols = max(sheet.cols, max(len(r) for r in grid))


@pytest.mark.slow
def test_values_arrive_typed_and_hostile_text_stays_text(e2e):
    e2e.wandb.world.add_run(name="x1", display_name='=HYPERLINK("http://evil.example","click")',
                            config={"lr": 0.5, "flag": True, "depth": 12},
                            summary={"loss": math.nan, "best": math.inf, "worst": -math.inf, "acc": 0.75})
    assert e2e.cli("--once").returncode == 0
    row = e2e.rows()["x1"]
    assert row["run_name"] == '=HYPERLINK("http://evil.example","click")'
    cell = next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == "runs")
    assert cell.get(1, 1).formula is None  # stored as text, not a formula
    assert row["lr"] == 0.5 and row["flag"] is True and row["depth"] == 12 and row["acc"] == 0.75
    assert row["loss"] == "" and row["best"] == "" and row["worst"] == ""  # NaN and ±Infinity: empty


def test_request_budget_a_changed_sync_reads_checks_and_writes_once_then_one_read(e2e):
    """The loop's syncs in one process, the real sink and source: what each sync costs at Google."""
    e2e.wandb.world.generate(30)
    stop = threading.Event()
    settings = e2e.settings()
    source = WandbSource(settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, stop,
                            retry_base=settings.retry_base_seconds)
    state = SyncMemory()
    sync(source, sink, settings, state)  # first-time set-up: metadata, new worksheet and base
    latest = max(r.heartbeat_at for r in e2e.wandb.world.project("alice", "proj"))
    for run in e2e.wandb.world.project("alice", "proj")[:3]:
        run.summary["loss"] = 0.001
        run.heartbeat_at = latest + dt.timedelta(minutes=5)  # still running: its heartbeat moves on
    e2e.wandb.world.add_run(name="fresh", created_at=dt.datetime(2026, 6, 1), heartbeat_at=dt.datetime(2026, 6, 1))
    e2e.google.world.clear_log()
    changed = sync(source, sink, settings, state)
    sheets = e2e.google.world.sheets_requests()
    # read by need (issue 24): the head (header row, base row 0), the places (key column, base run ids), the rows
    # of the runs coming in (and under the table); then the write lease taken (issue 23: one writer from the check
    # on), the check that nobody moved the rows about to be rewritten, the write (renewing the lease), the lease
    # given back (after the report's count)
    print([(r.method, r.path, r.query.get("ranges")) for r in sheets])
    assert [(r.is_sheets_read, r.is_sheets_write) for r in sheets] == [(True, False)] * 3 + [
        (False, True), (True, False), (False, True), (False, True)]
    assert [len(r.query.get("ranges", [])) for r in sheets[:3]] == [2, 2, 2]
    assert changed.sheets_reads == 4 and changed.sheets_writes == 2
    assert changed.total("new") == 1 and changed.total("updated") == 3
    e2e.google.world.clear_log()
    quiet = sync(source, sink, settings, state)
    assert [r.method for r in e2e.google.world.sheets_requests()] == ["GET"]
    assert quiet.total("updated") == 0 and quiet.sheets_writes == 0


def test_incremental_sync_of_2000_runs_with_3_changed_reads_the_listing_and_one_page(e2e):
    """A listing of the runs whose stamps moved (ids, stamps, the fields people edit), then the 3 changed runs in full:
    2 pages, and far fewer bytes than the full read."""
    e2e.wandb.world.generate(2000)
    settings = e2e.settings(PER_PAGE=200)
    source = WandbSource(settings)
    sink = GoogleSheetsSink(settings.spreadsheet, settings.key_file, settings.google_endpoint, 5, threading.Event(),
                            retry_base=settings.retry_base_seconds)
    state = SyncMemory()
    first = sync(source, sink, settings, state)
    assert first.targets[0].pages == 10 and first.targets[0].full
    full_bytes = sum(r.bytes_out for r in e2e.wandb.world.log)  # W&B's answers as the wire carried them
    latest = max(r.heartbeat_at for r in e2e.wandb.world.project("alice", "proj"))
    for run in e2e.wandb.world.project("alice", "proj")[100:103]:
        run.summary["loss"] = -1.0
        run.heartbeat_at = latest + dt.timedelta(minutes=30)
    e2e.wandb.world.clear_log()
    second = sync(source, sink, settings, state)
    # the runs changed since the last read (issue 24: a filtered listing, not the whole project), then those 3 in full
    assert not second.targets[0].full and second.targets[0].pages == 2
    assert e2e.wandb.world.operations().count("Runs") == 2
    assert sum(r.bytes_out for r in e2e.wandb.world.log) < full_bytes / 4
    assert second.total("updated") == 3
    assert sum(1 for r in e2e.rows().values() if r["loss"] == -1.0) == 3


@pytest.mark.slow
def test_several_projects_each_fill_their_own_worksheet(e2e):
    e2e.wandb.world.generate(3, project="vision")
    e2e.wandb.world.generate(2, project="nlp", seed=5)
    cfg = e2e.config(PROJECTS=["alice/vision", {"project": "alice/nlp", "worksheet": "NLP runs"}])
    result = e2e.cli("--once", config=cfg)
    assert result.returncode == 0, result.stderr
    assert len(e2e.rows("vision")) == 3 and len(e2e.rows("NLP runs")) == 2


@pytest.mark.slow
def test_spreadsheet_opened_by_title_through_drive(e2e):
    e2e.wandb.world.generate(2)
    result = e2e.cli("--once", "--sheet_name", "Team runs")
    assert result.returncode == 0, result.stderr
    assert len(e2e.rows()) == 2


@pytest.mark.slow
def test_user_name_and_states_are_filters_on_the_server(e2e):
    e2e.wandb.world.generate(12, users=("alice", "bob"))
    result = e2e.cli("--once", "--user_name", "bob", config=e2e.config(STATES=["finished", "failed"]))
    assert result.returncode == 0, result.stderr
    rows = e2e.rows()
    expected = {r.name for r in e2e.wandb.world.project("alice", "proj")
                if r.username == "bob" and r.state in ("finished", "failed")}
    assert set(rows) == expected and expected
    sent = [r.body["variables"]["filters"] for r in e2e.wandb.world.log if "query Runs" in r.body.get("query", "")]
    assert sent and all('"username": "bob"' in f and '"$in": ["finished", "failed"]' in f for f in sent)


@pytest.mark.slow
def test_a_run_without_a_user_does_not_break_the_sync(e2e):
    e2e.wandb.world.add_run(name="orphan", username=None)
    e2e.wandb.world.add_run(name="owned", created_at=dt.datetime(2026, 1, 2))
    assert e2e.cli("--once").returncode == 0
    rows = e2e.rows()
    assert rows["orphan"]["user"] == "" and rows["owned"]["user"] == "alice"


@pytest.mark.slow
def test_a_bad_wandb_key_says_what_to_do(e2e):
    result = e2e.cli("--once", WANDB_API_KEY="x" * 40)
    assert result.returncode == 2
    assert "W&B refused the API key" in result.stderr and "WANDB_API_KEY" in result.stderr


@pytest.mark.slow
def test_a_terminal_sees_a_progress_line_while_runs_are_read(e2e):
    import os
    import pty
    import subprocess
    import sys

    from tests.e2e.conftest import ENTRY

    e2e.wandb.world.generate(250)
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ENTRY), "--once", "--config_path", str(e2e.config())],
                            env=e2e.env(), stdin=child, stdout=child, stderr=child, cwd=e2e.tmp)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(main)
    assert proc.returncode == 0
    assert b"\rreading W&B runs: 100" in out and b"\rreading W&B runs: 250" in out


@pytest.mark.slow
def test_newest_first_inserts_new_runs_under_the_header_and_still_matches_rows(e2e):
    cfg = e2e.config(ORDER="newest_first")
    e2e.wandb.world.generate(3)
    assert e2e.cli("--once", config=cfg).returncode == 0
    assert [row[0] for row in e2e.sheet()[1:]] == ["r00000002", "r00000001", "r00000000"]
    e2e.wandb.world.generate(2, seed=1, start=dt.datetime(2026, 2, 1))
    e2e.wandb.world.find("alice", "proj", "r00000000").summary["loss"] = 0.5
    result = e2e.cli("--once", config=cfg)
    assert result.returncode == 0 and "2 new, 1 updated" in result.stdout
    assert [row[0] for row in e2e.sheet()[1:]] == ["r01000001", "r01000000", "r00000002", "r00000001",
                                                   "r00000000"]
    assert e2e.rows()["r00000000"]["loss"] == 0.5
