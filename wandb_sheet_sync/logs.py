"""Owns how log lines look: text for a terminal, or one JSON object a line (LOG_FORMAT "json") for log pipelines.

A JSON line has `time` (UTC, ISO 8601), `level`, `event` (what happened: "sync", "sync_failed", "webhook", ...),
`target` (ENTITY/PROJECT -> WORKSHEET, where one is concerned), `counts` (new, updated, kept edits, ...) and
`message` (the text line). Library code passes the fields as `extra=fields(...)`; a line without them is event
"log". Secrets never reach either form: every line is scrubbed of the secrets the process knows (API keys, the
webhook secret, a key's JSON) before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable
from typing import Any

LOGGER = "wandb_spreadsheet_sync"
HIDDEN = "[secret]"


COUNTS = ("new", "updated", "kept_edits", "columns_added", "deleted_respected")  # what a sync line counts


def counts(report: Any) -> dict[str, int]:
    """A sync report's counts, for a JSON line's `counts`."""
    return {name: report.total(name) for name in COUNTS}


def fields(event: str, target: Any = None, counts: dict | None = None, **more: Any) -> dict:
    """The `extra=` of a log call: what a JSON line carries beside the message."""
    out: dict[str, Any] = {"event": event}
    if target is not None:
        out["target"] = target if isinstance(target, str) else f"{target.path} -> {target.worksheet}"
    if counts is not None:
        out["counts"] = counts
    if more:
        out["details"] = more
    return out


class Scrub(logging.Filter):
    """Replaces every known secret in a line with [secret]: a message that quotes an error from a library could
    otherwise carry a key."""

    def __init__(self, secrets: Iterable[str | None]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = None
            if record.exc_info:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "event": getattr(record, "event", "log")}
        for name in ("target", "counts", "details"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        line["message"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def setup(level: str, form: str = "text", secrets: Iterable[str | None] = ()) -> None:
    """The tool's one logger, to stdout, in the chosen form; libraries stay quiet (and never log our secrets)."""
    log = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(sys.stdout)
    if form == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    from .config import known_secrets

    handler.addFilter(Scrub(known_secrets(extra=secrets)))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    logging.getLogger().setLevel(logging.WARNING)
