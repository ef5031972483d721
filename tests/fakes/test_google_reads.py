"""The fake Google's reads at Google's edges: cells counted and charged, over-large answers and URLs refused,
many ranges in one values:batchGet, and values:batchGetByDataFilter's shapes."""

from __future__ import annotations

import gspread
import pytest
from google.auth.transport.requests import Request
from google.oauth2.service_account import Credentials

from tests.fakes.google_api import World
from tests.fakes.test_google_edges import api

GRID = [["run_id", "loss", "note"], ["a", 0.5], ["b", 0.25, "kept"], [], ["c", "", "x"]]


@pytest.fixture
def token(key_file) -> str:
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    creds.refresh(Request())
    return creds.token


@pytest.fixture
def ss(google):
    return google.world.add_spreadsheet("s", {"runs": GRID, "base": [["k"], ["a"]]}, rows=10, cols=5)


def batch_get(google, token, sid: str, ranges: list[str], **params):
    return api(google, token, "GET", f"/v4/spreadsheets/{sid}/values:batchGet",
               params={"ranges": ranges, "valueRenderOption": "UNFORMATTED_VALUE", **params})


def by_filter(google, token, sid: str, filters: list[dict], **body):
    return api(google, token, "POST", f"/v4/spreadsheets/{sid}/values:batchGetByDataFilter",
               json={"dataFilters": filters, "valueRenderOption": "UNFORMATTED_VALUE", **body})


def test_defaults_are_googles_edges_on_and_read_time_off():
    w = World()
    assert (w.max_read_bytes, w.max_url_bytes, w.ms_per_1000_cells_read) == (10_485_760, 8192, 0)


# ---- cells read, counted and charged ------------------------------------------------------------------------

def test_every_kind_of_read_counts_the_cells_of_its_answer(google, token, ss):
    sid = ss.spreadsheet_id
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/runs").status_code == 200
    assert batch_get(google, token, sid, ["runs!A1:A", "base"]).status_code == 200
    assert by_filter(google, token, sid, [{"a1Range": "runs!A2:C3"}]).status_code == 200
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}",
               params={"ranges": "runs!A1:B2", "includeGridData": "true"}).status_code == 200
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}").status_code == 200  # metadata: no cells
    # rows as answered, trailing blanks trimmed, blanks inside a row counted; an empty row is no cell
    assert [r.cells_read for r in google.world.log if r.is_sheets] == [3 + 2 + 3 + 0 + 3, 4 + 2, 2 + 3, 4, 0]


def test_a_read_is_charged_per_1000_cells_it_answers_and_a_write_is_not_charged_as_one(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": [[i] * 10 for i in range(250)]})
    google.world.ms_per_1000_cells_read = 40
    sid = ss.spreadsheet_id
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/A1:J100").status_code == 200
    assert by_filter(google, token, sid, [{"gridRange": {"sheetId": 0}}]).status_code == 200
    assert api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/A1", params={"valueInputOption": "RAW"},
               json={"values": [[1]]}).status_code == 200
    entries = [r for r in google.world.log if r.is_sheets]
    assert [(r.cells_read, r.processing) for r in entries] == [(1000, 0.04), (2500, 0.1), (0, 0.0)]
    assert [(r.is_sheets_read, r.is_sheets_write) for r in entries] == [(True, False), (True, False),
                                                                        (False, True)]


# ---- an answer too large -----------------------------------------------------------------------------------

def test_a_single_answer_over_10_mib_gets_googles_503_and_the_same_rows_in_two_reads_do_not(google, token):
    wide = "x" * 1000
    ss = google.world.add_spreadsheet("big", {"Sheet1": [[wide] * 10 for _ in range(1100)]}, cols=10)
    whole = api(google, token, "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/Sheet1")
    assert whole.status_code == 503
    assert whole.json() == {"error": {"code": 503, "message": "The service is currently unavailable.",
                                      "status": "UNAVAILABLE"}}
    assert google.world.log[-1].cells_read == 11_000  # Google read them before it gave up
    assert google.world.largest_read_bytes > 10_485_760
    halves = batch_get(google, token, ss.spreadsheet_id, ["A1:J550"]), batch_get(google, token, ss.spreadsheet_id,
                                                                                  ["A551:J1100"])
    assert [h.status_code for h in halves] == [200, 200]
    assert sum(len(h.json()["valueRanges"][0]["values"]) for h in halves) == 1100


