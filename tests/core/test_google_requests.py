"""The Sheets request bodies, the mid-sync check and the metadata cache, without HTTP: each body is held to Google's
Sheets v4 discovery document, and each promise the bodies carry (no formulas, absolute cells, typed dates) to a case."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from wandb_sheet_sync.base import serial_days
from wandb_sheet_sync.errors import SinkError
from wandb_sheet_sync.layout import Layout
from wandb_sheet_sync.look import ColumnSetup, Highlight, Look
from wandb_sheet_sync.merge import MAX_CELLS, Plan
from wandb_sheet_sync.sinks import Snapshot
from wandb_sheet_sync.sinks import google_requests as req
from wandb_sheet_sync.sinks.google_check import check, unmoved
from wandb_sheet_sync.sinks.google_grid import SheetCache, SheetGrid
from wandb_sheet_sync.sinks.google_sheets import CAPABILITIES
from wandb_sheet_sync.sinks.google_write import prepare
from tests.fakes.discovery import validate

WHEN = dt.datetime(2026, 3, 1, 12, 30)


def problems(*requests: dict) -> list[str]:
    return validate("POST", "/v4/spreadsheets/abc:batchUpdate", {}, {"requests": list(requests)})


EVERY_BUILDER = {
    "addSheet": req.add_sheet(7, "runs", 10, 4),
    "addSheet hidden": req.add_hidden_sheet(8, "_sync_base runs", 3, 3),
    "bold header row": req.bold_header_row(7),
    "appendDimension": req.grow(7, "ROWS", 5),
    "deleteDimension": req.delete_row(7, 4),
    "header": req.header(7, 3, "loss"),
    "updateCells": req.update(7, 1, 0, [[req.cell("a"), req.cell(1.5), req.cell(True), req.cell(None)]],
                              "userEnteredValue"),
    "number format": req.number_format(7, 2, "0.000", 1),
    "number format, bounded": req.number_format(7, 2, "yyyy-mm-dd hh:mm:ss", 1, 9),
    "freeze": req.freeze_header(7),
    "width": req.column_width(7, 2, 12),
    "add rule": {"addConditionalFormatRule": {"index": 0, "rule": req.rule(7, 2, "min", "best")}},
    "update rule": {"updateConditionalFormatRule": {"sheetId": 7, "index": 1, "rule": req.rule(7, 2, "max", "scale")}},
}


@pytest.mark.parametrize("name", list(EVERY_BUILDER))
def test_every_request_body_follows_the_discovery_document(name):
    assert problems(EVERY_BUILDER[name]) == []


def test_the_discovery_check_can_fail():
    assert problems({"appendDimension": {"sheetId": 7, "dimension": "SIDEWAYS", "length": 5}})
    assert problems({"addSheet": {"properties": {"sheetId": 7, "colour": "red"}}})


def test_text_that_looks_like_a_formula_is_sent_as_text():
    assert req.cell("=IMPORTXML(A1)") == {"userEnteredValue": {"stringValue": "=IMPORTXML(A1)"}}
    assert json.loads(req.cell_json("=1+1")) == {"userEnteredValue": {"stringValue": "=1+1"}}


@pytest.mark.parametrize("value, link", [(3, None), (2.5, None), (1e-300, None), ("tëxt \"q\"", None), (None, None),
                                         (True, None), (WHEN, None), ("r1", "https://wandb.ai/a/p/runs/r1")])
def test_the_fast_cell_text_is_the_cell(value, link):
    assert json.loads(req.cell_json(value, link)) == req.cell(value, link)


def test_a_date_time_is_a_serial_number():
    assert req.cell(WHEN) == {"userEnteredValue": {"numberValue": serial_days(WHEN)}}


def test_a_linked_value_carries_its_page():
    row = json.loads(req.row_json(["r1", 0.5], frozenset({0}), {"r1": "https://x/r1", 0.5: "never"}))
    assert row["values"][0]["textFormatRuns"][0]["format"]["link"]["uri"] == "https://x/r1"
    assert "textFormatRuns" not in row["values"][1]


def test_neighbouring_changes_in_a_row_go_as_one_update_and_others_apart():
    out = req.updates(7, [(2, 1, "b"), (2, 0, "a"), (2, 3, "d"), (5, 0, 1)])
    assert [(u["updateCells"]["start"]["rowIndex"], u["updateCells"]["start"]["columnIndex"],
             len(u["updateCells"]["rows"][0]["values"])) for u in out] == [(2, 0, 2), (2, 3, 1), (5, 0, 1)]
    assert problems(*out) == []


def test_a_date_brings_its_format_only_into_a_column_the_tool_does_not_format():
    loose, owned = req.updates(7, [(1, 0, WHEN)]), req.updates(7, [(1, 0, WHEN)], owned={0})
    assert loose[0]["updateCells"]["fields"] == "userEnteredValue,userEnteredFormat.numberFormat"
    assert "userEnteredFormat" in loose[0]["updateCells"]["rows"][0]["values"][0]
    assert owned[0]["updateCells"]["fields"] == "userEnteredValue"


def test_an_update_in_a_link_column_rewrites_or_clears_the_link():
    out = req.updates(7, [(1, 2, "r9"), (1, 3, 4)], link_cols=frozenset({2}), links={"r9": "https://x/r9"})
    assert [u["updateCells"]["fields"] for u in out] == ["userEnteredValue,textFormatRuns", "userEnteredValue"]


@pytest.mark.parametrize("a1, size", [("runs!A1:Z1000", (1000, 26)), ("'a b'!A1:AB7", (7, 28)), ("runs!A1", (3, 4)),
                                      ("", (3, 4))])
def test_the_grid_size_comes_from_the_echoed_range(a1, size):
    assert req.grid_size(a1, 3, 4) == size


@pytest.mark.parametrize("a1, end", [("runs!A1:W1", (1, 23)), ("runs!C2:C500", (500, 3)), ("runs!C500", (500, 3)),
                                     ("", (3, 4))])
def test_a_row_or_column_read_says_where_the_grid_ends_in_either_echo(a1, end):
    """A key range that is one cell of the grid echoes as that cell (issue 24: the check reads the key column from the
    first row its plan names, which may be the grid's last)."""
    assert req.echo_end(a1, 3, 4) == end


def test_a_title_is_quoted_for_a1_notation():
    assert req.quote("Bob's runs") == "'Bob''s runs'"


def test_only_changed_base_rows_are_written_each_with_the_run_that_owns_it():
    old = [["wandb_spreadsheet_sync base", "v"], ["r1", "x"], ["", "more"], ["r2", "y"]]
    new = [["wandb_spreadsheet_sync base", "v"], ["r1", "x"], ["", "MORE"], ["r2", "y", "z"]]
    changed = req.changed_rows(old, new, 3)
    assert changed == {2: ["", "MORE", None], 3: ["r2", "y", "z"]}
    assert req.owners(new, changed) == {"r1": [2], "r2": [3]}


def test_a_base_row_that_got_shorter_clears_every_cell_it_held():
    """A read state split over 9 cells that now fits in 4 (it shrank): the 5 cells after it are cleared, or a read of
    the base's head keeps reading 200 KB of a state long gone."""
    old = [["wandb_spreadsheet_sync base", "h", "1:a", "b", "c", "d", "e", "f", "g"], ["r1", "x"]]
    new = [["wandb_spreadsheet_sync base", "h", "1:a", "b"], ["r1", "x"]]
    assert req.changed_rows(old, new, 4) == {0: new[0] + [None] * 5}


def test_a_new_sheet_is_made_frozen_and_an_old_one_is_frozen_by_request():
    look = Look(freeze_header=True, setup=[ColumnSetup(2, "loss", "0.00", 8)])
    kinds = [next(iter(r)) for r in req.look_requests(7, look, new_sheet=False, found=[])]
    assert kinds == ["updateSheetProperties", "repeatCell", "updateDimensionProperties"]
    assert [next(iter(r)) for r in req.look_requests(7, look, new_sheet=True, found=[])] == kinds[1:]


def test_a_rule_the_tool_made_is_known_again_as_google_returns_it():
    best, scale = req.rule(7, 2, "min", "best"), req.rule(7, 3, "max", "scale")
    for made in (best, scale):  # Google drops colour channels that are 0
        for point in made.get("gradientRule", {}).values():
            point["color"] = {k: v for k, v in point["color"].items() if v}
    assert req.tool_rule(best) == (2, "best", "min") and req.tool_rule(scale) == (3, "scale", "max")
    person = {"ranges": [{"sheetId": 7, "startColumnIndex": 2, "endColumnIndex": 4}],
              "booleanRule": best["booleanRule"]}
    assert req.tool_rule(person) is None  # two columns: a person's rule, left alone
    meta = {"sheets": [{"properties": {"sheetId": 6}, "conditionalFormats": [best]},
                       {"properties": {"sheetId": 7}, "conditionalFormats": [person, best]}]}
    assert req.tool_rules(meta, 7) == [(1, 2, "best", "min")]


def test_rule_changes_rewrite_in_place_then_delete_from_the_highest_index_then_add_at_the_top():
    moved = Highlight("loss", col=4, goal="min", scale=False, previous=2, reason="move")
    gone = Highlight("acc", col=5, goal=None, scale=False, previous=5, reason="remove")
    new = Highlight("f1", col=6, goal="max", scale=True, previous=None)
    found = [(0, 2, "best", "min"), (1, 5, "best", "max"), (2, 5, "scale", "max")]
    out = req.rule_requests(7, [moved, gone, new], found)
    assert [next(iter(r)) for r in out] == ["updateConditionalFormatRule", "deleteConditionalFormatRule",
                                            "deleteConditionalFormatRule", "addConditionalFormatRule",
                                            "addConditionalFormatRule"]
    assert out[0]["updateConditionalFormatRule"]["index"] == 0
    assert out[0]["updateConditionalFormatRule"]["rule"]["ranges"][0]["startColumnIndex"] == 4
    assert [r["deleteConditionalFormatRule"]["index"] for r in out[1:3]] == [2, 1]
    assert [r["addConditionalFormatRule"]["index"] for r in out[3:]] == [0, 1]
    assert problems(*out) == []


# ---- the mid-sync check --------------------------------------------------------------------------------------

GRID = [["run_id", "loss"], ["a", 0.5], ["b", None], ["c", 0.1]]


def planned(**kw) -> Plan:
    return Plan(layout=Layout.of(GRID), **kw)


def echo(ranges_and_values: list[tuple[str, list]]) -> list[dict]:
    return [{"range": a1, "values": values} for a1, values in ranges_and_values]


def test_the_check_reads_the_header_the_grids_last_row_and_the_rows_to_rewrite():
    one = check(Snapshot("runs", GRID, None), 4, 2, planned(), [1, 3], inserting=False)
    assert one.ranges == ["'runs'!1:1", "'runs'!A4:A", "'runs'!2:2", "'runs'!4:4"]
    found = echo([("runs!A1:B1", [["run_id", "loss"]]), ("runs!A4", [["c"]]),
                  ("runs!A2:B2", [["a", 0.5]]), ("runs!A4:B4", [["c", 0.1]])])
    assert unmoved([one], found)
    sorted_by_a_person = found[:2] + echo([("runs!A2:B2", [["c", 0.1]]), ("runs!A4:B4", [["a", 0.5]])])
    assert not unmoved([one], sorted_by_a_person)  # the rows to rewrite hold other runs now
    grown_by_a_person = found[:1] + echo([("runs!A4:A5", [["c"], ["typed"]])]) + found[2:]
    assert not unmoved([one], grown_by_a_person)  # a row added at the bottom since the read
    widened = echo([("runs!A1:C1", [["run_id", "loss"]])]) + found[1:]
    assert not unmoved([one], widened)  # a column added at the right since the read


def test_a_plan_that_only_appends_checks_the_rows_it_fills_not_the_key_column():
    """A plan that only appends (each page of a streamed first sync) reads the header, the grid's last row and the
    rows it fills: not the whole key column again, which grew with every page."""
    grid = [["run_id", "loss"]] + [[f"r{i}", i] for i in range(1, 9)]
    plan = Plan(layout=Layout.of(grid), new_rows=[["n1", 1]], new_run_ids=["n1"], insert_at=9)
    one = check(Snapshot("runs", grid, None), 12, 2, plan, [], inserting=False)
    assert one.ranges == ["'runs'!1:1", "'runs'!A12:A", "'runs'!10:10"] and one.expected[1:] == [[], []]
    updating = check(Snapshot("runs", grid, None), 9, 2, Plan(layout=Layout.of(grid)), [6], inserting=False)
    assert updating.ranges[1:] == ["'runs'!A9:A", "'runs'!7:7"] and updating.expected[1:] == [[["r8"]], [["r6", 6]]]


def test_rows_to_rewrite_are_checked_as_runs_of_consecutive_rows():
    """A read by need holds only the rows it merges (issue 24): the check reads those rows, as spans of consecutive
    rows, never a span that takes in rows the sync did not read."""
    grid = [["run_id"]] + [[f"r{i}"] for i in range(300)]
    rows = [*range(3, 250), 260, 262, 263]
    one = check(Snapshot("runs", grid, None), len(grid), 1, Plan(layout=Layout.of(grid)), rows, inserting=False)
    assert one.ranges[2:] == ["'runs'!4:250", "'runs'!261:261", "'runs'!263:264"]
    assert one.expected[3:] == [[["r259"]], [["r261"], ["r262"]]]


def test_rows_and_columns_to_fill_must_still_be_empty():
    plan = planned(new_rows=[["d", 1]], insert_at=4, new_headers=[(2, "acc")])
    one = check(Snapshot("runs", GRID, None), 6, 3, plan, [], inserting=False)
    assert one.ranges[2:] == ["'runs'!5:5", "'runs'!C:C"] and one.expected[2:] == [[], []]


# ---- the metadata cache --------------------------------------------------------------------------------------

def meta(*sheets: tuple[str, int, int, int]) -> dict:
    return {"sheets": [{"properties": {"title": t, "sheetId": i, "gridProperties": {"rowCount": r, "columnCount": c}}}
                       for t, i, r, c in sheets]}


def test_the_cache_gives_a_worksheets_grid_and_follows_the_writes():
    cache = SheetCache()
    cache.load(meta(("runs", 1, 10, 3), ("_sync_base runs", 2, 4, 3)))
    assert cache.take_fresh() and not cache.take_fresh()
    assert cache.grid("runs", "_sync_base runs") == SheetGrid(1, 2, 10, 3, 4, 3)
    assert cache.grid("tab", "_sync_base tab") == SheetGrid(None, None)
    cache.keep("tab", "_sync_base tab", SheetGrid(5, 6, 2, 2, 3, 3))
    assert cache.ids() == {1, 2, 5, 6} and cache.grid("tab", "_sync_base tab").rows == 2


def test_a_write_past_googles_ten_million_cells_is_refused_before_it_is_sent():
    cache = SheetCache()
    cache.load(meta(("runs", 1, MAX_CELLS // 10, 10)))
    with pytest.raises(SinkError, match="only 0 of Google's 10,000,000 left"):
        cache.check_room(1)
    cache.check_room(0)


# ---- one worksheet's write -----------------------------------------------------------------------------------

def bodies(write) -> list[dict]:
    return [json.loads(b.body) for b in write.batches]


def test_a_new_worksheet_is_made_frozen_and_bold_in_the_first_body_and_no_rules_are_read():
    ids, asked_room, read_rules = iter([41, 42]), [], []
    plan = Plan(layout=Layout.of([["run_id", "loss"]]), width=2, new_headers=[(0, "run_id"), (1, "loss")],
                insert_at=1, new_rows=[["a", 0.5], ["b", 0.25]], new_run_ids=["a", "b"],
                look=Look(highlights=[Highlight("loss", 1, "min", False, None)]))
    write = prepare(Snapshot("runs", [], None, [], SheetGrid(None, None)), plan, CAPABILITIES, lambda: next(ids),
                    asked_room.append, read_rules.append)
    sent = bodies(write)
    assert [problems(*body["requests"]) for body in sent] == [[]] * len(sent)
    kinds = [next(iter(r)) for body in sent for r in body["requests"]]
    assert kinds[:2] == ["addSheet", "repeatCell"] and "addConditionalFormatRule" in kinds
    assert sent[0]["requests"][0]["addSheet"]["properties"]["gridProperties"] == {
        "rowCount": 3, "columnCount": 2, "frozenRowCount": 1}
    assert asked_room == [3 * 2] and read_rules == []  # a new sheet has no rules to find
    assert write.check is None and write.grid.sheet_id == 41 and write.runs == 2


def test_an_existing_worksheet_is_checked_before_its_write_and_its_rules_are_read_once():
    grid = [["run_id", "loss"], ["a", 0.5]]
    read_rules = []
    plan = Plan(layout=Layout.of(grid), width=2, updates=[(1, 1, 0.4)], run_rows={"a": 1}, insert_at=2,
                look=Look(highlights=[Highlight("loss", 1, "min", False, None)]))
    write = prepare(Snapshot("runs", grid, None, [], SheetGrid(7, None, 1000, 26)), plan, CAPABILITIES,
                    lambda: pytest.fail("no new sheet"), lambda extra: None,
                    lambda sheet_id: read_rules.append(sheet_id) or [(0, 1, "best", "min")])
    sent = bodies(write)
    assert read_rules == [7] and write.check is not None and write.check.ranges[2:] == ["'runs'!2:2"]
    kinds = [next(iter(r)) for body in sent for r in body["requests"]]
    assert "addConditionalFormatRule" not in kinds  # the rule found is the rule wanted
    assert sent[-1]["requests"][-1]["updateCells"]["rows"][0]["values"][0] == {"userEnteredValue": {"numberValue": 0.4}}
