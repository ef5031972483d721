"""W&B's sampled history inside the Runs page query: the selection text, reading a node's answer, and stepping
down when the server refuses it. Pure helpers on plain data; wandb_api.py sends the query.

How W&B answers (wandb 0.31's own client reads it so: `Run._sampled_history`, `wandb_controller`): the Run
field `sampledHistory(specs: [JSONString!]!)` returns one list per spec, each a list of row objects holding the
spec's keys; a spec returns only rows that have ALL its keys, so there is one spec per metric, each
`{"keys": ["_step", metric], "samples": N}`. The specs are written into the query as string literals, so the
selection is one piece of text inside the node and needs no variable of its own. No `packVersion`: wandb's
Python client does not send one and reads plain row objects.

SAMPLES: 50 rows per metric per run, chosen by what a page costs (bench/README.md, "What HISTORY adds"): about
2.2 KB per metric per run (a 200-run page with two metrics: 265 KB -> 1.1 MB); 12 samples cost a quarter of that
but draw a 24-character curve with 12, and 200 samples four times as much. At 50 each curve character has two.
Sampled history is a sample: the true extreme can fall between samples (the README says so), which is why the
run's own summary min/max is used where W&B keeps it.

Refusals: W&B may refuse the field (an older server, a GraphQL error naming it) or the size of the answer
(too many samples for a page). Then the same page is asked again with a quarter of the samples, and then
without history; each step is logged once as a warning with the server's reason, and holds for the rest of that
project's read (the next sync starts again at SAMPLES: a refusal may have been the server's passing trouble).
A refusal never fails a sync: if the page fails without history too, that error is the sync's own.
Not taken as a refusal: a key W&B refused (401), a project it cannot see (403/404), rate limiting (429)
(errors.blames_the_request decides).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from ..columns import flatten
from ..errors import blames_the_request
from ..history import Point, Wanted

log = logging.getLogger("wandb_spreadsheet_sync")
SAMPLES = 50
STEPS = (SAMPLES, SAMPLES // 4, 0)  # 0: no history this sync


def specs(keys: tuple[str, ...], samples: int) -> list[str]:
    """One spec per metric (a spec returns only rows that have all its keys), as wandb's client writes them."""
    return [json.dumps({"keys": ["_step", key], "samples": samples}) for key in keys]


def selection(keys: tuple[str, ...], samples: int) -> str:
    """The text to add to the Runs query's node; '' when nothing is wanted."""
    if not keys or samples <= 0:
        return ""
    literals = ", ".join(json.dumps(spec) for spec in specs(keys, samples))  # a JSON string is a GraphQL string
    return f"sampledHistory(specs: [{literals}])"


def points(node: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, list[Point]]:
    """A node's sampledHistory as (step, value) points per metric; nothing for a node without it."""
    answer = node.get("sampledHistory")
    if not isinstance(answer, list):
        return {}
    out: dict[str, list[Point]] = {}
    for key, rows in zip(keys, answer):
        if isinstance(rows, str):  # a server that sends each list as JSON text
            try:
                rows = json.loads(rows)
            except ValueError:
                continue
        got = out.setdefault(key, [])
        for row in rows if isinstance(rows, list) else ():
            if isinstance(row, str):
                try:
                    row = json.loads(row)
                except ValueError:
                    continue
            if isinstance(row, dict):
                # a nested metric ("val.loss") may come dotted or nested: flattened, both read the same
                got.append((row.get("_step"), row[key] if key in row else flatten(row).get(key)))
    return out


class Sampling:
    """How many samples this sync asks for, stepping down when W&B refuses."""

    def __init__(self, wanted: Wanted):
        self.wanted = wanted
        self.step = 0 if wanted.keys else len(STEPS) - 1
        self.reasons: list[str] = []

    @property
    def samples(self) -> int:
        return STEPS[self.step]

    def selection(self) -> str:
        return selection(self.wanted.keys, self.samples)

    def refused(self, status: int | None, reason: str) -> bool:
        """Whether to ask for the page again with less history (True), after a failed request."""
        if self.samples == 0 or not blames_the_request(status):
            return False
        self.step += 1
        self.reasons.append(reason)
        if self.samples:
            log.warning("W&B refused sampled history for HISTORY/CURVES (%s); asking again with %d samples per "
                        "metric", reason, self.samples)
        else:
            log.warning("W&B refused sampled history for HISTORY/CURVES (%s); the history columns are not "
                        "updated this sync (they keep their values)", reason)
        return True
