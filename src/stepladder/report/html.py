"""Self-contained HTML report for a simulation run's ``results.json``.

Strategies are ranked by a rollout-aware measure, so that filters that generate more
rollouts per step are not rewarded for spending more: the **mean accuracy over a matched
budget** of B rollouts, where B is the least any strategy spent in total (for each repeat,
the area under held-out accuracy against cumulative rollouts from 0 to B, divided by B,
with accuracy interpolated linearly between evaluations), then averaged over repeats. The
report also gives the accuracy at B, each strategy's difference from the ``uniform``
baseline, the per-repeat spread (dots in the ranking chart, bands in the curves, ± std in
the table) and the curves grouped by family (the module a strategy is defined in), each
family's chart with the baseline drawn in black.

Example:
    >>> curve = {"step": [0, 1, 2], "accuracy": [[0.1, 0.3, 0.5]], "rollouts": [[0, 10, 20]]}
    >>> results = {"scenario": "demo", "target_accuracy": 0.4, "strategies": {
    ...     "uniform": {"curves": curve},
    ...     "dump": {"curves": {**curve, "rollouts": [[0, 20, 40]]}}}}
    >>> ranked = rank_strategies(results)
    >>> [(r.name, round(r.measure, 3), r.budget) for r in ranked]
    [('uniform', 0.3, 20.0), ('dump', 0.2, 20.0)]
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from stepladder.report.charts import (
    BASELINE,
    PALETTE,
    Series,
    dot_plot_svg,
    line_chart_svg,
)
from stepladder.report.page import document, facts

__all__ = [
    "BASELINE_STRATEGY",
    "Ranked",
    "family",
    "rank_strategies",
    "render_simulation_report",
    "reproduce_command",
]

#: The strategy every other one is compared with.
BASELINE_STRATEGY = "uniform"
#: How many of the best-ranked strategies the overview charts show, besides the baseline.
OVERVIEW = 6

PARAM_KEYS = (
    "seed",
    "steps",
    "repeats",
    "batch_size",
    "rollouts_per_prompt",
    "target_accuracy",
)


def _num(value: Any) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rows(values: Any) -> list[list[float]]:
    """A list of per-repeat rows as floats (NaN for anything not a finite number)."""
    if not isinstance(values, Sequence):
        return []
    rows = []
    for row in values:
        if isinstance(row, Sequence) and not isinstance(row, str):
            rows.append([math.nan if (v := _num(x)) is None else v for x in row])
    return rows


def family(name: str) -> str:
    """The family of a strategy: its ``family``, else its module's name, or ``"other"``.

    Example:
        >>> family("range_filter"), family("plr"), family("not a strategy")
        ('filtering', 'teachers', 'other')
    """
    from stepladder import strategies

    try:
        cls = strategies.get(name)
    except ValueError:
        return "other"
    return cls.family or cls.__module__.rsplit(".", 1)[-1].lstrip("_").replace("_", " ")


def _area(rollouts: np.ndarray, accuracy: np.ndarray, budget: float) -> tuple[float, float]:
    """Mean accuracy over [0, budget] rollouts and the accuracy at ``budget`` (NaN if unknown)."""
    keep = np.isfinite(rollouts) & np.isfinite(accuracy)
    x, y = rollouts[keep], accuracy[keep]
    if len(x) < 2 or x[0] > 0 or x[-1] < budget or budget <= 0:
        return math.nan, math.nan
    at = float(np.interp(budget, x, y))
    inside = x < budget
    xs = np.concatenate([x[inside], [budget]])
    ys = np.concatenate([y[inside], [at]])
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / budget), at


@dataclass(frozen=True)
class Ranked:
    """A strategy's rollout-aware scores, per repeat (NaN where a repeat has no curve)."""

    name: str
    family: str
    budget: float
    per_repeat: tuple[float, ...]
    at_budget: tuple[float, ...]

    @property
    def measure(self) -> float | None:
        """Mean accuracy over the matched budget, averaged over repeats (None if unknown)."""
        return _mean(self.per_repeat)


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _std(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.std(finite)) if len(finite) > 1 else None


def _budget(strategies: Mapping[str, Any]) -> float:
    """The matched budget: the least total any strategy spent in any repeat (NaN if none)."""
    totals = [
        max((v for v in row if math.isfinite(v)), default=math.nan)
        for data in strategies.values()
        for row in _rows((data.get("curves") or {}).get("rollouts"))
    ]
    finite = [t for t in totals if math.isfinite(t) and t > 0]
    return min(finite) if finite else math.nan


