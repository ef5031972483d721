"""Reading by need (sinks/google_read.py, issue 24): the pure parts. What a sync asks Google for, and how a
Snapshot read by need stays true to the sheet between the parts of a streamed sync."""

from __future__ import annotations

from hypothesis import given, strategies as st

from wandb_sheet_sync.base import Base
from wandb_sheet_sync.layout import Layout
from wandb_sheet_sync.merge import MergeSettings, apply, merge
from wandb_sheet_sync.sinks import Snapshot
from wandb_sheet_sync.sinks.google_grid import SheetGrid
from wandb_sheet_sync.sinks.google_read import (Partial, advance, base_ids_regular, grouped, key_only, key_texts,
                                                pieces, spans)


@given(st.sets(st.integers(0, 60)))
def test_spans_cover_exactly_the_rows_asked_for(rows):
    found = spans(rows)
    assert sorted(r for a, b in found for r in range(a, b + 1)) == sorted(rows)
    assert all(a2 > b1 + 1 for (_, b1), (a2, _) in zip(found, found[1:]))  # never two that touch


@given(st.integers(1, 5000), st.integers(1, 300), st.integers(1, 20_000))
def test_pieces_cover_every_row_once_and_none_asks_for_more_than_the_budget(rows, cols, budget):
    found = pieces("runs", 0, rows, cols, budget)
    covered = []
    for a1, first in found:
        a, b = a1.rsplit("!", 1)[1].split(":")
        assert int(a) == first + 1
        covered += range(int(a) - 1, int(b))
        assert (int(b) - int(a) + 1) * cols <= budget or int(a) == int(b)  # a row wider than the budget goes alone
    assert covered == list(range(rows))


def test_grouped_reads_stay_under_the_budget_and_keep_the_order():
    asks = [("g", f"'runs'!{i}:{i + 9}", i - 1, 10) for i in range(1, 200, 10)]
    groups = grouped(asks, 350)
    assert [a for g in groups for a in g] == asks
    assert all(sum(10 * 10 for _ in g) <= 350 for g in groups) and len(groups) == 7


def test_base_ids_that_cannot_place_rows_are_refused():
    def regular(*cells):
        return base_ids_regular(key_texts([[c] if c is not None else [] for c in cells]))

    assert regular("a", "b", 3, 4.0, " c ") and key_texts([[4.0], [" c "], []]) == ["4", "c", ""]
    assert not regular("a", None, "b")  # a row without its run id
    assert not regular("a", "b", "a")  # a run twice
    assert not regular("a", "wandb_spreadsheet_sync base v3")


def _sheet(runs: int) -> tuple[list[list], Base]:
    rows = [{"run_id": f"r{i}", "loss": i / 10, "state": "finished"} for i in range(runs)]
    settings = MergeSettings(headers=("run_id", "state", "loss"))
    plan = merge([], Base(), rows, settings)
    return apply([], plan), plan.base


@given(st.integers(1, 12), st.sampled_from(["append", "newest_first"]), st.integers(0, 4))
def test_a_snapshot_advanced_past_a_write_plans_the_next_part_as_a_full_read_would(runs, order, changed):
    """After a part is written, the next part's plan on the advanced (by-need) snapshot equals its plan on a full
    read of the sheet as it now stands: same cells, same new rows, same place."""
    grid, base = _sheet(runs)
    settings = MergeSettings(headers=("run_id", "state", "loss", "acc"), order=order)
    part = [{"run_id": f"r{i}", "loss": 9.0, "acc": 1.0} for i in range(min(changed, runs))] + \
        [{"run_id": f"n{i}", "loss": 0.5, "acc": 0.5, "state": "running"} for i in range(3)]
    encoded = base.encode()
    snap = Snapshot("runs", grid, Base.decode(encoded), encoded, SheetGrid(1, 2, len(grid), 3, len(encoded), 3))
    plan = merge(snap.grid, snap.base, part, settings)
    after_grid = apply(grid, plan)
    after_base = plan.base
    advance(snap, plan, plan.base.encode()[0])
    assert not snap.complete and Layout.of(snap.grid).keys == Layout.of(after_grid).keys
    assert [r[0] if r else "" for r in snap.grid] == [r[0] if r else "" for r in after_grid]
    later = [{"run_id": f"n{i}", "loss": 0.25, "acc": 0.5, "state": "finished"} for i in range(3)] + \
        [{"run_id": "z", "loss": 1.0, "acc": 1.0, "state": "running"}]
    # the next part reads the rows it merges (as fill would): those of n0..n2
    for r, row in enumerate(after_grid):
        if row and row[0] in {"n0", "n1", "n2"}:
            snap.grid[r] = list(row)
    full_rows = [None] + [None] * len(list(snap.base.runs))
    enc = after_base.encode()
    for i, run_id in enumerate(snap.base.runs, start=1):
        if run_id in {"n0", "n1", "n2"}:
            full_rows[i] = enc[i]
    full_rows[0] = enc[0]
    sparse_base = Base.decode_sparse(full_rows, list(snap.base.runs))
    by_need = merge(snap.grid, sparse_base, later, settings)
    whole = merge(after_grid, Base.decode(enc), later, settings)
    assert by_need.updates == whole.updates and by_need.new_rows == whole.new_rows
    assert by_need.insert_at == whole.insert_at and by_need.new_headers == whole.new_headers


def test_key_only_rows_hold_each_run_id_at_its_column():
    grid = key_only(4, 2, ["run_id", "a", "", "b"], ["x", "y", "run_id"])
    assert grid == [["x", "y", "run_id"], [None, None, "a"], [], [None, None, "b"]]
    assert Partial(2, keys=["run_id", "a", "", "b", "a"]).repeated_rows() == {1, 4}


def test_columns_read_a_column_at_a_time_turn_back_into_rows_and_texts():
    from wandb_sheet_sync.sinks.google_read import column_texts, rows_of_columns

    assert column_texts([["run_id", "a ", 7, 2.0]]) == ["run_id", "a", "7", "2"] and column_texts([]) == []
    assert rows_of_columns([["x", None, "z"], [1]]) == [["x", 1], [], ["z"]]
    assert rows_of_columns([[None, ""], []]) == []
