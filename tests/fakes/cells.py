"""One cell of the fake Sheets: how Google stores an input value and how it renders it back."""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import re
from dataclasses import dataclass, field, replace
from typing import Any

EPOCH = dt.datetime(1899, 12, 30)  # Sheets' serial day 0
MAX_CELL_CHARS = 50_000


class ApiError(Exception):
    """An error Google answers with its JSON envelope."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

    def __init__(self, code: int, message: str, details: list | None = None, errors: list | None = None):
        super().__init__(message)
        self.code, self.message, self.details, self.errors = code, message, details, errors

    def envelope(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:  # the legacy list some front-end errors still carry
            err["errors"] = self.errors
        err["status"] = self.STATUS.get(self.code, "UNKNOWN")
        if self.details:
            err["details"] = self.details
        return {"error": err}


@dataclass(frozen=True)
class Cell:
    """Immutable so a batch can be rolled back by keeping the old row dicts."""

    value: Any = None  # effective value: None, str, float, bool
    formula: str | None = None
    fmt: dict | None = None  # userEnteredFormat
    note: str | None = None
    extra: dict = field(default_factory=dict)  # hyperlink, textFormatRuns, dataValidation

    def is_empty(self) -> bool:
        return self.value is None and self.formula is None

    def with_(self, **kw) -> "Cell":
        return replace(self, **kw)


# ---- input ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def check_length(value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        raise ApiError(400, "Your input contains more than the maximum of 50000 characters in a single cell.")


def to_serial(when: dt.datetime) -> float:
    delta = when - EPOCH
    return delta.days + delta.seconds / 86400 + delta.microseconds / 86400e6


def from_serial(serial: float) -> dt.datetime:
    return EPOCH + dt.timedelta(days=serial)


def parse_input(raw: Any, user_entered: bool, old: Cell | None) -> Cell | None:
    """A value from values.update/append. None means 'leave the cell as it is' (Google skips nulls)."""
    if raw is None:
        return None
    check_length(raw)
    base = old or Cell()
    if isinstance(raw, bool):
        return base.with_(value=raw, formula=None)
    if isinstance(raw, (int, float)):
        return base.with_(value=float(raw), formula=None)
    if not isinstance(raw, str):
        raise ApiError(400, f"Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), {raw!r}")
    if raw == "":
        return base.with_(value=None, formula=None) if not user_entered else Cell(fmt=base.fmt, note=base.note)
    if not user_entered:
        return base.with_(value=raw, formula=None)
    return parse_user_entered(raw, base)


def parse_user_entered(text: str, base: Cell) -> Cell:
    """What typing `text` into the cell does: formulas, numbers, dates, booleans, a leading quote."""
    if text.startswith("'"):
        return base.with_(value=text[1:], formula=None)
    if text.startswith("=") and len(text) > 1:
        return base.with_(value=evaluate(text), formula=text)
    upper = text.strip().upper()
    if upper in ("TRUE", "FALSE"):
        return base.with_(value=upper == "TRUE", formula=None)
    stripped = text.strip()
    pct = stripped.endswith("%")
    body = stripped[:-1] if pct else stripped
    if body and _NUMBER.match(body) and any(c.isdigit() for c in body):
        number = float(body.replace(",", ""))
        fmt = base.fmt
        if pct:
            number /= 100
            fmt = _with_number_format(fmt, "PERCENT", "0.00%")
        elif "," in body:
            decimals = len(body.split(".")[1]) if "." in body else 0
            fmt = _with_number_format(fmt, "NUMBER", "#,##0" + ("." + "0" * decimals if decimals else ""))
        return base.with_(value=number, formula=None, fmt=fmt)
    when = _parse_date(stripped)
    if when is not None:
        has_time = bool(re.search(r"\d:\d", stripped))
        kind, pattern = ("DATE_TIME", "yyyy-mm-dd hh:mm:ss") if has_time else ("DATE", "yyyy-mm-dd")
        return base.with_(value=to_serial(when), formula=None, fmt=_with_number_format(base.fmt, kind, pattern))
    return base.with_(value=text, formula=None)


def _parse_date(text: str) -> dt.datetime | None:
    m = _DATE.match(text)
    try:
        if m:
            y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
            return dt.datetime(y, mo, d, h, mi, s)
        m = _US_DATE.match(text)
        if m:
            return dt.datetime(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    except ValueError:
        return None
    return None


def _with_number_format(fmt: dict | None, kind: str, pattern: str) -> dict:
    out = dict(fmt or {})
    out["numberFormat"] = {"type": kind, "pattern": pattern}
    return out


def extended_to_cell(ev: dict, base: Cell) -> Cell:
    """An ExtendedValue from updateCells/appendCells/repeatCell: stringValue is never a formula."""
    if "formulaValue" in ev:
        check_length(ev["formulaValue"])
        return base.with_(value=evaluate(ev["formulaValue"]), formula=ev["formulaValue"])
    if "stringValue" in ev:
        check_length(ev["stringValue"])
        return base.with_(value=ev["stringValue"], formula=None)
    if "numberValue" in ev:
        return base.with_(value=float(ev["numberValue"]), formula=None)
    if "boolValue" in ev:
        return base.with_(value=bool(ev["boolValue"]), formula=None)
    if "errorValue" in ev:
        return base.with_(value=ErrorValue(ev["errorValue"].get("type", "ERROR")), formula=None)
    return base.with_(value=None, formula=None)


@dataclass(frozen=True)
class ErrorValue:
    type: str

    def text(self) -> str:
        return {"NAME": "#NAME?", "DIVIDE_BY_ZERO": "#DIV/0!", "VALUE": "#VALUE!", "REF": "#REF!",
                "N_A": "#N/A", "NUM": "#NUM!"}.get(self.type, "#ERROR!")


# ---- formulas: arithmetic and HYPERLINK, the rest is #NAME? ---------------------------------

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}
_HYPERLINK = re.compile(r'^=\s*HYPERLINK\(\s*"((?:[^"]|"")*)"\s*(?:[,;]\s*"((?:[^"]|"")*)"\s*)?\)\s*$', re.I)


def evaluate(formula: str) -> Any:
    m = _HYPERLINK.match(formula)
    if m:
        url, label = m.group(1), m.group(2)
        return (label if label is not None else url).replace('""', '"')
    expr = formula[1:].strip().replace("^", "**")
    try:
        return float(_eval(ast.parse(expr, mode="eval").body))
    except ZeroDivisionError:
        return ErrorValue("DIVIDE_BY_ZERO")
    except Exception:
        return ErrorValue("NAME")


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError("unsupported formula")


# ---- output ----------------------------------------------------------------------------------

def json_number(v: float) -> int | float:
    return int(v) if float(v).is_integer() and abs(v) < 1e15 else v


def _is_date_format(fmt: dict | None) -> str | None:
    nf = (fmt or {}).get("numberFormat") or {}
    if nf.get("type") in ("DATE", "DATE_TIME", "TIME"):
        return nf.get("pattern") or {"DATE": "yyyy-mm-dd", "TIME": "hh:mm:ss"}.get(nf["type"], "yyyy-mm-dd hh:mm:ss")
    return None


def render(cell: Cell, value_render: str, datetime_render: str) -> Any:
    """values.get's rendering of one cell; '' for an empty one."""
    if value_render == "FORMULA" and cell.formula is not None:
        return cell.formula
    v = cell.value
    if v is None:
        return ""
    if isinstance(v, ErrorValue):
        return v.text()
    if value_render == "FORMATTED_VALUE":
        return formatted(cell)
    if isinstance(v, float):
        if _is_date_format(cell.fmt) and datetime_render == "FORMATTED_STRING":
            return formatted(cell)
        return json_number(v)
    return v