def rank_strategies(results: Mapping[str, Any]) -> list[Ranked]:
    """Strategies best first by mean accuracy over the matched budget; unknown ones last."""
    strategies = results.get("strategies") or {}
    if not isinstance(strategies, Mapping):
        return []
    budget = _budget(strategies)
    ranked = []
    for name, data in strategies.items():
        curves = (data if isinstance(data, Mapping) else {}).get("curves") or {}
        pairs = [
            _area(np.array(r), np.array(a), budget)
            for r, a in zip(
                _rows(curves.get("rollouts")), _rows(curves.get("accuracy")), strict=False
            )
        ]
        ranked.append(
            Ranked(
                str(name),
                family(str(name)),
                budget,
                tuple(p[0] for p in pairs),
                tuple(p[1] for p in pairs),
            )
        )

    def key(r: Ranked) -> tuple[bool, float, str]:
        measure = r.measure
        return (measure is None, -(measure or 0.0), r.name)

    return sorted(ranked, key=key)


# -- formatting ------------------------------------------------------------------------------


def _metric(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    return {"count": f"{value:,.0f}", "acc": f"{value:.3f}", "sec": f"{value:.2f}"}[kind]


def _mean_std(metric: Mapping[str, Any], kind: str) -> str:
    mean, std = _num(metric.get("mean")), _num(metric.get("std"))
    if mean is None:
        return "—"
    return _fmt(mean, kind) + (f" ± {_fmt(std, kind)}" if std is not None else "")


def _to_target(metric: Mapping[str, Any], repeats: int) -> str:
    repeats = repeats or len(metric.get("values") or [])
    reached = int(_num(metric.get("reached")) or 0)
    if reached == 0 or _num(metric.get("mean")) is None:
        return f"not reached (0/{repeats})"
    return f"{_mean_std(metric, 'count')} ({reached}/{repeats})"


def _signed(delta: float | None, digits: int = 3) -> tuple[str, str]:
    """Text and CSS class of a difference from the baseline (larger is better)."""
    if delta is None:
        return "—", ""
    text = f"{delta:+.{digits}f}"
    if abs(delta) < 0.5 * 10**-digits:
        return text, ""
    return text, "better" if delta > 0 else "worse"


def _ratio(value: float | None, base: float | None) -> tuple[str, str]:
    """``value / base`` as ``0.85x`` (smaller is better: fewer rollouts)."""
    if value is None or base is None or base <= 0:
        return "—", ""
    ratio = value / base
    return f"{ratio:.2f}x", "" if abs(ratio - 1) < 0.005 else ("better" if ratio < 1 else "worse")


def _params_text(params: Any) -> str:
    if not isinstance(params, Mapping) or not params:
        return "no parameters"
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())


def _with_ratio(text: str, value: float | None, base: float | None) -> tuple[str, str]:
    """``text`` followed by ``(0.85x)``, the ratio to the baseline's value, when known."""
    ratio, css = _ratio(value, base)
    return (text if ratio == "—" else f"{text} ({ratio})"), css


def _cell(text: str, css: str = "") -> str:
    return f'<td class="{css}">{escape(text)}</td>' if css else f"<td>{escape(text)}</td>"


def _table(results: Mapping[str, Any], ranked: list[Ranked]) -> str:
    strategies = results.get("strategies") or {}
    repeats = int(_num(results.get("repeats")) or 0)
    base = next((r for r in ranked if r.name == BASELINE_STRATEGY), None)
    base_data = strategies.get(BASELINE_STRATEGY) or {}
    base_target = _num(_metric(base_data, "rollouts_to_target").get("mean"))
    base_used = _num(_metric(base_data, "rollouts_used").get("mean"))
    head = (
        "#",
        "strategy",
        "mean accuracy over budget",
        "vs uniform",
        "accuracy at budget",
        "final accuracy",
        "rollouts to target (x uniform)",
        "steps to target",
        "effective ratio",
        "rollouts used (x uniform)",
        "wall s",
    )
    rows = []
    for rank, r in enumerate(ranked, 1):
        data = strategies.get(r.name) or {}
        data = data if isinstance(data, Mapping) else {}
        measure, std = r.measure, _std(r.per_repeat)
        delta = None
        if base is not None and measure is not None and base.measure is not None:
            delta = measure - base.measure
        target = _metric(data, "rollouts_to_target")
        used = _num(_metric(data, "rollouts_used").get("mean"))
        cells = [
            _cell(str(rank)),
            f'<td class="name" title="{escape(_params_text(data.get("params")))}">'
            f"{escape(r.name)}<small>{escape(r.family)}</small></td>",
            _cell(_fmt(measure, "acc") + (f" ± {std:.3f}" if std is not None else "")),
            _cell(*_signed(delta)),
            _cell(_fmt(_mean(r.at_budget), "acc")),
            _cell(_mean_std(_metric(data, "final_accuracy"), "acc")),
            _cell(*_with_ratio(_to_target(target, repeats), _num(target.get("mean")), base_target)),
            _cell(_to_target(_metric(data, "steps_to_target"), repeats)),
            _cell(_mean_std(_metric(data, "effective_ratio"), "acc")),
            _cell(
                *_with_ratio(_mean_std(_metric(data, "rollouts_used"), "count"), used, base_used)
            ),
            _cell(_mean_std(_metric(data, "wall_seconds"), "sec")),
        ]
        css = ' class="baseline"' if r.name == BASELINE_STRATEGY else ""
        rows.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


