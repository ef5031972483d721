"""The fake Google server behaves like Google: recorded exchanges, the real clients, errors and faults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gspread
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.service_account import Credentials

from wandb_sheet_sync.sinks.google_http import GoogleSession
from tests.fakes import replay
from tests.fakes.credentials import make_service_account, write_service_account
from tests.fakes.google_api import FakeGoogle

ROOT = Path(__file__).resolve().parents[2]


def token_for(server: FakeGoogle) -> str:
    info = make_service_account(server.token_uri)
    server.register_service_account(info)
    creds = Credentials.from_service_account_info(info, scopes=gspread.auth.DEFAULT_SCOPES)
    creds.refresh(Request())
    return creds.token


def client(key_file: Path, server: FakeGoogle) -> gspread.Client:
    """gspread's own service_account(filename=...), its HTTP pointed at the fake the way the product does it."""
    def http_client(auth, session=None):
        return gspread.HTTPClient(auth, GoogleSession(auth, server.url, timeout=10))

    return gspread.service_account(filename=str(key_file), http_client=http_client)


def api(server: FakeGoogle, token: str, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kw)


# ---- fidelity ------------------------------------------------------------------------------------

def test_replays_every_in_scope_recorded_exchange_identically(google, capsys):
    report = replay.replay_all(google, token_for(google))
    with capsys.disabled():  # the counts are part of the result: always shown
        print("\n" + report.line())
        for reason, count in sorted(report.skipped.items()):
            print(f"  skipped {count:4d}  {reason}")
        print(f"  {report.rejected_as_recorded} schema problems in requests Google rejected too")
    assert report.differ == [], "\n".join(report.differ[:20])
    assert report.violations == [], report.violations[:10]
    assert report.crashes == []
    in_scope_skips = [r for r in report.skipped if r.startswith("out of scope:") and replay.in_scope(r[14:])]
    assert in_scope_skips == []
    assert report.replayed > 1500 and report.total == report.replayed + sum(report.skipped.values())


def test_discovery_check_rejects_unknown_fields_and_bad_enums(google, key_file):
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    creds.refresh(Request())
    ss = google.world.add_spreadsheet("t")
    bad = api(google, creds.token, "POST", f"/v4/spreadsheets/{ss.spreadsheet_id}:batchUpdate",
              json={"requests": [{"addSheet": {"properties": {"title": "x", "colour": "red"}}}]})
    assert bad.status_code == 400 and 'Unknown name "colour"' in bad.json()["error"]["message"]
    enum = api(google, creds.token, "PUT", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1",
               params={"valueInputOption": "TYPED"}, json={"values": [[1]]})
    assert enum.status_code == 400
    assert len(google.world.violations) == 2
    google.world.violations.clear()  # expected here; the fixture fails any other test that has some


# ---- the real gspread ----------------------------------------------------------------------------

def test_real_gspread_reads_writes_and_opens_by_title(google, key_file):
    ss = google.world.add_spreadsheet("Team runs", {"runs": [["run_id", "loss"], ["a1", 0.5]]})
    gc = client(key_file, google)
    google.world.clear_log()

    sh = gc.open_by_key(ss.spreadsheet_id)
    ws = sh.worksheet("runs")
    assert ws.get_all_values() == [["run_id", "loss"], ["a1", "0.5"]]
    ws.append_rows([["b2", 0.25], ["c3", True]])
    ws.batch_update([{"range": "C1", "values": [["note"]]}])
    assert gc.open("Team runs").id == ss.spreadsheet_id

    assert google.world.grid(ss.spreadsheet_id, "runs") == [
        ["run_id", "loss", "note"], ["a1", 0.5], ["b2", 0.25], ["c3", True]]
    kinds = [(r.method, r.path.split("/")[-1][:12]) for r in google.world.log if r.path != "/token"]
    print("\nrequests per gspread operation:", kinds)
    # open_by_key: 1 metadata read; worksheet(): 1; get_all_values: 1; append_rows: 1; batch_update: 1;
    # open(title): 1 Drive list + 1 metadata read.
    assert len(kinds) == 7
    assert sum(1 for r in google.world.log if r.path == "/token") == 1


def test_service_account_without_access_gets_403_and_unknown_key_404(google, key_file):
    private = google.world.add_spreadsheet("private", owners={"someone@example.com"})
    gc = client(key_file, google)
    with pytest.raises(PermissionError) as denied:  # gspread turns a 403 into a bare PermissionError
        gc.open_by_key(private.spreadsheet_id)
    assert denied.value.__cause__.response.status_code == 403
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gc.open_by_key("no-such-sheet")
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gc.open("private")  # Drive lists only what the account may see


# ---- OAuth ---------------------------------------------------------------------------------------

