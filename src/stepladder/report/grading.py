"""Self-contained HTML report for ``stepladder grade``.

What the page shows, top to bottom: the fit's facts; warnings (no convergence, more model
than the data support, items left out of the fit, standard errors that are NaN), shown only
when there is something to warn about; the difficulty distribution; the person-item map;
the convergence trace (IRT); item characteristic curves; the worst-fitting items; the
learner ranking; and the full item table. Both tables sort on a click on their header and
filter by a text box (a small inline script); without script they stay plain, readable
tables. The page is one offline file built on :func:`stepladder.report.page.document`, with
charts from :mod:`stepladder.report.charts`. Every id and summary value is HTML-escaped.

Example:
    >>> import pyarrow as pa
    >>> items = pa.table({"item_id": ["q1", "q2"], "difficulty": [-0.5, 1.0],
    ...                   "n_responses": [3.0, 3.0], "p_correct": [0.67, 0.33]})
    >>> learners = pa.table({"learner_id": ["a", "b", "c"], "ability": [-1.0, 0.0, 1.0]})
    >>> html = render_grading_report(items, learners, {"model": "1pl", "n_items": 2})
    >>> html.startswith("<!DOCTYPE html>") and "Person-item map" in html
    True
    >>> "Warnings" in html  # nothing to warn about
    False
"""

from __future__ import annotations

import json
import math
from collections import Counter
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
from stepladder.report.page import document

__all__ = ["IRT_MODELS", "icc_items", "model_name", "render_grading_report", "warnings"]

IRT_MODELS = ("1pl", "2pl", "3pl", "4pl")
RATING_MODELS = ("elo", "glicko2")
#: Shown range of the IRT scale; estimates beyond it are drawn in the end bins.
IRT_LIMITS = (-6.0, 6.0)
WORST_FITTING = 20
#: Rows of the learner and item tables at most (a larger table is cut, and says so).
TABLE_ROWS = 50_000
#: Ids named in a warning at most.
NAMED = 10

#: Sorting and filtering of every ``table.sortable``: a click on a header sorts by that
#: column (again: reversed), missing values last; a search box, added by the script so
#: that a page without script shows none, hides the rows that do not contain its text.
#: Cells are read as text only (``textContent``), never as markup.
TABLE_SCRIPT = r"""
(function () {
  "use strict";
  function key(cell, numeric) {
    var text = cell ? cell.textContent : "";
    if (!numeric) return text.toLowerCase();
    var value = parseFloat(text);
    return isNaN(value) ? null : value;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
    var rows = Array.prototype.slice.call(body.rows);
    var bar = document.createElement("p"), box = document.createElement("input");
    var shown = document.createElement("span");
    bar.className = "table-filter";
    box.type = "search";
    box.placeholder = "filter rows";
    box.setAttribute("aria-label", "Filter the rows of the table below");
    shown.style.marginLeft = ".6rem";
    bar.appendChild(box);
    bar.appendChild(shown);
    var holder = table.parentNode.classList.contains("scroll") ? table.parentNode : table;
    holder.parentNode.insertBefore(bar, holder);
    box.addEventListener("input", function () {
      var query = box.value.trim().toLowerCase(), count = 0;
      rows.forEach(function (row) {
        row.hidden = query !== "" && row.textContent.toLowerCase().indexOf(query) < 0;
        if (!row.hidden) count += 1;
      });
      shown.textContent = query === "" ? "" : count + " of " + rows.length + " rows";
    });
    Array.prototype.forEach.call(heads, function (head, column) {
      head.style.cursor = "pointer";
      head.title = "Sort by this column";
      head.addEventListener("click", function () {
        var numeric = head.getAttribute("data-sort") === "number";
        var up = head.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        head.setAttribute("aria-sort", up ? "ascending" : "descending");
        var keyed = rows.map(function (row, k) {
          return {row: row, k: k, v: key(row.cells[column], numeric)};
        });
        keyed.sort(function (p, q) {
          if (p.v === null || q.v === null) {
            return p.v === q.v ? p.k - q.k : p.v === null ? 1 : -1;
          }
          var order = p.v < q.v ? -1 : p.v > q.v ? 1 : 0;
          return (up ? order : -order) || p.k - q.k;
        });
        var fragment = document.createDocumentFragment();
        keyed.forEach(function (entry) { fragment.appendChild(entry.row); });
        body.appendChild(fragment);
      });
    });
  });
})();
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


#: Summary entries shown elsewhere on the page rather than in the list of facts.
_SHOWN_ELSEWHERE = ("input", "diagnostics", "selection")


def _summary_list(summary: Mapping[str, Any]) -> str:
    """The summary as a definition list; the diagnostics' facts follow the top-level ones."""

    def text(key: str, value: Any) -> str:
        if key == "seconds" and isinstance(value, int | float) and math.isfinite(value):
            return f"{value:.2f}"
        return _format(value)

    pairs = [(k, v) for k, v in summary.items() if k not in _SHOWN_ELSEWHERE]
    diagnostics = summary.get("diagnostics")
    if isinstance(diagnostics, Mapping):
        pairs += [(k, v) for k, v in diagnostics.items() if k != "advice" and v is not None]
    rows = "".join(
        f"<dt>{escape(str(key).replace('_', ' '))}</dt><dd>{escape(text(key, value))}</dd>"
        for key, value in pairs
    )
    return f'<dl class="facts">{rows}</dl>'


