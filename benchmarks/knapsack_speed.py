"""Time Knapsack RL's budget allocation: the greedy solver against two dynamic programs.

Knapsack RL ("Knapsack RL: Unlocking Exploration of LLMs via Optimizing Budget Allocation")
splits ``prompts x 8`` rollouts across a batch, each prompt getting 2 to 128, to maximise
``sum_i (1 - p_i^N - (1-p_i)^N) p_i (1-p_i)^2``. stepladder solves it exactly with
:func:`~stepladder.strategies.budget.knapsack_greedy` (largest marginal gains, exact because
the value is concave in N). This script times it against
:func:`~stepladder.strategies.budget.knapsack_dp` (the dynamic program over (prompt, budget),
vectorised over the budget with NumPy) and against the same dynamic program written as plain
Python loops, checks that all three reach the same value, and times a whole
``propose(512)`` of the ``knapsack`` strategy. The target: under 10 ms for 512 prompts and
4,096 rollouts. Tables are printed and written between the ``knapsack`` markers of
``docs/benchmarks.md``.

    .venv/bin/python benchmarks/knapsack_speed.py [--sizes N ...] [--naive-max N] [--out PATH]
    .venv/bin/python benchmarks/knapsack_speed.py --quick          # smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    update_section,
)

from stepladder import Curriculum
from stepladder.strategies.budget import knapsack_dp, knapsack_greedy, knapsack_value

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- knapsack:start -->"
END = "<!-- knapsack:end -->"
ROLLOUTS, LOW, HIGH = 8, 2, 128
TARGET_PROMPTS, TARGET_MS = 512, 10.0
TIMES = "\N{MULTIPLICATION SIGN}"


def naive_dp(p: Sequence[float], budget: int, low: int, high: int) -> list[int]:
    """The dynamic program as plain Python loops: the straightforward implementation."""
    k = len(p)
    spare = budget - k * low
    steps = min(high - low, spare)
    values = [
        [(1 - q**n - (1 - q) ** n) * q * (1 - q) ** 2 for n in range(low, low + steps + 1)]
        for q in p
    ]
    best = [0.0] * (spare + 1)
    choices = []
    for i in range(k):
        row = values[i]
        new = best[:]
        pick = [0] * (spare + 1)
        for b in range(spare + 1):
            for j in range(1, min(steps, b) + 1):
                candidate = best[b - j] + row[j] - row[0]
                if candidate > new[b]:
                    new[b], pick[b] = candidate, j
        best = new
        choices.append(pick)
    counts = [low] * k
    b = spare
    for i in range(k - 1, -1, -1):
        counts[i] += choices[i][b]
        b -= choices[i][b]
    return counts


@dataclass
class Row:
    prompts: int
    budget: int
    greedy_ms: np.ndarray
    dp_ms: np.ndarray
    naive_ms: float | None
    gap: float  # largest relative value difference between the solvers


def time_ms(call: Callable[[], object], repeats: int) -> np.ndarray:
    call()  # warm-up
    times = np.empty(repeats)
    for r in range(repeats):
        start = time.perf_counter_ns()
        call()
        times[r] = time.perf_counter_ns() - start
    return times / 1e6


def measure_size(prompts: int, repeats: int, dp_repeats: int, naive: bool, seed: int) -> Row:
    p = np.random.default_rng(seed).random(prompts)
    budget = prompts * ROLLOUTS

    def greedy() -> np.ndarray:
        return knapsack_greedy(p, budget, min_rollouts=LOW, max_rollouts=HIGH)

    def dp() -> np.ndarray:
        return knapsack_dp(p, budget, min_rollouts=LOW, max_rollouts=HIGH)

    values = [float(knapsack_value(p, greedy()).sum()), float(knapsack_value(p, dp()).sum())]
    naive_ms = None
    if naive:
        start = time.perf_counter()
        counts = naive_dp(p.tolist(), budget, LOW, HIGH)
        naive_ms = (time.perf_counter() - start) * 1e3
        values.append(float(knapsack_value(p, np.asarray(counts)).sum()))
    gap = (max(values) - min(values)) / max(values)
    return Row(prompts, budget, time_ms(greedy, repeats), time_ms(dp, dp_repeats), naive_ms, gap)


def time_propose(prompts: int, pool: int, repeats: int, seed: int) -> np.ndarray:
    cur = Curriculum(pool, "knapsack", seed=seed)
    return time_ms(lambda: cur.propose(prompts), repeats)


def _ms(value: float) -> str:
    if value < 1:
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def render(
    rows: list[Row], propose: np.ndarray, batch: int, pool: int, command: str, repeats: int
) -> str:
    table = markdown_table(
        [
            "prompts",
            "budget (rollouts)",
            "greedy median ms",
            "greedy p95 ms",
            "NumPy DP median ms",
            "naive DP ms",
            "NumPy DP ÷ greedy",
            "naive DP ÷ greedy",
            "value gap",
        ],
        [
            [
                f"{r.prompts:,}",
                f"{r.budget:,}",
                _ms(float(np.median(r.greedy_ms))),
                _ms(float(np.percentile(r.greedy_ms, 95))),
                _ms(float(np.median(r.dp_ms))),
                "not run" if r.naive_ms is None else _ms(r.naive_ms),
                f"{np.median(r.dp_ms) / np.median(r.greedy_ms):,.0f}{TIMES}",
                "—" if r.naive_ms is None else f"{r.naive_ms / np.median(r.greedy_ms):,.0f}{TIMES}",
                f"{r.gap:.1e}",
            ]
            for r in rows
        ],
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    sentences = []
    target = next((r for r in rows if r.prompts == TARGET_PROMPTS), None)
    if target is not None:
        median = float(np.median(target.greedy_ms))
        verdict = "meets" if median < TARGET_MS else "misses"
        sentences.append(
            f"For {TARGET_PROMPTS} prompts and {target.budget:,} rollouts the greedy solver took "
            f"{_ms(median)} ms (median of {repeats}), which {verdict} the {TARGET_MS:g} ms "
            f"target; the NumPy dynamic program took {_ms(float(np.median(target.dp_ms)))} ms."
        )
    gap = max(r.gap for r in rows)
    sentences.append(
        "All solvers reached the same total value "
        + ("(to rounding)" if gap < 1e-9 else f"up to a relative gap of {gap:.1e}")
        + ", as they must: greedy is exact because the value is concave in N."
    )
    sentences.append(
        f"A whole `propose({batch})` of the `knapsack` strategy on a pool of {pool:,} "
        f"items (uniform choice, posterior lookup, greedy allocation) took "
        f"{_ms(float(np.median(propose)))} ms (median), "
        f"{_ms(float(np.percentile(propose, 95)))} ms (p95)."
    )
    return (
        "## Knapsack RL budget allocation\n\n"
        f"Reproduce with {command}. Measured {stamp} on: {machine_description()}.\n\n"
        f"Random pass rates p ~ U(0, 1); budget = prompts {TIMES} {ROLLOUTS}; every prompt gets "
        f"{LOW} to {HIGH} rollouts. Greedy: `knapsack_greedy` (top marginal gains by one "
        "partition); NumPy DP: `knapsack_dp` (the exact dynamic program over (prompt, budget), "
        "vectorised over the budget); naive DP: the same program as plain Python loops (run "
        "once per size, up to `--naive-max` prompts). Value gap: largest relative difference "
        "of the total value between the solvers.\n\n"
        f"{table}\n\n### Reading\n\n{' '.join(sentences)}\n"
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="prompts per batch")
    parser.add_argument("--repeats", type=int, help="timed greedy runs per size (default 200)")
    parser.add_argument("--dp-repeats", type=int, help="timed NumPy DP runs (default 3)")
    parser.add_argument(
        "--naive-max", type=int, default=512, help="largest size the naive DP runs on"
    )
    parser.add_argument("--pool", type=int, default=20_000, help="pool size for propose timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--quick", action="store_true", help="smoke run; writes only with --out")
    args = parser.parse_args(argv)
    args.sizes = sorted(set(args.sizes or ((16, 64) if args.quick else (64, 128, 512))))
    args.repeats = args.repeats or (5 if args.quick else 200)
    args.dp_repeats = args.dp_repeats or (1 if args.quick else 3)
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    if min(args.sizes) < 1 or args.repeats < 1 or args.dp_repeats < 1 or args.pool < 1:
        parser.error("sizes, repeats and pool must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    rows = []
    for prompts in args.sizes:
        print(f"{prompts} prompts", file=sys.stderr, flush=True)
        naive = prompts <= args.naive_max
        rows.append(measure_size(prompts, args.repeats, args.dp_repeats, naive, args.seed))
    batch = min(TARGET_PROMPTS if not args.quick else args.sizes[-1], args.pool)
    propose = time_propose(batch, args.pool, args.repeats, args.seed)
    command = reproduce_command("knapsack_speed.py", argv)
    section = render(rows, propose, batch, args.pool, command, args.repeats)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(math.isfinite(r.gap) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
