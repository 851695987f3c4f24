"""The one chart module of the reports: hand-written SVG, plus a small inline script.

Why hand-written rather than a plotting library: the core install (NumPy, SciPy, PyArrow,
click, tqdm) has no matplotlib, and making it a core dependency for reports would break that
rule, while an optional extra with a fallback would mean two chart paths to keep alike.
Vega-Lite would need its runtime (vega, vega-lite and vega-embed, about 1 MB minified)
inlined into every report to stay offline. The charts the reports need (lines with bands,
histograms, a back-to-back histogram, a heat map, stacked shares and a dot plot) come to a
few hundred lines here, render identically without any script, and stay small and
deterministic, so tests can parse them as XML.

Every chart is an ``<svg>`` element whose numbers are all finite, whatever the input
(empty, constant, NaN, infinite); text is escaped. Line charts carry their data in a
``<desc class="chart-data">`` (JSON, XML-escaped) and draw the plot area as a clipped
``<g class="plot">``, so that :data:`SCRIPT`, included once per page, can add
interaction without touching the drawing: click a legend entry to hide or show its series,
hover for the values at the nearest point, drag a box to zoom, double-click to reset. The
script reads names only as text (``textContent``), never as markup.

Example:
    >>> svg = line_chart_svg([Series("a", [0, 1, 2], [0.1, 0.5, 0.4])], title="t",
    ...                      x_label="x", y_label="y")
    >>> svg.startswith("<svg") and 'class="chart"' in svg
    True
    >>> histogram_svg([0.1, 0.2, 0.2, float("nan")], title="h", x_label="x").count("<rect") > 2
    True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape

import numpy as np

__all__ = [
    "BASELINE",
    "PALETTE",
    "SCRIPT",
    "STYLE",
    "Binned",
    "Series",
    "back_to_back_svg",
    "bin_values",
    "dot_plot_svg",
    "format_tick",
    "heatmap_svg",
    "histogram_svg",
    "line_chart_svg",
    "nice_ticks",
    "series_style",
    "stacked_area_svg",
]

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
#: Colour of an emphasised series (the baseline every strategy is compared with).
BASELINE = "#000000"
# Dash patterns cycled once the series outnumber the colours.
DASHES = ("", "7 3", "2 3", "9 3 2 3")
GRID = "#e3e3e3"
LEGEND_ROW, LEGEND_COL = 18, 205


# -- shared primitives ----------------------------------------------------------------------


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


def _data_range(values: Sequence[float]) -> tuple[float, float]:
    finite = [float(v) for v in values if _finite(v)]
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


def _step(ticks: Sequence[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else 1.0


@dataclass(frozen=True)
class Frame:
    """Maps data coordinates into the pixel rectangle of a plot area."""

    x0: float
    x1: float
    y0: float
    y1: float
    left: float
    top: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: float) -> float:
        return self.top + (self.y1 - y) / (self.y1 - self.y0) * self.height


def _text(x: float, y: float, label: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(label)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, extra: str = f'stroke="{GRID}"') -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {extra}/>'


def _no_data(frame: Frame) -> str:
    """The grey "no data" placeholder in the middle of an empty chart."""
    return _text(
        frame.left + frame.width / 2, frame.top + frame.height / 2, "no data", extra=' fill="#888"'
    )


def _box(frame: Frame) -> str:
    return (
        f'<rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.width:.1f}" '
        f'height="{frame.height:.1f}" fill="none" stroke="#444"/>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, extra: str = "") -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{max(h, 0.0):.1f}" '
        f'fill="{fill}"{extra}><title>{escape(tip)}</title></rect>'
    )


def _pts(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _open(width: float, height: float, title: str, extra: str = "") -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="{escape(title)}"{extra}>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        _text(width / 2, 22, title, extra=' font-size="15" font-weight="bold"'),
    ]


def _axis_labels(frame: Frame, x_label: str, y_label: str) -> list[str]:
    mid = frame.top + frame.height / 2
    return [
        _text(frame.left + frame.width / 2, frame.bottom + 38, x_label),
        _text(16, mid, y_label, extra=f' transform="rotate(-90 16 {mid:.1f})"'),
    ]


def _grid(
    frame: Frame,
    xticks: Sequence[float],
    yticks: Sequence[float],
    *,
    x_text: Sequence[str] | None = None,
    y_text: Sequence[str] | None = None,
) -> list[str]:
    """Grid lines with tick labels below and left of the plot area (``class="grid"``)."""
    out = ['<g class="grid">']
    x_text = x_text or [format_tick(t, _step(xticks)) for t in xticks]
    y_text = y_text or [format_tick(t, _step(yticks)) for t in yticks]
    for t, label in zip(xticks, x_text, strict=True):
        out.append(_line(frame.px(t), frame.top, frame.px(t), frame.bottom))
        out.append(_text(frame.px(t), frame.bottom + 16, label))
    for t, label in zip(yticks, y_text, strict=True):
        out.append(_line(frame.left, frame.py(t), frame.right, frame.py(t)))
        out.append(_text(frame.left - 6, frame.py(t) + 4, label, anchor="end"))
    out.append("</g>")
    return out


def _legend(
    entries: Sequence[tuple[str, str, str, float]], top: float, width: float, left: float
) -> list[str]:
    """Legend rows of (name, colour, dash, stroke width), as many columns as fit the width."""
    columns = max(1, int((width - left) // LEGEND_COL))
    out = []
    for k, (name, colour, dash, stroke) in enumerate(entries):
        x = left + (k % columns) * LEGEND_COL
        y = top + (k // columns) * LEGEND_ROW
        short = name if len(name) <= 27 else name[:26] + "…"
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<g class="key" data-k="{k}"><title>{escape(name)}</title>'
            f'<rect x="{x - 2:.1f}" y="{y - 8:.1f}" width="{LEGEND_COL - 8}" height="16" '
            'fill="white" fill-opacity="0"/>'
            + _line(x, y, x + 24, y, f'stroke="{colour}" stroke-width="{stroke:g}"{dashes}')
            + _text(x + 30, y + 4, short, anchor="start")
            + "</g>"
        )
    return out


def _legend_height(count: int, width: float, left: float) -> float:
    columns = max(1, int((width - left) // LEGEND_COL))
    return math.ceil(count / columns) * LEGEND_ROW


# -- line charts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One line of a chart, with an optional band between ``y_low`` and ``y_high``.

    ``emphasis`` draws it thick, black and on top (a baseline).
    """

    name: str
    x: Sequence[float]
    y: Sequence[float]
    y_low: Sequence[float] | None = None
    y_high: Sequence[float] | None = None
    emphasis: bool = False


