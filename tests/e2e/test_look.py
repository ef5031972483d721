"""What a person sees in Google Sheets: formats, widths, the frozen header, links and the best-run highlights,
set up once and never over a person's own formatting. Asserted on the fake Google server's state."""

from __future__ import annotations

import datetime as dt

import pytest

from wandb_sheet_sync.base import serial_days
from wandb_sheet_sync.columns import column_letters
from wandb_sheet_sync.sinks.google_requests import pixels
from wandb_sheet_sync.sinks.google_sheets import base_title
from tests.fakes.cells import parse_input

pytestmark = pytest.mark.slow  # see pytest.ini: every test here starts the command as a process, or soaks

HIGHLIGHT = {"loss": "min", "accuracy": "max"}


def _sheet(e2e, title: str = "runs"):
    return next(s for s in e2e.google.world.spreadsheets[e2e.spreadsheet_id].sheets if s.title == title)


def _pattern(sheet, r: int, c: int) -> tuple[str, str] | None:
    cell = sheet.get(r, c)
    nf = ((cell.fmt if cell else None) or {}).get("numberFormat")
    return (nf["type"], nf["pattern"]) if nf else None


def _rules(sheet) -> list[tuple[str, int, str]]:
    """(kind, column, formula or gradient end) of every conditional-format rule on the sheet, in order."""
    out = []
    for rule in sheet.conditional_formats:
        col = rule["ranges"][0]["startColumnIndex"]
        if "booleanRule" in rule:
            out.append(("best", col, rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]))
        else:
            out.append(("scale", col, rule["gradientRule"]["minpoint"]["type"]))
    return out


def _reads(e2e) -> list[str]:
    """What each Sheets read of a run of the tool asked for: "sheets" (the list of worksheets, once per
    process), "values" (the data and base: one per sync; again, smaller, to check it before a write that
    rewrites rows), "rules" (the conditional formats)."""
    out = []
    for r in e2e.google.world.log:
        if r.is_sheets_read:
            fields = " ".join(r.query.get("fields", []))
            out.append("rules" if "conditionalFormats" in fields else "values" if "ranges" in r.query else "sheets")
    return out


def _synced(e2e, runs: int, **config):
    """runs runs synced once with this config: the worksheet and its header."""
    e2e.wandb.world.generate(runs)
    e2e.config(**config)
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    return _sheet(e2e), e2e.sheet()[0]


def _best(col: int, goal: str) -> str:
    c = column_letters(col)
    return f"=AND(ISNUMBER({c}2),{c}2={goal}(${c}$2:${c}))"


def test_first_sync_formats_the_sheet_for_reading(e2e):
    sheet, header = _synced(e2e, 12, HIGHLIGHT=HIGHLIGHT, HIGHLIGHT_SCALE=True)
    col = {h: i for i, h in enumerate(header)}
    assert sheet.frozen_rows == 1
    assert all(sheet.get(0, c).fmt["textFormat"]["bold"] for c in range(len(header)))
    for r in range(1, 13):
        assert _pattern(sheet, r, col["created_at"]) == ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
        assert _pattern(sheet, r, col["accuracy"]) == ("NUMBER", "0.0000")  # 0.5 to 0.99: 4 significant digits
        assert _pattern(sheet, r, col["lr"]) == ("SCIENTIFIC", "0.000E+00")  # 1e-5 to 1e-1
        assert _pattern(sheet, r, col["batch_size"]) is None  # whole numbers: the sheet's own format
        assert _pattern(sheet, r, col["run_name"]) is None
    loss_typical = sorted(row["loss"] for row in e2e.rows().values())[6]
    assert _pattern(sheet, 1, col["loss"]) == ("NUMBER", "0.0000" if loss_typical < 1 else "0.000")
    link = sheet.get(1, col["run_id"]).extra["textFormatRuns"][0]["format"]["link"]["uri"]
    assert link == f"{e2e.wandb.url}/alice/proj/runs/{sheet.get(1, col['run_id']).value}"
    widths = {h: sheet.dimension_props[("COLUMNS", c)]["pixelSize"] for h, c in col.items()}
    assert widths["created_at"] == pixels(20)  # a whole date-time shows
    assert widths["model.layers"] > widths["epoch"] >= pixels(8)  # fitted to the header
    assert _rules(sheet) == [("best", col["loss"], _best(col["loss"], "MIN")),  # in HIGHLIGHT's order
                             ("scale", col["loss"], "MIN"),
                             ("best", col["accuracy"], _best(col["accuracy"], "MAX")),
                             ("scale", col["accuracy"], "MIN")]
    green, white = {"red": 0.341, "green": 0.733, "blue": 0.541}, {"red": 1.0, "green": 1.0, "blue": 1.0}
    loss_scale, acc_scale = (sheet.conditional_formats[i]["gradientRule"] for i in (1, 3))
    assert (loss_scale["minpoint"]["color"], loss_scale["maxpoint"]["color"]) == (green, white)  # low loss: green
    assert (acc_scale["minpoint"]["color"], acc_scale["maxpoint"]["color"]) == (white, green)  # high accuracy
    best = sheet.conditional_formats[0]["booleanRule"]["format"]
    assert best["textFormat"]["bold"] and best["backgroundColor"] == {"red": 0.717, "green": 0.882, "blue": 0.804}


