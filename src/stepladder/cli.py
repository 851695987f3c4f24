"""Command line: ``stepladder grade`` and ``stepladder simulate``.

Bad input ends with a one-line ``error: ...`` on stderr and exit code 2; outputs are written
atomically at the end, so a failed run leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
from tqdm.auto import tqdm

from stepladder import __version__, strategies
from stepladder.difficulty.registry import GRADERS
from stepladder.io import atomic_write, write_json

if TYPE_CHECKING:
    import pyarrow as pa

    from stepladder.difficulty import Grader, Responses

__all__ = ["main"]


class InputError(click.ClickException):
    """Bad input: reported as one line, exit code 2."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stepladder")
def cli() -> None:
    """stepladder: decide what a model should learn next."""


def _writable_directory(flag: str, directory: Path) -> None:
    """Fail now, naming ``flag`` and ``directory``, if files cannot be created there.

    Checks the nearest existing ancestor when ``directory`` does not exist yet (it is
    created only once the work succeeds), so a bad path costs nothing.
    """
    import tempfile

    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(f"{flag}: {existing} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{flag}: {directory} is not writable ({reason} in {existing})") from None


def _missing_extras(names: list[str]) -> dict[str, str]:
    """Strategies whose optional dependency is not installed -> the error they raise.

    Each strategy is bound to a tiny pool; strategies check their optional imports at bind.
    """
    from stepladder.pool import ItemPool
    from stepladder.stats import ItemStats

    size = 16
    rng = np.random.default_rng(0)
    pool = ItemPool(
        size=size,
        groups=np.arange(size) % 2,
        features=rng.random((size, 2)),
        difficulty=rng.normal(size=size),
    )
    missing = {}
    for name in names:
        try:
            strategies.create(name).bind(pool, ItemStats(size), np.random.default_rng(0))
        except ImportError as error:
            missing[name] = str(error).splitlines()[0]
        except ValueError:
            pass  # not a dependency problem; the run itself reports it
    return missing


def _strategy_names(text: str) -> list[str]:
    if text.strip() == "all":
        return strategies.available()
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError("--strategies is empty; give names separated by commas, or 'all'")
    for name in names:
        try:
            strategies.get(name)
        except ValueError as error:
            raise InputError(f"--strategies: {error}") from None
    if len(set(names)) != len(names):
        raise InputError(f"--strategies lists a name twice: {text}")
    return names


def _table(results: dict[str, Any]) -> str:
    """Plain-text summary table, one row per strategy."""

    def cell(metric: dict[str, Any], digits: int) -> str:
        mean = metric.get("mean")
        return "-" if mean is None else f"{mean:.{digits}f}"

    header = (
        f"{'strategy':<22}{'steps_to_target':>17}{'reached':>9}{'final_acc':>11}"
        f"{'eff_ratio':>11}{'rollouts':>11}{'seconds':>9}"
    )
    lines = [header, "-" * len(header)]
    repeats = results["repeats"]
    for name, row in results["strategies"].items():
        lines.append(
            f"{name:<22}{cell(row['steps_to_target'], 1):>17}"
            f"{row['steps_to_target']['reached']:>6}/{repeats:<2}"
            f"{cell(row['final_accuracy'], 3):>11}{cell(row['effective_ratio'], 3):>11}"
            f"{cell(row['rollouts_used'], 0):>11}{cell(row['wall_seconds'], 2):>9}"
        )
    return "\n".join(lines)


def _scenario_names() -> list[str]:
    from stepladder.sim import scenario_names

    return list(scenario_names())


