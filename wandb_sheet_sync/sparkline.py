"""Text sparklines: a series of numbers drawn as Unicode block characters, so a curve fits in any cell.

Built from the numbers alone (no formula, no chart object), so it reads the same in Google Sheets, Excel and
a CSV file. The series is cut into at most WIDTH buckets of (nearly) equal counts of points, in step order;
each bucket is drawn at its mean, scaled between the smallest and the largest bucket mean. A series of up to
WIDTH points gets one character per point. A flat series is drawn at mid height.
"""

from __future__ import annotations

import math
from typing import Sequence

WIDTH = 24
BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = WIDTH) -> str:
    """The values (finite numbers, in order) as at most `width` block characters; '' for no values."""
    values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not values:
        return ""
    n = len(values)
    buckets = min(width, n)
    means = []
    for i in range(buckets):
        part = values[i * n // buckets:(i + 1) * n // buckets]
        means.append(math.fsum(part) / len(part))
    lo, hi = min(means), max(means)
    if hi - lo <= abs(hi) * 1e-12 or hi == lo:
        return BLOCKS[len(BLOCKS) // 2 - 1] * buckets
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[min(top, int((m - lo) / (hi - lo) * top + 0.5))] for m in means)
