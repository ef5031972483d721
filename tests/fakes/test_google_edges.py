"""The fake Google at Google's edges: payload cap, writes that land and then fail, people acting mid-sync, quotas."""

from __future__ import annotations

import threading
import time

import gspread
import pytest
import requests
from google.auth.transport.requests import Request
from google.oauth2.service_account import Credentials

from wandb_sheet_sync.sinks.google_http import GoogleSession
from tests.fakes.google_api import FakeGoogle
from tests.fakes.test_google_fake import client, token_for



@pytest.fixture
def token(key_file) -> str:
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    creds.refresh(Request())
    return creds.token


def api(google, token: str, method: str, path: str, timeout: float = 10, headers: dict | None = None,
        **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} | (headers or {})
    return requests.request(method, google.url + path, headers=headers, timeout=timeout, **kw)


def put(google, token: str, sid: str, range_a1: str, values: list[list], **kw) -> requests.Response:
    return api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/{range_a1}",
               params={"valueInputOption": "RAW"}, json={"values": values}, **kw)


# ---- writes that land and then fail ---------------------------------------------------------------

def test_status_after_applies_the_write_then_answers_googles_5xx(google, token):
    ss = google.world.add_spreadsheet("s")
    google.world.arm("status_after", status=503, path="/values/")
    r = put(google, token, ss.spreadsheet_id, "A1", [["landed"]])
    assert r.status_code == 503
    assert r.json() == {"error": {"code": 503, "message": "The service is currently unavailable.",
                                  "status": "UNAVAILABLE"}}
    assert google.world.grid(ss.spreadsheet_id, "Sheet1") == [["landed"]]
    assert (google.world.log[-1].fault, google.world.log[-1].status) == ("status_after", 503)


def test_slow_after_applies_the_write_and_the_client_times_out(google, token):
    ss = google.world.add_spreadsheet("s")
    google.world.arm("slow_after", delay=2, path="/values/")
    with pytest.raises(requests.exceptions.ReadTimeout):
        put(google, token, ss.spreadsheet_id, "A1", [["landed"]], timeout=0.3)
    assert google.world.grid(ss.spreadsheet_id, "Sheet1") == [["landed"]]  # before the answer would have come


def test_drop_after_applies_the_write_and_loses_the_answer(google, token):
    ss = google.world.add_spreadsheet("s")
    google.world.arm("drop_after", path="/values/")
    with pytest.raises(requests.exceptions.ConnectionError):
        put(google, token, ss.spreadsheet_id, "A1", [["landed"]])
    assert google.world.grid(ss.spreadsheet_id, "Sheet1") == [["landed"]]



# ---- a process killed while its write is on its way -------------------------------------------------

def test_skip_lets_the_first_matching_requests_through_and_hold_drops_the_next_unapplied(google, token):
    ss = google.world.add_spreadsheet("s")
    google.world.arm("hold", skip=2, delay=0.5, path="/values/")
    assert [put(google, token, ss.spreadsheet_id, f"A{i}", [[i]]).status_code for i in (1, 2)] == [200, 200]
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        put(google, token, ss.spreadsheet_id, "A3", [[3]])
    assert time.monotonic() - started >= 0.5  # held, then let go without an answer
    assert google.world.grid(ss.spreadsheet_id, "Sheet1") == [[1], [2]]  # the held write never landed
    assert [(r.fault, r.status) for r in google.world.log[-3:]] == [("", 200), ("", 200), ("hold", -1)]
    assert put(google, token, ss.spreadsheet_id, "A3", [[3]]).status_code == 200  # the fault is spent


def test_a_held_request_is_let_go_unapplied_when_the_server_stops():
    server = FakeGoogle().start()
    server.world.arm("hold", delay=60)
    failed: list[Exception] = []

    def send() -> None:
        try:
            requests.put(server.url + "/v4/spreadsheets/x/values/A1", json={"values": [[1]]}, timeout=30)
        except requests.exceptions.ConnectionError as exc:
            failed.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 5
    while not server.world.log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.fault for r in server.world.log] == ["hold"]
    started = time.monotonic()
    server.stop()
    sender.join(5)
    assert not sender.is_alive() and len(failed) == 1 and time.monotonic() - started < 5
    assert server.world.log[0].status == -1