@cli.command()
@click.option(
    "--scenario",
    required=True,
    type=click.Choice(_scenario_names()),
    help="Simulated learner and pool.",
)
@click.option(
    "--strategies",
    "strategy_list",
    default="all",
    show_default=True,
    help="Strategy names separated by commas, or 'all' (those whose optional dependency is "
    "missing are then skipped with a note). Available: " + ", ".join(strategies.available()),
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Training steps (default: the scenario's own).",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Independent repeats (worlds) per strategy.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory for results.json, results.csv and report.html.",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no table.")
def simulate(
    scenario: str,
    strategy_list: str,
    seed: int,
    steps: int | None,
    repeats: int,
    out_dir: Path,
    quiet: bool,
) -> None:
    """Compare strategies on a simulated learner; write results.json, results.csv, report.html.

    results.csv is the tidy form: one row per strategy x repeat x evaluation point.
    """
    from stepladder.report import render_simulation_report
    from stepladder.sim import compare

    _writable_directory("--out", out_dir)
    from stepladder.sim import unsupported

    names = _strategy_names(strategy_list)
    skipped = _missing_extras(names)
    for name in names:
        reason = unsupported(scenario, name)
        if reason is not None and name not in skipped:
            skipped[name] = reason
    if skipped and strategy_list.strip() != "all":
        name, reason = next(iter(skipped.items()))
        raise InputError(f"--strategies: {name}: {reason}")
    for name, reason in skipped.items():
        click.echo(f"note: skipping {name}: {reason}", err=True)
    names = [name for name in names if name not in skipped]
    bar_format = "{desc}: {n}/{total} runs [{elapsed}]{postfix}"  # no ETA: runs are uneven
    with tqdm(
        total=len(names) * repeats,
        desc=scenario,
        unit="run",
        disable=quiet,
        file=sys.stderr,
        bar_format=bar_format,
    ) as bar:

        def starting(name: str, repeat: int) -> None:
            bar.set_postfix_str(f"running {name} (repeat {repeat + 1}/{repeats})")

        def finished(name: str, repeat: int) -> None:
            bar.update()

        results = compare(
            scenario,
            names,
            seed=seed,
            repeats=repeats,
            steps=steps,
            progress=finished,
            starting=starting,
        )
    from stepladder.report.page import run_metadata

    command = ["stepladder", "simulate", "--scenario", scenario, "--strategies", strategy_list]
    command += ["--seed", str(seed), "--repeats", str(repeats), "--out", str(out_dir)]
    command += [] if steps is None else ["--steps", str(steps)]
    results["run"] = run_metadata(command)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", results)
    with atomic_write(out_dir / "results.csv") as stream:
        stream.write(_tidy_csv(results).encode())
    with atomic_write(out_dir / "report.html") as stream:
        stream.write(render_simulation_report(results).encode())
    if not quiet:
        click.echo(_table(results))
        click.echo(f"\nwrote results.json, results.csv and report.html to {out_dir}")


TIDY_COLUMNS = (
    "scenario",
    "strategy",
    "repeat",
    "step",
    "rollouts",
    "accuracy",
    "final_accuracy",
    "steps_to_target",
    "rollouts_to_target",
    "effective_ratio",
    "rollouts_used",
    "wall_seconds",
)


def _tidy_csv(results: dict[str, Any]) -> str:
    """results.json as one CSV row per strategy x repeat x evaluation point.

    Example:
        >>> from stepladder.sim import compare
        >>> text = _tidy_csv(compare("sft", ["uniform"], steps=10))
        >>> text.splitlines()[0].split(",")[:6]
        ['scenario', 'strategy', 'repeat', 'step', 'rollouts', 'accuracy']
        >>> len(text.splitlines())  # header + evaluation points 0, 5, 10
        4
    """
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TIDY_COLUMNS)
    per_run = TIDY_COLUMNS[6:]
    for name, row in results["strategies"].items():
        curves = row["curves"]
        for repeat, (accuracy, rollouts) in enumerate(
            zip(curves["accuracy"], curves["rollouts"], strict=True)
        ):
            run_values = [row[key]["values"][repeat] for key in per_run]
            for step, acc, used in zip(curves["step"], accuracy, rollouts, strict=True):
                values = [results["scenario"], name, repeat, step, used, acc, *run_values]
                writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


GRADE_MODELS = tuple(GRADERS)
IRT_METHODS = ("mml", "map", "jml")
#: Table formats by file name ending.
TABLE_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def _is_irt(model: str) -> bool:
    return model in ("1pl", "2pl", "3pl", "4pl", "auto")


def _make_grader(
    model: str, method: str | None, max_iter: int | None, include_constant: bool, progress: bool
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
) -> None:
    """Reject options that do not apply to this model or layout."""
    if not _is_irt(model):
        flags = (("--method", method), ("--max-iter", max_iter))
        flags += (("--include-constant", True if include_constant else None),)
        for flag, value in flags:
            if value is not None:
                raise InputError(f"{flag} applies to IRT models (1pl-4pl, auto), not {model!r}")
    if wide:
        for name, value in columns.items():
            if value is not None:
                flag = "--" + name.replace("_", "-")
                raise InputError(f"{flag} does not apply with --wide (first column = item id)")


def _check_outputs(input_path: Path, outputs: dict[str, Path | None]) -> None:
    """Outputs must be distinct files other than the input, in usable places."""
    seen: dict[Path, str] = {input_path.resolve(): "INPUT"}
    for flag, path in outputs.items():
        if path is None:
            continue
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"{flag}: {path} is also given as {seen[resolved]}")
        seen[resolved] = flag
        if path.is_dir():
            raise InputError(f"{flag}: {path} is a directory")
        _writable_directory(flag, path.parent)


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


