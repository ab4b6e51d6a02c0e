"""Inline SVG plots for the reports: no JavaScript, no plotting library, text escaped.

Every string that reaches an SVG here may come from the platform (titles, heat texts, attribute
values), so each goes through ``_esc``; the functions return ``markupsafe.Markup`` so that Jinja's
autoescaping leaves the finished SVG alone.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from collections.abc import Sequence

import numpy as np
from markupsafe import Markup

__all__ = ["Band", "HeatPoint", "bootstrap_band", "interval_chart", "line_chart", "parse_heat", "price_gap_chart",
           "rank_heat_chart"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_FONT = 'font-family="Noto Sans CJK SC, Noto Sans CJK, Noto Sans, sans-serif"'


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high - low < 1e-12:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [round(math.floor(low / step) * step, 12)]
    while ticks[-1] < high - 1e-12 * max(1.0, abs(high)):
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10000:
        return f"{value:,.0f}"
    return f"{value:g}" if abs(value) >= 1 else f"{value:.3g}"


@dataclasses.dataclass(frozen=True)
class Band:
    """One group's mean in one round, with its 95% bootstrap interval over puppets."""

    group: str
    round: int
    mean: float
    low: float
    high: float
    n: int


def bootstrap_band(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile bootstrap interval of the mean (puppets resampled)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return float(v[0]), float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    boot = v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(v.mean()), float(low), float(high)


class _Frame:
    """A plot area with linear (or log) axes and the SVG that draws them."""

    def __init__(self, width: int, height: int, left: int, right: int, top: int, bottom: int,
                 x_range: tuple[float, float], y_ticks: list[float], *, y_log: bool = False):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.x0, self.x1 = x_range
        if self.x1 - self.x0 < 1e-12:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5
        self.y_ticks = y_ticks
        self.y_log = y_log
        self.y0, self.y1 = self._ty(y_ticks[0]), self._ty(y_ticks[-1])

    def _ty(self, y: float) -> float:
        return math.log10(max(y, 1e-9)) if self.y_log else y

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.height - self.bottom - (self._ty(value) - self.y0) / span * (self.height - self.top - self.bottom)

    def axes(self, x_ticks: list[float], x_label: str, y_label: str, title: str) -> list[str]:
        out = [f'<text x="{self.left}" y="14" font-size="12" font-weight="bold">{_esc(title)}</text>']
        bottom, right = self.height - self.bottom, self.width - self.right
        for t in self.y_ticks:
            y = _num(self.y(t))
            out.append(f'<line x1="{self.left}" y1="{y}" x2="{right}" y2="{y}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{self.left - 4}" y="{y}" font-size="10" text-anchor="end" '
                       f'dominant-baseline="middle">{_esc(_tick_label(t))}</text>')
        for t in x_ticks:
            x = _num(self.x(t))
            out.append(f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}" stroke="#333"/>')
            out.append(f'<text x="{x}" y="{bottom + 15}" font-size="10" text-anchor="middle">{_esc(_tick_label(t))}</text>')
        out.append(f'<line x1="{self.left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>')
        out.append(f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{bottom}" stroke="#333"/>')
        out.append(f'<text x="{(self.left + right) / 2:.1f}" y="{self.height - 4}" font-size="11" '
                   f'text-anchor="middle">{_esc(x_label)}</text>')
        mid = (self.top + bottom) / 2
        out.append(f'<text x="12" y="{mid:.1f}" font-size="11" text-anchor="middle" '
                   f'transform="rotate(-90 12 {mid:.1f})">{_esc(y_label)}</text>')
        return out

    def svg(self, parts: list[str], label: str) -> Markup:
        body = "\n".join(parts)
        return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" aria-label="{_esc(label)}" '
                      f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
                      f'{_FONT}>\n{body}\n</svg>')


def line_chart(bands: Sequence[Band], *, title: str, x_label: str, y_label: str) -> Markup:
    """Mean per round per group, each with its 95% band."""
    groups = sorted({b.group for b in bands})
    rounds = sorted({b.round for b in bands})
    low = min(0.0, min(b.low for b in bands))
    high = max(0.0, max(b.high for b in bands))
    frame = _Frame(600, 270, 56, 130, 34, 38, (rounds[0], rounds[-1]), nice_ticks(low, high))
    parts = frame.axes([float(r) for r in rounds], x_label, y_label, title)
    for i, group in enumerate(groups):
        colour = PALETTE[i % len(PALETTE)]
        mine = sorted((b for b in bands if b.group == group), key=lambda b: b.round)
        upper = " ".join(f"{_num(frame.x(b.round))},{_num(frame.y(b.high))}" for b in mine)
        lower = " ".join(f"{_num(frame.x(b.round))},{_num(frame.y(b.low))}" for b in reversed(mine))
        parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{_num(frame.x(b.round))},{_num(frame.y(b.mean))}" for b in mine)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for b in mine:
            parts.append(f'<circle cx="{_num(frame.x(b.round))}" cy="{_num(frame.y(b.mean))}" r="3" fill="{colour}">'
                         f'<title>{_esc(f"{group}, {b.round}: {b.mean:.4g} [{b.low:.4g}, {b.high:.4g}], n={b.n}")}'
                         f'</title></circle>')
        y = frame.top + 14 * i + 6
        parts.append(f'<rect x="{frame.width - frame.right + 10}" y="{y - 5}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{frame.width - frame.right + 24}" y="{y}" font-size="10" '
                     f'dominant-baseline="middle">{_esc(group)}</text>')
    return frame.svg(parts, title)


def interval_chart(rows: Sequence[tuple[str, float, float, float]], *, title: str, x_label: str) -> Markup:
    """Horizontal bars, one per (label, value, ci_low, ci_high), the interval as a whisker; bars
    whose interval lies wholly above zero in red."""
    clean = [(label, _finite(v), _finite(lo), _finite(hi)) for label, v, lo, hi in rows]
    finite = [v for _, g, lo, hi in clean for v in (g, lo, hi) if math.isfinite(v)] or [0.0]
    ticks = nice_ticks(min(min(finite), 0.0), max(max(finite), 0.0))
    row_h, top = 26, 28
    height = top + row_h * len(clean) + 40
    frame = _Frame(600, height, 170, 20, top, 40, (ticks[0], ticks[-1]), [0.0, 1.0])
    parts = [f'<text x="8" y="14" font-size="12" font-weight="bold">{_esc(title)}</text>']
    bottom = height - 40
    for t in ticks:
        x = _num(frame.x(t))
        parts.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{x}" y="{bottom + 14}" font-size="10" text-anchor="middle">{_esc(_tick_label(t))}</text>')
    zero = _num(frame.x(0.0))
    parts.append(f'<line x1="{zero}" y1="{top}" x2="{zero}" y2="{bottom}" stroke="#333"/>')
    parts.append(f'<text x="{(frame.left + 580) / 2:.1f}" y="{height - 6}" font-size="11" '
                 f'text-anchor="middle">{_esc(x_label)}</text>')
    for i, (label, value, lo, hi) in enumerate(clean):
        y = top + row_h * i + row_h / 2
        parts.append(f'<text x="{frame.left - 6}" y="{y:.1f}" font-size="10" text-anchor="end" '
                     f'dominant-baseline="middle">{_esc(label)}</text>')
        if math.isfinite(value):
            x0, x1 = sorted((frame.x(0.0), frame.x(value)))
            colour = PALETTE[1] if (math.isfinite(lo) and lo > 0) else PALETTE[0]
            parts.append(f'<rect x="{_num(x0)}" y="{y - 8:.1f}" width="{_num(max(x1 - x0, 1))}" height="16" '
                         f'fill="{colour}" fill-opacity="0.75"><title>{_esc(f"{label}: {value:.4g}")}</title></rect>')
        if math.isfinite(lo) and math.isfinite(hi):
            parts.append(f'<line x1="{_num(frame.x(lo))}" y1="{y:.1f}" x2="{_num(frame.x(hi))}" y2="{y:.1f}" '
                         f'stroke="#111" stroke-width="1.5"/>')
            for end in (lo, hi):
                parts.append(f'<line x1="{_num(frame.x(end))}" y1="{y - 5:.1f}" x2="{_num(frame.x(end))}" '
                             f'y2="{y + 5:.1f}" stroke="#111" stroke-width="1.5"/>')
    return frame.svg(parts, title)


def _finite(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def price_gap_chart(rows: Sequence[dict[str, object]], *, title: str, x_label: str) -> Markup:
    """C7's ``details["by_attribute"]``: the price gap (%) by attribute value, with its CI."""
    return interval_chart([(f"{r.get('attribute', '')}={r.get('value', '')}", _finite(r.get("gap_pct")),
                            _finite(r.get("ci_low")), _finite(r.get("ci_high"))) for r in rows],
                          title=title, x_label=x_label)


_HEAT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(亿|万|千|[wWkKmM])?")
_UNITS = {"亿": 1e8, "万": 1e4, "w": 1e4, "W": 1e4, "千": 1e3, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}


def parse_heat(text: str | None) -> float | None:
    """The number in a displayed heat: "1.2万" -> 12000, "345万热度" -> 3450000, "12,345" -> 12345."""
    if not text:
        return None
    match = _HEAT.search(text)
    if match is None:
        return None
    return float(match.group(1).replace(",", "")) * _UNITS.get(match.group(2) or "", 1.0)


@dataclasses.dataclass(frozen=True)
class HeatPoint:
    rank: int
    heat: float
    label: str  # the item's title and the heat as shown, for the tooltip
    unexplained: bool  # an entry ranked below it in the same snapshot shows a higher heat


def rank_heat_chart(points: Sequence[HeatPoint], *, title: str, x_label: str, y_label: str,
                    unexplained_label: str) -> Markup:
    """Hot-list rank against displayed heat; ranks no heat explains (a hotter entry stands below) in red."""
    heats = [p.heat for p in points]
    positive = [h for h in heats if h > 0]
    y_log = bool(positive) and len(positive) == len(heats) and max(positive) / min(positive) > 50
    if y_log:
        decades = range(math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive))) + 1)
        ticks = [10.0**e for e in decades]
    else:
        ticks = nice_ticks(min(min(heats), 0.0), max(heats))
    ranks = [p.rank for p in points]
    frame = _Frame(620, 290, 64, 150, 34, 38, (min(ranks) - 0.5, max(ranks) + 0.5), ticks, y_log=y_log)
    step = max(1, math.ceil((max(ranks) - min(ranks) + 1) / 10))
    parts = frame.axes([float(r) for r in range(min(ranks), max(ranks) + 1, step)], x_label, y_label, title)
    for p in points:
        colour = PALETTE[1] if p.unexplained else PALETTE[0]
        parts.append(f'<circle cx="{_num(frame.x(p.rank))}" cy="{_num(frame.y(p.heat))}" r="3" fill="{colour}" '
                     f'fill-opacity="0.6"><title>{_esc(f"#{p.rank} {p.label}")}</title></circle>')
    x = frame.width - frame.right + 10
    parts.append(f'<circle cx="{x + 5}" cy="{frame.top + 6}" r="4" fill="{PALETTE[1]}"/>')
    parts.append(f'<text x="{x + 14}" y="{frame.top + 6}" font-size="10" dominant-baseline="middle">'
                 f'{_esc(unexplained_label)}</text>')
    return frame.svg(parts, title)