# ---- request payload cap ----------------------------------------------------------------------------

TOO_LARGE = {"error": {"code": 400, "message": "Request payload size exceeds the limit: 10485760 bytes.",
                       "errors": [{"message": "Request payload size exceeds the limit: 10485760 bytes.",
                                   "domain": "global", "reason": "badRequest"}],
                       "status": "INVALID_ARGUMENT"}}


JSON = {"Content-Type": "application/json"}


def body_of(size: int) -> bytes:
    """A values body of exactly `size` bytes."""
    empty = b'{"values": [[""]]}'
    return empty[:-4] + b"x" * (size - len(empty)) + empty[-4:]


def test_a_body_over_10_mib_gets_googles_400_and_nothing_is_applied(google, token):
    ss = google.world.add_spreadsheet("s")
    r = api(google, token, "PUT", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1",
            params={"valueInputOption": "RAW"}, data=body_of(10_485_761), headers=JSON)
    assert (r.status_code, r.json()) == (400, TOO_LARGE)
    assert google.world.grid(ss.spreadsheet_id, "Sheet1") == []
    assert google.world.largest_request_bytes == google.world.log[-1].bytes_in == 10_485_761


def test_a_lowered_cap_refuses_one_byte_over_it_and_keeps_body_sizes(google, token, key_file):
    ss = google.world.add_spreadsheet("s", {"Sheet1": []}, rows=10, cols=2)
    google.world.max_request_bytes = 200
    path = f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1"
    at_cap = api(google, token, "PUT", path, params={"valueInputOption": "RAW"}, data=body_of(200), headers=JSON)
    over = api(google, token, "PUT", path, params={"valueInputOption": "RAW"}, data=body_of(201), headers=JSON)
    assert at_cap.status_code == 200
    assert over.status_code == 400
    assert over.json()["error"]["message"] == "Request payload size exceeds the limit: 200 bytes."
    assert [r.bytes_in for r in google.world.log[-2:]] == [200, 201]
    gc = client(key_file, google)
    with pytest.raises(gspread.exceptions.APIError) as refused:  # the real client sees Google's error
        gc.open_by_key(ss.spreadsheet_id).sheet1.update([["y" * 300]], "A2")
    assert refused.value.response.status_code == 400
    assert google.world.grid(ss.spreadsheet_id, "Sheet1")[1:] == []
    assert google.world.largest_request_bytes > 300


def test_processing_time_grows_with_the_cells_a_write_sends(google, token):
    ss = google.world.add_spreadsheet("s")
    google.world.ms_per_1000_cells = 300
    started = time.monotonic()
    assert put(google, token, ss.spreadsheet_id, "A1", [[1] * 10] * 100).status_code == 200  # 1,000 cells
    assert time.monotonic() - started >= 0.3  # a lower bound: a busy machine only adds to it
    assert api(google, token, "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1").status_code == 200
    assert [r.processing for r in google.world.log[-2:]] == [0.3, 0.0]  # what the fake held each: reads none


# ---- quotas -------------------------------------------------------------------------------------------

def quota_error(kind: str, limit: str, quota_limit: str, value: int) -> dict:
    n = 123456789012
    return {"error": {"code": 429, "message": f"Quota exceeded for quota metric '{kind} requests' and limit "
                                              f"'{limit}' of service 'sheets.googleapis.com' for consumer "
                                              f"'project_number:{n}'.",
                      "status": "RESOURCE_EXHAUSTED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                                   "domain": "googleapis.com", "metadata": {
                                       "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                                       "quota_limit": quota_limit, "service": "sheets.googleapis.com",
                                       "consumer": f"projects/{n}", "quota_limit_value": str(value),
                                       "quota_location": "global"}}]}}