def test_token_endpoint_checks_the_jwt_signature(google, tmp_path):
    trusted = write_service_account(tmp_path / "trusted.json", google.token_uri)
    google.register_service_account(trusted)
    impostor = make_service_account(google.token_uri, email=trusted["client_email"])  # same e-mail, other key
    creds = Credentials.from_service_account_info(impostor, scopes=gspread.auth.DEFAULT_SCOPES)
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())
    stranger = Credentials.from_service_account_info(make_service_account(google.token_uri),
                                                     scopes=gspread.auth.DEFAULT_SCOPES)
    with pytest.raises(RefreshError):
        stranger.refresh(Request())


def test_api_requires_the_bearer_token(google, key_file):
    ss = google.world.add_spreadsheet("t")
    r = requests.get(f"{google.url}/v4/spreadsheets/{ss.spreadsheet_id}", timeout=5)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = api(google, "ya29.made-up", "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}")
    assert r.status_code == 401


# ---- values semantics ------------------------------------------------------------------------------

@pytest.fixture
def sheet(google, key_file):
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    creds.refresh(Request())
    ss = google.world.add_spreadsheet("s", {"Sheet1": []}, rows=5, cols=4)
    return ss, creds.token


def test_raw_keeps_formulas_as_text_and_user_entered_evaluates_them(google, sheet):
    ss, token = sheet
    sid = ss.spreadsheet_id
    api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/A1", params={"valueInputOption": "RAW"},
        json={"values": [["=1+1", 3, True, "0.5"]]})
    api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/A2", params={"valueInputOption": "USER_ENTERED"},
        json={"values": [["=1+1", "3", "TRUE", "'0.5"]]})
    api(google, token, "POST", f"/v4/spreadsheets/{sid}:batchUpdate", json={"requests": [{"updateCells": {
        "start": {"sheetId": 0, "rowIndex": 2, "columnIndex": 0}, "fields": "userEnteredValue",
        "rows": [{"values": [{"userEnteredValue": {"stringValue": "=1+1"}},
                             {"userEnteredValue": {"numberValue": 7}}]}]}}]})
    got = api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/Sheet1",
              params={"valueRenderOption": "UNFORMATTED_VALUE"}).json()["values"]
    assert got == [["=1+1", 3, True, "0.5"], [2, 3, True, "0.5"], ["=1+1", 7]]
    formulas = api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/A2",
                   params={"valueRenderOption": "FORMULA"}).json()["values"]
    assert formulas == [["=1+1"]]


def test_reads_trim_trailing_empty_cells_and_rows(google, sheet):
    ss, token = sheet
    api(google, token, "PUT", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1:C3",
        params={"valueInputOption": "RAW"}, json={"values": [["a", "", ""], ["", "b", ""], ["", "", ""]]})
    r = api(google, token, "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/Sheet1").json()
    assert r == {"range": "Sheet1!A1:D5", "majorDimension": "ROWS", "values": [["a"], ["", "b"]]}


def test_batch_update_is_all_or_nothing(google, sheet):
    ss, token = sheet
    r = api(google, token, "POST", f"/v4/spreadsheets/{ss.spreadsheet_id}:batchUpdate", json={"requests": [
        {"addSheet": {"properties": {"title": "new"}}},
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0}, "fields": "userEnteredValue",
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}]}},
        {"deleteSheet": {"sheetId": 424242}}]})
    assert r.status_code == 400 and "requests[2]" in r.json()["error"]["message"]
    assert [s.title for s in ss.sheets] == ["Sheet1"] and ss.sheets[0].cells == {}


def test_grid_limits_cell_limits_and_bad_input_get_googles_errors(google, sheet):
    ss, token = sheet
    sid = ss.spreadsheet_id
    beyond = api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/A6", params={"valueInputOption": "RAW"},
                 json={"values": [["x"]]})
    assert beyond.status_code == 400 and "exceeds grid limits" in beyond.json()["error"]["message"]
    bad_range = api(google, token, "GET", f"/v4/spreadsheets/{sid}/values/'Nope'!A1")
    assert bad_range.status_code == 400 and "Unable to parse range" in bad_range.json()["error"]["message"]
    too_long = api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/A1", params={"valueInputOption": "RAW"},
                   json={"values": [["x" * 50_001]]})
    assert too_long.status_code == 400 and "50000 characters" in too_long.json()["error"]["message"]
    nan = requests.put(f"{google.url}/v4/spreadsheets/{sid}/values/A1", params={"valueInputOption": "RAW"},
                       data=b'{"values": [[NaN]]}', timeout=5,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert nan.status_code == 400 and "Invalid JSON payload" in nan.json()["error"]["message"]
    huge = api(google, token, "POST", f"/v4/spreadsheets/{sid}:batchUpdate", json={"requests": [
        {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 2_500_000}}]})
    assert huge.status_code == 400 and "10000000 cells" in huge.json()["error"]["message"]
    assert ss.sheets[0].rows == 5 and ss.sheets[0].cells == {}