# -- charts ----------------------------------------------------------------------------------


def _column_stats(rows: list[list[float]], length: int) -> tuple[list[float], ...]:
    """Per eval index: mean, min and max over repeats (NaN where no repeat has a value)."""
    means, lows, highs = [], [], []
    for i in range(length):
        values = [r[i] for r in rows if i < len(r) and math.isfinite(r[i])]
        means.append(sum(values) / len(values) if values else math.nan)
        lows.append(min(values) if values else math.nan)
        highs.append(max(values) if values else math.nan)
    return means, lows, highs


def _series(name: str, data: Any, x_axis: str) -> Series:
    """Mean accuracy with its min-max band over repeats, against steps or mean rollouts."""
    curves = (data if isinstance(data, Mapping) else {}).get("curves") or {}
    steps = [math.nan if (v := _num(s)) is None else v for s in curves.get("step") or []]
    accuracy = _rows(curves.get("accuracy"))
    length = max([len(steps), *(len(r) for r in accuracy)], default=0)
    mean, low, high = _column_stats(accuracy, length)
    if x_axis == "step":
        x = steps + [math.nan] * (length - len(steps))
    else:
        x = _column_stats(_rows(curves.get("rollouts")), length)[0]
    band = len(accuracy) > 1
    label = f"{name} (baseline)" if name == BASELINE_STRATEGY else name
    return Series(
        label,
        x,
        mean,
        low if band else None,
        high if band else None,
        emphasis=name == BASELINE_STRATEGY,
    )


def _line_chart(
    results: Mapping[str, Any], names: Sequence[str], title: str, x_axis: str, width: int
) -> str:
    strategies = results.get("strategies") or {}
    target = _num(results.get("target_accuracy"))
    x_label = "training step" if x_axis == "step" else "cumulative rollouts (mean over repeats)"
    return line_chart_svg(
        [_series(name, strategies.get(name), x_axis) for name in names],
        title=title,
        x_label=x_label,
        y_label="held-out accuracy",
        hline=target,
        hline_label=f"target {target:.3f}" if target is not None else "",
        width=width,
        height=420 if width > 600 else 340,
    )


def _family_colours(ranked: list[Ranked]) -> dict[str, str]:
    families = sorted({r.family for r in ranked if r.name != BASELINE_STRATEGY})
    return {f: PALETTE[k % len(PALETTE)] for k, f in enumerate(families)}


def _ranking_chart(ranked: list[Ranked]) -> str:
    colours = _family_colours(ranked)
    rows = [
        (
            f"{r.name} ({r.family})",
            r.per_repeat,
            BASELINE if r.name == BASELINE_STRATEGY else colours[r.family],
        )
        for r in ranked
        if r.measure is not None
    ]
    base = next((r.measure for r in ranked if r.name == BASELINE_STRATEGY), None)
    budget = ranked[0].budget if ranked else math.nan
    title = (
        f"Mean held-out accuracy over the first {budget:,.0f} rollouts"
        if math.isfinite(budget)
        else "Mean held-out accuracy over the matched budget"
    )
    return dot_plot_svg(
        rows,
        title=title,
        x_label="mean accuracy over the matched budget (dots: repeats, bar: mean)",
        reference=base,
        reference_label="uniform" if base is not None else "",
    )