def _segments(*columns: Sequence[float]) -> list[list[tuple[float, ...]]]:
    """Split zipped columns into runs of rows whose values are all finite."""
    runs: list[list[tuple[float, ...]]] = [[]]
    for row in zip(*columns, strict=False):
        if all(_finite(v) for v in row):
            runs[-1].append(tuple(float(v) for v in row))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _series_marks(s: Series, k: int, frame: Frame, colour: str, dash: str) -> list[str]:
    """One ``<g class="series">``: band polygons, then lines broken at non-finite values."""
    stroke = 3.0 if s.emphasis else 2.0
    out = [f'<g class="series" data-k="{k}"><title>{escape(s.name)}</title>']
    if s.y_low is not None and s.y_high is not None:
        for run in _segments(s.x, s.y_low, s.y_high):
            lower = [(frame.px(x), frame.py(lo)) for x, lo, _ in run]
            upper = [(frame.px(x), frame.py(hi)) for x, _, hi in reversed(run)]
            out.append(
                f'<polygon points="{_pts(lower + upper)}" fill="{colour}" '
                f'fill-opacity="{0.1 if s.emphasis else 0.15}" stroke="none"/>'
            )
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    for run in _segments(s.x, s.y):
        pts = [(frame.px(x), frame.py(y)) for x, y in run]
        extra = dashes
        if len(pts) == 1:  # a lone point: a zero-length line with round caps stays round
            pts, extra = pts * 2, ' stroke-linecap="round" data-dot="1"'
        width = stroke * 2 if len(run) == 1 else stroke
        out.append(
            f'<polyline points="{_pts(pts)}" fill="none" stroke="{colour}" '
            f'stroke-width="{width:g}" vector-effect="non-scaling-stroke"{extra}/>'
        )
    out.append("</g>")
    return out


def _chart_data(series: Sequence[Series]) -> str:
    """The series as JSON for the page script (non-finite values as null), XML-escaped."""

    def clean(values: Sequence[float]) -> list[float | None]:
        return [round(float(v), 6) if _finite(v) else None for v in values]

    data = [{"name": s.name, "x": clean(s.x), "y": clean(s.y)} for s in series]
    return escape(json.dumps(data, separators=(",", ":")), quote=False)


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
    """Render ``series`` as an inline ``<svg>`` line chart, the legend below the plot.

    The legend adds one row per few series to ``height``. ``hline`` draws a dashed red
    reference line (named ``hline_label`` in the legend). Emphasised series are drawn last,
    over the others, and listed first in the legend.
    """
    order = sorted(range(len(series)), key=lambda k: not series[k].emphasis)
    xs = [v for s in series for v in s.x]
    ys = [v for s in series for col in (s.y, s.y_low or [], s.y_high or []) for v in col]
    if _finite(hline):
        ys.append(float(hline))  # type: ignore[arg-type]
    xticks, yticks = nice_ticks(*_data_range(xs)), nice_ticks(*_data_range(ys))
    left, right, top = 70.0, 24.0, 40.0
    frame = Frame(
        xticks[0],
        xticks[-1],
        yticks[0],
        yticks[-1],
        left,
        top,
        width - left - right,
        height - top - 56.0,
    )
    inner = replace(frame, left=0.0, top=0.0)
    styles = {}
    colour_index = 0
    for k in order:
        if series[k].emphasis:
            styles[k] = (BASELINE, "")
        else:
            styles[k] = series_style(colour_index)
            colour_index += 1
    entries = [(series[k].name, *styles[k], 3.0 if series[k].emphasis else 2.0) for k in order]
    if _finite(hline):
        entries.append((hline_label or "reference", "#b00", "6 4", 1.5))
    total = height + _legend_height(len(entries), width, left)
    plot = json.dumps(
        {
            "left": left,
            "top": top,
            "width": frame.width,
            "height": frame.height,
            "x": [frame.x0, frame.x1],
            "y": [frame.y0, frame.y1],
        }
    )
    parts = _open(width, total, title, f' class="chart" data-plot="{escape(plot)}"')
    data = _chart_data([series[k] for k in order])
    parts.append(f'<desc class="chart-data">{data}</desc>')
    parts += _grid(frame, xticks, yticks)
    clip = "clip-" + hashlib.blake2b((plot + data).encode(), digest_size=6).hexdigest()
    parts.append(
        f'<clipPath id="{clip}"><rect x="{left:.1f}" y="{top:.1f}" width="{frame.width:.1f}" '
        f'height="{frame.height:.1f}"/></clipPath>'
    )
    parts.append(
        f'<g clip-path="url(#{clip})"><g class="plot" transform="translate({left:g} {top:g})">'
    )
    for position, k in enumerate(reversed(order)):
        parts += _series_marks(series[k], len(order) - 1 - position, inner, *styles[k])
    if _finite(hline):
        y = inner.py(float(hline))  # type: ignore[arg-type]
        parts.append(
            _line(
                0.0,
                y,
                inner.width,
                y,
                'stroke="#b00" stroke-width="1.5" '
                'stroke-dasharray="6 4" vector-effect="non-scaling-stroke"',
            )
        )
    parts.append("</g></g>")
    parts += [_box(frame), *_axis_labels(frame, x_label, y_label)]
    if not series:
        parts.append(_no_data(frame))
    parts += _legend(entries, height + 4, width, left)
    parts.append("</svg>")
    return "\n".join(parts)


