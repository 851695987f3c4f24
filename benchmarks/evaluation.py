"""Score a new model from a few items: anchor selection x estimator, real and simulated.

Three experiments, each against random anchors with the naive (mean) estimate:

1. **Real data, leave one model out.** The 22 LLMs x 2,854 items of
   ``examples/llm-chemistry.csv`` and ``examples/new-model.csv``: each model in turn is held
   out, the IRT is fitted on the other 21 (``stepladder.grade``), anchors are chosen from
   that fit, and the held-out model's full-benchmark accuracy is estimated from its answers
   on the anchors. Mean absolute error (accuracy points) over held-out models and selection
   seeds.
2. **Simulated large populations.** 2,000 items; 1,000 training models fit the IRT; 200
   new models are scored. Truth ``2pl``: the fitted model is right. Truth ``2d``: answers
   come from a two-dimensional logistic model, and the fitted IRT is unidimensional.
4. **A benchmark no model has answered** (amortized difficulty): items carry content
   features; a ``DifficultyPredictor`` trained on an earlier benchmark's items predicts
   each new item's difficulty, and adaptive tests run on the predicted table, against
   tests on the true parameters and on no information (every item alike).
3. **Adaptive testing.** On the ``2pl`` population: the error of
   :class:`stepladder.evaluation.AdaptiveTest` after n items, against fixed
   ``irt_clusters`` anchors of the same size with the ``gp_irt`` estimate, and the items
   each needs for a mean error of 2 points.

    .venv/bin/python benchmarks/evaluation.py [--seeds 20] [--out docs/benchmarks.md]
    .venv/bin/python benchmarks/evaluation.py --quick     # smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _markdown import machine_description, markdown_table, reproduce_command, update_section
from scipy.special import expit

import stepladder
from stepladder.evaluation import (
    ANCHOR_METHODS,
    SCORE_METHODS,
    AdaptiveTest,
    Benchmark,
    estimate_score,
    predicted_items,
    select_anchors,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "llm-chemistry.csv"
HELD_OUT = ROOT / "examples" / "new-model.csv"
START = "<!-- evaluation:start -->"
END = "<!-- evaluation:end -->"
KS = (25, 50, 100, 200)


def read_matrix(path: Path = DATA, held_out: Path = HELD_OUT) -> np.ndarray:
    """Items x models 0/1 matrix: the wide CSV (first column = item id) and the held-out
    model's answers (long CSV, same items in the same order), 22 models in all."""
    import pyarrow.csv as pc

    table = pc.read_csv(path)
    columns = [table.column(n).to_numpy() for n in table.column_names[1:]]
    extra = pc.read_csv(held_out)
    if extra.column("item_id").to_pylist() != table.column(0).to_pylist():
        raise ValueError(f"{held_out} does not answer the items of {path} in their order")
    columns.append(extra.column("correct").to_numpy())
    return np.column_stack(columns).astype(float)


def score_errors(
    benchmark: Benchmark,
    correct: np.ndarray,
    ks: tuple[int, ...],
    seeds: int,
    selections: tuple[str, ...] = ANCHOR_METHODS,
) -> dict[tuple[int, str, str], list[tuple[float, bool]]]:
    """(k, selection, estimator) -> [(absolute error, interval covered)] for one model."""
    truth = float(correct.mean())
    out: dict[tuple[int, str, str], list[tuple[float, bool]]] = {}
    for k in ks:
        for selection in selections:
            for seed in range(seeds if selection != "information" else 1):
                anchors = select_anchors(benchmark, k, method=selection, seed=seed)
                answers = dict(
                    zip(anchors.item_ids.tolist(), correct[anchors.positions], strict=True)
                )
                for method in SCORE_METHODS:
                    estimate = estimate_score(answers, benchmark, anchors, method=method)
                    out.setdefault((k, selection, method), []).append(
                        (abs(estimate.score - truth), estimate.low <= truth <= estimate.high)
                    )
    return out


def merge(into: dict, more: dict) -> None:
    for key, values in more.items():
        into.setdefault(key, []).extend(values)


def real_leave_one_out(
    model: str, ks, seeds: int, held_out: list[int], max_items: int | None = None
) -> dict:
    matrix = read_matrix()[:max_items]
    results: dict = {}
    for held in held_out:
        train = np.delete(matrix, held, axis=1)
        fitted = stepladder.grade(train, model)
        benchmark = Benchmark.from_items(fitted.items)
        merge(results, score_errors(benchmark, matrix[:, held], ks, seeds))
    return results


