"""Checks requests against Google's Sheets v4 discovery document, the one google-api-python-client ships."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def _document() -> dict:
    import googleapiclient  # a dev dependency: only the test world needs it

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "sheets.v4.json"
    return json.loads(path.read_text())


@lru_cache(maxsize=1)
def _methods() -> list[tuple[str, re.Pattern, dict]]:
    out = []

    def walk(resource: dict) -> None:
        for method in (resource.get("methods") or {}).values():
            pattern = re.escape(method["flatPath"])
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", pattern)
            out.append((method["httpMethod"], re.compile("^/" + pattern + "$"), method))
        for sub in (resource.get("resources") or {}).values():
            walk(sub)

    walk(_document())
    return out


def find_method(http_method: str, raw_path: str) -> dict | None:
    for verb, pattern, method in _methods():
        if verb == http_method and pattern.match(raw_path):
            return method
    return None


def validate(http_method: str, raw_path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """Every way the request breaks the discovery document: unknown method, parameter, field, type, enum."""
    if not raw_path.startswith("/v4/"):
        return []
    method = find_method(http_method, raw_path)
    if method is None:
        return [f"{http_method} {raw_path}: no such method in the Sheets v4 discovery document"]
    problems: list[str] = []
    params = method.get("parameters") or {}
    for name, values in query.items():
        if name in ("fields", "alt", "key", "prettyPrint", "quotaUser", "access_token", "$.xgafv", "callback",
                    "upload_protocol", "uploadType"):
            continue
        spec = params.get(name)
        if spec is None:
            problems.append(f"{method['id']}: unknown query parameter {name!r}")
            continue
        for v in values:
            problems += _check_scalar(spec, v, f"{method['id']}?{name}", from_query=True)
    request = method.get("request")
    if request is not None:
        problems += check(body, {"$ref": request["$ref"]}, method["id"])
    return problems


def check(value: Any, schema: dict, where: str) -> list[str]:
    if value is None:
        return []  # JSON null is accepted for any field and means 'not set'
    if "$ref" in schema:
        schema = _document()["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        problems = []
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            if key in props:
                problems += check(sub, props[key], f"{where}.{key}")
            elif extra is not None:
                problems += check(sub, extra, f"{where}.{key}")
            else:
                problems.append(f"{where}: unknown field {key!r}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        problems = []
        for i, item in enumerate(value):
            problems += check(item, schema.get("items") or {}, f"{where}[{i}]")
        return problems
    return _check_scalar(schema, value, where)


def _check_scalar(schema: dict, value: Any, where: str, from_query: bool = False) -> list[str]:
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "any" or kind is None:
        return []
    if kind == "string":
        if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
            return []
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {value!r}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} is not one of {schema['enum']}"]
        return []
    if kind == "integer":
        if from_query:
            return [] if re.fullmatch(r"-?\d+", value) else [f"{where}: expected an integer, got {value!r}"]
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return []
            return [f"{where}: expected an integer, got {value!r}"]
        return []
    if kind == "number":
        if from_query:
            return []
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{where}: expected a number, got {value!r}"]
        return []
    if kind == "boolean":
        if from_query:
            ok = value.lower() in ("true", "false")
            return [] if ok else [f"{where}: expected true or false, got {value!r}"]
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean, got {value!r}"]
    return []
