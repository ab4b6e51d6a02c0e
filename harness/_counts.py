"""Numbers as platforms display them: "11.8万", "1.2亿", "9,876", "12.3k", "1.5M", "345万热度".

One helper for every driver (the sandbox's and the declarative ones): a count or a heat shown with a
unit is that many units, never the digits alone ("11.8万" is 118,000, not 11.8).
"""

from __future__ import annotations

import re

__all__ = ["parse_count"]

# A number, then at most one unit right after it (a Latin unit only where no letter follows: "12 min"
# is twelve, not twelve million).
_COUNT = re.compile(r"([-+]?\d[\d,]*(?:\.\d+)?)\s?(亿|万|千|[wWkKmMbB](?![A-Za-z]))?")
_UNITS = {"亿": 1e8, "万": 1e4, "千": 1e3, "w": 1e4, "W": 1e4, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6,
          "b": 1e9, "B": 1e9}


def parse_count(text: str | None) -> float | None:
    """The first number in ``text`` times its unit; None when there is no number."""
    if not text:
        return None
    match = _COUNT.search(text)
    if match is None:
        return None
    value = float(match.group(1).replace(",", "")) * _UNITS.get(match.group(2) or "", 1.0)
    # 11.8 × 10,000 is 118,000.00000000001 in binary: a shown count has at most the digits shown.
    return round(value, 6)