def stacked_area_svg(
    x: Sequence[float],
    layers: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 380,
) -> str:
    """Layers stacked from the bottom (shares that sum to 1, say), one colour each.

    Example:
        >>> svg = stacked_area_svg([0, 1], [("a", [0.5, 0.2]), ("b", [0.5, 0.8])],
        ...                        title="t", x_label="x", y_label="share")
        >>> svg.count("<polygon")
        2
    """
    xs = np.asarray(x, dtype=np.float64)
    values = np.array([np.asarray(v, dtype=np.float64) for _, v in layers]).reshape(
        len(layers), len(xs)
    )
    values = np.where(np.isfinite(values), values, 0.0)
    tops = np.cumsum(values, axis=0)
    keep = np.isfinite(xs)
    left, top = 70.0, 40.0
    xticks = nice_ticks(*_data_range(xs.tolist()))
    peak = float(tops[-1][keep].max()) if len(layers) and keep.any() else 1.0
    yticks = [t for t in nice_ticks(0.0, peak) if t <= peak * (1 + 1e-9)] or [0.0, 1.0]
    if yticks[-1] < peak * (1 - 1e-6):
        yticks.append(peak)
    frame = Frame(
        xticks[0], xticks[-1], 0.0, yticks[-1], left, top, width - left - 24.0, height - top - 56.0
    )
    entries = [(name, series_style(k)[0], "", 8.0) for k, (name, _) in enumerate(layers)]
    total = height + _legend_height(len(entries), width, left)
    parts = [*_open(width, total, title), *_grid(frame, xticks, yticks)]
    for k, (name, _) in enumerate(layers):
        low = tops[k - 1] if k else np.zeros(len(xs))
        upper = [(frame.px(a), frame.py(b)) for a, b in zip(xs[keep], tops[k][keep], strict=True)]
        lower = [(frame.px(a), frame.py(b)) for a, b in zip(xs[keep], low[keep], strict=True)]
        share = float(values[k][keep].mean()) if keep.any() else 0.0
        parts.append(
            f'<polygon points="{_pts(upper + lower[::-1])}" fill="{series_style(k)[0]}" '
            f'fill-opacity="0.85" stroke="white" stroke-width="0.5">'
            f"<title>{escape(name)}: mean {share:.3f}</title></polygon>"
        )
    if not keep.any() or not layers:
        parts.append(_no_data(frame))
    parts += [_box(frame), *_axis_labels(frame, x_label, y_label)]
    parts += _legend(entries, height + 4, width, left)
    parts.append("</svg>")
    return "\n".join(parts)


def _shade(fraction: float) -> str:
    """White to the first palette colour, for ``fraction`` in [0, 1]."""
    fraction = min(max(fraction, 0.0), 1.0)
    end = (0x33, 0x22, 0x88)
    return "#" + "".join(f"{round(255 + (c - 255) * fraction):02x}" for c in end)


