"""Dependency-free SVG histograms: one distribution, or two back to back on a shared scale.

Non-finite values are left out (and counted in a note); with ``limits`` the values beyond
them go into the end bins, so one extreme estimate cannot squash the rest of the chart.
Every coordinate written is finite, whatever the input (empty, constant, all NaN).

Example:
    >>> import numpy as np
    >>> svg = histogram_svg(np.array([0.1, 0.2, 0.2, np.nan]), title="demo", x_label="x")
    >>> svg.startswith("<svg") and "1 non-finite value left out" in svg
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np

from stepladder.report.svg import PALETTE, format_tick, nice_ticks

__all__ = ["Binned", "back_to_back_svg", "bin_values", "histogram_svg"]

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
    dropped = len(array) - len(finite)
    if not len(finite):
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if limits is not None:
        low_limit, high_limit = sorted(float(v) for v in limits)
        lo = min(max(lo, low_limit), high_limit)
        hi = max(min(hi, high_limit), low_limit)
    if bins is None:
        inside = finite[(finite >= lo) & (finite <= hi)]
        auto = len(np.histogram_bin_edges(inside, bins="auto")) - 1 if len(inside) > 1 else 1
        bins = auto
    edges = _edges(lo, hi, min(bins, max_bins), max_bins)
    below = int(np.count_nonzero(finite < edges[0]))
    above = int(np.count_nonzero(finite > edges[-1]))
    counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)
    return Binned(edges, counts, below, above, dropped)


def _count_ticks(top: int) -> list[int]:
    """Integer ticks from 0 covering ``top`` (at least 1)."""
    top = max(int(top), 1)
    if top <= 5:
        return list(range(top + 1))
    return [round(t) for t in nice_ticks(0.0, float(top), 5)]


def _text(x: float, y: float, label: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(label)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, extra: str = 'stroke="#e3e3e3"') -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {extra}/>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, clipped: int = 0) -> str:
    """A bar; one holding ``clipped`` values from beyond the range is drawn lighter."""
    if clipped:
        tip += f" (incl. {clipped:,} beyond the range)"
    faded = ' fill-opacity="0.5"' if clipped else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{max(h, 0.0):.1f}" '
        f'fill="{fill}"{faded}><title>{escape(tip)}</title></rect>'
    )


def _clipped(binned: Binned, k: int) -> int:
    """Values from beyond the range counted in bin ``k``."""
    last = len(binned.counts) - 1
    return (binned.below if k == 0 else 0) + (binned.above if k == last else 0)


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(width / 2, 22, title, extra=' font-size="15" font-weight="bold"'),
    ]


def _notes(binned: list[tuple[str, Binned | None]], edges: np.ndarray | None) -> str:
    """One line on what was clipped into end bins or left out, or ''."""
    parts = []
    for name, b in binned:
        if b is None:
            continue
        prefix = f"{name}: " if name else ""
        clipped = []
        if b.below:
            clipped.append(f"{b.below:,} below {format_tick(edges[0], _step(edges))}")
        if b.above:
            clipped.append(f"{b.above:,} above {format_tick(edges[-1], _step(edges))}")
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


def _step(edges: np.ndarray | None) -> float:
    if edges is None or len(edges) < 2:
        return 1.0
    return float(edges[1] - edges[0])


def _range_tip(lo: float, hi: float, step: float, count: int, last: bool) -> str:
    close = "]" if last else ")"
    return f"[{format_tick(lo, step / 10)}, {format_tick(hi, step / 10)}{close}: {count:,}"


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
    """Render a histogram of ``values`` as an inline ``<svg>`` (see :func:`bin_values`)."""
    binned = bin_values(values, bins=bins, limits=limits)
    left, right, top, bottom = 64.0, 24.0, 48.0, 50.0
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = _open(width, height, title)
    if binned is None:
        parts.append(_text(width / 2, top + plot_h / 2, "no finite values", extra=' fill="#888"'))
        parts.append("</svg>")
        return "\n".join(parts)
    edges, counts = binned.edges, binned.counts
    xticks = nice_ticks(*_span(edges))
    x0, x1 = min(xticks[0], float(edges[0])), max(xticks[-1], float(edges[-1]))
    yticks = _count_ticks(int(counts.max()))
    y1 = float(yticks[-1])

    def px(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * plot_w

    def py(v: float) -> float:
        return top + (y1 - v) / y1 * plot_h

    xstep = xticks[1] - xticks[0] if len(xticks) > 1 else 1.0
    for t in xticks:
        parts.append(_line(px(t), top, px(t), top + plot_h))
        parts.append(_text(px(t), top + plot_h + 16, format_tick(t, xstep)))
    for t in yticks:
        parts.append(_line(left, py(t), left + plot_w, py(t)))
        parts.append(_text(left - 6, py(t) + 4, f"{t:,}", anchor="end"))
    step = _step(edges)
    for k, count in enumerate(counts.tolist()):
        if count:
            a, b = px(float(edges[k])), px(float(edges[k + 1]))
            gap = 1.0 if b - a > 4 else 0.0
            tip = _range_tip(edges[k], edges[k + 1], step, count, k == len(counts) - 1)
            height = py(0) - py(count)
            clipped = _clipped(binned, k)
            parts.append(_rect(a + gap / 2, py(count), b - a - gap, height, colour, tip, clipped))
    parts.append(
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
        'fill="none" stroke="#444"/>'
    )
    parts.append(_text(left + plot_w / 2, top + plot_h + 38, x_label))
    mid = top + plot_h / 2
    parts.append(_text(16, mid, y_label, extra=f' transform="rotate(-90 16 {mid:.1f})"'))
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
    left = np.asarray(left_values, dtype=np.float64).ravel()
    right = np.asarray(right_values, dtype=np.float64).ravel()
    both = bin_values(np.concatenate([left, right]), bins=bins, limits=limits, max_bins=40)
    parts = _open(width, height, title)
    top, bottom, gutter, margin = 66.0, 50.0, 64.0, 16.0
    plot_h = height - top - bottom
    centre = width / 2
    panel_w = centre - gutter / 2 - margin
    if both is None:
        parts.append(_text(centre, top + plot_h / 2, "no finite values", extra=' fill="#888"'))
        parts.append("</svg>")
        return "\n".join(parts)
    edges = both.edges
    sides = []
    for values in (left, right):
        finite = values[np.isfinite(values)]
        counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)
        sides.append(
            Binned(
                edges,
                counts,
                int(np.count_nonzero(finite < edges[0])),
                int(np.count_nonzero(finite > edges[-1])),
                len(values) - len(finite),
            )
        )
    yticks = nice_ticks(*_span(edges))
    y0, y1 = min(yticks[0], float(edges[0])), max(yticks[-1], float(edges[-1]))

    def py(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * plot_h

    inner_left, inner_right = centre - gutter / 2, centre + gutter / 2
    ystep = yticks[1] - yticks[0] if len(yticks) > 1 else 1.0
    for t in yticks:
        parts.append(_line(margin, py(t), inner_left, py(t)))
        parts.append(_line(inner_right, py(t), width - margin, py(t)))
        parts.append(_text(centre, py(t) + 4, format_tick(t, ystep)))
    step = _step(edges)
    colours = (PALETTE[2], PALETTE[0])
    labels = (left_label, right_label)
    medians: list[str] = []
    for side, (binned, colour, label) in enumerate(zip(sides, colours, labels, strict=True)):
        sign = -1.0 if side == 0 else 1.0
        base = inner_left if side == 0 else inner_right
        ticks = _count_ticks(int(binned.counts.max()) if len(binned.counts) else 1)
        scale = panel_w / ticks[-1]
        for t in ticks:
            x = base + sign * t * scale
            parts.append(_line(x, top, x, top + plot_h, 'stroke="#f0f0f0"'))
            parts.append(_text(x, top + plot_h + 16, f"{t:,}"))
        for k, count in enumerate(binned.counts.tolist()):
            if not count:
                continue
            y_hi, y_lo = py(float(edges[k + 1])), py(float(edges[k]))
            gap = 1.0 if y_lo - y_hi > 4 else 0.0
            x = base if side == 1 else base - count * scale
            tip = f"{label} " + _range_tip(
                edges[k], edges[k + 1], step, count, k == len(binned.counts) - 1
            )
            height, clipped = y_lo - y_hi - gap, _clipped(binned, k)
            parts.append(_rect(x, y_hi + gap / 2, count * scale, height, colour, tip, clipped))
        finite = (left, right)[side]
        finite = finite[np.isfinite(finite)]
        if len(finite):
            median = float(np.clip(np.median(finite), edges[0], edges[-1]))
            far = base + sign * panel_w
            parts.append(
                _line(
                    base, py(median), far, py(median), f'stroke="{colour}" stroke-dasharray="6 4"'
                )
            )
            medians.append(f"{label.split(' (')[0]} {format_tick(median, step / 10)}")
        heading_x = base + sign * panel_w / 2
        parts.append(
            _text(heading_x, top - 10, label, extra=f' fill="{colour}" font-weight="bold"')
        )
        parts.append(
            f'<rect x="{min(base, base + sign * panel_w):.1f}" y="{top:.1f}" '
            f'width="{panel_w:.1f}" height="{plot_h:.1f}" fill="none" stroke="#444"/>'
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
