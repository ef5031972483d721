"""Google's partial-response `fields` parameter: 'sheets.properties', 'sheets/data/rowData', 'a(b,c)'."""

from __future__ import annotations

from typing import Any


def parse(mask: str) -> dict:
    tree: dict = {}
    pos = _parse_list(mask.replace(" ", ""), 0, tree)
    if pos != len(mask.replace(" ", "")):
        raise ValueError(f"bad field mask: {mask}")
    return tree


def _parse_list(s: str, i: int, tree: dict) -> int:
    while i < len(s):
        i = _parse_path(s, i, tree)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        break
    return i


def _parse_path(s: str, i: int, tree: dict) -> int:
    start = i
    while i < len(s) and s[i] not in ".,/()":
        i += 1
    name = s[start:i]
    if not name:
        raise ValueError(f"bad field mask near {s[start:]!r}")
    if i < len(s) and s[i] in "./":
        sub = tree.get(name)
        if sub is True:
            return _parse_path(s, i + 1, {})
        sub = tree.setdefault(name, {})
        return _parse_path(s, i + 1, sub)
    if i < len(s) and s[i] == "(":
        sub = tree.get(name)
        if sub is True:
            sub = {}
        sub = tree.setdefault(name, {}) if sub is None else sub
        i = _parse_list(s, i + 1, sub)
        if i >= len(s) or s[i] != ")":
            raise ValueError("unclosed ( in field mask")
        return i + 1
    tree[name] = True
    return i


def apply(obj: Any, tree: dict | bool) -> Any:
    if tree is True or obj is None:
        return obj
    if isinstance(obj, list):
        return [apply(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "*" in tree:
        return obj
    out = {}
    for key, sub in tree.items():
        if key in obj:
            out[key] = apply(obj[key], sub)
    return out
