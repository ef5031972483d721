"""The fake's edges the write lease relies on, as Google has them: a batchUpdate that adds a sheet whose title
exists, or names a sheet id that is gone, is refused whole; a warning-only protected range as recorded."""

from __future__ import annotations

import random

import pytest

from tests.fakes.cells import ApiError
from tests.fakes.sheets_model import Sheet, Spreadsheet


def _ss() -> Spreadsheet:
    return Spreadsheet("id", "t", [Sheet(0, "runs"), Sheet(7, "_sync_lease runs", hidden=True)])


def _cell(sheet_id: int, text: str) -> dict:
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                            "rows": [{"values": [{"userEnteredValue": {"stringValue": text}}]}],
                            "fields": "userEnteredValue"}}


def test_adding_a_sheet_whose_title_exists_refuses_the_whole_batch():
    ss = _ss()
    with pytest.raises(ApiError, match=r'requests\[1\]\.addSheet: A sheet with the name "_sync_lease runs" already '
                                       r"exists"):
        ss.batch_update([_cell(0, "written?"), {"addSheet": {"properties": {"title": "_sync_lease runs"}}}],
                        random.Random(0))
    assert ss.sheets[0].get(0, 0) is None and len(ss.sheets) == 2


def test_a_request_naming_a_sheet_id_that_is_gone_refuses_the_whole_batch():
    ss = _ss()
    with pytest.raises(ApiError, match=r"requests\[1\]\.deleteSheet: No grid with id: 8"):
        ss.batch_update([_cell(0, "written?"), {"deleteSheet": {"sheetId": 8}}], random.Random(0))
    with pytest.raises(ApiError, match=r"requests\[1\]\.updateCells: No grid with id: 8"):
        ss.batch_update([_cell(0, "written?"), _cell(8, "fence")], random.Random(0))
    assert ss.sheets[0].get(0, 0) is None


def test_a_warning_only_protected_range_is_kept_and_shown_as_google_shows_it():
    ss = _ss()
    [reply] = ss.batch_update([{"addProtectedRange": {"protectedRange": {
        "range": {"sheetId": 7}, "warningOnly": True, "description": "base of 0"}}}], random.Random(0))
    made = reply["addProtectedRange"]["protectedRange"]
    assert made["range"] == {"sheetId": 7} and made["warningOnly"] is True and made["editors"] == {}
    assert ss.metadata()["sheets"][1]["protectedRanges"] == [made]
    ss.batch_update([{"deleteSheet": {"sheetId": 7}}], random.Random(0))
    assert all("protectedRanges" not in s for s in ss.metadata()["sheets"])