def _counted(count: int, noun: str) -> str:
    """``"1 item"``, ``"2,854 items"``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _named(ids: Sequence[str]) -> str:
    """Up to :data:`NAMED` ids, quoted, and how many more."""
    shown = ", ".join(json.dumps(i, ensure_ascii=False) for i in ids[:NAMED])
    return shown + (f" and {len(ids) - NAMED:,} more" if len(ids) > NAMED else "")


def warnings(items: pa.Table, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a reader of the fit should know before trusting it, as (topic, sentence) pairs.

    Topics: ``convergence`` (``converged``, ``monotone``, ``largest_decrease``),
    ``identifiability`` (the summary's ``diagnostics``: slopes resting on their prior with
    the responses per item parameter, or the advice to fit a 1PL; negative slopes;
    estimates beyond ±6), ``misfit`` (infit or outfit above 2), ``flagged`` (the item
    table's ``flag`` column) and
    ``standard errors`` (items that were fitted but have a NaN standard error; Elo has none
    by design). Empty when there is nothing to warn about.

    Example:
        >>> items = pa.table({"item_id": ["q1", "q2", "q3"], "difficulty": [None, 0.1, 0.2],
        ...                   "flag": ["all correct", None, None]})
        >>> warnings(items, {"model": "2pl", "converged": False, "iterations": 500})
        [('convergence', 'Did not converge within 500 iterations: raise --max-iter, or try \
--method map.'), ('flagged', '1 item left out of the fit (1 all correct): "q1". They carry no \
information about the model; --include-constant fits them on the priors.')]
    """
    found: list[tuple[str, str]] = []
    if summary.get("converged") is False:
        iterations = summary.get("iterations")
        if summary.get("monotone") is False:
            fall = summary.get("largest_decrease")
            found.append(
                (
                    "convergence",
                    "Did not converge: the penalised log-likelihood fell by "
                    f"{_format(fall)} between iterations, so the fit was not an ascent; "
                    "try --method map or --model 1pl.",
                )
            )
        else:
            within = f" within {iterations:,} iterations" if isinstance(iterations, int) else ""
            found.append(
                (
                    "convergence",
                    f"Did not converge{within}: raise --max-iter, or try --method map.",
                )
            )
    found += _identifiability(summary.get("diagnostics"))
    ids = _ids(items, "item_id")
    if "flag" in items.column_names:
        flags = items.column("flag").to_pylist()
        flagged = [k for k, flag in enumerate(flags) if flag]
        if flagged:
            kinds = Counter(str(flags[k]) for k in flagged)
            listing = ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items()))
            difficulty = _floats(items, "difficulty")
            fitted = difficulty is not None and bool(np.isfinite(difficulty[flagged]).any())
            what = (
                "fitted on the priors alone (--include-constant)"
                if fitted
                else "left out of the fit"
            )
            tail = (
                "Their estimates say more about the priors than about the items."
                if fitted
                else "They carry no information about the model; --include-constant fits "
                "them on the priors."
            )
            found.append(
                (
                    "flagged",
                    f"{_counted(len(flagged), 'item')} {what} ({listing}): "
                    f"{_named([ids[k] for k in flagged])}. {tail}",
                )
            )
    if summary.get("model") != "elo":
        found += _missing_errors(items, ids)
    return found


