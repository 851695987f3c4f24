"""Self-contained HTML report for ``stepladder grade``: distributions, Wright map, ICCs, misfit.

The page is one file with inline CSS and SVG: no scripts, no external addresses.

Example:
    >>> import pyarrow as pa
    >>> items = pa.table({"item_id": ["q1", "q2"], "difficulty": [-0.5, 1.0],
    ...                   "n_responses": [3.0, 3.0], "p_correct": [0.67, 0.33]})
    >>> learners = pa.table({"learner_id": ["a", "b", "c"], "ability": [-1.0, 0.0, 1.0]})
    >>> html = render_grading_report(items, learners, {"model": "1pl", "n_items": 2})
    >>> html.startswith("<!DOCTYPE html>") and "Person-item map" in html
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pyarrow as pa

from stepladder.report.charts import (
    Series,
    back_to_back_svg,
    histogram_svg,
    line_chart_svg,
    series_style,
)

__all__ = ["IRT_MODELS", "icc_items", "model_name", "render_grading_report"]

IRT_MODELS = ("1pl", "2pl", "3pl", "4pl")
RATING_MODELS = ("elo", "glicko2")
#: Shown range of the IRT scale; estimates beyond it are drawn in the end bins.
IRT_LIMITS = (-6.0, 6.0)
WORST_FITTING = 20

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1000px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1.2rem;
             margin: .8rem 0 1rem; }
dl.summary dt { color: #666; } dl.summary dd { margin: 0; font-weight: 600;
                                               overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: 1rem 0 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; overflow-wrap: anywhere; }
th { background: #f4f4f4; }
figure { margin: 1.2rem 0; } svg { max-width: 100%; height: auto; }
figcaption, p.note { color: #555; font-size: .92rem; }
ul.curves { margin: .3rem 0; padding-left: 1.2rem; font-size: .92rem; }
ul.curves li { overflow-wrap: anywhere; }
footer { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: .8rem; color: #555; }
"""

_MODEL_NAMES = {
    "1pl": "1PL (Rasch) IRT",
    "2pl": "2PL IRT",
    "3pl": "3PL IRT",
    "4pl": "4PL IRT",
    "elo": "Elo ratings",
    "glicko2": "Glicko-2 ratings",
    "passrate": "pass-rate grading",
}


def model_name(model: str) -> str:
    """Readable name of a ``--model`` value."""
    return _MODEL_NAMES.get(model, model)


def _floats(table: pa.Table | None, name: str) -> np.ndarray | None:
    """Column ``name`` as float64 (nulls as NaN), or None when absent."""
    if table is None or name not in table.column_names:
        return None
    column = table.column(name)
    try:
        column = column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _ids(table: pa.Table, name: str) -> list[str]:
    if name not in table.column_names:
        return [str(k) for k in range(table.num_rows)]
    return ["" if v is None else str(v) for v in table.column(name).to_pylist()]


