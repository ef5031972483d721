"""The base tab's guard and the worksheet's identity (issue 23): pure decisions on the spreadsheet's metadata.

The base tab `_sync_base <WORKSHEET>` is hidden and carries a warning-only protected range (Google asks a person
who edits it to confirm) whose description names the worksheet's sheet id. With it a sync tells:
- a worksheet renamed (its title gone, the sheet its base names there under another title): stop and say the fix;
- a worksheet whose base is under another title but names its id (WORKSHEET set to the renamed title): follow it;
- a worksheet with rows and no readable base (tab deleted, cleared, or edited): say so in one line, with what
  the adoption that follows did.
"""

from __future__ import annotations

import re
from typing import Any

from ..base import Base
from ..errors import SheetLayoutError
from ..merge import Counts
from . import BASE_PREFIX

_GUARD = re.compile(r"wandb_spreadsheet_sync: the base of the worksheet with id (\d+)\b")


def guards_of(sheets: list[dict]) -> dict[int, int]:
    """base sheet id -> the worksheet id its protection names, from spreadsheets.get's sheets[]."""
    return {p.get("range", {}).get("sheetId", 0): int(m.group(1)) for s in sheets
            for p in s.get("protectedRanges", []) if (m := _GUARD.match(p.get("description", "")))}


def followed_base(worksheet: str, base_title: str, sheets: dict[str, dict], guards: dict[int, int]) -> str | None:
    """The title of the worksheet's base when it is not `base_title` but names the worksheet's id (the worksheet
    was renamed and WORKSHEET set to its new title); raises when the worksheet itself was renamed."""
    ids = {p["sheetId"]: t for t, p in sheets.items()}
    main, base = sheets.get(worksheet), sheets.get(base_title)
    owner = guards.get(base["sheetId"]) if base else None
    if main is None and owner is not None and owner in ids:
        raise SheetLayoutError(
            f"Worksheet {worksheet!r} was renamed to {ids[owner]!r} (its base, the hidden tab {base_title!r}, "
            "belongs to that sheet): nothing was written.",
            f"Rename the tab back to {worksheet!r}, or set WORKSHEET to {ids[owner]!r} (the sync then finds its "
            "base by the sheet's id).")
    if main is not None and (base is None or owner not in (None, main["sheetId"])):
        found = [t for t, p in sheets.items() if t != worksheet and t.startswith(BASE_PREFIX)
                 and guards.get(p["sheetId"]) == main["sheetId"]]
        return found[0] if found else None
    return None


def why_lost(base_title: str, grid: list[list], sheet_id: int | None, base_id: int | None, stored: list[list],
             base: Base) -> str | None:
    """Why a worksheet that holds rows has no base to read (None: it has one, or nothing to adopt)."""
    if sheet_id is None or len(grid) < 2 or base.runs:
        return None
    if base_id is None:
        return f"has no base (the hidden tab {base_title!r} is missing: a sheet this tool never wrote, or the tab " \
               "was deleted)"
    if not any(any(c not in (None, "") for c in row) for row in stored):
        return f"has lost its base (the hidden tab {base_title!r} was cleared)"
    return f"has lost its base (the hidden tab {base_title!r} was edited and cannot be read)"


def adopted_line(worksheet: str, why: str, c: Counts) -> str:
    return (f"worksheet {worksheet!r} {why}: adopted as it is: {c.adopted} cells equal to W&B adopted, {c.filled} "
            f"empty ones filled, {c.kept_unknown} that differ from W&B kept as a person's edits (W&B no longer "
            "updates those: clear such a cell and the next sync refills it), "
            f"{c.new} runs without a row added (a row a person had deleted comes back: the base remembered it)")


def guard_requests(worksheet: str, base_title: str, sheet_id: int, base_id: int, guards: dict[int, int],
                   followed: bool) -> list[dict[str, Any]]:
    """The base tab protected with a warning naming its worksheet's id (once), and renamed to its worksheet's
    base title when it was followed from another."""
    out: list[dict[str, Any]] = []
    if followed:
        out.append({"updateSheetProperties": {"properties": {"sheetId": base_id, "title": base_title},
                                              "fields": "title"}})
    if guards.get(base_id) != sheet_id:
        out.append({"addProtectedRange": {"protectedRange": {
            "range": {"sheetId": base_id}, "warningOnly": True,
            "description": f"wandb_spreadsheet_sync: the base of the worksheet with id {sheet_id} ({worksheet!r}). "
                           "Edits here make the next sync adopt the sheet as it finds it."}}})
    return out