def test_the_61st_read_in_a_minute_gets_googles_429_and_writes_count_apart(google, token):
    ss = google.world.add_spreadsheet("s")
    path = f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1"
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        codes = [http.get(google.url + path, timeout=10).status_code for _ in range(60)]
        refused = http.get(google.url + path, timeout=10)
        assert codes == [200] * 60
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
        assert refused.json() == quota_error("Read", "Read requests per minute per user",
                                             "ReadRequestsPerMinutePerUser", 60)
        writes = [http.put(google.url + path, params={"valueInputOption": "RAW"}, json={"values": [[i]]},
                           timeout=10).status_code for i in range(61)]
        assert writes == [200] * 60 + [429]
        assert http.get(google.url + "/drive/v3/files", timeout=10).status_code == 200  # Drive counts apart
    assert google.world.grid(ss.spreadsheet_id, "Sheet1") == [[59]]  # the refused write changed nothing


def test_the_project_quota_is_shared_by_every_caller(google):
    ss = google.world.add_spreadsheet("s")
    google.world.read_requests_per_project = 4
    tokens = [token_for(google) for _ in range(3)]
    codes = [api(google, t, "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}").status_code for t in tokens * 2]
    assert codes == [200] * 4 + [429] * 2
    assert api(google, tokens[2], "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}").json() == quota_error(
        "Read", "Read requests per minute", "ReadRequestsPerMinutePerProject", 4)


def test_quota_refills_after_the_window_and_can_be_raised(google, token):
    ss = google.world.add_spreadsheet("s")
    google.world.write_requests_per_user, google.world.quota_window = 2, 60
    now = [1000.0]
    google.world.meter.clock = lambda: now[0]  # the window is counted on the test's clock, not the machine's
    codes = [put(google, token, ss.spreadsheet_id, "A1", [[i]]).status_code for i in range(3)]
    now[0] += 59.9
    codes.append(put(google, token, ss.spreadsheet_id, "A1", [["still"]]).status_code)
    now[0] += 0.1
    codes.append(put(google, token, ss.spreadsheet_id, "A1", [["again"]]).status_code)
    assert codes == [200, 200, 429, 429, 200]
    google.world.raise_quota(per_user=1000)
    assert {put(google, token, ss.spreadsheet_id, "A1", [[i]]).status_code for i in range(100)} == {200}


def test_real_gspread_sees_the_quota_error(google, key_file):
    ss = google.world.add_spreadsheet("s", {"runs": [["run_id"]]})
    google.world.read_requests_per_user = 3
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    gc = gspread.Client(auth=creds, session=GoogleSession(creds, google.url, timeout=10, attempts=1))
    ws = gc.open_by_key(ss.spreadsheet_id).worksheet("runs")  # two reads
    assert ws.get_all_values() == [["run_id"]]
    with pytest.raises(gspread.exceptions.APIError) as refused:
        ws.get_all_values()
    assert refused.value.response.status_code == 429
    assert refused.value.response.json()["error"]["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"


def test_the_session_paces_itself_under_the_per_minute_quota(google, key_file):
    """The product's session keeps within Google's per-user quota instead of meeting its 429s (the window is
    shortened here to keep the test quick; the rule is the same at 60 s)."""
    ss = google.world.add_spreadsheet("s", {"runs": [["run_id"]]})
    google.world.read_requests_per_user, google.world.quota_window = 3, 1.0
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    session = GoogleSession(creds, google.url, timeout=10, attempts=1, per_minute=3)
    session.transport.pacer.window = 1.0
    ws = gspread.Client(auth=creds, session=session).open_by_key(ss.spreadsheet_id).worksheet("runs")
    google.world.clear_log()
    for _ in range(7):
        assert ws.get_all_values() == [["run_id"]]
    reads = [r for r in google.world.log if r.is_sheets_read]
    assert len(reads) == 7 and all(r.status == 200 for r in reads)
    session.transport.pacer.per_window = 1000  # no pacing: the same reads meet the quota
    google.world.meter.clock = lambda: 0.0  # however slowly this machine sends them, they are within one window
    with pytest.raises(gspread.exceptions.APIError) as refused:
        for _ in range(7):
            ws.get_all_values()
    assert refused.value.response.status_code == 429


# ---- a person acts between the tool's read and its next write -------------------------------------------

RUNS = [["run_id", "loss", "note"], ["a", 0.5, "x"], ["b", 0.1], ["c", None, "blank loss"], ["d", 0.3],
        ["e", "n/a"]]


def batch(google, token: str, sid: str, *requests_: dict, **extra) -> requests.Response:
    return api(google, token, "POST", f"/v4/spreadsheets/{sid}:batchUpdate",
               json={"requests": list(requests_), **extra})


def bold_row(row: int) -> dict:
    return {"repeatCell": {"range": {"sheetId": 0, "startRowIndex": row, "endRowIndex": row + 1},
                           "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                           "fields": "userEnteredFormat.textFormat.bold"}}


def rule_on(**bounds) -> dict:
    return {"addConditionalFormatRule": {"rule": {"ranges": [{"sheetId": 0, **bounds}], "booleanRule": {
        "condition": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "0.2"}]},
        "format": {"textFormat": {"italic": True}}}}}}