def test_a_lowered_cap_refuses_one_byte_over_it_on_every_kind_of_read(google, token, ss):
    sid = ss.spreadsheet_id
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/runs").status_code == 200
    size = google.world.log[-1].bytes_out
    google.world.max_read_bytes = size
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/runs").status_code == 200  # at the cap
    google.world.max_read_bytes = size - 1
    refused = [api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/runs"),
               batch_get(google, token, sid, ["runs"]),
               by_filter(google, token, sid, [{"a1Range": "runs"}]),
               api(google, token, "GET", f"/v4/spreadsheets/{sid}", params={"includeGridData": "true"})]
    assert [r.status_code for r in refused] == [503] * 4
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/runs!A1:A2").status_code == 200


def test_a_refused_read_is_no_read_for_a_person_waiting_to_act_after_one(google, token, ss):
    sid = ss.spreadsheet_id
    google.world.arm_person(sid, "edit", sheet="runs", cell="C2", value="typed")
    google.world.max_read_bytes = 50
    assert batch_get(google, token, sid, ["runs"]).status_code == 503
    assert not google.world.people[0].done
    google.world.max_read_bytes = 10_485_760
    answer = batch_get(google, token, sid, ["runs!A2:C2"]).json()
    assert answer["valueRanges"][0]["values"] == [["a", 0.5]]  # as read, before the person typed
    assert google.world.people[0].done and google.world.grid(sid, "runs")[1] == ["a", 0.5, "typed"]


# ---- URLs and many ranges -------------------------------------------------------------------------------

def test_values_batch_get_answers_hundreds_of_ranges_in_the_order_asked(google, token):
    ss = google.world.add_spreadsheet("s", {"runs": [[f"r{i}", i] for i in range(400)]}, cols=2)
    rows = list(range(400, 0, -2))  # 200 ranges, last row first
    answer = batch_get(google, token, ss.spreadsheet_id, [f"runs!A{i}:B{i}" for i in rows])
    assert answer.status_code == 200
    got = answer.json()["valueRanges"]
    assert [vr["range"] for vr in got] == [f"runs!A{i}:B{i}" for i in rows]
    assert [vr["values"] for vr in got] == [[[f"r{i - 1}", i - 1]] for i in rows]
    assert google.world.log[-1].cells_read == 400


def test_a_url_over_8_kib_gets_the_front_ends_414_page_before_auth_and_quota(google, token, ss):
    head = f"/v4/spreadsheets/{ss.spreadsheet_id}/values:batchGet?ranges=runs!A1&quotaUser="
    exact = head + "u" * (8192 - len(head))
    assert api(google, token, "GET", exact).status_code == 200
    over = api(google, "", "GET", exact + "u")  # no token: the front end answers before the API looks
    assert over.status_code == 414
    assert over.headers["Content-Type"].startswith("text/html")
    assert "The requested URL is too large to process." in over.text
    assert google.world.log[-1].status == 414
    stamps = google.world.meter.stamps
    assert sum(len(s) for s in stamps.values()) == 2  # only the read at the limit used quota (user + project)


def test_ranges_that_do_not_fit_a_url_fit_a_data_filter_body(google, token):
    ss = google.world.add_spreadsheet("s", {"runs": [[f"r{i}", i] for i in range(1000)]}, cols=2)
    ranges = [f"runs!A{i}:B{i}" for i in range(1, 1001, 2)]  # 500 ranges: about 16 KB of URL
    assert batch_get(google, token, ss.spreadsheet_id, ranges).status_code == 414
    answer = by_filter(google, token, ss.spreadsheet_id, [{"a1Range": r} for r in ranges])
    assert answer.status_code == 200
    assert [m["valueRange"]["values"][0][1] for m in answer.json()["valueRanges"]] == list(range(0, 1000, 2))


# ---- values:batchGetByDataFilter ------------------------------------------------------------------------

