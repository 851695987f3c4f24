"""CPU time of IRT fits on many learners and few items, with and without collapsing
identical response patterns (issue 18).

Every learner answers every item once, so learners share response patterns: 20,000 x 5
has at most 32, 100,000 x 10 at most 1,024. ``IRT`` then fits the distinct patterns
weighted by their counts; ``_collapse = False`` forces the fit on one row per learner
(the code path before collapsing). Both fits are timed (CPU seconds, best of ``--repeats``)
and their largest difference in item parameters and abilities is reported.

    .venv/bin/python benchmarks/irt_patterns.py            # writes docs/benchmarks.md
    .venv/bin/python benchmarks/irt_patterns.py --quick    # small shapes, prints only
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    update_section,
)

from stepladder.difficulty import IRT, Responses
from stepladder.difficulty._design import ResponseMatrices

START, END = "<!-- irt_patterns:start -->", "<!-- irt_patterns:end -->"
SHAPES = ((20_000, 5), (100_000, 10))
QUICK_SHAPES = ((2_000, 5), (4_000, 6))


def simulate(n_learners: int, n_items: int, seed: int = 0) -> Responses:
    """A complete 2PL log: theta ~ N(0, 1), a ~ U(0.7, 2), b evenly on [-1.5, 1.5]."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    a, b = rng.uniform(0.7, 2.0, n_items), np.linspace(-1.5, 1.5, n_items)
    p = 1 / (1 + np.exp(-a[:, None] * (theta - b[:, None])))
    return Responses.from_matrix((rng.random((n_items, n_learners)) < p).astype(float))


def timed_fit(responses: Responses, model: str, collapse: bool, repeats: int):
    """The fitted model and the best CPU seconds of ``repeats`` fits."""
    best = np.inf
    for _ in range(repeats):
        irt = IRT(model)
        irt._collapse = None if collapse else False
        started = time.process_time()
        irt.fit(responses)
        best = min(best, time.process_time() - started)
    return irt, best


def measure(shapes, models, repeats: int) -> list[dict]:
    rows = []
    for n_learners, n_items in shapes:
        responses = simulate(n_learners, n_items)
        patterns = len(ResponseMatrices.patterns(responses, share=np.inf)[0].weights)
        for model in models:
            before, before_s = timed_fit(responses, model, False, repeats)
            after, after_s = timed_fit(responses, model, True, repeats)
            difference = max(
                float(np.max(np.abs(before.items_.difficulty - after.items_.difficulty))),
                float(np.max(np.abs(before.items_.discrimination - after.items_.discrimination))),
                float(np.max(np.abs(before.abilities_ - after.abilities_))),
            )
            rows.append({"learners": n_learners, "items": n_items, "patterns": patterns,
                         "model": model, "before_s": before_s, "after_s": after_s,
                         "iterations": (before.report_.iterations, after.report_.iterations),
                         "difference": difference,
                         "loglik": (before.report_.loglik, after.report_.loglik)})  # fmt: skip
            print(f"{n_learners} x {n_items} {model}: {before_s:.3f} s -> {after_s:.3f} s CPU "
                  f"({before_s / after_s:.1f}x), max difference {difference:.1e}")  # fmt: skip
    return rows


def section(rows: list[dict], argv: Sequence[str] | None, repeats: int) -> str:
    table = markdown_table(
        [
            "log",
            "patterns",
            "model",
            "per learner (CPU s)",
            "on patterns (CPU s)",
            "speedup",
            "EM steps",
            "max difference",
            "log-likelihood",
        ],
        [
            [
                f"{r['learners']:,} x {r['items']}",
                f"{r['patterns']:,}",
                r["model"],
                f"{r['before_s']:.3f}",
                f"{r['after_s']:.3f}",
                f"{r['before_s'] / r['after_s']:.1f}x",
                "{} / {}".format(*r["iterations"]),
                f"{r['difference']:.1e}",
                "{:.4f} / {:.4f}".format(*r["loglik"]),
            ]
            for r in rows
        ],
        right_from=1,
    )
    return (
        "## IRT on response patterns (`benchmarks/irt_patterns.py`)\n\n"
        f"{machine_description()}\n\n"
        "Complete 0/1 logs (every learner answers every item once) from a seeded 2PL; "
        "`IRT(model)` with default priors, fitted on one row per learner (the code before "
        "collapsing, float32 products) and on the distinct response patterns weighted by "
        f"their counts (float64 products). CPU seconds of the whole `fit`, best of {repeats}. "
        "The differences (item parameters, abilities) are the float32 noise of the "
        "per-learner fit: against a float64 per-learner fit the pattern fit agrees to 1e-13 "
        "with `Priors.weak()` and to the 1e-8 tolerance of the PX-EM scale search with the "
        "default priors (tests/difficulty/test_patterns.py).\n\n"
        f"{table}\n\n"
        f"Reproduce: {reproduce_command('irt_patterns.py', argv)}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes; print only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    repeats = 1 if args.quick else args.repeats
    rows = measure(shapes, ("1pl", "2pl"), repeats)
    if not args.quick:
        update_section(args.out, section(rows, argv, repeats), START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
