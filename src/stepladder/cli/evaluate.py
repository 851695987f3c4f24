"""``stepladder anchors`` and ``stepladder estimate``: score a new model on a few items."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from stepladder._progress import tqdm
from stepladder.cli._common import InputError, check_outputs, json_ready, read_log
from stepladder.io import atomic_write

if TYPE_CHECKING:
    pass


@click.command()
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

    check_outputs(items_path, {"--out": out_path})
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


@click.command()
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
    responses = read_log(responses_path, wide, {})
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
        click.echo(json.dumps(json_ready(results), indent=2))
        return
    for row in results:
        click.echo(
            f"{row['learner_id']}: {row['score']:.3f} ± {row['se']:.3f} "
            f"(95% {row['low']:.3f} to {row['high']:.3f}) from {row['n_items']:,} items, "
            f"{row['method']}"
        )