def simulated_population(
    truth: str, ks, seeds: int, n_items: int, n_train: int, n_test: int, model: str, seed: int
) -> tuple[dict, Benchmark, np.ndarray]:
    """Fit on simulated training models, score new ones; returns errors, fit and test answers."""
    rng = np.random.default_rng(seed)
    if truth == "2pl":
        a = rng.lognormal(0.0, 0.3, size=n_items)
        b = rng.normal(size=n_items) * 1.2

        def answers(count: int) -> np.ndarray:
            theta = rng.normal(size=count)
            return rng.random((n_items, count)) < expit(a[:, None] * (theta - b[:, None]))
    else:
        loadings = rng.lognormal(0.0, 0.3, size=(n_items, 2)) * rng.dirichlet([1, 1], n_items)
        intercept = rng.normal(size=n_items) * 1.2

        def answers(count: int) -> np.ndarray:
            theta = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], size=count)
            logits = loadings @ theta.T * 1.5 - intercept[:, None]
            return rng.random((n_items, count)) < expit(logits)

    train = answers(n_train).astype(float)
    test = answers(n_test).astype(float)
    benchmark = Benchmark.from_items(stepladder.grade(train, model).items)
    results: dict = {}
    for column in range(n_test):
        merge(results, score_errors(benchmark, test[:, column], ks, seeds))
    return results, benchmark, test


