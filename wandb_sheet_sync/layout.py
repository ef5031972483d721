"""The sheet's Layout: its header row as people see it and as the tool reads it. The only reader of headers.

Pure. A header is matched by its text with the spaces at either end trimmed (people retype headers with a
stray space; " lr" is the column lr, not a second one). The merge returns the Layout after its plan inside the
Plan, and the sync, the look and every sink take columns from there, never from the header row again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .columns import column_letters
from .errors import SheetLayoutError

KEY = "run_id"


def key_text(value: Any) -> str:
    """A header or run-id cell as the text it is matched by: an id of digits may read back as a number."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class Layout:
    """texts: each header cell as people see it ("" for an empty one); keys: the same, as matched."""

    texts: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    key: str = KEY
    col_of: dict[str, int] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, grid: list[list[Any]], key: str = KEY) -> "Layout":
        """The layout of a grid's first row; a header that appears twice is refused, naming both columns."""
        row = grid[0] if grid else []
        texts = tuple("" if h is None else str(h) for h in row)
        return cls._checked(texts, tuple(key_text(h) for h in row), key)

    @classmethod
    def _checked(cls, texts: tuple[str, ...], keys: tuple[str, ...], key: str) -> "Layout":
        col_of: dict[str, int] = {}
        for col, name in enumerate(keys):
            if not name:
                continue
            if name in col_of:
                raise SheetLayoutError(
                    f"The header {name!r} appears twice, in columns {column_letters(col_of[name])} and "
                    f"{column_letters(col)}.", "Rename or delete one of the two columns; nothing was written.")
            col_of[name] = col
        return cls(texts, keys, key, col_of)

    @property
    def named(self) -> list[str]:
        """The headers in use, left to right, as matched."""
        return [k for k in self.keys if k]

    @property
    def width(self) -> int:
        return len(self.keys)

    @property
    def key_col(self) -> int | None:
        return self.col_of.get(self.key)

    def with_columns(self, new: list[tuple[int, str]]) -> "Layout":
        """The layout once these (column, header) are written."""
        texts, keys = list(self.texts), list(self.keys)
        for col, header in new:
            grow = col + 1 - len(keys)
            texts += [""] * grow
            keys += [""] * grow
            texts[col] = keys[col] = header
        return Layout._checked(tuple(texts), tuple(keys), self.key)
