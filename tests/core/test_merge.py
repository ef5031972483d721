"""The merge, case by case: what happens to the sheet for each thing W&B and people do."""

from __future__ import annotations

import datetime as dt

import pytest

from wandb_sheet_sync.base import Base, fingerprint, serial_days
from wandb_sheet_sync.errors import SheetLayoutError
from wandb_sheet_sync.merge import MergeSettings, apply, merge

H = ("run_id", "lr", "loss")


def sync(grid, base, runs, headers=H, order="append"):
    """One merge and its application: the sheet and base afterwards, and the plan."""
    plan = merge(grid, base, runs, MergeSettings(headers=tuple(headers), order=order))
    return apply(grid, plan), plan.base, plan


def first(runs, headers=H):
    grid, base, _ = sync([], Base(), runs, headers)
    return grid, base


RUNS = [{"run_id": "a", "lr": 0.1, "loss": 1.5}, {"run_id": "b", "lr": 0.01, "loss": 2.5}]


def test_first_sync_into_empty_sheet_writes_header_and_rows():
    grid, base, plan = sync([], Base(), RUNS)
    assert grid == [["run_id", "lr", "loss"], ["a", 0.1, 1.5], ["b", 0.01, 2.5]]
    assert plan.counts.new == 2 and plan.counts.columns_added == 3
    assert base.runs["a"] == {"lr": fingerprint(0.1), "loss": fingerprint(1.5)}


def test_second_sync_writes_nothing():
    grid, base = first(RUNS)
    _, _, plan = sync(grid, base, RUNS)
    assert not plan.has_changes and plan.counts.cells_written == 0


def test_metric_update_lands_when_nobody_touched_the_cell():
    grid, base = first(RUNS)
    grid, base, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.7}])
    assert grid[1] == ["a", 0.1, 0.7] and plan.counts.updated == 1 and plan.updates == [(1, 2, 0.7)]


def test_hand_edit_survives_metric_update():
    grid, base = first(RUNS)
    grid[1][2] = "diverged, ignore"
    grid, base, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.7}])
    assert grid[1] == ["a", 0.1, "diverged, ignore"] and plan.counts.kept_edits == 1 and not plan.updates


def test_cleared_cell_stays_cleared():
    grid, base = first(RUNS)
    grid[1][2] = None
    grid, _, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.7}])
    assert grid[1][2] is None and plan.counts.kept_edits == 1


def test_typing_wandbs_value_hands_the_cell_back():
    grid, base = first(RUNS)
    grid[1][2] = 0.7  # the person typed what W&B will say
    grid, base, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.7}])
    assert not plan.updates and plan.base_changed
    grid, base, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.3}])
    assert grid[1][2] == 0.3


def test_sorted_sheet_still_matches_by_run_id():
    grid, base = first(RUNS)
    grid = [grid[0], grid[2], grid[1]]  # a person sorted by loss, descending
    grid, _, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.7}, RUNS[1]])
    assert grid == [["run_id", "lr", "loss"], ["b", 0.01, 2.5], ["a", 0.1, 0.7]]
    assert plan.updates == [(2, 2, 0.7)]


def test_moved_column_still_matches():
    grid, base = first(RUNS)
    grid = [[row[2], row[0], row[1]] for row in grid]  # loss dragged to the front
    grid, _, _ = sync(grid, base, [{"run_id": "b", "lr": 0.01, "loss": 9.0}])
    assert grid == [["loss", "run_id", "lr"], [1.5, "a", 0.1], [9.0, "b", 0.01]]


def test_deleted_row_stays_deleted():
    grid, base = first(RUNS)
    del grid[1]
    grid, base, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.1}, RUNS[1]])
    assert [row[0] for row in grid] == ["run_id", "b"] and plan.counts.deleted_respected == 1
    assert "a" in base.runs  # remembered, so it stays deleted next time too