def test_a_persons_formatting_survives_later_syncs_and_new_rows_get_the_columns_format(e2e):
    sheet, header = _synced(e2e, 5, HIGHLIGHT=HIGHLIGHT)
    col = {h: i for i, h in enumerate(header)}
    # A person: loss of row 2 in percent, bold and yellow; the accuracy column in percent; the run name of
    # row 3 italic; a rule of their own; a wider notes column.
    mine = {"numberFormat": {"type": "PERCENT", "pattern": "0.0%"}, "textFormat": {"bold": True},
            "backgroundColor": {"red": 1, "green": 1, "blue": 0}}
    sheet.put(1, col["loss"], sheet.get(1, col["loss"]).with_(fmt=mine))
    for r in range(1, 6):
        sheet.put(r, col["accuracy"], sheet.get(r, col["accuracy"]).with_(fmt={"numberFormat": {
            "type": "PERCENT", "pattern": "0%"}}))
    sheet.put(2, col["run_name"], sheet.get(2, col["run_name"]).with_(fmt={"textFormat": {"italic": True}}))
    own_rule = {"ranges": [{"sheetId": sheet.sheet_id, "startRowIndex": 1, "startColumnIndex": col["state"],
                            "endColumnIndex": col["state"] + 1}],
                "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "failed"}]},
                                "format": {"backgroundColor": {"red": 1}}}}
    sheet.conditional_formats.append(own_rule)
    sheet.dimension_props[("COLUMNS", col["notes"])] = {"pixelSize": 400}
    rules_before = list(sheet.conditional_formats)
    # W&B moves on: every metric of the first two runs changes, and three runs arrive.
    for run_id in (sheet.get(1, col["run_id"]).value, sheet.get(2, col["run_id"]).value):
        run = e2e.wandb.world.find("alice", "proj", run_id)
        run.summary["loss"], run.summary["accuracy"] = 0.123456, 0.987654
        run.heartbeat_at += dt.timedelta(hours=1)
    e2e.wandb.world.generate(3, seed=1, start=dt.datetime(2026, 2, 1))
    e2e.google.world.clear_log()
    result = e2e.cli("--once")
    assert result.returncode == 0 and "3 new, 2 updated" in result.stdout, result.stdout + result.stderr
    writes = [r for r in e2e.google.world.log if r.is_sheets_write and "_sync_lease" not in str(r.body)
              and "deleteSheet" not in str(r.body)]  # not the write lease's own (issue 23)
    # read by need (issue 24): the head, the places, the rows of the five runs, then the check before the write
    assert len(writes) == 1 and _reads(e2e) == ["sheets"] + ["values"] * 4
    assert sheet.get(1, col["loss"]).value == 0.123456 and sheet.get(1, col["loss"]).fmt == mine
    assert all(_pattern(sheet, r, col["accuracy"]) == ("PERCENT", "0%") for r in range(1, 6))
    assert sheet.get(2, col["accuracy"]).value == 0.987654
    assert sheet.get(2, col["run_name"]).fmt == {"textFormat": {"italic": True}}
    assert sheet.conditional_formats == rules_before  # nothing added twice, the person's own rule kept
    assert sheet.dimension_props[("COLUMNS", col["notes"])] == {"pixelSize": 400}
    for r in range(6, 9):  # the new rows: the tool's formats, the created_at dates shown as dates
        assert _pattern(sheet, r, col["accuracy"]) == ("NUMBER", "0.0000")
        assert _pattern(sheet, r, col["created_at"]) == ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
        assert _pattern(sheet, r, col["lr"]) == ("SCIENTIFIC", "0.000E+00")
    assert sheet.get(6, col["run_id"]).extra["textFormatRuns"][0]["format"]["link"]["uri"].endswith("r01000000")
    again = e2e.cli("--once")
    assert again.returncode == 0 and "0 new, 0 updated" in again.stdout