def _read_log(input_path: Path, wide: bool, columns: dict[str, Any]) -> Responses:
    """Parquet files and shard directories lean (compact), other formats whole."""
    from stepladder.difficulty import ResponseLogError, read_responses, read_responses_compact

    given = {name: value for name, value in columns.items() if value is not None}
    parquet = input_path.is_dir() or input_path.name.lower().endswith(".parquet")
    try:
        if parquet and not wide:
            return read_responses_compact(input_path, **given)
        return read_responses(input_path, wide=wide, **given)
    except ResponseLogError as error:
        raise InputError(str(error)) from None


def _json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python ones and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        name = f"{name} ({summary.get('method', 'mml')})"
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


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--model",
    type=click.Choice(GRADE_MODELS),
    required=True,
    help="IRT model (1pl-4pl, or auto: the lowest BIC of 1pl, 2pl, 3pl), rating system "
    "(elo, glicko2) or Beta pass rate (passrate).",
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
    help="IRT estimation: mml (default), map (informative priors) or jml (1pl/2pl).",
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
    _check_grade_options(model, wide, method, max_iter, include_constant, columns)
    outputs = {"--out": out_path, "--learners-out": learners_out, "--report": report_path}
    _check_outputs(input_path, outputs)
    for flag, path in (("--out", out_path), ("--learners-out", learners_out)):
        if path is not None:
            _table_format(flag, path)  # .parquet or .csv, refused before any work
    interactive = not quiet and sys.stderr.isatty()
    grader = _make_grader(model, method, max_iter, include_constant, progress=interactive)
    status = _Status(interactive)
    status.show(f"reading {input_path} ...")
    try:
        responses = _read_log(input_path, wide, columns)
        status.show(f"fitting {model} on {len(responses):,} responses ...")
        try:
            grader.fit(responses)
        except ValueError as error:
            raise InputError(f"{input_path}: {error}") from None
    finally:
        status.clear()
    items, learners = grader.item_table(), grader.learner_table()
    summary = _json_ready({**grader.summary(), "input": str(input_path)})
    html = None
    if report_path is not None:
        from stepladder.report import render_grading_report

        curves = _characteristic_curves(grader, items) if _is_irt(model) else None
        html = render_grading_report(items, learners, summary, icc=curves)
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