def test_data_filter_answer_has_googles_shape_for_a1_and_grid_ranges(google, token, ss):
    base_id = ss.sheets[1].sheet_id
    filters = [{"a1Range": "runs!A1:B2"},
               {"gridRange": {"sheetId": 0, "startRowIndex": 2, "endRowIndex": 3, "startColumnIndex": 1,
                              "endColumnIndex": 3}},
               {"gridRange": {"sheetId": base_id}}]
    answer = by_filter(google, token, ss.spreadsheet_id, filters, majorDimension="ROWS")
    assert answer.status_code == 200
    assert answer.json() == {"spreadsheetId": ss.spreadsheet_id, "valueRanges": [
        {"valueRange": {"range": "runs!A1:B2", "majorDimension": "ROWS", "values": [["run_id", "loss"], ["a", 0.5]]},
         "dataFilters": [filters[0]]},
        {"valueRange": {"range": "runs!B3:C3", "majorDimension": "ROWS", "values": [[0.25, "kept"]]},
         "dataFilters": [filters[1]]},
        {"valueRange": {"range": "base!A1:E10", "majorDimension": "ROWS", "values": [["k"], ["a"]]},
         "dataFilters": [filters[2]]}]}


def test_a_grid_range_without_bounds_runs_to_the_grids_edge(google, token, ss):
    got = by_filter(google, token, ss.spreadsheet_id, [
        {"gridRange": {"sheetId": 0, "startRowIndex": 4}},  # row 5 to the last row, every column
        {"gridRange": {"sheetId": 0, "endRowIndex": 2, "startColumnIndex": 2}},  # column C on, rows 1-2
        {"gridRange": {"startColumnIndex": 0, "endColumnIndex": 1}}],  # sheetId 0 when absent; column A
        majorDimension="COLUMNS").json()["valueRanges"]
    assert [(m["valueRange"]["range"], m["valueRange"].get("values")) for m in got] == [
        ("runs!A5:E10", [["c"], [], ["x"]]),  # an empty column in between: []
        ("runs!C1:E2", [["note"]]),
        ("runs!A1:A10", [["run_id", "a", "b", "", "c"]])]


def test_data_filters_google_would_refuse_get_400s(google, token, ss):
    sid = ss.spreadsheet_id
    bad = [[], [{"a1Range": "runs!A1", "gridRange": {"sheetId": 0}}], [{"gridRange": {"sheetId": 999}}],
           [{"gridRange": {"sheetId": 0, "startRowIndex": 3, "endRowIndex": 1}}],
           [{"gridRange": {"sheetId": 0, "endRowIndex": 11}}], [{"a1Range": "nosuch!A1"}],
           [{"developerMetadataLookup": {"metadataKey": "k"}}]]
    answers = [by_filter(google, token, sid, filters) for filters in bad]
    assert [a.status_code for a in answers] == [400] * len(bad)
    assert "No grid with id: 999" in answers[2].json()["error"]["message"]
    assert "exceeds grid limits" in answers[4].json()["error"]["message"]


def test_a_get_sent_as_a_post_with_method_override_is_served_as_the_read(google, token):
    """What google-api-python-client sends for a GET over 2,048 characters: the query as a form body."""
    ss = google.world.add_spreadsheet("s", {"runs": [[f"r{i}", i] for i in range(1000)]}, cols=2)
    ranges = [f"runs!A{i}:B{i}" for i in range(1, 1001, 2)]
    answer = api(google, token, "POST", f"/v4/spreadsheets/{ss.spreadsheet_id}/values:batchGet",
                 headers={"X-HTTP-Method-Override": "GET"},
                 data={"ranges": ranges, "valueRenderOption": "UNFORMATTED_VALUE"})
    assert answer.status_code == 200
    assert [vr["values"][0][1] for vr in answer.json()["valueRanges"]] == list(range(0, 1000, 2))
    entry = google.world.log[-1]
    assert (entry.method, entry.is_sheets_read, entry.cells_read) == ("GET", True, 1000)


def test_an_answer_is_pretty_printed_unless_the_request_asks_for_compact_json(google, token, ss):
    """Google's standard `prettyPrint` parameter (true by default): the tool asks for compact JSON, so the bytes a
    read costs are its values', not the indentation's."""
    pretty = batch_get(google, token, ss.spreadsheet_id, ["runs"])
    compact = batch_get(google, token, ss.spreadsheet_id, ["runs"], prettyPrint="false")
    assert pretty.json() == compact.json() and b"\n  " in pretty.content and b"\n  " not in compact.content
    assert len(compact.content) < len(pretty.content) / 2
