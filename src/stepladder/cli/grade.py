"""``stepladder grade``: item difficulty and learner ability from a response log."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from stepladder import __version__
from stepladder.cli._common import InputError, check_outputs, json_ready, read_log
from stepladder.difficulty.registry import GRADERS
from stepladder.io import atomic_write

if TYPE_CHECKING:
    import pyarrow as pa

    from stepladder.difficulty import Grader, Priors


GRADE_MODELS = tuple(GRADERS)
IRT_METHODS = ("mml", "map", "jml")
#: ``--priors``: the method's default item priors, or none (plain marginal maximum likelihood).
IRT_PRIORS = ("default", "none")
#: ``--select``: how ``--model auto`` compares the models.
SELECT_CRITERIA = ("bic", "heldout")
#: Table formats by file name ending.
TABLE_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def _is_irt(model: str) -> bool:
    return model in ("1pl", "2pl", "3pl", "4pl", "auto")


def no_priors() -> Priors:
    """``--priors none``: no slope, difficulty or intercept prior and uniform Beta(1, 1)
    guessing and slipping priors, i.e. plain marginal maximum likelihood, as mirt's
    ``mirt(data, 1, itemtype = ...)`` and ltm fit by default.

    Example:
        >>> plain = no_priors()
        >>> plain.log_discrimination, plain.difficulty, plain.guessing
        (None, None, (1.0, 1.0))
    """
    from stepladder.difficulty import Priors

    return Priors(discrimination=None, log_discrimination=None, difficulty=None,
                  intercept_sd=None, guessing=(1.0, 1.0), slipping=(1.0, 1.0))  # fmt: skip


def _make_grader(
    model: str,
    method: str | None,
    max_iter: int | None,
    include_constant: bool,
    progress: bool,
    priors: str | None = None,
    select: str | None = None,
) -> Grader:
    """The grader for ``--model`` (IRT options only for IRT models)."""
    from stepladder.grading import make_grader

    options: dict[str, Any] = {}
    if _is_irt(model):
        options = {"method": method or "mml", "progress": progress and model != "auto"}
        if max_iter is not None:
            options["max_iter"] = max_iter
        if include_constant:
            options["constant_items"] = "include"
        if priors == "none":
            options["priors"] = no_priors()
        if select is not None:
            options["criterion"] = select
    try:
        return make_grader(model, **options)
    except ValueError as error:
        raise InputError(f"--method: {error}") from None


def _check_grade_options(
    model: str,
    wide: bool,
    method: str | None,
    max_iter: int | None,
    include_constant: bool,
    columns: dict[str, Any],
    priors: str | None = None,
    select: str | None = None,
) -> None:
    """Reject options that do not apply to this model, method or layout."""
    if not _is_irt(model):
        flags = (("--method", method), ("--max-iter", max_iter), ("--priors", priors))
        flags += (("--include-constant", True if include_constant else None),)
        for flag, value in flags:
            if value is not None:
                raise InputError(f"{flag} applies to IRT models (1pl-4pl, auto), not {model!r}")
    if select is not None and model != "auto":
        raise InputError(f"--select applies to --model auto, not {model!r}")
    if priors == "none" and (method or "mml") != "mml":
        raise InputError(
            f"--priors none applies to --method mml (plain marginal ML), not {method!r}: "
            "map is defined by its priors, and jml needs them to stay finite"
        )
    if priors == "none" and include_constant:
        raise InputError(
            "--include-constant needs priors: without them an item everyone answered right "
            "(or wrong) has no finite estimate"
        )
    if wide:
        for name, value in columns.items():
            if value is not None:
                flag = "--" + name.replace("_", "-")
                raise InputError(f"{flag} does not apply with --wide (first column = item id)")


def _table_format(flag: str, path: Path) -> str:
    """``parquet`` or ``csv`` from the output's file name; anything else is refused."""
    for suffix, kind in TABLE_FORMATS.items():
        if path.name.lower().endswith(suffix):
            return kind
    raise InputError(f"{flag}: {path} must end in .parquet or .csv (the format follows the name)")


