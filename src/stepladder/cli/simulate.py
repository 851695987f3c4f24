"""``stepladder simulate``: compare strategies on a simulated learner."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from stepladder import strategies
from stepladder._progress import tqdm
from stepladder.cli._common import InputError, writable_directory
from stepladder.io import atomic_write, write_json

if TYPE_CHECKING:
    pass


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


@click.command()
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

    writable_directory("--out", out_dir)
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