def bold_rows(ss) -> list[int]:
    return sorted(r for r, row in ss.sheets[0].cells.items()
                  if any((c.fmt or {}).get("textFormat", {}).get("bold") for c in row.values()))


def rule_ranges(ss) -> list[list[dict]]:
    return [[{k: v for k, v in gr.items() if k != "sheetId"} for gr in rule["ranges"]]
            for rule in ss.sheets[0].conditional_formats]


def test_a_person_sorts_after_the_read_and_rows_move_with_their_formats(google, key_file, token):
    ss = google.world.add_spreadsheet("s", {"runs": RUNS})
    assert batch(google, token, ss.spreadsheet_id, bold_row(2), rule_on(startColumnIndex=1, endColumnIndex=2),
                 ).status_code == 200  # row "b" bold, a rule on the loss column
    ws = client(key_file, google).open_by_key(ss.spreadsheet_id).worksheet("runs")
    google.world.arm_person(ss.spreadsheet_id, "sort", column="loss")
    read = ws.get_all_values()
    assert [r[0] for r in read] == ["run_id", "a", "b", "c", "d", "e"]  # the answer shows the sheet as read
    grid = google.world.grid(ss.spreadsheet_id, "runs")
    # Numbers, then text, blanks last; the header stays; a row keeps its own cells and formats.
    assert grid == [["run_id", "loss", "note"], ["b", 0.1], ["d", 0.3], ["a", 0.5, "x"], ["e", "n/a"],
                    ["c", "", "blank loss"]]
    assert bold_rows(ss) == [1]
    assert rule_ranges(ss) == [[{"startColumnIndex": 1, "endColumnIndex": 2}]]  # a sort leaves rules be
    google.world.arm_person(ss.spreadsheet_id, "sort", column=1, ascending=False)
    ws.get_all_values()
    assert [r[0] for r in google.world.grid(ss.spreadsheet_id, "runs")] == ["run_id", "e", "a", "d", "b", "c"]


def test_a_person_inserts_rows_and_ranges_and_formats_follow(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": RUNS})
    sid = ss.spreadsheet_id
    batch(google, token, sid, bold_row(1), rule_on(startRowIndex=1, endRowIndex=5, startColumnIndex=1,
                                                   endColumnIndex=2),
          rule_on(startColumnIndex=2, endColumnIndex=3), rule_on(startRowIndex=4, endRowIndex=6))
    google.world.arm_person(sid, "insert_rows", index=2, count=2)
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}").status_code == 200
    assert [r[0] if r else "" for r in google.world.grid(sid, "Sheet1")] == ["run_id", "a", "", "", "b", "c",
                                                                             "d", "e"]
    assert bold_rows(ss) == [1, 2, 3]  # the new rows take the formats of the row above
    assert rule_ranges(ss) == [[{"startRowIndex": 6, "endRowIndex": 8}],  # below the insert: moved down
                               [{"startColumnIndex": 2, "endColumnIndex": 3}],  # whole column: unchanged
                               [{"startRowIndex": 1, "endRowIndex": 7, "startColumnIndex": 1,
                                 "endColumnIndex": 2}]]  # across the insert: grown
    assert ss.sheets[0].rows == 1002