def _write_table(table: pa.Table, summary: dict[str, Any], kind: str, path: Path, stream) -> None:
    """Parquet with the summary in its metadata, or CSV (the summary goes to no file)."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if _table_format("--out", path) == "csv":
        pa_csv.write_csv(table, stream)
    else:
        pq.write_table(_with_metadata(table, summary, kind), stream)


def _with_metadata(table: pa.Table, summary: dict[str, Any], kind: str) -> pa.Table:
    """``table`` with the fit summary as JSON under the schema metadata key ``stepladder``."""
    facts = {**summary, "table": kind, "stepladder_version": __version__}
    metadata = dict(table.schema.metadata or {})
    metadata[b"stepladder"] = json.dumps(facts, allow_nan=False).encode()
    return table.replace_schema_metadata(metadata)


def _number(value: float, model: str) -> str:
    if model in ("elo", "glicko2"):
        return f"{value:,.0f}"
    return f"{value:.3f}" if model == "passrate" else f"{value:,.2f}"


def _counted(count: int, noun: str) -> str:
    """``"1 item"``, ``"2,854 items"``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _grade_paragraph(
    summary: dict[str, Any], difficulty: np.ndarray, written: list[tuple[str, Path]]
) -> str:
    """The one-paragraph account of a grading run printed on success."""
    from stepladder.report.grading import IRT_LIMITS, model_name

    model = summary["model"]
    name = model_name(model)
    if _is_irt(model):
        method = summary.get("method", "mml")
        name = f"{name} ({method}, no priors)" if _plain(summary) else f"{name} ({method})"
    text = [
        f"Graded {_counted(summary['n_items'], 'item')} from "
        f"{_counted(summary['n_learners'], 'learner')} "
        f"({_counted(summary['n_responses'], 'response')}) in {summary['input']} with {name}."
    ]
    if summary.get("selection"):
        text.append(
            summary["selection"]["reason"][0].upper() + summary["selection"]["reason"][1:] + "."
        )
    seconds = f"{summary.get('seconds') or 0.0:.2f} s"
    if "converged" in summary:
        iterations = summary.get("iterations", 0)
        if summary["converged"]:
            text.append(f"Converged after {iterations:,} iterations in {seconds}")
        elif summary.get("monotone") is False:
            text.append(
                f"Did NOT converge: the penalised log-likelihood fell by "
                f"{summary['largest_decrease']:.3g} during the fit ({iterations:,} iterations, "
                f"{seconds})"
            )
        else:
            text.append(
                f"Did NOT converge within {iterations:,} iterations in {seconds} "
                "(raise --max-iter, or try --method map)"
            )
        fit = [
            f"{label} {summary[key]:,.1f}"
            for label, key in (("log-likelihood", "loglik"), ("AIC", "aic"), ("BIC", "bic"))
            if summary.get(key) is not None
        ]
        text[-1] += f"; {', '.join(fit)}." if fit else "."
    elif "periods" in summary:
        text.append(f"Replayed {summary['periods']:,} rating periods in {seconds}.")
    else:
        text.append(f"Fitted in {seconds}; a learner's ability is its mean score.")
    finite = difficulty[np.isfinite(difficulty)]
    if len(finite):
        low, median, high = (float(v) for v in np.quantile(finite, [0.0, 0.5, 1.0]))
        where = {"elo": " (item rating)", "glicko2": " (item rating)"}.get(
            model, " (1 - posterior pass rate)" if model == "passrate" else " (ability scale)"
        )
        line = (
            f"Difficulty{where}: median {_number(median, model)}, range "
            f"{_number(low, model)} to {_number(high, model)}"
        )
        if _is_irt(model):
            beyond = int(np.count_nonzero(np.abs(finite) > IRT_LIMITS[1]))
            if beyond:
                line += f", {beyond:,} items beyond ±{IRT_LIMITS[1]:g}"
        if len(finite) < len(difficulty):
            line += f", {len(difficulty) - len(finite):,} not finite"
        text.append(line + ".")
    else:
        text.append("No item has a finite difficulty.")
    diagnostics = summary.get("diagnostics") or {}
    excluded = diagnostics.get("excluded_items") or 0
    if excluded:
        text.append(
            f"Left out of the fit: {excluded:,} item{'s' if excluded > 1 else ''} answered all "
            "right, all wrong or not at all (see the flag column; --include-constant fits them)."
        )
    if diagnostics.get("advice"):
        advice = diagnostics["advice"]
        text.append(advice[0].upper() + advice[1:] + ".")
    places = [f"{what} to {path}" for what, path in written]
    text.append(
        "Wrote " + (", ".join(places[:-1]) + " and " if len(places) > 1 else "") + places[-1] + "."
    )
    return " ".join(text)


def _plain(summary: dict[str, Any]) -> bool:
    """Whether the fit had no slope, difficulty or intercept prior (``--priors none``)."""
    priors = summary.get("priors") or {}
    keys = ("discrimination", "log_discrimination", "difficulty", "intercept_sd")
    return bool(priors) and all(priors.get(key) is None for key in keys)


def _characteristic_curves(grader: Grader, items: pa.Table) -> list[tuple[str, Any, Any]]:
    """ICCs of the report's selected items from the fitted IRT parameters."""
    from stepladder.difficulty import ItemParameters
    from stepladder.report.grading import IRT_LIMITS, icc_items

    fitted = grader.items_  # type: ignore[attr-defined]
    chosen = icc_items(items, within=IRT_LIMITS[1])
    rows = np.array([row for _, row in chosen], dtype=np.int64)
    theta = np.linspace(-4.0, 4.0, 161)
    subset = ItemParameters(
        fitted.discrimination[rows],
        fitted.difficulty[rows],
        fitted.guessing[rows],
        fitted.slipping[rows],
    )
    probability = subset.probability(theta)
    return [(label, theta, probability[:, k]) for k, (label, _) in enumerate(chosen)]