def test_person_rows_without_run_id_are_never_touched():
    grid, base = first(RUNS)
    grid.insert(2, [None, "average", 2.0])
    grid.insert(1, [])
    grid, _, plan = sync(grid, base, [{"run_id": "b", "lr": 0.5, "loss": 0.5}, {"run_id": "c", "lr": 1, "loss": 1}])
    assert grid[1] == [] and grid[3] == [None, "average", 2.0]
    assert grid[4] == ["b", 0.5, 0.5] and grid[5] == ["c", 1, 1]


def test_manual_column_is_created_once_and_never_written():
    headers = ("run_id", "lr", "notes")
    grid, base = first([{"run_id": "a", "lr": 0.1, "notes": None}], headers)
    assert grid == [["run_id", "lr", "notes"], ["a", 0.1, None]]
    grid[1][2] = "promising"
    grid, base, plan = sync(grid, base, [{"run_id": "a", "lr": 0.2, "notes": None}], headers)
    assert grid[1] == ["a", 0.2, "promising"] and plan.counts.kept_edits == 0
    grid[0].append("keep?")
    grid[1].append("yes")
    grid, _, plan = sync(grid, base, [{"run_id": "a", "lr": 0.2, "notes": None}], headers)
    assert grid[1] == ["a", 0.2, "promising", "yes"] and not plan.has_changes


def test_new_config_key_adds_column_at_right():
    grid, base = first(RUNS)
    grid[0].append("my notes")
    grid[1].append("x")
    headers = H + ("epochs",)
    grid, _, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 1.5, "epochs": 10}], headers)
    assert grid[0] == ["run_id", "lr", "loss", "my notes", "epochs"]
    assert grid[1] == ["a", 0.1, 1.5, "x", 10] and plan.counts.columns_added == 1


def test_new_column_goes_right_of_data_under_no_header():
    grid = [["run_id", "lr"], ["a", 0.1, "stray note"]]
    grid, _, _ = sync(grid, Base(), [{"run_id": "a", "lr": 0.1, "loss": 1.0}])
    assert grid[0] == ["run_id", "lr", None, "loss"] and grid[1] == ["a", 0.1, "stray note", 1.0]


def test_nan_arrives_as_an_empty_cell_and_clears_a_stale_value():
    grid, base = first(RUNS)
    grid, _, _ = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": None}])
    assert grid[1] == ["a", 0.1, None]


@pytest.mark.parametrize("grid, message", [
    ([["run_id", "lr", "run_id"], ["a", 1, "a"]], "header 'run_id' appears twice, in columns A and C"),
    ([["run_id", "lr"], ["a", 1], ["b", 2], ["a", 3]], "Run id 'a' appears twice, in rows 2 and 4"),
    ([["name", "lr"], ["x", 1]], "no 'run_id' column"),
])
def test_ambiguous_sheets_are_refused_and_nothing_is_planned(grid, message):
    with pytest.raises(SheetLayoutError, match=message) as err:
        merge(grid, Base(), RUNS, MergeSettings(headers=H))
    assert "nothing was written" in str(err.value)


def test_adopting_a_sheet_the_original_script_filled():
    grid = [["run_id", "lr", "loss"],
            ["a", "0.1", "nan"],  # text from the old script: the same number is adopted and rewritten typed,
            ["b", "0.5", ""]]  # 'nan' and empty are filled; lr 0.5 differs: a person's value, kept
    grid, base, plan = sync(grid, Base(), RUNS + [{"run_id": "c", "lr": 1, "loss": 3}])
    assert grid[1] == ["a", 0.1, 1.5] and isinstance(grid[1][1], float)
    assert grid[2] == ["b", "0.5", 2.5] and plan.counts.kept_edits == 1
    assert grid[3] == ["c", 1, 3] and plan.counts.new == 1
    _, _, again = sync(grid, base, RUNS + [{"run_id": "c", "lr": 1, "loss": 3}])
    assert again.updates == [] and again.counts.kept_edits == 1