def _curve_sections(results: Mapping[str, Any], ranked: list[Ranked]) -> str:
    strategies = results.get("strategies") or {}
    has_base = BASELINE_STRATEGY in strategies
    base = [BASELINE_STRATEGY] if has_base else []
    best = [r.name for r in ranked if r.name != BASELINE_STRATEGY][:OVERVIEW]
    overview = [
        _line_chart(
            results, base + best, f"Best {len(best)} by the ranking, and the baseline", axis, 720
        )
        for axis in ("rollouts", "step")
    ]
    families: dict[str, list[str]] = {}
    for r in ranked:
        if r.name != BASELINE_STRATEGY:
            families.setdefault(r.family, []).append(r.name)
    panels = [
        _line_chart(results, base + names, f"{name} ({len(names)})", "rollouts", 520)
        for name, names in sorted(families.items())
    ]
    baseline_note = (
        "The baseline (uniform) is the thick black line in every chart."
        if has_base
        else "No uniform baseline in this run: differences from it are not shown."
    )
    return (
        "<h2>Learning curves</h2>\n"
        f'<p class="note">Lines: mean over repeats; bands: min to max over repeats. '
        f"{baseline_note} Click a legend entry to hide or show a strategy, hover for values, "
        "drag a box to zoom, double-click to reset.</p>\n"
        + "\n".join(f"<figure>\n{svg}\n</figure>" for svg in overview)
        + "\n<h2>By family</h2>\n"
        '<p class="note">One chart per family (the module that defines the strategy), '
        "accuracy against cumulative rollouts.</p>\n"
        '<div class="grid2">\n'
        + "\n".join(f"<figure>\n{svg}\n</figure>" for svg in panels)
        + "\n</div>"
    )


# -- page ------------------------------------------------------------------------------------


def reproduce_command(results: Mapping[str, Any]) -> str:
    """The ``stepladder simulate`` command line that reproduces this run."""
    args = [
        "stepladder",
        "simulate",
        "--scenario",
        str(results.get("scenario", "SCENARIO")),
        "--strategies",
        ",".join(str(name) for name in results.get("strategies") or {}),
    ]
    for key in ("seed", "steps", "repeats"):
        if results.get(key) is not None:
            args += [f"--{key}", str(results[key])]
    return shlex.join(args) + " --out DIR"


def _summary(results: Mapping[str, Any], ranked: list[Ranked]) -> str:
    known = [r for r in ranked if r.measure is not None]
    if not known:
        return '<p class="note">No strategy has a learning curve to rank.</p>'
    budget = known[0].budget
    best = known[0]
    text = (
        f"Ranked by mean held-out accuracy over the first {budget:,.0f} rollouts, the least "
        "any strategy spent (area under accuracy against cumulative rollouts, divided by the "
        "budget): strategies that generate more rollouts per step are compared at the same "
        f"cost. Best: {best.name} ({best.measure:.3f})"
    )
    base = next((r for r in known if r.name == BASELINE_STRATEGY), None)
    if base is not None and base.measure is not None:
        place = known.index(base) + 1
        better = sum(1 for r in known if r.measure is not None and r.measure > base.measure)
        text += (
            f"; uniform scores {base.measure:.3f} (rank {place} of {len(known)}); "
            f"{better} strateg{'y beats' if better == 1 else 'ies beat'} it."
        )
    else:
        text += "."
    return f"<p>{escape(text)}</p>"


def _header(results: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
    scenario = str(results.get("scenario", "unnamed scenario"))
    params = {k.replace("_", " "): results.get(k) for k in PARAM_KEYS}
    run = {
        "stepladder version": metadata.get("stepladder_version")
        or results.get("stepladder_version"),
        "git commit": metadata.get("git_commit"),
        "date": metadata.get("date"),
        "machine": metadata.get("machine"),
        "command": metadata.get("command"),
    }
    if not any(metadata.get(k) for k in ("date", "machine", "command")):
        run["run details"] = "not recorded in results.json"
    description = results.get("description")
    text = f"<p>{escape(str(description))}</p>" if description else ""
    return (
        f"<header>\n<h1>Simulation: {escape(scenario)}</h1>\n{text}\n"
        f"{facts(params)}\n{facts(run)}\n</header>"
    )


def render_simulation_report(
    results: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
) -> str:
    """Complete offline HTML5 page (inline CSS, SVG and script) summarising a simulation run.

    ``metadata`` (see :func:`~stepladder.report.page.run_metadata`) describes the run; by
    default ``results["run"]`` if present.
    """
    if metadata is None:
        stored = results.get("run")
        metadata = stored if isinstance(stored, Mapping) else {}
    ranked = rank_strategies(results)
    body = "\n".join(
        [
            _header(results, metadata),
            "<main>",
            "<h2>Ranking</h2>",
            _summary(results, ranked),
            f"<figure>\n{_ranking_chart(ranked)}\n</figure>",
            _table(results, ranked),
            _curve_sections(results, ranked),
            "</main>",
            "<footer>Reproduce with <code>" + escape(reproduce_command(results)) + "</code>, "
            "where <code>DIR</code> is the output directory.</footer>",
        ]
    )
    title = f"stepladder simulation: {results.get('scenario', 'unnamed scenario')}"
    return document(title, body)
