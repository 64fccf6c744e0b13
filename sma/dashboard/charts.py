"""Server-rendered SVG charts: readable at their default size, no JavaScript.

Axes start at zero with "nice" ticks (1, 2, 2.5, 5 x 10^k), values are labelled in the unit of the series,
x labels are thinned so they never overlap, and every point or bar has a <title> tooltip. All text is
escaped; the result is safe to embed with `|safe`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563")
Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def compact(value: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M; small numbers keep up to two decimals."""
    sign, value = ("-" if value < 0 else ""), abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{sign}{value / size:.1f}".rstrip("0").rstrip(".") + unit
    if value >= 100 or value == int(value):
        return f"{sign}{value:.0f}"
    return f"{sign}{value:.2f}".rstrip("0").rstrip(".")


def percent(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 or value == 0 else f"${value:.4f}"


def usd_axis(value: float) -> str:
    """Dollar ticks: cents are enough on an axis."""
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.3f}"


def nice_max(value: float) -> tuple[float, float]:
    """(axis maximum, tick step) for data whose maximum is `value`; five or fewer steps."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step * 4 >= value:
            return step * math.ceil(value / step), step
    return value, value / 4  # unreachable: factor 10 always fits


def _empty(width: int, height: int, message: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(message)}">'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" rx="6" fill="#f8fafc" stroke="#e2e8f0"/>'
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#64748b" font-size="14">'
        f"{escape(message)}</text></svg>")


def _thin(labels: Sequence[str], room: int) -> list[int]:
    """Indexes of the x labels to draw so that at most `room` appear, always the first and last."""
    if len(labels) <= room:
        return list(range(len(labels)))
    step = math.ceil((len(labels) - 1) / max(1, room - 1))
    picked = list(range(0, len(labels), step))
    if picked[-1] != len(labels) - 1:
        picked[-1] = len(labels) - 1  # the last label replaces its too-close neighbour
    return picked


class _Frame:
    """Plot area geometry and the y axis shared by line and bar charts."""

    def __init__(self, width: int, height: int, top_value: float, fmt: Formatter, legend: bool) -> None:
        self.width, self.height, self.fmt = width, height, fmt
        self.left, self.right = 64, 16
        self.top = 34 if legend else 14
        self.bottom = 44
        self.y_max, self.step = nice_max(top_value)

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float) -> float:
        return self.top + self.plot_h * (1 - value / self.y_max)

    def grid(self) -> list[str]:
        parts, ticks = [], round(self.y_max / self.step)
        for i in range(ticks + 1):
            value = self.step * i
            y = self.y(value)
            parts.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.width - self.right}" y2="{y:.1f}" '
                         f'stroke="{"#94a3b8" if i == 0 else "#e2e8f0"}" stroke-width="1"/>')
            parts.append(f'<text x="{self.left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#475569" '
                         f'font-size="12">{escape(self.fmt(value))}</text>')
        return parts

    def x_label(self, x: float, label: str) -> str:
        return (f'<text x="{x:.1f}" y="{self.height - self.bottom + 18}" text-anchor="middle" fill="#475569" '
                f'font-size="12">{escape(label)}</text>')


def _legend(series: Sequence[Series], left: int) -> list[str]:
    parts, x = [], float(left)
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x:.0f}" y="8" width="12" height="12" rx="2" fill="{color}"/>')
        parts.append(f'<text x="{x + 17:.0f}" y="18" fill="#1e293b" font-size="12">{escape(s.name)}</text>')
        x += 30 + 7.2 * len(s.name)
    return parts


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
                  f'font-family="system-ui, sans-serif">' + "".join(body) + "</svg>")


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Formatter = compact,
               width: int = 720, height: int = 260, empty: str = "no data yet") -> Markup:
    """One line per series over the same x labels; None values leave a gap."""
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return _empty(width, height, empty)
    frame = _Frame(width, height, max(values), fmt, legend=len(series) > 1)
    n = len(labels)

    def x(i: int) -> float:
        return frame.left + (frame.plot_w * (i + 0.5) / n)

    body = frame.grid()
    body += [frame.x_label(x(i), labels[i]) for i in _thin(labels, max(2, int(frame.plot_w // 80)))]
    for k, s in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        segment: list[str] = []
        for i, v in enumerate(s.values):
            if v is None:
                if len(segment) > 1:
                    body.append(_polyline(segment, color))
                segment = []
                continue
            segment.append(f"{x(i):.1f},{frame.y(v):.1f}")
        if len(segment) > 1:
            body.append(_polyline(segment, color))
        for i, v in enumerate(s.values):
            if v is not None:
                tip = f"{s.name} · {labels[i]}: {fmt(v)}"
                body.append(f'<circle cx="{x(i):.1f}" cy="{frame.y(v):.1f}" r="{3.5 if n <= 40 else 2}" '
                            f'fill="{color}"><title>{escape(tip)}</title></circle>')
    if len(series) > 1:
        body += _legend(series, frame.left)
    return _svg(width, height, title, body)


def _polyline(points: list[str], color: str) -> str:
    return (f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="2.5" '
            'stroke-linejoin="round" stroke-linecap="round"/>')


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], fmt: Formatter = compact,
              width: int = 720, height: int = 260, empty: str = "no data yet", color: str = PALETTE[0]) -> Markup:
    """One bar per label with its value printed above it."""
    present = [v for v in values if v is not None]
    if not labels or not present:
        return _empty(width, height, empty)
    frame = _Frame(width, height, max(present), fmt, legend=False)
    n = len(labels)
    slot = frame.plot_w / n
    bar = min(56.0, slot * 0.7)
    body = frame.grid()
    shown = set(_thin(labels, max(2, int(frame.plot_w // 70))))
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        cx = frame.left + slot * (i + 0.5)
        if i in shown:
            body.append(frame.x_label(cx, label))
        if v is None:
            continue
        y = frame.y(v)
        body.append(f'<rect x="{cx - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{frame.y(0) - y:.1f}" '
                    f'rx="3" fill="{color}"><title>{escape(f"{label}: {fmt(v)}")}</title></rect>')
        if slot >= 34:  # room for the value above the bar
            body.append(f'<text x="{cx:.1f}" y="{y - 6:.1f}" text-anchor="middle" fill="#1e293b" font-size="12">'
                        f"{escape(fmt(v))}</text>")
    return _svg(width, height, title, body)


def progress_bar(fraction: float) -> int:
    """Percent for a progress bar, clamped to 0..100."""
    return max(0, min(100, round(fraction * 100)))