def adaptive_curve(
    benchmark: Benchmark, test: np.ndarray, checkpoints: list[int], step: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean absolute error after each checkpoint: adaptive test vs fixed cluster anchors."""
    adaptive = np.zeros((test.shape[1], len(checkpoints)))
    fixed = np.zeros_like(adaptive)
    anchor_sets = [select_anchors(benchmark, k, method="irt_clusters", seed=seed)
                   for k in checkpoints]  # fmt: skip
    for column in range(test.shape[1]):
        correct = test[:, column]
        truth = correct.mean()
        run = AdaptiveTest(benchmark, max_items=max(checkpoints), target_se=None, seed=seed)
        for j, n in enumerate(checkpoints):
            while run.n_asked < n:
                asked = run.next_items(min(step, n - run.n_asked))
                run.record(asked, correct[asked])
            adaptive[column, j] = abs(run.score().score - truth)
            anchors = anchor_sets[j]
            answers = dict(zip(anchors.item_ids.tolist(), correct[anchors.positions], strict=True))
            estimate = estimate_score(answers, benchmark, anchors, method="gp_irt")
            fixed[column, j] = abs(estimate.score - truth)
    return adaptive.mean(axis=0), fixed.mean(axis=0)


def amortized_curves(
    n_items: int, n_test: int, checkpoints: list[int], step: int, seed: int
) -> dict[str, np.ndarray]:
    """Adaptive-test error on a new benchmark: true, predicted and uninformative item tables."""
    from stepladder.difficulty import DifficultyPredictor

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=5)
    weights /= np.linalg.norm(weights)

    def benchmark(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        features = rng.normal(size=(count, 5))
        b = 1.2 * (0.8 * features @ weights + 0.6 * rng.normal(size=count))  # R^2 about 0.64
        return features, b, rng.lognormal(0.0, 0.3, size=count)

    old_features, old_b, _ = benchmark(n_items)
    predictor = DifficultyPredictor().fit(old_features, old_b)
    features, b, a = benchmark(n_items)
    ids = np.arange(n_items)
    tables = {
        "true parameters": {"item_id": ids, "difficulty": b, "discrimination": a},
        "predicted difficulty": predicted_items(ids, predictor, features),
        "no information": {"item_id": ids, "difficulty": np.zeros(n_items)},
    }
    theta = rng.normal(size=n_test)
    answers = rng.random((n_items, n_test)) < expit(a[:, None] * (theta - b[:, None]))
    curves = {}
    for label, table in tables.items():
        bench = Benchmark.from_items(table)
        errors = np.zeros((n_test, len(checkpoints)))
        for column in range(n_test):
            correct = answers[:, column].astype(float)
            run = AdaptiveTest(bench, max_items=max(checkpoints), target_se=None, seed=seed)
            for j, n in enumerate(checkpoints):
                while run.n_asked < n:
                    asked = run.next_items(min(step, n - run.n_asked))
                    run.record(asked, correct[asked])
                errors[column, j] = abs(run.score().score - correct.mean())
        curves[label] = errors.mean(axis=0)
    return curves


def _points(values: list[tuple[float, bool]]) -> float:
    return 100.0 * float(np.mean([error for error, _ in values]))


def error_table(results: dict, ks) -> str:
    baseline = {k: _points(results[(k, "random", "naive")]) for k in ks}
    rows = []
    for selection in ANCHOR_METHODS:
        for method in SCORE_METHODS:
            cells = [f"`{selection}`", f"`{method}`"]
            for k in ks:
                mae = _points(results[(k, selection, method)])
                cells.append(f"{mae:.2f} ({mae / baseline[k]:.2f})")
            coverage = np.mean([hit for _, hit in results[(ks[-1], selection, method)]])
            cells.append(f"{100 * coverage:.0f}%")
            rows.append(cells)
    header = ["selection", "estimate", *[f"k={k}" for k in ks], f"95% coverage, k={ks[-1]}"]
    return markdown_table(header, rows, right_from=2)


def first_below(curve: np.ndarray, checkpoints: list[int], level: float) -> str:
    below = np.flatnonzero(curve <= level)
    return str(checkpoints[below[0]]) if below.size else f"> {checkpoints[-1]}"


def render(args, real, simulated, adaptive, amortized, checkpoints, seconds: float, argv) -> str:
    ks = tuple(args.ks)
    lines = [
        "## Evaluating a new model on a few items",
        "",
        "Mean absolute error of the estimated full-benchmark accuracy, in accuracy points; in "
        "brackets, the ratio to random anchors with the naive (mean) estimate, the baseline "
        f"(below 1 = better). `information` anchors are deterministic (one seed). IRT model: "
        f"`{args.model}` on the real data (21 training models cannot support a 2PL: "
        f"`stepladder grade --model auto` picks the 1PL), `{args.sim_model}` on the simulated "
        "populations.",
        "",
        f"### Real data: 22 LLMs x 2,854 items, leave one model out "
        f"({len(args.held_out)} held-out models, {args.seeds} selection seeds)",
        "",
        error_table(real, ks),
        "",
    ]
    for truth, results in simulated.items():
        what = {
            "2pl": "answers drawn from a 2PL (the fitted model is right)",
            "2d": "answers drawn from a 2-dimensional logistic model (the fitted 1-D IRT is "
            "misspecified)",
        }[truth]
        lines += [
            f"### Simulated population, truth `{truth}`: {what}",
            "",
            f"{args.items:,} items; the IRT is fitted on {args.train:,} simulated models and "
            f"scores {args.test} new ones ({args.sim_seeds} selection seeds).",
            "",
            error_table(results, ks),
            "",
        ]
    adaptive_mae, fixed_mae = adaptive
    rows = [
        [str(n), f"{100 * a:.2f}", f"{100 * f:.2f}"]
        for n, a, f in zip(checkpoints, adaptive_mae, fixed_mae, strict=True)
    ]
    lines += [
        "### Adaptive testing against fixed anchors (truth `2pl`)",
        "",
        f"{args.test} new models; the adaptive test asks {args.adaptive_step} items at a "
        "time (maximum expected information at the current EAP ability, randomesque among "
        "the 5 best); the fixed anchors are `irt_clusters` of the same size with `gp_irt`.",
        "",
        markdown_table(["items", "adaptive MAE (points)", "fixed anchors MAE (points)"], rows),
        "",
        f"Items needed for a mean error of 2 points: adaptive "
        f"{first_below(adaptive_mae, checkpoints, 0.02)}, fixed anchors "
        f"{first_below(fixed_mae, checkpoints, 0.02)}.",
        "",
        "### A benchmark no model has answered yet (truth `2pl`)",
        "",
        f"{args.items:,} new items with 5 content features that explain about 64% of the "
        "variance of their difficulty. A `DifficultyPredictor` (ridge) trained on another "
        f"{args.items:,} items predicts each new item's difficulty; {args.test} models take "
        "adaptive tests on three item tables: the true 2PL parameters, the predicted "
        "difficulties (discrimination 1), and no information (every item alike, so the "
        "test asks items in random order). Mean absolute error in points.",
        "",
        markdown_table(
            ["items", *amortized],
            [
                [str(n), *(f"{100 * curve[j]:.2f}" for curve in amortized.values())]
                for j, n in enumerate(checkpoints)
            ],
        ),
        "",
        "Items needed for a mean error of 2 points: "
        + ", ".join(
            f"{label} {first_below(curve, checkpoints, 0.02)}" for label, curve in amortized.items()
        )
        + ".",
        "",
        f"Reproduce: {reproduce_command('evaluation.py', argv)} ({seconds / 60:.1f} min on "
        f"{machine_description()}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="1pl", help="IRT model fitted on the real data (auto picks 1pl there)"
    )
    parser.add_argument("--sim-model", default="2pl", help="IRT model fitted on simulated data")
    parser.add_argument("--seeds", type=int, default=20, help="anchor-selection seeds")
    parser.add_argument("--ks", type=int, nargs="+", default=list(KS))
    parser.add_argument("--held-out", type=int, nargs="+", default=list(range(22)))
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--sim-seeds", type=int, default=5, help="selection seeds, simulated")
    parser.add_argument("--adaptive-step", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.sim_seeds, args.ks, args.held_out = 1, 1, [10, 20], [0]
        args.items, args.train, args.test = 120, 60, 3
    started = time.perf_counter()
    real = real_leave_one_out(
        args.model, tuple(args.ks), args.seeds, args.held_out, 300 if args.quick else None
    )
    simulated, population = {}, None
    for truth in ("2pl", "2d"):
        results, benchmark, test = simulated_population(
            truth,
            tuple(args.ks),
            args.sim_seeds,
            args.items,
            args.train,
            args.test,
            args.sim_model,
            0,
        )
        simulated[truth] = results
        if truth == "2pl":
            population = (benchmark, test)
    checkpoints = [n for n in (10, 25, 50, 75, 100, 150, 200) if n <= max(args.ks)]
    adaptive = adaptive_curve(*population, checkpoints, args.adaptive_step, seed=0)
    amortized = amortized_curves(args.items, args.test, checkpoints, args.adaptive_step, seed=0)
    seconds = time.perf_counter() - started
    section = render(args, real, simulated, adaptive, amortized, checkpoints, seconds, argv)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