class _Status:
    """A one-line status on stderr, shown only on a terminal and erased when done."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def show(self, text: str) -> None:
        if self.enabled:
            click.echo(f"\r\033[K{text}", err=True, nl=False)

    def clear(self) -> None:
        if self.enabled:
            click.echo("\r\033[K", err=True, nl=False)


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--model",
    type=click.Choice(GRADE_MODELS),
    required=True,
    help="IRT model (1pl-4pl, or auto: the best of 1pl, 2pl, 3pl by --select), rating "
    "system (elo, glicko2) or Beta pass rate (passrate).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Item table, .parquet or .csv: item_id, difficulty, n_responses, p_correct, ...",
)
@click.option(
    "--learners-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Learner table, .parquet or .csv: learner_id, ability, n_responses, se_ability.",
)
@click.option(
    "--wide", is_flag=True, help="INPUT is a matrix: one row per item, one column per learner."
)
@click.option(
    "--method",
    type=click.Choice(IRT_METHODS),
    default=None,
    help="IRT estimation: mml (marginal likelihood, default), map (informative priors) or "
    "jml (1pl/2pl).",
)
@click.option(
    "--priors",
    type=click.Choice(IRT_PRIORS),
    default=None,
    help="IRT item priors: default (lognormal slopes, N(0, 3^2) difficulties: sane with few "
    "learners) or none (plain marginal maximum likelihood, as mirt and ltm; mml only).",
)
@click.option(
    "--select",
    type=click.Choice(SELECT_CRITERIA),
    default=None,
    help="--model auto's criterion: bic (default) or heldout (log-likelihood of held-out "
    "responses after refitting without them).",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=1),
    default=None,
    help="IRT iterations at most (default 500).",
)
@click.option(
    "--include-constant",
    is_flag=True,
    help="IRT: also fit items everyone answered right (or wrong); they rest on the priors.",
)
@click.option("--learner-column", default=None, help="Learner id column [default: learner_id].")
@click.option("--item-column", default=None, help="Item id column [default: item_id].")
@click.option("--score-column", default=None, help="Score column, in [0, 1] [default: correct].")
@click.option(
    "--trials-column",
    default=None,
    help="Attempts per row; the score column then counts successes.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML report.",
)
@click.option("--quiet", is_flag=True, help="No progress and no summary.")
def grade(
    input_path: Path,
    model: str,
    out_path: Path,
    learners_out: Path | None,
    wide: bool,
    method: str | None,
    priors: str | None,
    select: str | None,
    max_iter: int | None,
    include_constant: bool,
    learner_column: str | None,
    item_column: str | None,
    score_column: str | None,
    trials_column: str | None,
    report_path: Path | None,
    quiet: bool,
) -> None:
    """Grade item difficulty (and learner ability) from the response log INPUT.

    INPUT is a CSV, JSON Lines or Parquet file, or a directory of Parquet shards, in long
    format (learner_id, item_id, correct) unless --wide. Outputs are written only when the
    fit succeeds, each atomically, as Parquet or CSV after their names; the fit summary is
    stored as JSON in each Parquet file's schema metadata under the key "stepladder".
    Progress goes to stderr on a terminal.
    """
    columns = {
        "learner_column": learner_column,
        "item_column": item_column,
        "score_column": score_column,
        "trials_column": trials_column,
    }
    _check_grade_options(model, wide, method, max_iter, include_constant, columns, priors, select)
    outputs = {"--out": out_path, "--learners-out": learners_out, "--report": report_path}
    check_outputs(input_path, outputs)
    for flag, path in (("--out", out_path), ("--learners-out", learners_out)):
        if path is not None:
            _table_format(flag, path)  # .parquet or .csv, refused before any work
    interactive = not quiet and sys.stderr.isatty()
    grader = _make_grader(
        model, method, max_iter, include_constant, interactive, priors=priors, select=select
    )
    status = _Status(interactive)
    status.show(f"reading {input_path} ...")
    try:
        responses = read_log(input_path, wide, columns)
        status.show(f"fitting {model} on {len(responses):,} responses ...")
        try:
            grader.fit(responses)
        except ValueError as error:
            raise InputError(f"{input_path}: {error}") from None
    finally:
        status.clear()
    items, learners = grader.item_table(), grader.learner_table()
    summary = json_ready({**grader.summary(), "input": str(input_path)})
    html = None
    if report_path is not None:
        from stepladder.report import render_grading_report

        curves = _characteristic_curves(grader, items) if _is_irt(model) else None
        fitted = getattr(grader, "chosen", grader)  # --model auto keeps the IRT it chose
        trace = getattr(getattr(fitted, "report_", None), "loglik_history", None)
        html = render_grading_report(items, learners, summary, icc=curves, trace=trace)
    for path in outputs.values():
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:  # every temporary file is complete before any rename
        for path, table, kind in ((out_path, items, "items"), (learners_out, learners, "learners")):
            if path is not None:
                stream = stack.enter_context(atomic_write(path))
                _write_table(table, summary, kind, path, stream)
        if report_path is not None and html is not None:
            stack.enter_context(atomic_write(report_path)).write(html.encode())
    if not quiet:
        written = [("items", out_path)]
        if learners_out is not None:
            written.append(("learners", learners_out))
        if report_path is not None:
            written.append(("the report", report_path))
        difficulty = np.asarray(items.column("difficulty").to_numpy(), dtype=np.float64)
        click.echo(_grade_paragraph(summary, difficulty, written))