def test_a_person_deletes_rows_and_ranges_shrink_or_go(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": RUNS})
    sid = ss.spreadsheet_id
    batch(google, token, sid, rule_on(startRowIndex=1, endRowIndex=5), rule_on(startRowIndex=2, endRowIndex=3))
    google.world.arm_person(sid, "delete_rows", start=2, end=4)
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values:batchGet",
               params={"ranges": "A1:A2"}).status_code == 200
    assert [r[0] for r in google.world.grid(sid, "Sheet1")] == ["run_id", "a", "d", "e"]
    assert rule_ranges(ss) == [[{"startRowIndex": 1, "endRowIndex": 3}]]  # the rule on a deleted row went


def test_a_person_moves_a_column_with_its_width_formats_and_rules(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": [["run_id", "loss", "note", "acc"], ["a", 0.5, "x", 1]]})
    sid = ss.spreadsheet_id
    width = {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 1,
                                                     "endIndex": 2}, "properties": {"pixelSize": 180},
                                           "fields": "pixelSize"}}
    bold_loss = {"repeatCell": {"range": {"sheetId": 0, "startColumnIndex": 1, "endColumnIndex": 2},
                                "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                                "fields": "userEnteredFormat.textFormat.bold"}}
    batch(google, token, sid, width, bold_loss, rule_on(startColumnIndex=1, endColumnIndex=2),
          rule_on(startColumnIndex=0, endColumnIndex=3))
    google.world.arm_person(sid, "move_column", column="loss", to=3)
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/A1").status_code == 200
    assert google.world.grid(sid, "Sheet1") == [["run_id", "note", "acc", "loss"], ["a", "x", 1, 0.5]]
    assert ss.sheets[0].dimension_props == {("COLUMNS", 3): {"pixelSize": 180}}
    assert {c for row in ss.sheets[0].cells.values() for c, cell in row.items() if cell.fmt} == {3}
    # A rule on the moved column goes with it (assumed, as Google moves references to a moved column);
    # a rule the column leaves from the middle of is split around the hole.
    assert rule_ranges(ss) == [[{"startColumnIndex": 0, "endColumnIndex": 2},
                                {"startColumnIndex": 3, "endColumnIndex": 4}],
                               [{"startColumnIndex": 3, "endColumnIndex": 4}]]


def test_a_person_edits_and_types_a_row_below_only_after_a_read(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": RUNS[:3]}, rows=3)
    other = google.world.add_spreadsheet("other")
    sid = ss.spreadsheet_id
    google.world.arm_person(sid, "edit", cell="C3", value="person's note")
    google.world.arm_person(sid, "type_row_below", values=["mine", "=1+1"])
    assert put(google, token, sid, "D1", [["a write"]]).status_code == 200  # a write is not a read
    assert api(google, token, "GET", f"/v4/spreadsheets/{other.spreadsheet_id}").status_code == 200  # nor another
    assert google.world.grid(sid, "Sheet1")[2:] == [["b", 0.1]]
    read = api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/Sheet1").json()
    assert read["values"][2:] == [["b", "0.1"]]
    assert google.world.grid(sid, "Sheet1")[2:] == [["b", 0.1, "person's note"], ["mine", 2]]
    assert ss.sheets[0].rows == 4  # the person added a row to type into
    assert all(p.done and not p.error for p in google.world.people)


def test_a_person_action_is_checked_when_armed(google):
    ss = google.world.add_spreadsheet("s")
    with pytest.raises(ValueError, match="valid: delete_rows, edit, insert_rows, move_column, sort"):
        google.world.arm_person(ss.spreadsheet_id, "shuffle")
    with pytest.raises(TypeError):
        google.world.arm_person(ss.spreadsheet_id, "sort", colum="loss")


def test_append_cells_lands_under_a_row_a_person_typed_after_the_read(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": RUNS[:3]}, rows=4)
    sid = ss.spreadsheet_id
    google.world.arm_person(sid, "type_row_below", values=["mine"])
    seen = api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/Sheet1").json()["values"]
    assert len(seen) == 3
    row = {"values": [{"userEnteredValue": {"stringValue": v}} for v in ("new1", "new2")]}
    appended = batch(google, token, sid, {"appendCells": {"sheetId": 0, "rows": [row, row],
                                                          "fields": "userEnteredValue"}})
    assert appended.status_code == 200
    assert google.world.grid(sid, "Sheet1")[3:] == [["mine"], ["new1", "new2"], ["new1", "new2"]]
    assert ss.sheets[0].rows == 6  # grown by what did not fit


# ---- batchUpdate answers with the spreadsheet after the write ---------------------------------------------

def test_batch_update_answers_with_the_written_cells_of_the_response_ranges(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": [["h1", "h2", "h3"]], "other": [["o"]]})
    sid = ss.spreadsheet_id
    write = {"updateCells": {"start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 1}, "fields": "userEnteredValue",
                             "rows": [{"values": [{"userEnteredValue": {"stringValue": "run-b"}},
                                                  {"userEnteredValue": {"numberValue": 0.25}}]}]}}
    r = batch(google, token, sid, write, includeSpreadsheetInResponse=True, responseRanges=["Sheet1!B2:C3"],
              responseIncludeGridData=True)
    assert r.status_code == 200
    got = r.json()
    assert got["spreadsheetId"] == sid and got["replies"] == [{}]
    updated = got["updatedSpreadsheet"]
    assert [s["properties"]["title"] for s in updated["sheets"]] == ["Sheet1"]  # only the sheets ranges name
    assert updated["sheets"][0]["data"] == [{
        "startRow": 1, "startColumn": 1,
        "rowData": [{"values": [
            {"userEnteredValue": {"stringValue": "run-b"}, "effectiveValue": {"stringValue": "run-b"},
             "formattedValue": "run-b"},
            {"userEnteredValue": {"numberValue": 0.25}, "effectiveValue": {"numberValue": 0.25},
             "formattedValue": "0.25"}]}],
        "rowMetadata": [{"pixelSize": 21}] * 2, "columnMetadata": [{"pixelSize": 100}] * 2}]
    get = api(google, token, "GET", f"/v4/spreadsheets/{sid}",
              params={"ranges": "Sheet1!B2:C3", "includeGridData": "true"}).json()
    assert updated == get  # the same resource spreadsheets.get answers (its shape is checked by the replay)


def test_batch_update_spreadsheet_without_grid_data_or_through_a_field_mask(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": [["h1"]]})
    sid = ss.spreadsheet_id
    plain = batch(google, token, sid, bold_row(0), includeSpreadsheetInResponse=True,
                  responseRanges=["Sheet1!A1"]).json()["updatedSpreadsheet"]
    assert "data" not in plain["sheets"][0] and plain["sheets"][0]["properties"]["title"] == "Sheet1"
    masked = api(google, token, "POST", f"/v4/spreadsheets/{sid}:batchUpdate",
                 params={"fields": "updatedSpreadsheet.sheets.data.rowData.values.formattedValue"},
                 json={"requests": [bold_row(0)], "includeSpreadsheetInResponse": True,
                       "responseRanges": ["Sheet1!A1"]}).json()
    assert masked == {"updatedSpreadsheet": {"sheets": [{"data": [{"rowData": [{"values": [
        {"formattedValue": "h1"}]}]}]}]}}
    assert batch(google, token, sid, bold_row(0)).json() == {"spreadsheetId": sid, "replies": [{}]}


def test_a_person_armed_after_a_kind_of_read_lets_other_reads_pass(google, token):
    ss = google.world.add_spreadsheet("s", {"Sheet1": RUNS[:3]})
    sid = ss.spreadsheet_id
    data_read = google.world.arm_person(sid, "edit", after="values:batchGet", cell="C2", value="after data read")
    check_read = google.world.arm_person(sid, "edit", after="values:batchGet", skip=1, cell="C3", value="after check")
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}").status_code == 200  # a sync opening the sheet
    assert api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/A1").status_code == 200
    assert not data_read.done and not check_read.done
    batch_get = f"/v4/spreadsheets/{sid}/values:batchGet"
    assert api(google, token, "GET", batch_get, params={"ranges": "A1:C3"}).json()["valueRanges"][0]["values"] == \
        [["run_id", "loss", "note"], ["a", "0.5", "x"], ["b", "0.1"]]  # the answer shows the sheet as read
    assert data_read.done and not check_read.done
    assert api(google, token, "GET", batch_get, params={"ranges": "A1"}).status_code == 200
    assert check_read.done
    assert [r[2:] for r in google.world.grid(sid, "Sheet1")[1:3]] == [["after data read"], ["after check"]]
