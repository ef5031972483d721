"""The base: a fingerprint of what the tool last wrote into each managed cell, and how it is stored.

A fingerprint is a CRC-32 of the value's canonical form, which is the same for a value and for what a sheet
gives back when it is read (3 written, 3 or 3.0 read; a date-time written, its serial number read).
The row digest is a CRC of the exact managed values of a run whose every cell was in step with W&B: with it
an unchanged row is recognised with two repr() calls instead of a fingerprint per cell, which is what
keeps a no-change sync of 10,000 x 100 cells well under a second. It is only a shortcut: when it does not
match, the merge compares cell by cell.

Stored as a grid (a hidden worksheet, a hidden .xlsx sheet, a sidecar .csv), format v3:
  row 0:       [MAGIC, the header of every fingerprint slot (a JSON list), what look.py remembers and what the
                source last read (a JSON object; no cell when neither), continuations...]
  then a row a run: [run id, the slots' 32-bit fingerprints packed and base64-encoded (about 5.3 characters a
                slot), row digest (base64; empty or no cell when there is none), continuations...]
No cell the tool writes holds more than MAX_CELL_CHARS characters (Google refuses a cell over 50,000), however
many headers, however long their names, however big the look memory. Cells 1 and 2 of a row each hold one
value; a value too long for its cell is cut into n parts: its own cell holds "n:" then the first part (a
JSON text begins with [ or {, base64 has no ':', so the count cannot be taken for data) and the n - 1 others
follow in the same row from cell 3 on, cell 1's before cell 2's. So every row says itself how its cells
split; cells after the parts it names are ignored (a sink may leave them over from a longer row); rows
differ in length (Base.width says how many columns they need); and the common case is three cells a row,
one row a run, as in v2. A run's row splits only past ~9,000 slots. Because splitting stays within a row,
adding a header rewrites row 0 alone: a run's row changes only when its own cells do. A cut is never put
where the next part would begin with = + - @ ' or a space, or a part end with a space, unless no such
place is near: a spreadsheet could take the part for a formula or trim it. The run id cell is written as
it is (the same id is a cell of the worksheet itself).
A v2 base (one cell a value, nothing split) is read as well, and written back as v3. Whatever cannot be
read counts as no base: a broken header row as none at all, a broken run row as none for that run.
Deleting the stored base is safe: the next sync adopts the sheet as it finds it.
Read by need (issue 24): a sink may read the head row and the run ids only, then the rows of the runs a sync
merges (`Base.decode_sparse`). A run whose row was not read is UNREAD: it is known (in order, at its row), its
fingerprints are not, and `encode` gives None for its row (a sink leaves that stored row as it is). The merge never
asks for an unread run's cells: the sync reads the row of every run it merges.
The read state (sources/increments.ReadState, as its to_json gives it: this module never looks inside) travels in
row 0's JSON object under the key "_read", beside look.py's "cols" and "hl": a v3 or v2 base without it reads as
never read (a full read), and a tool without this key would keep it as part of the look memory it never looks up.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import struct
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Iterable

MAGIC = "wandb_spreadsheet_sync base v3"
MAGIC_V2 = "wandb_spreadsheet_sync base v2"  # one cell a value, whatever its length: read, never written
MAX_CELL_CHARS = 49_000  # the longest cell encode() writes; Google refuses a cell over 50,000
_MIN_CELL_CHARS = 64  # room for MAGIC, a digest and a part count
_COUNT_ROOM = 8  # kept free in a split value's first cell for its "n:"
_RISKY_START = frozenset("=+-@'")  # a cell beginning so may be taken for a formula or a text mark
ABSENT = 0xFFFFFFFF  # a slot the tool never wrote; no fingerprint takes this value
EPOCH = dt.datetime(1899, 12, 30)  # day 0 of spreadsheet serial dates


def serial_days(when: dt.datetime) -> float:
    """A naive date-time as the serial day number Sheets and Excel store."""
    delta = when.replace(tzinfo=None) - EPOCH
    return delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000


def canonical(value: Any) -> str:
    """Equal for a value and its read-back: numbers as numbers, empty as empty, text as text."""
    if value.__class__ is float:  # the common cell, first: a metric (not finite: inf - inf is nan, nan != 0)
        return "n" + format(value, ".15g") if value - value == 0 else ""
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


class _Unread(str):
    """The packed text of a run whose stored row was not read: empty (no fingerprints), and told apart by type."""


UNREAD = _Unread()  # the one such text: found by identity, at C speed, among 100,000 runs


def row_digest(key: bytes) -> int:
    return zlib.crc32(key)


def _units(text: str) -> int:
    """A text's length as a sheet may count it: UTF-16 code units (a character past U+FFFF is two)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def _clean_cut(text: str, at: int) -> bool:
    return text[at] not in _RISKY_START and not text[at].isspace() and not text[at - 1].isspace()


