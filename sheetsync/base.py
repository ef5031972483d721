"""The base: a fingerprint of what the tool last wrote into each managed cell, and how it is stored.

A fingerprint is a CRC-32 of the value's canonical form, which is the same for a value and for what a sheet
gives back when it is read (3 written, 3 or 3.0 read; a date-time written, its serial number read).
Stored as a grid (a hidden worksheet, a hidden .xlsx sheet, a sidecar .csv): a first row naming the
format, the header of every fingerprint slot and what look.py remembers, then one row per run: [run id,
the slots' 32-bit fingerprints packed and base64-encoded (about 5.3 characters a cell), row digest]. The
row digest is a CRC of the exact managed values of a run whose every cell was in step with W&B: with it
an unchanged row is recognised with two repr() calls instead of a fingerprint per cell, which is what
keeps a no-change sync of 10,000 x 100 cells well under a second. It is only a shortcut: when it does not
match, the merge compares cell by cell.
Deleting the stored base is safe: the next sync adopts the sheet as it finds it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import struct
import zlib
from collections.abc import MutableMapping
from typing import Any

MAGIC = "wandb_spreadsheet_sync base v2"
ABSENT = 0xFFFFFFFF  # a slot the tool never wrote; no fingerprint takes this value
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
    return zlib.crc32(canonical(value).encode()) % ABSENT



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


def _pack(values: list[int]) -> str:
    return base64.b64encode(struct.pack(f">{len(values)}I", *values)).decode()


def _unpack(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return struct.unpack(f">{len(raw) // 4}I", raw[: len(raw) // 4 * 4])


def row_digest(key: bytes) -> int:
    return zlib.crc32(key)


class LazyRuns(MutableMapping):
    """run id -> {header: fingerprint}; rows read from storage stay packed until a run is looked at, since an
    unchanged row is recognised by its digest alone (10,000 x 100 cells: ~75 MB of dicts never built)."""

    def __init__(self, packed: dict[str, str] | None = None, slots: list[str] | None = None):
        self._packed = packed or {}
        self._slots = slots or []
        self._cells: dict[str, dict[str, int]] = {}
        self._order: dict[str, None] = dict.fromkeys(self._packed)

    def __getitem__(self, run_id: str) -> dict[str, int]:
        cells = self._cells.get(run_id)
        if cells is None:
            slots = _unpack(self._packed[run_id])  # KeyError for an unknown run, as a dict would
            cells = {} if slots is None else {h: fp for h, fp in zip(self._slots, slots) if fp != ABSENT}
            self._cells[run_id] = cells
        return cells

    def __setitem__(self, run_id: str, cells: dict[str, int]) -> None:
        self._cells[run_id] = cells
        self._packed.pop(run_id, None)
        self._order.setdefault(run_id)

    def __delitem__(self, run_id: str) -> None:
        self._cells.pop(run_id, None)
        self._packed.pop(run_id, None)
        del self._order[run_id]

    def __iter__(self):
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._order

    def packed(self, run_id: str) -> str | None:
        """The stored text of a run no one has looked at (still valid when headers were added after it)."""
        return self._packed.get(run_id) if run_id not in self._cells else None

    def copy(self) -> "LazyRuns":
        twin = LazyRuns(dict(self._packed), self._slots)
        twin._cells = dict(self._cells)
        twin._order = dict(self._order)
        return twin


class Base:
    """run id -> header -> fingerprint of the value last written there; run id -> row digest."""

    def __init__(self, runs: dict[str, dict[str, int]] | LazyRuns | None = None,
                 digests: dict[str, int] | None = None, slots: list[str] | None = None, look: dict | None = None):
        self.runs = runs if isinstance(runs, LazyRuns) else LazyRuns()
        if not isinstance(runs, LazyRuns):
            for run_id, cells in (runs or {}).items():
                self.runs[run_id] = cells
        self.digests = digests or {}
        self.slots = list(slots or [])  # the stored slot order; new headers are added at its end
        self.look = look  # what look.py remembers (columns set up, highlight rules); None: never set up

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Base) and dict(self.runs) == dict(other.runs) and self.digests == other.digests

    def __repr__(self) -> str:
        return f"Base({len(self.runs)} runs)"

    def copy(self) -> "Base":
        return Base(self.runs.copy(), dict(self.digests), self.slots, self.look)

    def headers(self) -> list[str]:
        seen: dict[str, None] = dict.fromkeys(self.slots)
        for run_id in self.runs:
            if self.runs.packed(run_id) is None:
                seen.update(dict.fromkeys(self.runs[run_id]))
        return list(seen)

    def encode(self) -> list[list[str]]:
        headers = self.headers()
        rows = [[MAGIC, json.dumps(headers, ensure_ascii=False, separators=(",", ":"))]]
        if self.look is not None:
            rows[0].append(json.dumps(self.look, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
        for run_id in self.runs:
            packed = self.runs.packed(run_id)  # untouched rows keep their text: the slots only ever grow
            if packed is None:
                cells = self.runs[run_id]
                packed = _pack([cells.get(h, ABSENT) for h in headers])
            digest = self.digests.get(run_id)
            rows.append([run_id, packed] + ([_pack([digest])] if digest is not None else []))
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
        packed: dict[str, str] = {}
        digests: dict[str, int] = {}
        for row in rows[1:]:
            if len(row) < 2 or not row[0]:
                continue
            run_id = str(row[0])
            packed[run_id] = row[1] if isinstance(row[1], str) else ""  # unreadable: the run's cells are a person's
            digest = _unpack(row[2]) if len(row) > 2 else None
            if digest:
                digests[run_id] = digest[0]
        return cls(LazyRuns(packed, [str(h) for h in headers]), digests, [str(h) for h in headers],
                   _decode_look(rows[0][2] if len(rows[0]) > 2 else None))


def _decode_look(text: Any) -> dict | None:
    """The remembered look, or None (never set up, or unreadable: then nothing is reformatted)."""
    try:
        look = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return look if isinstance(look, dict) else None
