"""The fake Google at Google's edges: payload cap, writes that land and then fail, people acting mid-sync, quotas."""

from __future__ import annotations

import time

import gspread
import pytest
import requests
from google.auth.transport.requests import Request
from google.oauth2.service_account import Credentials

from sheetsync.sinks.google_http import GoogleSession
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
    wrote = time.monotonic() - started
    started = time.monotonic()
    assert api(google, token, "GET", f"/v4/spreadsheets/{ss.spreadsheet_id}/values/A1").status_code == 200
    read = time.monotonic() - started
    assert wrote >= 0.3 > read


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
    google.world.write_requests_per_user, google.world.quota_window = 2, 0.5
    codes = [put(google, token, ss.spreadsheet_id, "A1", [[i]]).status_code for i in range(3)]
    time.sleep(0.5)
    codes.append(put(google, token, ss.spreadsheet_id, "A1", [["again"]]).status_code)
    assert codes == [200, 200, 429, 200]
    google.world.raise_quota(per_user=1000)
    google.world.quota_window = 60
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