def _cells(text: str, limit: int) -> list[str]:
    """A value as the cells that hold it: [text] when it fits, else ["n:" + part 1, part 2, ..., part n]."""
    if _units(text) <= limit:
        return [text]
    parts: list[str] = []
    start, room = 0, limit - _COUNT_ROOM
    while start < len(text):
        end = min(start + room, len(text))
        while (over := _units(text[start:end]) - room) > 0:
            end -= (over + 1) // 2  # a character is one or two units: never cuts more than it must, plus one
        if end < len(text):
            cut = next((at for at in range(end, max(start, end - 64), -1) if _clean_cut(text, at)), end)
            end = cut
        parts.append(text[start:end])
        start, room = end, limit
    parts[0] = f"{len(parts)}:{parts[0]}"
    return parts


def _row(key: str, first: str, second: str | None, limit: int) -> list[str]:
    """[key, first, second] with the parts of a value too long for its cell after them (see the docstring)."""
    one, two = _cells(first, limit), _cells(second, limit) if second is not None else []
    if len(one) == 1 and len(two) <= 1:
        return [key, first] + two  # the common case, as in v2
    return [key, one[0], two[0] if two else ""] + one[1:] + two[1:]


def _whole(row: list[Any]) -> list[Any]:
    """Cells 1 and 2 of a row with their parts joined again: a value as read (None for a cell the row lacks),
    or None when it is split and its parts are not all there."""
    out, at = [], 3
    for cell in row[1:3]:
        colon = cell.find(":", 1, _COUNT_ROOM) if isinstance(cell, str) else -1
        if colon < 0 or not cell[:colon].isdecimal() or not cell[:colon].isascii():
            out.append(cell)  # the whole value
            continue
        n = int(cell[:colon])
        rest = row[at:at + n - 1]
        whole = n >= 1 and len(rest) == n - 1 and all(isinstance(part, str) and part for part in rest)
        out.append(cell[colon + 1:] + "".join(rest) if whole else None)
        at += n - 1
    return out + [None] * (2 - len(out))


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

    def put_packed(self, run_id: str, packed: str) -> None:
        """A run's fingerprints already packed over the slots."""
        self._cells.pop(run_id, None)
        self._packed[run_id] = packed
        self._order.setdefault(run_id)

    def packed(self, run_id: str) -> str | None:
        """The stored text of a run no one has looked at (still valid when headers were added after it)."""
        return self._packed.get(run_id) if run_id not in self._cells else None

    def looked_at(self):
        """The cells of every run someone has looked at or set (the others are still packed over the slots)."""
        return self._cells.values()

    def stored(self) -> tuple[list[str], list[str | None]]:
        """Every run id in order, and beside each its packed text, UNREAD, or None once looked at: what encode
        walks, built at C speed (a base of 100,000 runs read by need, of which a sync wrote 1,000)."""
        order = list(self._order)
        texts = list(map(self._packed.get, order))
        if self._cells:
            at = dict(zip(order, range(len(order))))
            for run_id in self._cells:
                texts[at[run_id]] = None
        return order, texts

    def copy(self) -> "LazyRuns":
        twin = LazyRuns(None, self._slots)
        twin._packed, twin._cells, twin._order = dict(self._packed), dict(self._cells), dict(self._order)
        return twin

    def unread_copy(self) -> "LazyRuns":
        """A copy with every run unread (a streamed sync after a page is written: its rows are in the sheet, and the
        next page needs only their places), in one pass."""
        twin = LazyRuns(None, self._slots)
        twin._order = dict(self._order)
        twin._packed = dict.fromkeys(self._order, UNREAD)
        return twin


@dataclass(frozen=True)
class EncodedBase:
    """A base in its stored form, in two parts: `body` (row 0, then a row a run) and `closing` (row 0 again, with
    the new read state; None when the read state is unchanged and body[0] already says it all)."""

    body: list[list[str]]
    closing: list[str] | None = None

    @property
    def rows(self) -> list[list[str]]:
        """The whole stored form, for a sink that writes it in one step: the closing row as row 0."""
        return self.body if self.closing is None else [self.closing, *self.body[1:]]


