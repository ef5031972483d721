"""A sync's write to Google as a sequence of spreadsheets.batchUpdate bodies, each under a byte budget.

Google refuses a body over 10,485,760 bytes and advises 2 MB. Each body is applied atomically and is
self-contained: the first carries the structure (new sheets, grid growth, headers, formats, highlight rules,
the base's header rows); then come the runs, every run's cells in the same body as its base row. A kill or a
refused request after any body leaves a sheet and a base that agree, so the next sync completes the rest with
nothing lost and nothing written twice. Updates of existing rows go before any inserted rows, so the
positions they name (the grid as read) stay true. Bodies are built one at a time from the plan, so a first
sync of a million cells never holds more than one body in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

# Requests that would act twice if sent twice: an insert shifts rows again, the grid grows again, a rule is
# added (or deleted by index) again, a sheet is added again. A body holding one is never re-sent blind.
NOT_REPEATABLE = ("insertDimension", "appendDimension", "deleteDimension", "addConditionalFormatRule",
                  "deleteConditionalFormatRule", "addSheet")
_OVERHEAD = 1024  # the body's brackets and the new-row block's insert, kept free in every budget
# an updateCells wrapper a base row may need of its own (_base_blocks: the rows a sync rewrites are scattered when
# the sheet is read by need), counted for every base row so that no body outgrows its budget
_BLOCK = 140


@dataclass
class Batch:
    body: bytes
    repeatable: bool
    runs: int  # runs whose cells or base row it carries


@dataclass
class _Open:
    requests: list[str] = field(default_factory=list)  # finished request objects, as JSON text
    new_rows: list[str] = field(default_factory=list)  # {"values": [...]} texts of the new rows in this body
    base_rows: dict[int, str] = field(default_factory=dict)  # base row index -> {"values": [...]} text
    closing: list[str] = field(default_factory=list)  # `last`: after this body's new rows, which they move
    size: int = 0
    runs: int = 0


@dataclass
class NewRows:
    """Where the plan's new rows go and how each becomes a row of cells."""

    sheet_id: int
    at: int  # the grid row of the first new row
    insert: bool  # rows are inserted there (newest first); otherwise the grid was grown in the first body
    row_json: Callable[[list], str]
    formats: Callable[[int, int], list[dict]]  # (first row, end row) -> format requests for that range


def as_text(request: dict | str) -> str:
    return request if isinstance(request, str) else json.dumps(request, separators=(",", ":"), ensure_ascii=False)


def batches(first: list[dict | str], updates: Iterable[tuple[str, list[dict]]], new_rows: list[list],
            new_ids: list[str], placing: NewRows, base_id: int | None, base_rows: dict[int, list[str]],
            base_owner: dict[str, list[int]], budget: int, last: list[dict] = (),
            final_base: dict[int, list[str]] | None = None) -> Iterator[Batch]:
    """Bodies under `budget` bytes: `first` (the structure, which goes whole into the first body), then
    (run id, requests) of existing rows, then the new rows; each run brings its base rows (by index);
    base rows no run claims go with the structure; `last` (deleting repeated rows, which moves the rows
    below them) goes after everything else, and `final_base` (the base's row 0 with the new read state) in the
    last body of all: the read state moves on only once every run it covers has landed."""
    claimed = {i for rows in base_owner.values() for i in rows}
    room = budget - _OVERHEAD - sum(_size(as_text(r)) + 1 for r in placing.formats(0, 1))
    body = _Open(requests=[as_text(r) for r in first])
    body.size = sum(map(_size, body.requests))
    for i in sorted(set(base_rows) - claimed):
        _add_base(body, i, base_rows[i])
    inserted = 0

    def flush() -> Batch | None:
        nonlocal body, inserted
        batch = _close(body, placing, placing.at + inserted, base_id)
        inserted += len(body.new_rows)
        body = _Open()
        return batch

    seen: set[str] = set()
    for run_id, requests in updates:
        seen.add(run_id)
        texts = [as_text(r) for r in requests]
        size = sum(_size(t) + 1 for t in texts)
        if body.runs and body.size + size + _base_cost(run_id, base_owner, base_rows) > room:
            yield flush()
        body.requests += texts
        body.size += size
        _claim(body, run_id, base_owner, base_rows)
    for run_id, row in zip(new_ids, new_rows):
        seen.add(run_id)
        text = placing.row_json(row)
        if body.runs and body.size + _size(text) + 1 + _base_cost(run_id, base_owner, base_rows) > room:
            yield flush()
        body.new_rows.append(text)
        body.size += _size(text) + 1
        _claim(body, run_id, base_owner, base_rows)
    for run_id in sorted(base_owner.keys() - seen):  # base rows alone (an adopted run, a kept edit): nothing to write
        if body.runs and body.size + _base_cost(run_id, base_owner, base_rows) > room:
            yield flush()
        _claim(body, run_id, base_owner, base_rows)
    closing = [as_text(r) for r in last]
    if body.runs and body.size + sum(map(_size, closing)) > room:
        yield flush()
    body.closing += closing
    body.size += sum(map(_size, closing))
    for i, row in sorted((final_base or {}).items()):
        if (body.runs or body.requests) and body.size + _size(_row_text(row)) + 1 > room:
            yield flush()
        _add_base(body, i, row)
    if body.requests or body.new_rows or body.base_rows or body.closing:
        yield flush()


