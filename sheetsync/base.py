"""The base: a fingerprint of what the tool last wrote into each managed cell, and how it is stored.

A fingerprint is a CRC-32 of the value's canonical form, which is the same for a value and for what a sheet
gives back when it is read (3 written, 3 or 3.0 read; a date-time written, its serial number read).
Stored as a grid (a hidden worksheet, a hidden .xlsx sheet, a sidecar .csv): a first row naming the
format and the header of every fingerprint slot, then one row per run: [run id, 6 characters per slot,
row digest]. The row digest is a CRC of the exact managed values of a run whose every cell was in step
with W&B: with it an unchanged row is recognised with two repr() calls instead of a fingerprint per cell,
which is what keeps a no-change sync of 10,000 x 100 cells well under a second. It is only a shortcut:
when it does not match, the merge compares cell by cell.
Deleting the stored base is safe: the next sync adopts the sheet as it finds it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

MAGIC = "wandb_spreadsheet_sync base v1"
SLOT = 6  # base64 characters per fingerprint
ABSENT = "." * SLOT
EPOCH = dt.datetime(1899, 12, 30)  # day 0 of spreadsheet serial dates


def serial_days(when: dt.datetime) -> float:
    """A naive date-time as the serial day number Sheets and Excel store."""
    delta = when.replace(tzinfo=None) - EPOCH
    return delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000


def canonical(value: Any) -> str:
    """Equal for a value and its read-back: numbers as numbers, empty as empty, text as text."""
    if value is None or value == "":
        return ""
    if value is True:
        return "b1"
    if value is False:
        return "b0"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return ""
        return "n" + format(float(value), ".15g")
    if isinstance(value, dt.datetime):
        return "n" + format(serial_days(value), ".15g")
    return "s" + str(value)


def fingerprint(value: Any) -> int:
    return zlib.crc32(canonical(value).encode())


EMPTY = fingerprint(None)


def loosely_equal(sheet_value: Any, wandb_value: Any) -> bool:
    """Adoption's equality, for a sheet no base knows (say, one the original script filled): text that
    reads as the same number, 'nan' and empty, 'TRUE' and True, an ISO date and a date-time all match."""
    return _loose(sheet_value) == _loose(wandb_value)


def is_blank(value: Any) -> bool:
    """Empty, or what old scripts wrote for nothing ('nan', 'None'): a cell adoption may fill."""
    return _loose(value) == ""


def _loose(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "nan", "none", "null", "inf", "-inf", "infinity", "-infinity"):
            return ""
        if text.upper() in ("TRUE", "FALSE"):
            return "b1" if text.upper() == "TRUE" else "b0"
        try:
            return _loose(float(text.replace(",", "")))
        except ValueError:
            pass
        try:
            return _loose(dt.datetime.fromisoformat(text))
        except ValueError:
            return "s" + text
    if isinstance(value, bool) or value is None:
        return canonical(value)
    if isinstance(value, (int, float)):
        return "n" + format(float(value), ".12g") if math.isfinite(value) else ""
    if isinstance(value, dt.datetime):
        return "n" + format(round(serial_days(value), 6), ".12g")
    return canonical(value)


def _encode(fp: int) -> str:
    return base64.urlsafe_b64encode(fp.to_bytes(4, "big")).decode()[:SLOT]


def _decode(text: str) -> int | None:
    if text == ABSENT or len(text) != SLOT:
        return None
    try:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=="), "big")
    except ValueError:
        return None


def row_digest(key: bytes) -> int:
    return zlib.crc32(key)


@dataclass
class Base:
    """run id -> header -> fingerprint of the value last written there; run id -> row digest."""

    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    digests: dict[str, int] = field(default_factory=dict)

    def headers(self) -> list[str]:
        seen: dict[str, None] = {}
        for cells in self.runs.values():
            seen.update(dict.fromkeys(cells))
        return list(seen)

    def encode(self) -> list[list[str]]:
        headers = self.headers()
        rows = [[MAGIC, json.dumps(headers, ensure_ascii=False, separators=(",", ":"))]]
        for run_id, cells in self.runs.items():
            packed = "".join(_encode(cells[h]) if h in cells else ABSENT for h in headers)
            digest = self.digests.get(run_id)
            rows.append([run_id, packed] + ([_encode(digest)] if digest is not None else []))
        return rows

    @classmethod
    def decode(cls, rows: list[list[Any]]) -> "Base":
        """Whatever cannot be read (an edited or foreign sheet) counts as no base for those runs."""
        if not rows or not rows[0] or rows[0][0] != MAGIC or len(rows[0]) < 2:
            return cls()
        try:
            headers = json.loads(rows[0][1])
        except (ValueError, TypeError):
            return cls()
        if not isinstance(headers, list):
            return cls()
        runs: dict[str, dict[str, int]] = {}
        digests: dict[str, int] = {}
        for row in rows[1:]:
            if len(row) < 2 or not isinstance(row[1], str) or not row[0]:
                continue
            packed = row[1]
            cells = {}
            for i, header in enumerate(headers):
                fp = _decode(packed[i * SLOT:(i + 1) * SLOT])
                if fp is not None:
                    cells[header] = fp
            runs[str(row[0])] = cells
            digest = _decode(row[2]) if len(row) > 2 and isinstance(row[2], str) else None
            if digest is not None:
                digests[str(row[0])] = digest
        return cls(runs, digests)