def _identifiability(diagnostics: Any) -> list[tuple[str, str]]:
    if not isinstance(diagnostics, Mapping):
        return []
    found = []
    fitted = diagnostics.get("fitted_items")
    on_prior = diagnostics.get("slopes_on_prior") or 0
    if diagnostics.get("advice"):  # names the slopes on the prior and says what to do
        advice = str(diagnostics["advice"])
        found.append(("identifiability", advice[0].upper() + advice[1:] + "."))
    elif on_prior:
        per = diagnostics.get("responses_per_parameter")
        per_text = f" ({per:,.0f} responses per item parameter)" if per is not None else ""
        of = f" of {fitted:,}" if isinstance(fitted, int) else ""
        found.append(
            (
                "identifiability",
                f"{on_prior:,}{of} discriminations rest mostly on their prior rather than the "
                f"data{per_text}.",
            )
        )
    checks = (
        ("identifiability", "negative_slopes", "with a negative discrimination"),
        ("identifiability", "difficulties_beyond_6", "with a difficulty beyond ±6"),
        ("misfit", "misfitting_items", "misfitting (infit or outfit above 2)"),
    )
    for topic, key, text in checks:
        count = diagnostics.get(key) or 0
        if count:
            found.append((topic, f"{_counted(count, 'fitted item')} {text}."))
    return found


def _missing_errors(items: pa.Table, ids: list[str]) -> list[tuple[str, str]]:
    """Items with a finite estimate whose standard error (any ``se_`` column) is NaN."""
    difficulty = _floats(items, "difficulty")
    names = [n for n in items.column_names if n.startswith("se_")]
    if difficulty is None or not names:
        return []
    missing = np.zeros(items.num_rows, dtype=bool)
    for name in names:
        values = _floats(items, name)
        if values is not None:
            missing |= np.isnan(values)
    rows = np.flatnonzero(missing & np.isfinite(difficulty))
    if not len(rows):
        return []
    columns = ", ".join(names)
    return [
        (
            "standard errors",
            f"{_counted(len(rows), 'item')} with an estimate but a NaN standard error "
            f"({columns}): {_named([ids[k] for k in rows])}. The data pin these estimates "
            "down poorly (a singular information matrix); read them with caution.",
        )
    ]


def _warnings_section(items: pa.Table, summary: Mapping[str, Any]) -> str:
    found = warnings(items, summary)
    if not found:
        return ""
    entries = "\n".join(
        f"<li><strong>{escape(topic)}</strong>: {escape(text)}</li>" for topic, text in found
    )
    return (
        '<section class="warnings" id="warnings" '
        'style="border-left: 4px solid #b00; padding: .1rem 0 .1rem 1rem; margin: 1rem 0">\n'
        f"<h2>Warnings ({len(found)})</h2>\n<ul>\n{entries}\n</ul>\n</section>"
    )


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


