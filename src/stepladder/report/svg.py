"""Dependency-free SVG line charts for the simulation report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Paul Tol's "muted" scheme (colour-blind safe) plus a dark grey: 10 colours.
PALETTE = (
    "#332288",
    "#CC6677",
    "#117733",
    "#88CCEE",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
    "#DDCC77",
    "#555555",
)
# Dash patterns cycled once the series outnumber the colours.
DASHES = ("", "7 3", "2 3", "9 3 2 3")

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 24, 40, 56
LEGEND_ROW, LEGEND_COL = 18, 175


@dataclass(frozen=True)
class Series:
    """One line of a chart, with an optional band between ``y_low`` and ``y_high``."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    y_low: Sequence[float] | None = None
    y_high: Sequence[float] | None = None


@dataclass(frozen=True)
class _Frame:
    """Maps data coordinates into the pixel rectangle of the plot area."""

    x0: float
    x1: float
    y0: float
    y1: float
    left: float
    top: float
    width: float
    height: float

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: float) -> float:
        return self.top + (self.y1 - y) / (self.y1 - self.y0) * self.height


def series_style(index: int) -> tuple[str, str]:
    """Colour and dash pattern of the ``index``-th series."""
    colour = PALETTE[index % len(PALETTE)]
    dash = DASHES[(index // len(PALETTE)) % len(DASHES)]
    return colour, dash


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (step 1, 2 or 5 x 10^k) covering ``[lo, hi]``, about ``target`` of them."""
    if not hi > lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    base = 10.0 ** math.floor(math.log10((hi - lo) / target))

    def count(step: float) -> int:
        return math.ceil(hi / step) - math.floor(lo / step) + 1

    step = min((m * base for m in (1, 2, 5, 10, 20)), key=lambda s: abs(count(s) - target))
    first = math.floor(lo / step)
    return [(first + i) * step for i in range(count(step))]


def format_tick(value: float, step: float) -> str:
    """Tick label with just enough decimals for ``step``."""
    if abs(value) < step * 1e-9:
        value = 0.0
    if max(abs(value), step) >= 1e6:
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _finite(v: object) -> bool:
    try:
        return math.isfinite(float(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _segments(*columns: Sequence[float]) -> list[list[tuple[float, ...]]]:
    """Split zipped columns into runs of rows whose values are all finite."""
    runs: list[list[tuple[float, ...]]] = [[]]
    for row in zip(*columns, strict=False):
        if all(_finite(v) for v in row):
            runs[-1].append(tuple(float(v) for v in row))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _data_range(values: list[float]) -> tuple[float, float]:
    finite = [float(v) for v in values if _finite(v)]
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


def _pts(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _dash_attr(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _text(x: float, y: float, label: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(label)}</text>'


def _axes(frame: _Frame, xticks: list[float], yticks: list[float]) -> list[str]:
    """Grid lines, tick labels and the plot border."""
    out = []
    xstep = xticks[1] - xticks[0] if len(xticks) > 1 else 1.0
    ystep = yticks[1] - yticks[0] if len(yticks) > 1 else 1.0
    bottom = frame.top + frame.height
    for t in xticks:
        x = frame.px(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
            'stroke="#e3e3e3"/>'
        )
        out.append(_text(x, bottom + 16, format_tick(t, xstep)))
    for t in yticks:
        y = frame.py(t)
        out.append(
            f'<line x1="{frame.left:.1f}" y1="{y:.1f}" '
            f'x2="{frame.left + frame.width:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
        )
        out.append(_text(frame.left - 6, y + 4, format_tick(t, ystep), anchor="end"))
    out.append(
        f'<rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.width:.1f}" '
        f'height="{frame.height:.1f}" fill="none" stroke="#444"/>'
    )
    return out


def _series_marks(s: Series, frame: _Frame, colour: str, dash: str) -> list[str]:
    """Band polygons, polylines (broken at non-finite values) and lone-point markers."""
    out = []
    if s.y_low is not None and s.y_high is not None:
        for run in _segments(s.x, s.y_low, s.y_high):
            lower = [(frame.px(x), frame.py(lo)) for x, lo, _ in run]
            upper = [(frame.px(x), frame.py(hi)) for x, _, hi in reversed(run)]
            out.append(
                f'<polygon points="{_pts(lower + upper)}" fill="{colour}" '
                'fill-opacity="0.15" stroke="none"/>'
            )
    title = f"<title>{escape(s.name)}</title>"
    for run in _segments(s.x, s.y):
        pts = [(frame.px(x), frame.py(y)) for x, y in run]
        if len(pts) == 1:
            out.append(
                f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" '
                f'fill="{colour}">{title}</circle>'
            )
        else:
            out.append(
                f'<polyline points="{_pts(pts)}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{_dash_attr(dash)}>{title}</polyline>'
            )
    return out


def _legend(series: Sequence[Series], top: float, width: int) -> list[str]:
    """Legend below the plot, laid out in as many columns as fit the width."""
    columns = max(1, (width - MARGIN_LEFT) // LEGEND_COL)
    out = []
    for i, s in enumerate(series):
        colour, dash = series_style(i)
        x = MARGIN_LEFT + (i % columns) * LEGEND_COL
        y = top + (i // columns) * LEGEND_ROW
        name = s.name if len(s.name) <= 22 else s.name[:21] + "…"
        out.append(
            f"<g><title>{escape(s.name)}</title>"
            f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 24:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="2"{_dash_attr(dash)}/>'
            f"{_text(x + 30, y + 4, name, anchor='start')}</g>"
        )
    return out


def line_chart_svg(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    hline: float | None = None,
    hline_label: str = "",
    width: int = 720,
    height: int = 420,
) -> str:
    """Render ``series`` as an inline ``<svg>`` line chart.

    The legend sits below the plot and adds one row per few series to ``height``.
    """
    xs = [v for s in series for v in s.x]
    ys = [v for s in series for col in (s.y, s.y_low or [], s.y_high or []) for v in col]
    if _finite(hline):
        ys.append(hline)
    xticks, yticks = nice_ticks(*_data_range(xs)), nice_ticks(*_data_range(ys))
    frame = _Frame(
        x0=xticks[0],
        x1=xticks[-1],
        y0=yticks[0],
        y1=yticks[-1],
        left=MARGIN_LEFT,
        top=MARGIN_TOP,
        width=width - MARGIN_LEFT - MARGIN_RIGHT,
        height=height - MARGIN_TOP - MARGIN_BOTTOM,
    )
    columns = max(1, (width - MARGIN_LEFT) // LEGEND_COL)
    rows = math.ceil(len(series) / columns)
    total_height = height + rows * LEGEND_ROW

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
        f'viewBox="0 0 {width} {total_height}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect width="{width}" height="{total_height}" fill="white"/>',
        _text(width / 2, 22, title, extra=' font-size="15" font-weight="bold"'),
        *_axes(frame, xticks, yticks),
        _text(frame.left + frame.width / 2, frame.top + frame.height + 38, x_label),
        _text(
            16,
            frame.top + frame.height / 2,
            y_label,
            extra=f' transform="rotate(-90 16 {frame.top + frame.height / 2:.1f})"',
        ),
    ]
    for i, s in enumerate(series):
        parts.extend(_series_marks(s, frame, *series_style(i)))
    if _finite(hline):
        y = frame.py(hline)
        right = frame.left + frame.width
        parts.append(
            f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" '
            'stroke="#b00" stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        if hline_label:
            parts.append(_text(right - 4, y - 5, hline_label, anchor="end", extra=' fill="#b00"'))
    if not series:
        parts.append(
            _text(
                frame.left + frame.width / 2,
                frame.top + frame.height / 2,
                "no data",
                extra=' fill="#888"',
            )
        )
    parts.extend(_legend(series, height + 4, width))
    parts.append("</svg>")
    return "\n".join(parts)