def test_structure_requests_change_the_grid(google, sheet):
    ss, token = sheet
    sid = ss.spreadsheet_id
    api(google, token, "PUT", f"/v4/spreadsheets/{sid}/values/A1", params={"valueInputOption": "RAW"},
        json={"values": [["h1", "h2"], ["r1", 1], ["r2", 2]]})
    r = api(google, token, "POST", f"/v4/spreadsheets/{sid}:batchUpdate", json={"requests": [
        {"addSheet": {"properties": {"title": "_base", "hidden": True, "gridProperties": {"rowCount": 2,
                                                                                          "columnCount": 2}}}},
        {"updateSheetProperties": {"properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}},
                                   "fields": "gridProperties.frozenRowCount"}},
        {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
        {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 3, "endIndex": 4}}},
        {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 2}},
        {"appendCells": {"sheetId": 0, "fields": "userEnteredValue", "rows": [
            {"values": [{"userEnteredValue": {"stringValue": "r3"}}, {"userEnteredValue": {"numberValue": 3}}]}]}},
        {"repeatCell": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1}, "fields":
                        "userEnteredFormat.textFormat.bold", "cell": {"userEnteredFormat": {"textFormat": {
                            "bold": True}}}}},
        {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 0,
                                                 "endIndex": 1}, "properties": {"pixelSize": 180},
                                       "fields": "pixelSize"}},
        {"addConditionalFormatRule": {"index": 0, "rule": {
            "ranges": [{"sheetId": 0, "startColumnIndex": 1, "endColumnIndex": 2}],
            "booleanRule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "=B1=1"}]},
                            "format": {"textFormat": {"bold": True}}}}}},
    ]})
    assert r.status_code == 200, r.text
    assert google.world.grid(sid, "Sheet1") == [["h1", "h2"], [], ["r1", 1], ["r3", 3]]
    meta = api(google, token, "GET", f"/v4/spreadsheets/{sid}").json()
    props = {s["properties"]["title"]: s for s in meta["sheets"]}
    assert props["_base"]["properties"]["hidden"] is True
    assert props["Sheet1"]["properties"]["gridProperties"] == {"rowCount": 5, "columnCount": 6,
                                                               "frozenRowCount": 1}
    assert len(props["Sheet1"]["conditionalFormats"]) == 1
    grid = api(google, token, "GET", f"/v4/spreadsheets/{sid}", params={
        "ranges": "Sheet1!A1:B1", "fields": "sheets(data(rowData.values.userEnteredFormat,columnMetadata))"}).json()
    data = grid["sheets"][0]["data"][0]
    assert data["rowData"][0]["values"][0]["userEnteredFormat"] == {"textFormat": {"bold": True}}
    assert data["columnMetadata"][0]["pixelSize"] == 180


# ---- faults --------------------------------------------------------------------------------------

def test_armed_faults_answer_in_order_then_recover(google, sheet):
    ss, token = sheet
    path = f"/v4/spreadsheets/{ss.spreadsheet_id}"
    google.world.arm("status", status=429, retry_after=7)
    google.world.arm("status", status=503, html=True)
    google.world.arm("status", status=500)
    first = api(google, token, "GET", path)
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert first.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    second = api(google, token, "GET", path)
    assert second.status_code == 503 and second.text.startswith("<!DOCTYPE html>")
    assert api(google, token, "GET", path).json()["error"]["code"] == 500
    assert api(google, token, "GET", path).status_code == 200
    assert [r.fault for r in google.world.log[-4:]] == ["status", "status", "status", ""]


def test_slow_answers_and_dropped_connections(google, sheet):
    ss, token = sheet
    path = f"/v4/spreadsheets/{ss.spreadsheet_id}"
    google.world.arm("slow", delay=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(google.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=0.3)
    google.world.arm("drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api(google, token, "GET", path)
    assert api(google, token, "GET", path).status_code == 200


def test_per_minute_quota(google, sheet):
    ss, token = sheet
    google.world.read_requests_per_user = 3
    codes = [api(google, token, "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


# ---- standalone ------------------------------------------------------------------------------------

def test_runs_standalone_with_state_file_and_credentials(tmp_path):
    state = {"spreadsheets": [{"id": "sheet-1", "title": "Runs", "owners": None,
                               "sheets": [{"title": "runs", "values": [["run_id"], ["x"]]}]}]}
    (tmp_path / "state.json").write_text(json.dumps(state))
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.google_api", "--port", "0", "--state",
                             str(tmp_path / "state.json"), "--write-credentials", str(tmp_path / "sa.json")],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        info = json.loads((tmp_path / "sa.json").read_text())
        assert info["token_uri"] == url + "/token"
        creds = Credentials.from_service_account_info(info, scopes=gspread.auth.DEFAULT_SCOPES)
        gc = gspread.Client(auth=creds, session=GoogleSession(creds, url))
        assert gc.open_by_key("sheet-1").worksheet("runs").get_all_values() == [["run_id"], ["x"]]
        assert proc.poll() is None
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == ""