def _trace_section(trace: Sequence[float] | None, summary: Mapping[str, Any]) -> str:
    """The objective per iteration of the fit, when the grader recorded one."""
    if trace is None:
        return ""
    values = np.asarray(trace, dtype=np.float64).ravel()
    heading = "<h2>Convergence trace</h2>\n"
    finite = values[np.isfinite(values)]
    if len(finite) < 2:
        return heading + (
            f'<p class="note">Not drawn: the fit recorded {_counted(len(finite), "finite value")} '
            "of its objective.</p>"
        )
    jml = summary.get("method") == "jml"
    step = "iteration" if jml else "EM cycle"
    x = np.arange(1, len(values) + 1, dtype=np.float64)
    svg = line_chart_svg(
        [Series("penalised log-likelihood", x.tolist(), values.tolist())],
        title="Objective per iteration",
        x_label="iteration" if jml else "EM cycle (SQUAREM: up to 3 EM steps each)",
        y_label="penalised log-likelihood",
    )
    falls = values[:-1] - values[1:]
    falls = falls[np.isfinite(falls)]
    fell = int(np.count_nonzero(falls > 0))
    text = (
        f"The penalised log-likelihood at the start of each {step} "
        f"({_counted(len(values), step)}): from {_short(float(finite[0]))} to "
        f"{_short(float(finite[-1]))}. It should only rise; "
        + (
            f"it fell {fell:,} time{'s' if fell > 1 else ''}, by {float(falls.max()):.3g} at most "
            "(differences near float32 noise are harmless)."
            if fell
            else "it never fell."
        )
    )
    return heading + f"<figure>\n{svg}\n<figcaption>{escape(text)}</figcaption>\n</figure>"


def _column_cells(table: pa.Table, name: str) -> tuple[list[str], bool]:
    """A column's cells as escaped text, and whether they sort as numbers."""
    column = table.column(name)
    kind = column.type
    if pa.types.is_integer(kind):
        return ["—" if v is None else str(v) for v in column.to_pylist()], True
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), float)
        return [_number_cell(v) for v in values.tolist()], True
    return ["" if v is None else escape(str(v)) for v in column.to_pylist()], False


def _number_cell(value: float) -> str:
    """A table number: 4 significant digits, whole numbers from 1000 on, ``—`` when missing."""
    if not math.isfinite(value):
        return "—"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


NUMERIC = ' data-sort="number"'


def _sortable_table(table: pa.Table, names: Sequence[str], rank: bool = False) -> str:
    """``table``'s columns ``names`` as a ``table.sortable`` (first column: the id)."""
    cells = [_column_cells(table, name) for name in names]
    if rank:
        cells.insert(0, ([str(k + 1) for k in range(table.num_rows)], True))
        names = ["rank", *names]
    head = "".join(
        f"<th{NUMERIC if numeric else ''}>{escape(name.replace('_', ' '))}</th>"
        for name, (_, numeric) in zip(names, cells, strict=True)
    )
    id_column = 1 if rank else 0
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="name">{column[0][row]}</td>'
            if k == id_column
            else f"<td>{column[0][row]}</td>"
            for k, column in enumerate(cells)
        )
        + "</tr>"
        for row in range(table.num_rows)
    )
    return (
        f'<div class="scroll">\n<table class="sortable">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>\n</div>"
    )


def _cut(table: pa.Table, what: str) -> tuple[pa.Table, str]:
    """At most :data:`TABLE_ROWS` rows of ``table``, and a sentence when some were cut."""
    if table.num_rows <= TABLE_ROWS:
        return table, ""
    note = (
        f" Showing the first {TABLE_ROWS:,} of {table.num_rows:,} {what}; the file written "
        "with --out (or --learners-out) has them all."
    )
    return table.slice(0, TABLE_ROWS), note


_SORTING = (
    "Click a column's header to sort by it (again to reverse); type in the box to keep the "
    "rows that contain the text."
)