def test_lost_base_is_rebuilt_by_adoption_without_touching_edits():
    grid, base = first(RUNS)
    grid[2][1] = 0.02  # a person's edit
    grid, base, plan = sync(grid, Base(), RUNS)  # someone deleted the hidden base sheet
    assert grid[2][1] == 0.02 and plan.counts.kept_edits == 1 and plan.updates == []
    assert plan.base_changed and set(base.runs) == {"a", "b"}


def test_numbers_read_back_as_floats_count_as_unchanged():
    grid, base = first([{"run_id": "a", "lr": 3, "loss": 2}])
    grid[1] = ["a", 3.0, 2.0]  # how some sheets give integers back
    _, _, plan = sync(grid, base, [{"run_id": "a", "lr": 3, "loss": 2}])
    assert not plan.has_changes


def test_datetimes_match_their_serial_numbers():
    when = dt.datetime(2026, 3, 1, 12, 30, 5)
    headers = ("run_id", "created_at")
    grid, base = first([{"run_id": "a", "created_at": when}], headers)
    grid[1][1] = serial_days(when)  # what Sheets gives back
    _, _, plan = sync(grid, base, [{"run_id": "a", "created_at": when}], headers)
    assert not plan.has_changes


def test_newest_first_puts_new_runs_under_the_header():
    grid, base = first(RUNS)
    runs = RUNS + [{"run_id": "c", "lr": 1, "loss": 1}, {"run_id": "d", "lr": 2, "loss": 2}]
    grid, base, plan = sync(grid, base, runs, order="newest_first")
    assert [row[0] for row in grid] == ["run_id", "d", "c", "a", "b"]
    grid[3][2] = "edited"
    grid, _, plan = sync(grid, base, [{"run_id": "a", "lr": 0.1, "loss": 0.0}, {"run_id": "b", "lr": 5, "loss": 2.5}])
    assert grid[3] == ["a", 0.1, "edited"] and grid[4] == ["b", 5, 2.5]


def test_run_id_typed_as_digits_reads_back_as_number_and_still_matches():
    grid, base = first([{"run_id": "12345678", "lr": 1, "loss": 1}])
    grid[1][0] = 12345678
    _, _, plan = sync(grid, base, [{"run_id": "12345678", "lr": 1, "loss": 1}])
    assert not plan.has_changes


def test_base_survives_encoding_and_ignores_garbage():
    grid, base = first(RUNS)
    rows = base.encode()
    assert Base.decode(rows) == base
    assert len(rows[1][1]) == 12  # two managed cells, 4 bytes each, base64: a fingerprint, not the data
    rows[2][1] = "garbage!"  # a person typed into the hidden sheet
    assert Base.decode(rows).runs["b"] == {}  # unknown -> the run's cells count as a person's
    assert Base.decode([["something else"]]) == Base()


def test_a_run_twice_with_only_the_tools_cells_is_repaired_by_deleting_the_extra_row():
    grid, base = first(RUNS)
    grid = grid + [list(grid[1])]  # a write that landed twice: run a's row again, below b
    later = [dict(RUNS[0], loss=0.5), RUNS[1]]
    grid, base, plan = sync(grid, base, later, order="newest_first")
    assert plan.delete_rows == [3]
    assert grid == [["run_id", "lr", "loss"], ["a", 0.1, 0.5], ["b", 0.01, 2.5]]
    _, _, again = sync(grid, base, later)
    assert not again.has_changes


def test_a_run_twice_where_a_person_typed_in_one_row_is_refused():
    grid, base = first(RUNS)
    grid = grid + [["a", 0.1, "my note"]]
    with pytest.raises(SheetLayoutError, match="Run id 'a' appears twice, in rows 2 and 4"):
        sync(grid, base, RUNS)


def test_a_run_twice_in_a_sheet_the_tool_never_wrote_is_refused():
    grid = [["run_id", "lr", "loss"], ["a", 0.1, 1.5], ["a", 0.1, 1.5]]
    with pytest.raises(SheetLayoutError, match="appears twice"):
        sync(grid, Base(), RUNS)