def icc_items(items: pa.Table, *, within: float | None = None) -> list[tuple[str, int]]:
    """Rows worth an item characteristic curve, each with its roles in the label.

    The easiest, median-difficulty and hardest items and, where discrimination varies, the
    most and least discriminating (highest and lowest ``a``); an item with several roles
    appears once. Labels read ``"hardest: q7"``. With ``within``, the easiest and hardest
    are chosen among items with ``|difficulty| <= within`` (labelled ``"easiest in ±6"``)
    when some lie beyond: with few learners, items nearly everyone answers alike get
    huge ``|b|`` and flat, uninformative curves.

    Example:
        >>> t = pa.table({"item_id": ["a", "b", "c"], "difficulty": [0.0, 2.0, -1.0],
        ...               "discrimination": [0.5, 1.0, 2.0]})
        >>> icc_items(t)
        [('easiest, highest a: c', 2), ('median, lowest a: a', 0), ('hardest: b', 1)]
        >>> icc_items(t, within=1.5)
        [('easiest in ±1.5, highest a: c', 2), ('median, hardest in ±1.5, lowest a: a', 0)]
    """
    difficulty = _floats(items, "difficulty")
    if difficulty is None:
        return []
    roles: list[tuple[str, int]] = []
    finite = np.flatnonzero(np.isfinite(difficulty))
    if len(finite):
        order = finite[np.argsort(difficulty[finite], kind="stable")]
        median = ("median", int(order[(len(order) - 1) // 2]))
        suffix = ""
        if within is not None:
            inside = order[np.abs(difficulty[order]) <= within]
            if 0 < len(inside) < len(order):
                order, suffix = inside, f" in ±{within:g}"
        roles += [(f"easiest{suffix}", int(order[0])), median, (f"hardest{suffix}", int(order[-1]))]
    slope = _floats(items, "discrimination")
    if slope is not None:
        usable = np.flatnonzero(np.isfinite(slope))
        if len(usable) and np.ptp(slope[usable]) > 0:
            order = usable[np.argsort(slope[usable], kind="stable")]
            roles += [
                ("highest a", int(order[-1])),
                ("lowest a", int(order[0])),
            ]
    merged: dict[int, list[str]] = {}
    for role, row in roles:
        merged.setdefault(row, []).append(role)
    ids = _ids(items, "item_id")
    return [(f"{', '.join(names)}: {ids[row]}", row) for row, names in merged.items()]


def _format(value: Any) -> str:
    """A summary value as short text."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "—"
        if number.is_integer() and abs(number) < 1e15:
            return f"{number:,.0f}"
        return f"{number:,.6g}" if abs(number) >= 1e-3 else f"{number:.3g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _short(value: float) -> str:
    """A difficulty or ability for prose: 3 decimals, or whole numbers from 1000 on."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"


def _summary_list(summary: Mapping[str, Any]) -> str:
    def text(key: str, value: Any) -> str:
        if key == "seconds" and isinstance(value, int | float) and math.isfinite(value):
            return f"{value:.2f}"
        return _format(value)

    rows = "".join(
        f"<dt>{escape(str(key).replace('_', ' '))}</dt><dd>{escape(text(key, value))}</dd>"
        for key, value in summary.items()
    )
    return f'<dl class="summary">{rows}</dl>'


def _scale(model: str) -> tuple[str, str, tuple[float, float] | None]:
    """Difficulty axis label, shared-scale label and display limits for ``model``."""
    if model in IRT_MODELS:
        return "difficulty b (ability scale, θ)", "θ (logits)", IRT_LIMITS
    if model in RATING_MODELS:
        return "difficulty (item rating)", "rating", None
    if model == "passrate":
        return "difficulty = 1 - posterior pass rate", "", (0.0, 1.0)
    return "difficulty", "scale", None


def _stats_line(values: np.ndarray | None) -> str:
    if values is None or not len(values):
        return "No difficulty values."
    finite = values[np.isfinite(values)]
    if not len(finite):
        return f"None of the {len(values):,} difficulties is finite."
    low, median, high = (float(v) for v in np.quantile(finite, [0.0, 0.5, 1.0]))
    text = (
        f"{len(finite):,} finite difficulties: median {_short(median)}, "
        f"range {_short(low)} to {_short(high)}"
    )
    missing = len(values) - len(finite)
    return text + (f"; {missing:,} not finite." if missing else ".")


def _difficulty_section(items: pa.Table, model: str) -> str:
    label, _, limits = _scale(model)
    difficulty = _floats(items, "difficulty")
    svg = histogram_svg(
        np.empty(0) if difficulty is None else difficulty,
        title="Item difficulty",
        x_label=label,
        limits=limits,
    )
    caption = _stats_line(difficulty)
    if model in IRT_MODELS:
        caption += (
            f" The chart shows {IRT_LIMITS[0]:g} to {IRT_LIMITS[1]:g}; items beyond (typically "
            "answered right or wrong by nearly everyone) are counted in the end bins."
        )
    return (
        "<h2>Difficulty distribution</h2>\n"
        f"<figure>\n{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>"
    )


def _map_section(items: pa.Table, learners: pa.Table | None, model: str) -> str:
    heading = "<h2>Person-item map</h2>\n"
    if model == "passrate":
        return heading + (
            '<p class="note">Not drawn: pass-rate grading has no shared latent scale. An '
            "item's difficulty is 1 - its posterior pass rate and a learner's "
            "“ability” is just its mean score, so placing the two side by side would "
            "suggest a comparison the model does not make. Fit an IRT model (e.g. "
            "<code>--model 2pl</code>) or a rating model for a person-item map.</p>"
        )
    abilities = _floats(learners, "ability")
    if abilities is None:
        return heading + '<p class="note">Not drawn: no learner abilities were given.</p>'
    _, scale_label, limits = _scale(model)
    svg = back_to_back_svg(
        abilities,
        _floats(items, "difficulty"),
        title="Learners and items on one scale",
        scale_label=scale_label,
        left_label="learners (ability)",
        right_label="items (difficulty)",
        limits=limits,
    )
    if model in RATING_MODELS:
        text = (
            "Ratings of learners and items share the Elo scale: a learner rated 400 points "
            "above an item is expected to succeed with 10:1 odds, one level with it half the "
            "time. Ratings depend on the order of the log."
        )
    else:
        text = (
            "Abilities and difficulties share the θ scale: a learner at the height of an "
            "item answers it correctly with probability 1/2 (above the guessing floor for "
            "3PL/4PL). Items far above every learner, or below, carry little information."
        )
    return heading + f"<figure>\n{svg}\n<figcaption>{escape(text)}</figcaption>\n</figure>"


def _finite_curve(theta: Any, probability: Any) -> tuple[list[float], list[float]]:
    x = np.asarray(theta, dtype=np.float64).ravel()
    y = np.asarray(probability, dtype=np.float64).ravel()
    n = min(len(x), len(y))
    keep = np.isfinite(x[:n]) & np.isfinite(y[:n])
    return x[:n][keep].tolist(), y[:n][keep].tolist()


def _icc_section(icc: Sequence[tuple[str, Any, Any]] | None) -> str:
    if not icc:
        return ""
    series = [Series(label, *_finite_curve(theta, p)) for label, theta, p in icc]
    svg = line_chart_svg(
        series,
        title="Item characteristic curves",
        x_label="ability θ",
        y_label="P(correct)",
    )
    labels = "".join(
        f'<li><span style="color:{series_style(k)[0]}">&#9632;</span> {escape(label)}</li>'
        for k, (label, _, _) in enumerate(icc)
    )
    return (
        "<h2>Item characteristic curves</h2>\n"
        f"<figure>\n{svg}\n<figcaption>Probability of a correct answer against ability for "
        f'selected items:<ul class="curves">{labels}</ul></figcaption>\n</figure>'
    )


def _misfit_section(items: pa.Table) -> str:
    outfit, infit = _floats(items, "outfit"), _floats(items, "infit")
    if outfit is None or infit is None or not len(outfit):
        return ""
    key = np.where(np.isfinite(outfit), outfit, -np.inf)
    count = min(WORST_FITTING, len(key))
    worst = np.argpartition(-key, count - 1)[:count] if count < len(key) else np.arange(count)
    worst = worst[np.argsort(-key[worst], kind="stable")]
    ids = _ids(items.take(pa.array(worst)), "item_id")
    names = [
        name
        for name in (
            "difficulty",
            "discrimination",
            "guessing",
            "slipping",
            "infit",
            "outfit",
            "n_responses",
            "p_correct",
        )
        if name in items.column_names
    ]
    columns = {name: _floats(items, name) for name in names}
    head = "".join(f"<th>{escape(name.replace('_', ' '))}</th>" for name in ["item id", *names])
    rows = []
    for row, item_id in zip(worst.tolist(), ids, strict=True):
        cells = "".join(f"<td>{escape(_cell(columns[name], row, name))}</td>" for name in names)
        rows.append(f"<tr><td>{escape(item_id)}</td>{cells}</tr>")
    return (
        f"<h2>Worst-fitting items ({count} by outfit)</h2>\n"
        '<p class="note">Outfit is the mean squared standardised residual of an item\'s '
        "responses, infit the information-weighted version; both are near 1 when the model "
        "fits. Values above about 1.5 flag items answered unexpectedly (mislabelled answers, "
        "ambiguous wording, luck); very large outfit often comes from a few surprising "
        "responses to an extreme item.</p>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _cell(values: np.ndarray | None, row: int, name: str) -> str:
    if values is None:
        return "—"
    value = float(values[row])
    if not math.isfinite(value):
        return "—"
    if name == "n_responses":
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.3g}"


def render_grading_report(
    items: pa.Table,
    learners: pa.Table | None,
    summary: dict[str, Any],
    *,
    icc: list[tuple[str, np.ndarray, np.ndarray]] | None = None,
) -> str:
    """Complete offline HTML5 page (inline CSS and SVG) describing a grading run.

    Args:
        items: the item table (``difficulty`` required for the charts; ``infit`` and
            ``outfit`` add a table of the worst-fitting items).
        learners: the learner table (``ability``), or None; used for the person-item map.
        summary: facts about the fit, shown as a definition list; ``model`` picks the scale.
        icc: item characteristic curves as (label, theta grid, probabilities).
    """
    model = str(summary.get("model", ""))
    source = summary.get("input")
    heading = f"Item grading: {model_name(model)}"
    subtitle = f"<p>{escape(str(source))}</p>" if source else ""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            f'<head>\n<meta charset="utf-8">\n<title>stepladder: {escape(heading)}</title>\n'
            f"<style>{CSS}</style>\n</head>",
            "<body>",
            f"<header>\n<h1>{escape(heading)}</h1>\n{subtitle}\n{_summary_list(summary)}\n"
            "</header>",
            "<main>",
            _difficulty_section(items, model),
            _map_section(items, learners, model),
            _icc_section(icc),
            _misfit_section(items),
            "</main>",
            "<footer>Written by <code>stepladder grade</code>. Difficulty is larger for harder "
            "items.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