def _learner_section(learners: pa.Table | None, model: str) -> str:
    heading = "<h2>Learners</h2>\n"
    ability = _floats(learners, "ability")
    if learners is None or ability is None:
        return heading + '<p class="note">No learner abilities were given.</p>'
    order = np.argsort(-np.where(np.isnan(ability), -np.inf, ability), kind="stable")
    ranked, note = _cut(learners.take(pa.array(order)), "learners")
    names = ["learner_id", "ability"] + [
        n for n in ("se_ability", "n_responses") if n in learners.column_names
    ]
    names += [n for n in learners.column_names if n not in names]
    meaning = {
        "passrate": "A learner's ability is its mean score.",
        "elo": "Abilities are Elo ratings (no standard errors); they depend on the log's order.",
        "glicko2": "Abilities are Glicko-2 ratings; se ability is the rating deviation.",
    }.get(model, "Abilities are EAP estimates on the θ scale (MAP for JML) with their SE.")
    text = (
        f"{_counted(learners.num_rows, 'learner')}, ranked by ability (highest first). "
        f"{meaning}{note} {_SORTING}"
    )
    return (
        heading
        + f'<p class="note">{escape(text)}</p>\n'
        + _sortable_table(ranked, names, rank=True)
    )


def _item_section(items: pa.Table) -> str:
    shown, note = _cut(items, "items")
    names = ["item_id", *(n for n in items.column_names if n != "item_id")]
    if "item_id" not in items.column_names:
        shown = shown.add_column(0, "item_id", pa.array(_ids(shown, "item_id")))
    text = f"Every column of the item table, one row per item.{note} {_SORTING}"
    return (
        f"<h2>All items ({items.num_rows:,})</h2>\n"
        + f'<p class="note">{escape(text)}</p>\n'
        + _sortable_table(shown, names)
    )


def render_grading_report(
    items: pa.Table,
    learners: pa.Table | None,
    summary: Mapping[str, Any],
    *,
    icc: Sequence[tuple[str, Any, Any]] | None = None,
    trace: Sequence[float] | None = None,
) -> str:
    """Complete offline HTML5 page describing a grading run.

    Args:
        items: the item table (``difficulty`` required for the charts; ``infit`` and
            ``outfit`` add the worst-fitting items; ``flag`` and ``se_*`` feed the warnings).
        learners: the learner table (``ability``), or None; for the map and the ranking.
        summary: the grader's summary, shown as a list of facts; ``model`` picks the scale;
            ``converged``, ``monotone``, ``largest_decrease`` and ``diagnostics`` feed the
            warnings, ``selection`` (``--model auto``) its reason under the title.
        icc: item characteristic curves as (label, theta grid, probabilities).
        trace: the fit's objective per iteration (``IRT.report_.loglik_history``: the
            penalised log-likelihood at the start of each EM cycle, or JML iteration).
    """
    model = str(summary.get("model", ""))
    source = summary.get("input")
    heading = f"Item grading: {model_name(model)}"
    subtitle = f"<p>{escape(str(source))}</p>\n" if source else ""
    selection = summary.get("selection")
    if isinstance(selection, Mapping) and selection.get("reason"):
        subtitle += f'<p class="note">{escape(str(selection["reason"]))}.</p>\n'
    body = "\n".join(
        part
        for part in (
            f"<header>\n<h1>{escape(heading)}</h1>\n{subtitle}</header>",
            "<main>",
            _warnings_section(items, summary),
            f"<h2>Fit</h2>\n{_summary_list(summary)}",
            _difficulty_section(items, model),
            _map_section(items, learners, model),
            _trace_section(trace, summary),
            _icc_section(icc),
            _misfit_section(items),
            _learner_section(learners, model),
            _item_section(items),
            "</main>",
            "<footer>Written by <code>stepladder grade</code>. Difficulty is larger for harder "
            "items.</footer>",
            f"<script>{TABLE_SCRIPT}</script>",
        )
        if part
    )
    return document(f"stepladder: {heading}", body)