def heatmap_svg(
    x_edges: Sequence[float],
    y_edges: Sequence[float],
    values: np.ndarray,
    *,
    title: str,
    x_label: str,
    y_label: str,
    value_label: str = "share",
    width: int = 720,
    height: int = 360,
) -> str:
    """Cells ``values[i, j]`` for y bin ``i`` and x bin ``j``, darker for larger values.

    The colour scale runs from 0 to the largest finite value; NaN cells stay blank. Each
    cell's value is in its tooltip.

    Example:
        >>> svg = heatmap_svg([0, 1, 2], [0, 0.5, 1], np.array([[0.2, 0.9], [0.8, 0.1]]),
        ...                   title="t", x_label="step", y_label="pass rate")
        >>> svg.count("<title>")  # one per cell
        4
    """
    xe = np.asarray(x_edges, dtype=np.float64)
    ye = np.asarray(y_edges, dtype=np.float64)
    cells = np.asarray(values, dtype=np.float64).reshape(len(ye) - 1, len(xe) - 1)
    left, top = 70.0, 40.0
    usable = len(xe) > 1 and len(ye) > 1 and np.isfinite(xe).all() and np.isfinite(ye).all()
    xticks = nice_ticks(*_data_range(xe.tolist()))
    yticks = nice_ticks(*_data_range(ye.tolist()), target=5)
    x0, x1 = (float(xe[0]), float(xe[-1])) if usable and xe[-1] > xe[0] else (0.0, 1.0)
    y0, y1 = (float(ye[0]), float(ye[-1])) if usable and ye[-1] > ye[0] else (0.0, 1.0)
    frame = Frame(x0, x1, y0, y1, left, top, width - left - 90.0, height - top - 56.0)
    xticks = [t for t in xticks if x0 - 1e-9 <= t <= x1 + 1e-9]
    yticks = [t for t in yticks if y0 - 1e-9 <= t <= y1 + 1e-9]
    parts = [*_open(width, height, title), *_grid(frame, xticks, yticks)]
    finite = cells[np.isfinite(cells)]
    peak = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
    for i in range(cells.shape[0] if usable else 0):
        for j in range(cells.shape[1]):
            value = cells[i, j]
            if not math.isfinite(value):
                continue
            a, b = frame.px(float(xe[j])), frame.px(float(xe[j + 1]))
            c, d = frame.py(float(ye[i + 1])), frame.py(float(ye[i]))
            tip = (
                f"{x_label} {xe[j]:g} to {xe[j + 1]:g}, {y_label} {ye[i]:g} to {ye[i + 1]:g}: "
                f"{value_label} {value:.3f}"
            )
            parts.append(_rect(a, c, b - a + 0.3, d - c + 0.3, _shade(value / peak), tip))
    if not usable or not len(finite):
        parts.append(_no_data(frame))
    scale_x = frame.right + 24
    for k in range(10):
        y = frame.top + frame.height * (1 - (k + 1) / 10)
        parts.append(
            f'<rect x="{scale_x:.1f}" y="{y:.1f}" width="14" height="{frame.height / 10:.1f}" '
            f'fill="{_shade((k + 0.5) / 10)}"/>'
        )
    parts.append(_text(scale_x + 18, frame.top + 8, f"{peak:.2g}", anchor="start"))
    parts.append(_text(scale_x + 18, frame.bottom, "0", anchor="start"))
    parts.append(_text(scale_x + 7, frame.top - 8, value_label, extra=' font-size="11"'))
    parts += [_box(frame), *_axis_labels(frame, x_label, y_label), "</svg>"]
    return "\n".join(parts)


def dot_plot_svg(
    rows: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    x_label: str,
    reference: float | None = None,
    reference_label: str = "",
    width: int = 720,
) -> str:
    """One row per (label, values, colour): each value a dot, the mean a bar, top to bottom.

    ``reference`` draws a vertical dashed line (the baseline's mean, say).

    Example:
        >>> svg = dot_plot_svg([("a", [0.5, 0.6], "#000"), ("b", [0.4], "#333")],
        ...                    title="t", x_label="x", reference=0.5)
        >>> svg.count("<circle")
        3
    """
    row_h, left, top = 18.0, 190.0, 44.0
    height = top + row_h * max(len(rows), 1) + 50.0
    values = [v for _, vs, _ in rows for v in vs]
    if _finite(reference):
        values.append(float(reference))  # type: ignore[arg-type]
    xticks = nice_ticks(*_data_range(values), target=5)
    frame = Frame(
        xticks[0], xticks[-1], 0.0, 1.0, left, top, width - left - 24.0, row_h * max(len(rows), 1)
    )
    parts = _open(width, height, title)
    parts += _grid(frame, xticks, [])
    for k, (label, vs, colour) in enumerate(rows):
        y = top + row_h * (k + 0.5)
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(_text(left - 8, y + 4, short, anchor="end"))
        finite = [float(v) for v in vs if _finite(v)]
        if finite:
            mean = sum(finite) / len(finite)
            spread = f" (min {min(finite):.4f}, max {max(finite):.4f})" if len(finite) > 1 else ""
            mean_x = frame.px(mean)
            parts.append(
                f"<g><title>{escape(label)}: mean {mean:.4f}{spread}</title>"
                + _line(mean_x, y - 7, mean_x, y + 7, f'stroke="{colour}" stroke-width="3"')
                + "".join(
                    f'<circle cx="{frame.px(v):.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
                    'fill-opacity="0.6"/>'
                    for v in finite
                )
                + "</g>"
            )
    if _finite(reference):
        x = frame.px(float(reference))  # type: ignore[arg-type]
        parts.append(_line(x, top, x, frame.bottom, 'stroke="#000" stroke-dasharray="5 3"'))
        if reference_label:
            parts.append(_text(x, top - 6, reference_label, extra=' font-size="11"'))
    parts += [_box(frame), _text(frame.left + frame.width / 2, frame.bottom + 38, x_label)]
    parts.append("</svg>")
    return "\n".join(parts)


# -- histograms ------------------------------------------------------------------------------

_NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Binned:
    """Counts of finite values in equal-width bins.

    Attributes:
        edges: bin edges, ascending, ``len(counts) + 1`` of them.
        counts: values per bin, the clipped ones included in the end bins.
        below: values below ``edges[0]`` counted in the first bin.
        above: values above ``edges[-1]`` counted in the last bin.
        dropped: non-finite values left out.
    """

    edges: np.ndarray
    counts: np.ndarray
    below: int = 0
    above: int = 0
    dropped: int = 0


def _nice_width(raw: float) -> float:
    """The smallest width of the form {1, 2, 2.5, 5} x 10^k not below ``raw``."""
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in _NICE_STEPS if m * base >= raw * (1 - 1e-9))


def _edges(lo: float, hi: float, n_bins: int, max_bins: int) -> np.ndarray:
    """Edges at multiples of a round width covering ``[lo, hi]`` in at most ``max_bins`` bins."""
    if not hi > lo:
        width = _nice_width(abs(lo) * 0.1 or 1.0)
        return np.array([lo - width / 2, lo + width / 2])
    width = _nice_width((hi - lo) / max(n_bins, 1))
    while True:
        start = math.floor(lo / width) * width
        start = start - width if start > lo else start
        count = max(1, math.ceil((hi - start) / width - 1e-9))
        if start + count * width < hi:
            count += 1
        if count <= max_bins:
            return start + width * np.arange(count + 1)
        width = _nice_width(width * 1.0001)


def _binned(finite: np.ndarray, edges: np.ndarray, dropped: int) -> Binned:
    counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)
    below = int(np.count_nonzero(finite < edges[0]))
    above = int(np.count_nonzero(finite > edges[-1]))
    return Binned(edges, counts, below, above, dropped)


def bin_values(
    values: object,
    *,
    bins: int | None = None,
    limits: tuple[float, float] | None = None,
    max_bins: int = 60,
) -> Binned | None:
    """Bin the finite ``values``; None when there are none.

    ``bins`` is a target count (default: NumPy's "auto" rule); edges fall on round numbers.
    With ``limits`` the range shrinks to them and values beyond land in the end bins.

    Example:
        >>> b = bin_values([0.0, 1.0, 1.0, 9.0], bins=4, limits=(0.0, 2.0))
        >>> b.edges.tolist(), b.counts.tolist(), b.above
        ([0.0, 0.5, 1.0, 1.5, 2.0], [1, 0, 2, 1], 1)
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = np.clip(array[np.isfinite(array)], -1e300, 1e300)  # keep hi - lo finite
    if not len(finite):
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if limits is not None:
        low_limit, high_limit = sorted(float(v) for v in limits)
        lo = min(max(lo, low_limit), high_limit)
        hi = max(min(hi, high_limit), low_limit)
    if bins is None:
        inside = finite[(finite >= lo) & (finite <= hi)]
        bins = len(np.histogram_bin_edges(inside, bins="auto")) - 1 if len(inside) > 1 else 1
    edges = _edges(lo, hi, min(bins, max_bins), max_bins)
    return _binned(finite, edges, len(array) - len(finite))


def _count_ticks(top: int) -> list[int]:
    """Integer ticks from 0 covering ``top`` (at least 1)."""
    top = max(int(top), 1)
    if top <= 5:
        return list(range(top + 1))
    return [round(t) for t in nice_ticks(0.0, float(top), 5)]


def _bar(x: float, y: float, w: float, h: float, fill: str, tip: str, clipped: int) -> str:
    """A bar; one holding ``clipped`` values from beyond the range is drawn lighter."""
    if clipped:
        tip += f" (incl. {clipped:,} beyond the range)"
    return _rect(x, y, w, h, fill, tip, ' fill-opacity="0.5"' if clipped else "")


def _clipped(binned: Binned, k: int) -> int:
    """Values from beyond the range counted in bin ``k``."""
    last = len(binned.counts) - 1
    return (binned.below if k == 0 else 0) + (binned.above if k == last else 0)


def _notes(binned: list[tuple[str, Binned | None]], edges: np.ndarray) -> str:
    """One line on what was clipped into end bins or left out, or ''."""
    parts = []
    step = _bin_width(edges)
    for name, b in binned:
        if b is None:
            continue
        prefix = f"{name}: " if name else ""
        clipped = []
        if b.below:
            clipped.append(f"{b.below:,} below {format_tick(edges[0], step)}")
        if b.above:
            clipped.append(f"{b.above:,} above {format_tick(edges[-1], step)}")
        if clipped:
            parts.append(prefix + " and ".join(clipped) + " in the end bins")
        if b.dropped:
            plural = "s" if b.dropped != 1 else ""
            parts.append(f"{prefix}{b.dropped:,} non-finite value{plural} left out")
    return "; ".join(parts)


def _span(edges: np.ndarray) -> tuple[float, float]:
    """The axis range for ``edges``: a lone bin gets a bin's width of room on each side."""
    lo, hi = float(edges[0]), float(edges[-1])
    if len(edges) == 2:
        return lo - (hi - lo), hi + (hi - lo)
    return lo, hi


def _bin_width(edges: np.ndarray) -> float:
    return float(edges[1] - edges[0]) if len(edges) > 1 else 1.0


