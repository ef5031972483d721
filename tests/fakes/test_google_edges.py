"""The fake Google at Google's edges: payload cap, writes that land and then fail, people acting mid-sync, quotas."""

from __future__ import annotations

import gspread
import pytest
import requests
from google.auth.transport.requests import Request
from google.oauth2.service_account import Credentials



@pytest.fixture
def token(key_file) -> str:
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    creds.refresh(Request())
    return creds.token


def api(google, token: str, method: str, path: str, timeout: float = 10, **kw) -> requests.Response:
    return requests.request(method, google.url + path, headers={"Authorization": f"Bearer {token}"},
                            timeout=timeout, **kw)


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
