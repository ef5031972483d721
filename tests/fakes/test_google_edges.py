"""The fake Google at Google's edges: payload cap, writes that land and then fail, people acting mid-sync, quotas."""

from __future__ import annotations

import time

import gspread
import pytest
import requests
from google.auth.transport.requests import Request
from google.oauth2.service_account import Credentials

from tests.fakes.test_google_fake import client



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