def _range_tip(lo: float, hi: float, step: float, count: int, last: bool) -> str:
    close = "]" if last else ")"
    return f"[{format_tick(lo, step / 10)}, {format_tick(hi, step / 10)}{close}: {count:,}"


def _empty(parts: list[str], x: float, y: float) -> str:
    parts += [_text(x, y, "no finite values", extra=' fill="#888"'), "</svg>"]
    return "\n".join(parts)


def histogram_svg(
    values: object,
    *,
    title: str,
    x_label: str,
    y_label: str = "count",
    bins: int | None = None,
    limits: tuple[float, float] | None = None,
    colour: str = PALETTE[0],
    width: int = 720,
    height: int = 340,
) -> str:
    """Render a histogram of ``values`` as an inline ``<svg>`` (see :func:`bin_values`).

    Non-finite values are left out (and counted in a note); with ``limits`` the values
    beyond them go into the end bins, so one extreme value cannot squash the rest.
    """
    binned = bin_values(values, bins=bins, limits=limits)
    left, top = 64.0, 48.0
    parts = _open(width, height, title)
    if binned is None:
        return _empty(parts, width / 2, top + (height - top - 50.0) / 2)
    edges, counts = binned.edges, binned.counts
    xticks = nice_ticks(*_span(edges))
    yticks = _count_ticks(int(counts.max()))
    frame = Frame(
        min(xticks[0], float(edges[0])),
        max(xticks[-1], float(edges[-1])),
        0.0,
        float(yticks[-1]),
        left,
        top,
        width - left - 24.0,
        height - top - 50.0,
    )
    parts += _grid(frame, xticks, yticks, y_text=[f"{t:,}" for t in yticks])
    step = _bin_width(edges)
    for k, count in enumerate(counts.tolist()):
        if count:
            a, b = frame.px(float(edges[k])), frame.px(float(edges[k + 1]))
            gap = 1.0 if b - a > 4 else 0.0
            tip = _range_tip(edges[k], edges[k + 1], step, count, k == len(counts) - 1)
            bar_h = frame.py(0) - frame.py(count)
            parts.append(
                _bar(
                    a + gap / 2,
                    frame.py(count),
                    b - a - gap,
                    bar_h,
                    colour,
                    tip,
                    _clipped(binned, k),
                )
            )
    parts += [_box(frame), *_axis_labels(frame, x_label, y_label)]
    note = _notes([("", binned)], edges)
    if note:
        parts.append(_text(width / 2, 38, note, extra=' fill="#666" font-size="11"'))
    parts.append("</svg>")
    return "\n".join(parts)


def back_to_back_svg(
    left_values: object,
    right_values: object,
    *,
    title: str,
    scale_label: str,
    left_label: str,
    right_label: str,
    bins: int | None = None,
    limits: tuple[float, float] | None = None,
    width: int = 720,
    height: int = 560,
) -> str:
    """Two histograms back to back on one shared vertical scale (a Wright map).

    The scale runs up the middle, larger values on top; ``left_values`` grow to the left,
    ``right_values`` to the right, each side with its own count axis, and a dashed line
    marks each side's median (values listed under the chart). Both sides share the bins.

    Example:
        >>> svg = back_to_back_svg([0.0, 1.0], [0.5, 2.0, 2.0], title="map",
        ...                        scale_label="theta", left_label="learners",
        ...                        right_label="items")
        >>> svg.count("<rect") > 4 and "learners" in svg and "nan" not in svg
        True
    """
    sides_values = [np.asarray(v, dtype=np.float64).ravel() for v in (left_values, right_values)]
    both = bin_values(np.concatenate(sides_values), bins=bins, limits=limits, max_bins=40)
    parts = _open(width, height, title)
    top, gutter, margin = 66.0, 64.0, 16.0
    plot_h = height - top - 50.0
    centre = width / 2
    panel_w = centre - gutter / 2 - margin
    if both is None:
        return _empty(parts, centre, top + plot_h / 2)
    edges = both.edges
    sides = [_binned(v[np.isfinite(v)], edges, int((~np.isfinite(v)).sum())) for v in sides_values]
    yticks = nice_ticks(*_span(edges))
    y0, y1 = min(yticks[0], float(edges[0])), max(yticks[-1], float(edges[-1]))
    inner_left, inner_right = centre - gutter / 2, centre + gutter / 2
    step = _bin_width(edges)
    labels = (left_label, right_label)
    medians: list[str] = []
    for side, (binned, colour) in enumerate(zip(sides, (PALETTE[2], PALETTE[0]), strict=True)):
        sign = -1.0 if side == 0 else 1.0
        base = inner_left if side == 0 else inner_right
        ticks = _count_ticks(int(binned.counts.max()) if len(binned.counts) else 1)
        # Each panel is a frame whose x runs outward from the scale in the middle.
        frame = Frame(0.0, float(ticks[-1]), y0, y1, base, top, sign * panel_w, plot_h)
        for t in ticks:
            parts.append(_line(frame.px(t), top, frame.px(t), top + plot_h, 'stroke="#f0f0f0"'))
            parts.append(_text(frame.px(t), top + plot_h + 16, f"{t:,}"))
        for t in yticks:
            parts.append(_line(base, frame.py(t), frame.px(ticks[-1]), frame.py(t)))
            if side == 0:
                parts.append(_text(centre, frame.py(t) + 4, format_tick(t, _step(yticks))))
        label = labels[side]
        for k, count in enumerate(binned.counts.tolist()):
            if not count:
                continue
            y_hi, y_lo = frame.py(float(edges[k + 1])), frame.py(float(edges[k]))
            gap = 1.0 if y_lo - y_hi > 4 else 0.0
            x = min(base, frame.px(count))
            tip = f"{label} " + _range_tip(
                edges[k], edges[k + 1], step, count, k == len(binned.counts) - 1
            )
            parts.append(
                _bar(
                    x,
                    y_hi + gap / 2,
                    abs(frame.px(count) - base),
                    y_lo - y_hi - gap,
                    colour,
                    tip,
                    _clipped(binned, k),
                )
            )
        finite = sides_values[side][np.isfinite(sides_values[side])]
        if len(finite):
            median = float(np.clip(np.median(finite), edges[0], edges[-1]))
            parts.append(
                _line(
                    base,
                    frame.py(median),
                    base + sign * panel_w,
                    frame.py(median),
                    f'stroke="{colour}" stroke-dasharray="6 4"',
                )
            )
            medians.append(f"{label.split(' (')[0]} {format_tick(median, step / 10)}")
        parts.append(
            _text(
                base + sign * panel_w / 2,
                top - 10,
                label,
                extra=f' fill="{colour}" font-weight="bold"',
            )
        )
        parts.append(
            _box(Frame(0, 1, 0, 1, min(base, base + sign * panel_w), top, panel_w, plot_h))
        )
    parts.append(_text(centre, top - 10, scale_label, extra=' fill="#444" font-size="11"'))
    axis = "count (each side its own axis)"
    if medians:
        axis += "; dashed lines: medians (" + ", ".join(medians) + ")"
    parts.append(_text(centre, top + plot_h + 38, axis))
    note = _notes([(left_label, sides[0]), (right_label, sides[1])], edges)
    if note:
        parts.append(_text(width / 2, 40, note, extra=' fill="#666" font-size="11"'))
    parts.append("</svg>")
    return "\n".join(parts)


