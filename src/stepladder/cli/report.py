"""``stepladder report``: an HTML report of a journaled run or of a simulation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stepladder.cli._common import InputError, check_outputs
from stepladder.io import atomic_write

if TYPE_CHECKING:
    pass


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


@click.command()
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

    check_outputs(input_path, {"--out": out_path})
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