def test_highlight_rules_follow_a_moved_column_and_leave_other_rules_alone(e2e):
    sheet, header = _synced(e2e, 4, HIGHLIGHT=HIGHLIGHT)
    grid = e2e.sheet()
    loss, acc = header.index("loss"), header.index("accuracy")
    own_rule = {"ranges": [{"sheetId": sheet.sheet_id, "startRowIndex": 1, "startColumnIndex": loss,
                            "endColumnIndex": loss + 1}],
                "booleanRule": {"condition": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "2"}]},
                                "format": {"textFormat": {"italic": True}}}}
    sheet.conditional_formats.append(own_rule)
    # A person moves the loss column to the front (cut and paste: the rules stay where they were).
    order = [loss] + [i for i in range(len(header)) if i != loss]
    moved = [[(row[i] if i < len(row) else None) for i in order] for row in grid]
    sheet.cells.clear()
    for r, row in enumerate(moved):
        for c, v in enumerate(row):
            if v is not None:
                sheet.put(r, c, parse_input(v, False, None))
    e2e.google.world.clear_log()
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert _reads(e2e) == ["sheets", "values", "rules"]  # once, the rules, to find the ones to move
    new_acc = acc + 1 if acc < loss else acc  # accuracy shifted right by one if it was left of loss
    assert _rules(sheet)[:2] == [("best", 0, _best(0, "MIN")), ("best", new_acc, _best(new_acc, "MAX"))]
    assert sheet.conditional_formats[2] == own_rule  # the person's rule, untouched
    e2e.google.world.clear_log()
    quiet = e2e.cli("--once")
    assert quiet.returncode == 0 and "0 new, 0 updated" in quiet.stdout
    assert _reads(e2e) == ["sheets", "values"]
    assert not [r for r in e2e.google.world.log if r.is_sheets_write]


def test_a_deleted_rule_stays_deleted_and_a_highlight_taken_out_of_the_config_goes(e2e):
    sheet, header = _synced(e2e, 4, HIGHLIGHT=HIGHLIGHT)
    loss, acc = header.index("loss"), header.index("accuracy")
    assert [c for _, c, _ in _rules(sheet)] == [loss, acc]
    del sheet.conditional_formats[1]  # a person deletes the accuracy highlight
    e2e.wandb.world.generate(2, seed=1, start=dt.datetime(2026, 2, 1))
    assert e2e.cli("--once").returncode == 0
    assert [c for _, c, _ in _rules(sheet)] == [loss]
    e2e.config(HIGHLIGHT={"accuracy": "max"})  # loss taken out of the config
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert _rules(sheet) == []
    e2e.config(HIGHLIGHT={"accuracy": "min"})  # a changed goal is the config speaking: the rule comes back
    assert e2e.cli("--once").returncode == 0
    assert _rules(sheet) == [("best", acc, _best(acc, "MIN"))]


def test_newest_first_rows_get_formats_and_links_under_the_header(e2e):
    e2e.wandb.world.generate(3)
    e2e.config(ORDER="newest_first")
    assert e2e.cli("--once").returncode == 0
    e2e.wandb.world.generate(2, seed=1, start=dt.datetime(2026, 2, 1))
    assert e2e.cli("--once").returncode == 0
    sheet = _sheet(e2e)
    header = e2e.sheet()[0]
    col = {h: i for i, h in enumerate(header)}
    assert [sheet.get(r, 0).value for r in range(1, 6)] == ["r01000001", "r01000000", "r00000002", "r00000001",
                                                            "r00000000"]
    for r in range(1, 6):
        assert _pattern(sheet, r, col["created_at"]) == ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")
        assert _pattern(sheet, r, col["accuracy"]) == ("NUMBER", "0.0000")
        uri = sheet.get(r, 0).extra["textFormatRuns"][0]["format"]["link"]["uri"]
        assert uri.endswith("/runs/" + sheet.get(r, 0).value)
    assert sheet.get(0, 0).fmt["textFormat"]["bold"] and sheet.frozen_rows == 1


