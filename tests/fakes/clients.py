"""Real client libraries pointed at the fakes, the way the product points them."""

from __future__ import annotations

import gspread
from google.oauth2.service_account import Credentials

from wandb_sheet_sync.sinks.google_http import GoogleSession


def gspread_client(key_file: str, endpoint: str) -> gspread.Client:
    creds = Credentials.from_service_account_file(key_file, scopes=gspread.auth.DEFAULT_SCOPES)
    return gspread.Client(auth=creds, session=GoogleSession(creds, endpoint))
