"""Command line: ``stepladder simulate`` (and more to come).

Bad input ends with a one-line ``error: ...`` on stderr and exit code 2; outputs are written
atomically at the end, so a failed run leaves no partial file behind.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from tqdm.auto import tqdm

from stepladder import __version__, strategies
from stepladder.io import atomic_write, write_json

__all__ = ["main"]


class InputError(click.ClickException):
    """Bad input: reported as one line, exit code 2."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stepladder")
def cli() -> None:
    """stepladder: decide what a model should learn next."""


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


@cli.command()
@click.option("--scenario", required=True, help="Scenario name, e.g. grpo-math.")
@click.option(
    "--strategies",
    "strategy_list",
    default="all",
    show_default=True,
    help="Strategy names separated by commas, or 'all'.",
)
@click.option("--seed", type=int, default=0, show_default=True)
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
    help="Output directory for results.json and report.html.",
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
    """Compare strategies on a simulated learner; write results.json and report.html."""
    from stepladder.report import render_simulation_report
    from stepladder.sim import compare, scenario_names

    if scenario not in scenario_names():
        raise InputError(
            f"--scenario: unknown scenario {scenario!r}; available: {', '.join(scenario_names())}"
        )
    names = _strategy_names(strategy_list)
    with tqdm(
        total=len(names) * repeats, desc=scenario, unit="run", disable=quiet, file=sys.stderr
    ) as bar:

        def advance(name: str, repeat: int) -> None:
            bar.set_postfix_str(name)
            bar.update()

        results = compare(
            scenario, names, seed=seed, repeats=repeats, steps=steps, progress=advance
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", results)
    with atomic_write(out_dir / "report.html") as stream:
        stream.write(render_simulation_report(results).encode())
    if not quiet:
        click.echo(_table(results))
        click.echo(f"\nwrote {out_dir / 'results.json'} and {out_dir / 'report.html'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning usage and input errors into one line and exit code 2."""
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