@cli.command()
@click.argument("items_path", metavar="ITEMS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--k", type=click.IntRange(min=1), required=True, help="Number of anchor items.")
@click.option(
    "--method",
    type=click.Choice(("random", "stratified", "irt_clusters", "information")),
    default="irt_clusters",
    show_default=True,
    help="How to choose them (see stepladder.evaluation.select_anchors).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Anchors, Parquet: item_id, weight (method, strata and the benchmark's "
    "fingerprint in the metadata).",
)
@click.option("--quiet", is_flag=True, help="No summary.")
def anchors(items_path: Path, k: int, method: str, seed: int, out_path: Path, quiet: bool) -> None:
    """Choose K anchor items of a graded benchmark ITEMS (the --out of stepladder grade).

    A new model answers only the anchors; `stepladder estimate` then predicts its accuracy
    on the whole benchmark.
    """
    import pyarrow.parquet as pq

    from stepladder.evaluation import select_anchors

    _check_outputs(items_path, {"--out": out_path})
    benchmark = _read_benchmark(items_path)
    try:
        chosen = select_anchors(benchmark, k, method=method, seed=seed)
    except ValueError as error:
        raise InputError(f"{items_path}: {error}") from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_path) as stream:
        pq.write_table(chosen.to_table(), stream)
    if not quiet:
        click.echo(
            f"Chose {k:,} of {len(benchmark):,} items of {items_path} by {method} "
            f"(seed {seed}); wrote {out_path}."
        )


def _read_benchmark(items_path: Path) -> Any:
    """The graded benchmark in ITEMS, or a one-line InputError naming the file."""
    from stepladder.evaluation import Benchmark

    if not items_path.is_file():
        raise InputError(f"{items_path}: no such file")
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(items_path)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise InputError(f"{items_path}: not a readable Parquet item table ({error})") from None
    try:
        return Benchmark.from_items(table)
    except ValueError as error:
        raise InputError(f"{items_path}: {error}") from None


@cli.command()
@click.argument("responses_path", metavar="RESPONSES", type=click.Path(path_type=Path))
@click.option(
    "--items",
    "items_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The graded benchmark (the --out of stepladder grade).",
)
@click.option(
    "--anchors",
    "anchors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The anchors the models answered (the --out of stepladder anchors); needed by "
    "naive and gp_irt.",
)
@click.option(
    "--method",
    type=click.Choice(("naive", "irt", "gp_irt")),
    default="gp_irt",
    show_default=True,
)
@click.option("--wide", is_flag=True, help="RESPONSES is a matrix: one row per item.")
@click.option(
    "--anchors-only",
    is_flag=True,
    help="Use only the answers to the anchors (to check an anchor set on models that "
    "answered more).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def estimate(
    responses_path: Path,
    items_path: Path,
    anchors_path: Path | None,
    method: str,
    wide: bool,
    anchors_only: bool,
    as_json: bool,
) -> None:
    """Estimate each model's accuracy on the whole benchmark from its answers in RESPONSES.

    RESPONSES is a long log (learner_id, item_id, correct in [0, 1]; CSV, JSON Lines or
    Parquet) or, with --wide, a matrix with one row per item and one column per model.
    """
    from stepladder.evaluation import Anchors, estimate_score

    benchmark = _read_benchmark(items_path)
    chosen = None
    if anchors_path is not None:
        if not anchors_path.is_file():
            raise InputError(f"--anchors: {anchors_path}: no such file")
        try:
            chosen = Anchors.from_table(anchors_path, benchmark)
        except Exception as error:
            raise InputError(f"--anchors: {anchors_path}: {error}") from None
    elif method != "irt":
        raise InputError(f"--method {method} needs --anchors (their weights)")
    if anchors_only and chosen is None:
        raise InputError("--anchors-only needs --anchors")
    keep = None if not anchors_only else set(chosen.item_ids.tolist())
    responses = _read_log(responses_path, wide, {})
    item_ids = responses.item_ids.to_pylist()
    results = []
    learners = responses.learner_ids.to_pylist()
    for learner in tqdm(
        range(responses.n_learners), desc="estimating", unit="model", disable=None,
        file=sys.stderr, leave=False,
    ):  # fmt: skip
        rows = np.flatnonzero(responses.learner == learner)
        successes = np.bincount(responses.item[rows], responses.successes[rows])
        trials = np.bincount(responses.item[rows], responses.trials[rows])
        answered = np.flatnonzero(trials)
        answers = {
            item_ids[i]: successes[i] / trials[i]
            for i in answered
            if keep is None or item_ids[i] in keep
        }
        try:
            result = estimate_score(answers, benchmark, chosen, method=method)
        except ValueError as error:
            raise InputError(f"{responses_path}: learner {learners[learner]!r}: {error}") from None
        results.append({"learner_id": learners[learner], **result.as_dict()})
    if as_json:
        click.echo(json.dumps(_json_ready(results), indent=2))
        return
    for row in results:
        click.echo(
            f"{row['learner_id']}: {row['score']:.3f} ± {row['se']:.3f} "
            f"(95% {row['low']:.3f} to {row['high']:.3f}) from {row['n_items']:,} items, "
            f"{row['method']}"
        )


