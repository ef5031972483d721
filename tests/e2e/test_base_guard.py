"""The tool's own tab and the worksheet's identity: the base is hidden and protected, its loss is said out loud
with what the sync did about it, and a renamed worksheet is named (or followed by its id), never forked."""

from __future__ import annotations

import datetime as dt

import pytest

from wandb_sheet_sync.sinks.google_sheets import base_title
from tests.e2e.test_failures import _ids

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process

LATER = dt.datetime(2026, 3, 1)


def _sheets(e2e) -> dict:
    return {s.title: s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets}


def _synced(e2e, n: int = 10) -> None:
    e2e.wandb.world.generate(n)
    e2e.config()
    first = e2e.cli("--once")
    assert first.returncode == 0, first.stderr


def test_the_base_tab_is_hidden_and_protected_with_a_warning_naming_its_worksheet(e2e):
    _synced(e2e)
    sheets = _sheets(e2e)
    base = sheets[base_title("runs")]
    assert base.hidden
    [guard] = base.protected_ranges
    assert guard["warningOnly"] is True and guard["range"] == {"sheetId": base.sheet_id}
    assert f"worksheet with id {sheets['runs'].sheet_id} " in guard["description"]


def test_an_old_base_without_protection_is_protected_at_the_next_write(e2e):
    _synced(e2e)
    base = _sheets(e2e)[base_title("runs")]
    base.protected_ranges = []  # as a base made before the protection existed
    e2e.wandb.world.project("alice", "proj")[0].summary["loss"] = 5.0
    e2e.wandb.world.project("alice", "proj")[0].heartbeat_at = LATER
    assert e2e.cli("--once").returncode == 0
    assert [g["warningOnly"] for g in _sheets(e2e)[base_title("runs")].protected_ranges] == [True]


def _lose(e2e, how: str) -> None:
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    base = _sheets(e2e)[base_title("runs")]
    with e2e.google.world.lock:
        if how == "deleted":
            ss.sheets.remove(base)
        elif how == "cleared":
            base.cells.clear()
        else:  # a person typed over its first cell
            from tests.fakes.cells import parse_input
            base.put(0, 0, parse_input("my notes", False, None))


@pytest.mark.parametrize("how,said", [("deleted", "is missing"), ("cleared", "was cleared"),
                                      ("damaged", "cannot be read")])
def test_a_lost_base_is_said_in_one_line_with_what_was_adopted_and_what_is_kept(e2e, how, said):
    _synced(e2e)
    runs = e2e.wandb.world.project("alice", "proj")
    for i, run in enumerate(runs[:3]):  # W&B moved on for three runs: their cells now differ from W&B
        run.summary["loss"] = 50.0 + i
        run.heartbeat_at = LATER
    _lose(e2e, how)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "adopted as it is" in line]
    assert len(lines) == 1, result.stdout + result.stderr
    assert said in lines[0] and "3 that differ from W&B kept as a person's edits" in lines[0], lines[0]
    assert "0 runs without a row added" in lines[0]
    adopted = int(lines[0].split(": adopted as it is: ")[1].split(" cells")[0])
    assert adopted > 10 * 5, lines[0]  # every other managed cell of the ten rows equals W&B
    again = e2e.cli("--once")
    assert again.returncode == 0 and "adopted as it is" not in again.stdout + again.stderr  # said once
    assert base_title("runs") in _sheets(e2e) and _sheets(e2e)[base_title("runs")].protected_ranges


def test_a_renamed_worksheet_is_named_with_the_fix_and_no_new_tab_is_made(e2e):
    _synced(e2e)
    _sheets(e2e)["runs"].title = "runs (team copy)"
    e2e.wandb.world.generate(3, seed=1, start=LATER)
    result = e2e.cli("--once")
    assert result.returncode == 1
    assert "'runs' was renamed to 'runs (team copy)'" in result.stderr and "set WORKSHEET" in result.stderr
    assert "runs" not in _sheets(e2e)  # no fork
    # the fix the message names: WORKSHEET set to the new title; the base is found by the sheet's id
    e2e.config(WORKSHEET="runs (team copy)")
    followed = e2e.cli("--once")
    assert followed.returncode == 0, followed.stderr
    assert "3 new" in followed.stdout + followed.stderr and "adopted as it is" not in followed.stdout + followed.stderr
    assert sorted(_sheets(e2e)) == sorted(["Sheet1", "runs (team copy)", base_title("runs (team copy)")])
    assert len(e2e.rows("runs (team copy)")) == 13
    assert len(set(_ids_of(e2e, "runs (team copy)"))) == 13


def _ids_of(e2e, title: str) -> list[str]:
    grid = e2e.sheet(title)
    key = grid[0].index("run_id")
    return [row[key] for row in grid[1:] if key < len(row) and row[key]]


def test_renaming_back_heals(e2e):
    _synced(e2e)
    _sheets(e2e)["runs"].title = "old name"
    assert e2e.cli("--once").returncode == 1
    _sheets(e2e)["old name"].title = "runs"
    healed = e2e.cli("--once")
    assert healed.returncode == 0 and "0 new" in healed.stdout + healed.stderr
    assert len(_ids(e2e)) == 10