class Base:
    """run id -> header -> fingerprint of the value last written there; run id -> row digest."""

    def __init__(self, runs: dict[str, dict[str, int]] | LazyRuns | None = None,
                 digests: dict[str, int] | None = None, slots: list[str] | None = None, look: dict | None = None,
                 read_state: dict | None = None):
        self.runs = runs if isinstance(runs, LazyRuns) else LazyRuns()
        if not isinstance(runs, LazyRuns):
            for run_id, cells in (runs or {}).items():
                self.runs[run_id] = cells
        self.digests = digests or {}
        self.slots = list(slots or [])  # the stored slot order; new headers are added at its end
        self.runs._slots = self.slots  # one list: packed rows are read over it
        self._slot_of = {h: i for i, h in enumerate(self.slots)}
        self.look = look  # what look.py remembers (columns set up, highlight rules); None: never set up
        self.read_state = dict(read_state or {})  # what the source needs to read only what changed (JSON-able)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Base) and dict(self.runs) == dict(other.runs) and self.digests == other.digests

    def __repr__(self) -> str:
        return f"Base({len(self.runs)} runs)"

    def copy(self) -> "Base":
        return Base(self.runs.copy(), dict(self.digests), self.slots, self.look, self.read_state)

    def unread_copy(self) -> "Base":
        """A copy whose every run is unread and has no digest: the base as a read by need leaves it before reading
        any row (google_read.advance: the next part of a streamed sync)."""
        return Base(self.runs.unread_copy(), {}, self.slots, self.look, self.read_state)

    def add_new(self, run_id: str, cells: dict[str, int]) -> None:
        """A run the tool is about to write for the first time, its fingerprints packed at once over the slots
        (its new headers join their end): a first sync of 10,000 x 100 cells would otherwise hold a million
        fingerprints in 10,000 dicts until it is encoded."""
        for h in cells:
            if h not in self._slot_of:
                self._slot_of[h] = len(self.slots)
                self.slots.append(h)
        self.runs.put_packed(run_id, _pack([cells.get(h, ABSENT) for h in self.slots]))

    def headers(self) -> list[str]:
        seen: dict[str, None] = dict.fromkeys(self.slots)
        for cells in self.runs.looked_at():  # packed rows name only slots, which are all in
            seen.update(dict.fromkeys(cells))
        return list(seen)

    def encode(self, limit: int = MAX_CELL_CHARS) -> list[list[str] | None]:
        """The stored form (the module docstring): no cell longer than `limit` characters, run ids aside; None
        for the row of a run that was not read (it stays as stored)."""
        if limit < _MIN_CELL_CHARS:
            raise ValueError(f"a base cell must hold at least {_MIN_CELL_CHARS} characters, not {limit}")
        headers = self.headers()
        order, texts = self.runs.stored()
        rows: list[list[str] | None] = [None] * len(order)  # None: not read (read by need), the stored row stays
        for i in [i for i, text in enumerate(texts) if text is not UNREAD]:
            run_id, packed = order[i], texts[i]  # untouched rows keep their text: the slots only ever grow
            if packed is None:
                cells = self.runs[run_id]
                packed = _pack([cells.get(h, ABSENT) for h in headers])
            digest = self.digests.get(run_id)
            rows[i] = _row(run_id, packed, _pack([digest]) if digest is not None else None, limit)
        return [self._head(headers, self.read_state, limit), *rows]

    def encode_closing_last(self, stored_read_state: dict | None, limit: int = MAX_CELL_CHARS) -> "EncodedBase":
        """The stored form cut for a write that may land in parts (sinks/__init__.py, its clause on the read state):
        the body with row 0 holding `stored_read_state` (what the stored base already says), and row 0 with this
        base's read state as the closing row, None when the state did not change."""
        body = self.encode(limit)
        if (self.read_state or {}) == (stored_read_state or {}):
            return EncodedBase(body, None)
        closing = body[0]
        body[0] = self._head(self.headers(), stored_read_state, limit)
        return EncodedBase(body, closing)

    def _head(self, headers: list[str], read_state: dict | None, limit: int) -> list[str]:
        memory = {**(self.look or {}), **({"_read": read_state} if read_state else {})}
        look = json.dumps(memory, ensure_ascii=False, separators=(",", ":"), sort_keys=True) \
            if self.look is not None or memory else None
        return _row(MAGIC, json.dumps(headers, ensure_ascii=False, separators=(",", ":")), look, limit)

    @staticmethod
    def width(rows: list[list[Any]]) -> int:
        """The columns a sheet needs to hold these encoded rows: the longest row's length, and never fewer than
        the three a base has always had (a sink may clear up to the third)."""
        return max(3, max((len(row) for row in rows if row is not None), default=0))

    @classmethod
    def decode(cls, rows: list[list[Any]]) -> "Base":
        """Whatever cannot be read (an edited or foreign sheet) counts as no base for those runs."""
        if not rows or not rows[0] or rows[0][0] not in (MAGIC, MAGIC_V2):
            return cls()
        head = _whole(rows[0])  # a v2 row reads alike: no value of it is split or begins "n:"
        try:
            headers = json.loads(head[0])  # TypeError for None (a part missing) or a number
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
            fingerprints, digest = _whole(row)
            packed[run_id] = fingerprints if isinstance(fingerprints, str) else ""  # unreadable: a person's cells
            # fingerprints with a part missing (or not text): the digest is not trusted either, so the next
            # sync compares the run cell by cell and the base heals
            digest = _unpack(digest) if digest and isinstance(fingerprints, str) else None
            if digest:
                digests[run_id] = digest[0]
        slots = [str(h) for h in headers]
        look, read_state = _decode_memory(head[1])
        return cls(LazyRuns(packed, slots), digests, slots, look, read_state)

    @classmethod
    def decode_sparse(cls, rows: list[list[Any]], ids: list[str]) -> "Base":
        """A base read by need: `rows` its rows as read, row 0 (the head) whole and a run's row only where it was
        read, None elsewhere; `ids` the run id of every row after the head, in order. A run whose row was not read
        is UNREAD (its row stays as stored). A head that cannot be read is no base, as in decode."""
        whole = cls.decode([rows[0]] if rows else [])
        if not rows or not rows[0] or rows[0][0] not in (MAGIC, MAGIC_V2) or not whole.slots and not ids:
            return whole
        read = cls.decode([rows[0], *(row for row in rows[1:] if row is not None)])
        runs = LazyRuns(dict.fromkeys(ids, UNREAD), whole.slots)  # every run at its place, unread (at C speed)
        for i, row in enumerate(rows[1:], start=1):
            if row is not None and i <= len(ids):  # a row too short to read holds no fingerprints: adopted
                run_id = ids[i - 1]
                runs.put_packed(run_id, (read.runs.packed(run_id) or "") if run_id in read.runs else "")
        return cls(runs, read.digests, whole.slots, whole.look, whole.read_state)

    def read_rows(self, rows: list[list[Any] | None], ids: list[str], which: Iterable[int]) -> bool:
        """Rows of a base read by need read since it was decoded (`which`: their places in `rows`, as in
        decode_sparse): their runs are no longer UNREAD. The rest is left as it is: a fill of 1,000 rows costs
        those rows, not a decode of 100,000 places. The rows are packed over the stored head's headers: when this
        base's slots are not those or the first of those (a part of a sync wrote a run's new column, which the head
        names and the slots do not yet), they are taken on; False, changing nothing, when they cannot be (the
        caller decodes afresh)."""
        got = [i for i in sorted(which) if 0 < i < len(rows) and rows[i] is not None and i <= len(ids)]
        read = Base.decode([rows[0], *(rows[i] for i in got)]) if rows else Base()
        if read.slots[:len(self.slots)] != self.slots:
            return False
        for h in read.slots[len(self.slots):]:  # packed rows stay valid when headers join the end
            self._slot_of[h] = len(self.slots)
            self.slots.append(h)
        for i in got:
            run_id = ids[i - 1]
            self.runs.put_packed(run_id, (read.runs.packed(run_id) or "") if run_id in read.runs else "")
            if run_id in read.digests:
                self.digests[run_id] = read.digests[run_id]
        return True


def _decode_memory(text: Any) -> tuple[dict | None, dict]:
    """The remembered look, or None (never set up, or unreadable: then nothing is reformatted), and the read
    state ({} when none or unreadable: the next read is a full one)."""
    try:
        memory = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None, {}
    if not isinstance(memory, dict):
        return None, {}
    read_state = memory.pop("_read", None)
    return (memory or None), (read_state if isinstance(read_state, dict) else {})