def formatted(cell: Cell) -> str:
    v = cell.value
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, ErrorValue):
        return v.text()
    if isinstance(v, str):
        return v
    date_pattern = _is_date_format(cell.fmt)
    if date_pattern:
        return format_date(from_serial(v), date_pattern)
    nf = (cell.fmt or {}).get("numberFormat") or {}
    if nf.get("pattern"):
        return format_number(v, nf["pattern"])
    return general(v)


def general(v: float) -> str:
    if math.isfinite(v) and float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    if v != 0 and (abs(v) >= 1e15 or abs(v) < 1e-9):
        mant, exp = f"{v:.2E}".split("E")
        return f"{mant}E{'+' if int(exp) >= 0 else '-'}{abs(int(exp)):02d}"
    text = f"{v:.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def format_number(v: float, pattern: str) -> str:
    """The number-format patterns the tool and the cassettes use: #,##0.00 / 0.000 / 0.00% / 0.00E+00."""
    pattern = pattern.split(";")[0]
    pct = pattern.endswith("%")
    if pct:
        v *= 100
        pattern = pattern[:-1]
    if "E" in pattern.upper():
        mant = pattern.upper().split("E")[0]
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        m, e = f"{v:.{decimals}E}".split("E")
        return f"{m}E{'+' if int(e) >= 0 else '-'}{abs(int(e)):02d}"
    decimals_part = pattern.split(".")[1] if "." in pattern else ""
    fixed = decimals_part.count("0")
    optional = decimals_part.count("#")
    text = f"{v:,.{fixed + optional}f}" if "," in pattern else f"{v:.{fixed + optional}f}"
    if optional and "." in text:
        whole, frac = text.split(".")
        frac = frac[:fixed] + frac[fixed:].rstrip("0")
        text = whole + ("." + frac if frac else "")
    return text + ("%" if pct else "")


def format_date(when: dt.datetime, pattern: str) -> str:
    out = pattern
    for token, value in (("yyyy", f"{when.year:04d}"), ("dd", f"{when.day:02d}"), ("hh", f"{when.hour:02d}"),
                         ("ss", f"{when.second:02d}")):
        out = out.replace(token, value)
    # 'mm' is month next to a date part and minutes after 'hh'.
    out = re.sub(r"(?<=:)mm|mm(?=:)", f"{when.minute:02d}", out)
    out = out.replace("mm", f"{when.month:02d}")
    return out


def extended_value(v: Any) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, float):
        return {"numberValue": json_number(v)}
    if isinstance(v, ErrorValue):
        return {"errorValue": {"type": v.type, "message": v.text()}}
    return {"stringValue": v}


def cell_data(cell: Cell) -> dict:
    """CellData as spreadsheets.get returns it with includeGridData."""
    out: dict[str, Any] = {}
    if cell.formula is not None:
        out["userEnteredValue"] = {"formulaValue": cell.formula}
    elif cell.value is not None:
        out["userEnteredValue"] = extended_value(cell.value)
    if cell.value is not None:
        out["effectiveValue"] = extended_value(cell.value)
        out["formattedValue"] = formatted(cell)
    if cell.fmt:
        out["userEnteredFormat"] = cell.fmt
    if cell.note:
        out["note"] = cell.note
    out.update(cell.extra)
    return out