def _base_cost(run_id: str, owner: dict[str, list[int]], rows: dict[int, list[str]]) -> int:
    return sum(_size(_row_text(rows[i])) + 1 + _BLOCK for i in owner.get(run_id, ()) if i in rows)


def _claim(body: _Open, run_id: str, owner: dict[str, list[int]], rows: dict[int, list[str]]) -> None:
    body.runs += 1
    for i in owner.get(run_id, ()):
        if i in rows:
            _add_base(body, i, rows[i])


def _add_base(body: _Open, index: int, row: list[str]) -> None:
    text = _row_text(row)
    body.base_rows[index] = text
    body.size += _size(text) + 1 + _BLOCK


def _size(text: str) -> int:
    """Bytes once encoded: characters for ASCII text, which most cells are."""
    return len(text) if text.isascii() else len(text.encode())


def _row_text(row: list[str]) -> str:
    return '{"values":[' + ",".join('{"userEnteredValue":{"stringValue":%s}}' % json.dumps(v, ensure_ascii=False)
                                    if v is not None else "{}" for v in row) + "]}"


def _close(body: _Open, placing: NewRows, at: int, base_id: int | None) -> Batch:
    requests = body.requests
    if body.new_rows:
        end = at + len(body.new_rows)
        if placing.insert:
            requests.append(as_text({"insertDimension": {"range": {
                "sheetId": placing.sheet_id, "dimension": "ROWS", "startIndex": at, "endIndex": end},
                "inheritFromBefore": False}}))
        requests.append('{"updateCells":{"start":{"sheetId":%d,"rowIndex":%d,"columnIndex":0},"rows":[%s],'
                        '"fields":"userEnteredValue,textFormatRuns"}}'
                        % (placing.sheet_id, at, ",".join(body.new_rows)))
        requests += [as_text(r) for r in placing.formats(at, end)]
    requests += body.closing  # deleting repeated rows names them as they stand once the new rows are in
    requests += _base_blocks(base_id, body.base_rows)
    repeatable = not any(f'"{name}"' in r[:40] for r in requests for name in NOT_REPEATABLE)
    return Batch(('{"requests":[' + ",".join(requests) + "]}").encode(), repeatable, body.runs)


def _base_blocks(base_id: int | None, rows: dict[int, str]) -> list[str]:
    """The base rows as updateCells of contiguous blocks."""
    out: list[str] = []
    block: list[str] = []
    start = None
    for i in sorted(rows) + [None]:
        if block and (i is None or i != start + len(block)):
            out.append('{"updateCells":{"start":{"sheetId":%d,"rowIndex":%d,"columnIndex":0},"rows":[%s],'
                       '"fields":"userEnteredValue"}}' % (base_id, start, ",".join(block)))
            block = []
        if i is not None:
            if not block:
                start = i
            block.append(rows[i])
    return out


def together(writes: list[Iterator[Batch]], budget: int) -> Iterator[Batch]:
    """The worksheets' bodies in order, neighbours sent as one body while it stays under the budget: each is
    self-contained, so one atomic body holding two still loses or doubles nothing, and a sync that changes the
    runs tab and its summary tabs a little costs one write, not one per tab."""
    pending: Batch | None = None
    for batch in (b for bodies in writes for b in bodies):
        if pending is not None and len(pending.body) + len(batch.body) <= budget:
            pending = Batch(pending.body[:-2] + b"," + batch.body[len(b'{"requests":['):],
                            pending.repeatable and batch.repeatable, pending.runs + batch.runs)
            continue
        if pending is not None:
            yield pending
        pending = batch
    if pending is not None:
        yield pending