# -- the page-level interaction --------------------------------------------------------------

#: CSS for the charts and the hover box, for the page's ``<style>``.
STYLE = """
svg.chart .key { cursor: pointer; } svg.chart .key.off { opacity: .3; }
svg.chart .series.off { display: none; }
.chart-tip { position: fixed; pointer-events: none; background: rgba(255,255,255,.95);
  border: 1px solid #999; border-radius: 4px; padding: .3rem .5rem; font: 12px sans-serif;
  white-space: pre; z-index: 10; display: none; box-shadow: 0 1px 4px rgba(0,0,0,.2); }
"""

#: Interaction for every ``svg.chart`` on the page (inline it once, after the charts).
SCRIPT = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var tip = document.createElement("div");
  tip.className = "chart-tip";
  document.body.appendChild(tip);
  function ticks(lo, hi, target) {
    if (!(hi > lo)) { var pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
    var base = Math.pow(10, Math.floor(Math.log10((hi - lo) / target))), best = base;
    var count = function (s) { return Math.ceil(hi / s) - Math.floor(lo / s) + 1; };
    [1, 2, 5, 10, 20].forEach(function (m) {
      if (Math.abs(count(m * base) - target) < Math.abs(count(best) - target)) best = m * base;
    });
    var out = [], first = Math.floor(lo / best);
    for (var i = 0; i < count(best); i++) out.push((first + i) * best);
    return out;
  }
  function fmt(v, step) {
    if (Math.abs(v) < step * 1e-9) v = 0;
    if (Math.max(Math.abs(v), step) >= 1e6) return v.toPrecision(3);
    return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  }
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function setup(svg) {
    var box = JSON.parse(svg.getAttribute("data-plot"));
    var data = JSON.parse(svg.querySelector("desc.chart-data").textContent);
    var plot = svg.querySelector("g.plot"), grid = svg.querySelector("g.grid");
    var full = {x: box.x.slice(), y: box.y.slice()}, view = {x: full.x, y: full.y};
    var hidden = {};
    var guide = el("line", {stroke: "#888", "stroke-dasharray": "3 3", visibility: "hidden"});
    var sel = el("rect", {fill: "#88CCEE", "fill-opacity": "0.25", visibility: "hidden"});
    svg.appendChild(guide); svg.appendChild(sel);
    function local(event) {
      var p = svg.createSVGPoint(); p.x = event.clientX; p.y = event.clientY;
      return p.matrixTransform(svg.getScreenCTM().inverse());
    }
    function toData(p) {
      return {x: view.x[0] + (p.x - box.left) / box.width * (view.x[1] - view.x[0]),
              y: view.y[1] - (p.y - box.top) / box.height * (view.y[1] - view.y[0])};
    }
    function draw() {
      var fx = box.width / (full.x[1] - full.x[0]), fy = box.height / (full.y[1] - full.y[0]);
      var sx = (full.x[1] - full.x[0]) / (view.x[1] - view.x[0]);
      var sy = (full.y[1] - full.y[0]) / (view.y[1] - view.y[0]);
      plot.setAttribute("transform", "translate(" + box.left + " " + box.top + ") scale(" +
        sx + " " + sy + ") translate(" + -(view.x[0] - full.x[0]) * fx + " " +
        -(full.y[1] - view.y[1]) * fy + ")");
      while (grid.firstChild) grid.removeChild(grid.firstChild);
      var xt = ticks(view.x[0], view.x[1], 6), yt = ticks(view.y[0], view.y[1], 6);
      var xs = xt[1] - xt[0], ys = yt[1] - yt[0], bottom = box.top + box.height;
      xt.forEach(function (t) {
        var x = box.left + (t - view.x[0]) / (view.x[1] - view.x[0]) * box.width;
        if (x < box.left - 0.5 || x > box.left + box.width + 0.5) return;
        grid.appendChild(el("line", {x1: x, x2: x, y1: box.top, y2: bottom, stroke: "#e3e3e3"}));
        grid.appendChild(el("text", {x: x, y: bottom + 16, "text-anchor": "middle"}, fmt(t, xs)));
      });
      yt.forEach(function (t) {
        var y = box.top + (view.y[1] - t) / (view.y[1] - view.y[0]) * box.height;
        if (y < box.top - 0.5 || y > bottom + 0.5) return;
        grid.appendChild(el("line", {x1: box.left, x2: box.left + box.width, y1: y, y2: y,
                                     stroke: "#e3e3e3"}));
        grid.appendChild(el("text", {x: box.left - 6, y: y + 4, "text-anchor": "end"},
                                     fmt(t, ys)));
      });
    }
    svg.querySelectorAll(".key").forEach(function (key) {
      var k = key.getAttribute("data-k");
      var series = svg.querySelector('.series[data-k="' + k + '"]');
      if (!series) return;
      key.addEventListener("click", function () {
        hidden[k] = !hidden[k];
        key.classList.toggle("off", hidden[k]);
        series.classList.toggle("off", hidden[k]);
      });
    });
    var start = null;
    function inside(p) {
      return p.x >= box.left && p.x <= box.left + box.width &&
             p.y >= box.top && p.y <= box.top + box.height;
    }
    svg.addEventListener("mousedown", function (event) {
      var p = local(event);
      if (inside(p)) { start = p; event.preventDefault(); }
    });
    svg.addEventListener("mousemove", function (event) {
      var p = local(event);
      if (start) {
        sel.setAttribute("x", Math.min(p.x, start.x));
        sel.setAttribute("y", Math.min(p.y, start.y));
        sel.setAttribute("width", Math.abs(p.x - start.x));
        sel.setAttribute("height", Math.abs(p.y - start.y));
        sel.setAttribute("visibility", "visible");
      }
      if (!inside(p)) { hide(); return; }
      var d = toData(p), lines = [], nearest = null;
      data.forEach(function (s, k) {
        if (hidden[k]) return;
        var best = -1;
        for (var i = 0; i < s.x.length; i++) {
          if (s.x[i] === null || s.y[i] === null) continue;
          if (best < 0 || Math.abs(s.x[i] - d.x) < Math.abs(s.x[best] - d.x)) best = i;
        }
        if (best < 0) return;
        var x = s.x[best], y = s.y[best];
        if (nearest === null || Math.abs(x - d.x) < Math.abs(nearest - d.x)) nearest = x;
        lines.push([y, s.name + ": " + y.toPrecision(4) + "  (x " + x + ")"]);
      });
      if (!lines.length) { tip.style.display = "none"; return; }
      lines.sort(function (a, b) { return b[0] - a[0]; });
      tip.textContent = lines.map(function (l) { return l[1]; }).join("\n");
      tip.style.display = "block";
      var maxX = window.innerWidth - tip.offsetWidth - 4;
      var maxY = window.innerHeight - tip.offsetHeight - 4;
      tip.style.left = Math.min(event.clientX + 14, maxX) + "px";
      tip.style.top = Math.min(event.clientY + 14, maxY) + "px";
      var gx = box.left + (nearest - view.x[0]) / (view.x[1] - view.x[0]) * box.width;
      guide.setAttribute("x1", gx); guide.setAttribute("x2", gx);
      guide.setAttribute("y1", box.top); guide.setAttribute("y2", box.top + box.height);
      guide.setAttribute("visibility", "visible");
    });
    function hide() { tip.style.display = "none"; guide.setAttribute("visibility", "hidden"); }
    svg.addEventListener("mouseleave", hide);
    window.addEventListener("mouseup", function (event) {
      if (!start) return;
      var end = local(event), a = toData(start), b = toData(end);
      sel.setAttribute("visibility", "hidden");
      var wide = Math.abs(end.x - start.x) > 5, tall = Math.abs(end.y - start.y) > 5;
      start = null;
      if (!wide) return;
      view = {x: [Math.min(a.x, b.x), Math.max(a.x, b.x)],
              y: tall ? [Math.min(a.y, b.y), Math.max(a.y, b.y)] : view.y};
      draw();
    });
    svg.addEventListener("dblclick", function () { view = {x: full.x, y: full.y}; draw(); });
    svg.setAttribute("data-ready", "1");
  }
  document.querySelectorAll("svg.chart[data-plot]").forEach(function (svg) {
    try { setup(svg); } catch (error) { console.error("chart setup failed: " + error); }
  });
})();
"""
