"""Self-contained HTML report for a simulation run's ``results.json``."""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from stepladder.report.svg import Series, line_chart_svg

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1000px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; }
dl.params { display: flex; flex-wrap: wrap; gap: .3rem 1.4rem; margin: .5rem 0 1rem; }
dl.params div { display: flex; gap: .35rem; }
dl.params dt { color: #666; } dl.params dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: 1rem 0 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; } tr:hover td { background: #fafafa; }
td small { color: #777; display: block; }
figure { margin: 1.5rem 0; } svg { max-width: 100%; height: auto; }
footer { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: .8rem; color: #555; }
code { background: #f4f4f4; padding: .15rem .3rem; border-radius: 3px; word-break: break-all; }
"""

PARAM_KEYS = (
    "seed",
    "steps",
    "repeats",
    "batch_size",
    "rollouts_per_prompt",
    "target_accuracy",
    "stepladder_version",
)


def _num(value: Any) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: Any, kind: str) -> str:
    """Format a number: ``count`` as integer, ``acc`` 3 decimals, ``sec`` 2 decimals."""
    number = _num(value)
    if number is None:
        return "—"
    return {"count": f"{number:,.0f}", "acc": f"{number:.3f}", "sec": f"{number:.2f}"}[kind]


def _mean_std(metric: Any, kind: str) -> str:
    """``mean ± std`` of a metric summary, or a dash when it is missing."""
    if not isinstance(metric, Mapping) or _num(metric.get("mean")) is None:
        return "—"
    text = _fmt(metric["mean"], kind)
    if _num(metric.get("std")) is not None:
        text += f" ± {_fmt(metric['std'], kind)}"
    return text


def _to_target(metric: Any, repeats: int) -> str:
    """``mean ± std (reached r/R)`` or ``not reached (0/R)``."""
    if not isinstance(metric, Mapping):
        return "—"
    repeats = repeats or len(metric.get("values") or [])
    reached = int(_num(metric.get("reached")) or 0)
    if reached == 0 or _num(metric.get("mean")) is None:
        return f"not reached (0/{repeats})"
    return f"{_mean_std(metric, 'count')} (reached {reached}/{repeats})"


def _sort_key(item: tuple[str, Mapping[str, Any]]) -> tuple[bool, float, float, str]:
    """Fastest to target first, never-reached last; ties by final accuracy descending."""
    name, data = item
    steps = _num((data.get("steps_to_target") or {}).get("mean"))
    final = _num((data.get("final_accuracy") or {}).get("mean"))
    return (steps is None, steps or 0.0, -final if final is not None else math.inf, name)


def sorted_strategies(results: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Strategies in table order."""
    strategies = results.get("strategies") or {}
    return sorted(strategies.items(), key=_sort_key)


def _params_note(params: Any) -> str:
    if not isinstance(params, Mapping) or not params:
        return ""
    text = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())
    return f"<small>{escape(text)}</small>"


def _table(results: Mapping[str, Any]) -> str:
    repeats = int(_num(results.get("repeats")) or 0)
    head = (
        "strategy",
        "steps to target",
        "rollouts to target",
        "final accuracy",
        "effective ratio",
        "rollouts used",
        "wall seconds",
    )
    rows = []
    for name, data in sorted_strategies(results):
        cells = (
            _to_target(data.get("steps_to_target"), repeats),
            _to_target(data.get("rollouts_to_target"), repeats),
            _mean_std(data.get("final_accuracy"), "acc"),
            _mean_std(data.get("effective_ratio"), "acc"),
            _mean_std(data.get("rollouts_used"), "count"),
            _mean_std(data.get("wall_seconds"), "sec"),
        )
        first = f"<td>{escape(name)}{_params_note(data.get('params'))}</td>"
        rows.append("<tr>" + first + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return (
        f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _column_stats(rows: Any, length: int) -> tuple[list[float], list[float], list[float]]:
    """Per eval index: mean, min and max over repeats (NaN where no repeat has a value)."""
    rows = [r for r in rows or [] if isinstance(r, Sequence)]
    means, lows, highs = [], [], []
    for i in range(length):
        values = [v for r in rows if i < len(r) and (v := _num(r[i])) is not None]
        means.append(sum(values) / len(values) if values else math.nan)
        lows.append(min(values) if values else math.nan)
        highs.append(max(values) if values else math.nan)
    return means, lows, highs


def _curve_series(results: Mapping[str, Any], x_axis: str) -> list[Series]:
    """One series per strategy: mean accuracy against ``step`` or mean cumulative ``rollouts``."""
    series = []
    for name, data in sorted_strategies(results):
        curves = data.get("curves") or {}
        steps = [_num(s) for s in curves.get("step") or []]
        accuracy = curves.get("accuracy") or []
        mean, low, high = _column_stats(accuracy, len(steps))
        if x_axis == "step":
            x = [math.nan if s is None else s for s in steps]
        else:
            x = _column_stats(curves.get("rollouts"), len(steps))[0]
        band = len(accuracy) > 1
        series.append(Series(name, x, mean, low if band else None, high if band else None))
    return series


def _charts(results: Mapping[str, Any]) -> str:
    target = _num(results.get("target_accuracy"))
    label = f"target {target:.3f}" if target is not None else ""
    charts = []
    for x_axis, x_label in (("step", "training step"), ("rollouts", "cumulative rollouts")):
        svg = line_chart_svg(
            _curve_series(results, x_axis),
            title=f"Held-out accuracy vs {x_label}",
            x_label=x_label,
            y_label="held-out accuracy",
            hline=target,
            hline_label=label,
        )
        charts.append(f"<figure>\n{svg}\n</figure>")
    return "\n".join(charts)


def reproduce_command(results: Mapping[str, Any]) -> str:
    """The ``stepladder simulate`` command line that reproduces this run."""
    args = [
        "stepladder",
        "simulate",
        "--scenario",
        str(results.get("scenario", "SCENARIO")),
        "--strategies",
        ",".join(results.get("strategies") or {}),
    ]
    for key in ("seed", "steps", "repeats"):
        if results.get(key) is not None:
            args += [f"--{key}", str(results[key])]
    return shlex.join(args) + " --out DIR"


def _header(results: Mapping[str, Any]) -> str:
    scenario = str(results.get("scenario", "unnamed scenario"))
    params = "".join(
        f"<div><dt>{escape(k)}</dt><dd>{escape(str(results[k]))}</dd></div>"
        for k in PARAM_KEYS
        if results.get(k) is not None
    )
    description = results.get("description")
    text = f"<p>{escape(str(description))}</p>" if description else ""
    return (
        f"<header>\n<h1>Simulation: {escape(scenario)}</h1>\n"
        f'<dl class="params">{params}</dl>\n{text}\n</header>'
    )


def render_simulation_report(results: Mapping[str, Any]) -> str:
    """Complete offline HTML5 page (inline CSS and SVG) summarising a simulation run."""
    title = escape(f"stepladder simulation: {results.get('scenario', 'unnamed scenario')}")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            f'<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"<style>{CSS}</style>\n</head>",
            "<body>",
            _header(results),
            "<main>",
            "<h2>Metrics</h2>",
            _table(results),
            "<h2>Learning curves</h2>",
            _charts(results),
            "</main>",
            "<footer>Reproduce with <code>" + escape(reproduce_command(results)) + "</code>, "
            "where <code>DIR</code> is the output directory.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