def test_an_adopted_sheet_keeps_its_formats_and_only_new_columns_are_set_up(e2e):
    runs = e2e.wandb.world.generate(2)
    typed_by_hand = runs[0].created_at.strftime("%Y-%m-%d %H:%M:%S")  # how the original script left dates
    ss = e2e.google.world.add_spreadsheet("By hand", {"runs": [
        ["run_id", "loss", "created_at"], [runs[0].name, repr(runs[0].summary["loss"]), typed_by_hand]]})
    ss.sheets[0].put(1, 2, parse_input(typed_by_hand, False, None))  # text, as RAW input keeps it
    sheet = ss.sheets[0]
    theirs = {"numberFormat": {"type": "NUMBER", "pattern": "0.0"}}
    sheet.put(1, 1, sheet.get(1, 1).with_(fmt=theirs))
    e2e.config(SPREADSHEET=ss.spreadsheet_id, HIGHLIGHT={"loss": "min"})
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    assert sheet.get(1, 1).fmt == theirs  # the person's format on their column stays
    assert _pattern(sheet, 2, 1) is None  # and the column is theirs: no format of the tool's on a new row
    assert sheet.frozen_rows == 0  # their sheet, their layout
    assert sheet.get(1, 2).value == serial_days(runs[0].created_at)  # the text date adopted and rewritten typed
    assert _pattern(sheet, 1, 2) == ("DATE_TIME", "yyyy-mm-dd hh:mm:ss")  # and shown as a date, not 46023
    header = e2e.google.world.grid(ss.spreadsheet_id, "runs")[0]
    acc = header.index("accuracy")
    assert _pattern(sheet, 1, acc) == ("NUMBER", "0.0000")  # a column the tool added is set up
    assert _rules(sheet) == [("best", 1, _best(1, "MIN"))]  # HIGHLIGHT asks for it: added beside their format


def test_a_lost_base_does_not_add_the_highlight_rules_twice(e2e):
    sheet, header = _synced(e2e, 3, HIGHLIGHT=HIGHLIGHT, HIGHLIGHT_SCALE=True)
    rules = _rules(sheet)
    ss = e2e.google.world.spreadsheets[e2e.spreadsheet_id]
    ss.sheets = [s for s in ss.sheets if s.title != base_title("runs")]  # a person deletes the hidden base
    e2e.google.world.clear_log()
    result = e2e.cli("--once")
    assert result.returncode == 0, result.stderr
    # the head, the places (no base: a full read of W&B asks which runs the sheet has), then the whole sheet (every
    # run is merged: adopted), then the rules
    assert _reads(e2e) == ["sheets", "values", "values", "values", "rules"]
    assert _rules(sheet) == rules


def test_an_empty_worksheet_that_exists_gets_a_frozen_header_and_dry_run_says_what_it_would_format(e2e):
    e2e.wandb.world.generate(3)
    cfg = e2e.config(WORKSHEET="Sheet1", HIGHLIGHT={"loss": "min"})
    dry = e2e.cli("--once", "--dry-run", config=cfg)
    assert dry.returncode == 0, dry.stderr
    assert "Sheet1: format column 'accuracy' as '0.0000'" in dry.stdout
    assert "Sheet1: highlight the min of column 'loss'" in dry.stdout
    sheet = _sheet(e2e, "Sheet1")
    assert sheet.cells == {} and sheet.frozen_rows == 0 and sheet.conditional_formats == []
    assert e2e.cli("--once", config=cfg).returncode == 0
    header = e2e.sheet("Sheet1")[0]
    assert sheet.frozen_rows == 1 and sheet.get(0, 0).fmt["textFormat"]["bold"]
    assert _rules(sheet) == [("best", header.index("loss"), _best(header.index("loss"), "MIN"))]