# -- stepladder report: an HTML report of a journaled run or of a simulation's results.json --


def _report_pool(items_path: Path) -> Any:
    """The pool described by ``--items``: ``item_id`` and/or ``group`` columns, in pool order."""
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    from stepladder.pool import ItemPool

    try:
        if items_path.suffix.lower() == ".csv":
            table = pv.read_csv(items_path)
        else:
            table = pq.read_table(items_path)
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"--items: cannot read {items_path}: {error}") from None
    names = table.column_names
    if "item_id" not in names and "group" not in names:
        raise InputError(f"--items: {items_path} has neither an item_id nor a group column")
    try:
        return ItemPool(
            table.column("item_id").combine_chunks() if "item_id" in names else None,
            size=None if "item_id" in names else table.num_rows,
            groups=table.column("group").combine_chunks() if "group" in names else None,
        )
    except ValueError as error:
        raise InputError(f"--items: {error}") from None


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML report to write.",
)
@click.option(
    "--items",
    "items_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Parquet or CSV with item_id and/or group columns, one row per pool item in order.",
)
@click.option(
    "--windows",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Step windows in the charts over time.",
)
def report(input_path: Path, out_path: Path, items_path: Path | None, windows: int) -> None:
    """Write a self-contained HTML report of INPUT.

    INPUT is the outcome journal of a run (Curriculum(..., journal=PATH)): the report shows
    the selection per group, the observed pass rates and effective ratio over time, the
    rollouts spent and the items never or most often selected. A results.json written by
    `stepladder simulate` gives the simulation report instead.
    """
    from stepladder.report.page import run_metadata

    _check_outputs(input_path, {"--out": out_path})
    command = ["stepladder", "report", str(input_path), "--out", str(out_path)]
    if items_path is not None:
        command += ["--items", str(items_path)]
    metadata = run_metadata(command)
    if input_path.suffix.lower() == ".json":
        from stepladder.report import render_simulation_report

        try:
            results = json.loads(input_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read {input_path}: {error}") from None
        if not isinstance(results, dict) or not isinstance(results.get("strategies"), dict):
            raise InputError(f"{input_path} is not a results.json of stepladder simulate")
        html = render_simulation_report(results)
    else:
        from stepladder import read_journal
        from stepladder.report.run import render_run_report

        pool = None if items_path is None else _report_pool(items_path)
        try:
            html = render_run_report(
                read_journal(input_path),
                pool=pool,
                source=str(input_path),
                windows=windows,
                metadata=metadata,
            )
        except ValueError as error:
            raise InputError(str(error).replace("\n", " ")) from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_path) as stream:
        stream.write(html.encode())
    click.echo(f"wrote {out_path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning usage and input errors into one line and exit code 2."""
    if not (sys.argv[1:] if argv is None else argv):
        click.echo(cli.get_help(click.Context(cli, info_name="stepladder")))
        return 0
    try:
        cli.main(args=argv, prog_name="stepladder", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as error:
        message = error.format_message().replace("\n", " ")
        click.echo(f"error: {message}", err=True)
        return 2 if isinstance(error, click.UsageError | InputError) else error.exit_code
    except (ValueError, OSError) as error:
        click.echo(f"error: {error}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
