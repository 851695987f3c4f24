"""Rollouts spent per useful prompt: PCL's learned value model against rollout filtering.

"Prompt Curriculum Learning for Efficient LLM Post-Training" (PCL) reports that its value
model finds intermediate-difficulty prompts 12.1x (MATH) and 16.9x (DeepScaleR) faster than
rollout-based filtering. This script measures the same comparison in rollouts on the
simulator's ``grpo-math`` scenario, where each item's true pass rate is known.

A learner is trained for ``--steps`` steps on the prompts ``pcl`` proposes (``--batch``
prompts, G rollouts each). Before every step, with the learner as it is then:

- rollout filtering (DAPO's dynamic sampling) rolls out uniformly drawn prompts and keeps
  the mixed groups, so it pays ``G / mean P(mixed)`` rollouts per kept group, the mean
  taken over the whole pool;
- PCL rolls out only the prompts its value model chose (``k`` x batch candidates scored by
  ``OnlineRidge`` on the pool's features, trained on the pass rates seen so far) and pays
  ``G / mean P(mixed)`` over those prompts;
- an oracle value model (the true pass rate, same ``k``) shows what a perfect ``V`` could do
  with this candidate budget.

``P(mixed | p) = 1 - p^G - (1 - p)^G`` is the chance that a group carries a GRPO gradient
(:func:`stepladder.strategies.learned.selection_cost`); "intermediate" means a true pass
rate in [0.2, 0.8]. Expected values are used instead of sampled groups, so the numbers
carry no sampling noise beyond the learner's trajectory. The table is printed and written
between the ``pcl_cost`` markers of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/pcl_cost.py [--steps S] [--repeats R] [--k K ...] [--out PATH]
    .venv/bin/python benchmarks/pcl_cost.py --quick          # smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    update_section,
)
from scipy.stats import spearmanr

from stepladder import Curriculum
from stepladder.sim import get_scenario
from stepladder.strategies.learned import selection_cost

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- pcl_cost:start -->"
END = "<!-- pcl_cost:end -->"
SCENARIO = "grpo-math"
BAND = (0.2, 0.8)
PAPER_CLAIMS = "12.1\N{MULTIPLICATION SIGN} (MATH) and 16.9\N{MULTIPLICATION SIGN} (DeepScaleR)"
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Tally:
    """Expected useful groups per rolled-out group, summed over steps."""

    mixed: float = 0.0
    mixed_intermediate: float = 0.0
    groups: int = 0

    def add(self, pass_rates: np.ndarray, group_size: int) -> None:
        cost = selection_cost(pass_rates, group_size, band=BAND)
        n = len(pass_rates)
        self.mixed += cost["mixed_rate"] * n
        inside = (pass_rates >= BAND[0]) & (pass_rates <= BAND[1])
        mixed = 1.0 - pass_rates**group_size - (1.0 - pass_rates) ** group_size
        self.mixed_intermediate += float((mixed * inside).sum())
        self.groups += n

    def rate(self) -> float:
        return self.mixed / self.groups

    def per_mixed(self, group_size: int) -> float:
        return group_size * self.groups / self.mixed

    def wasted_per_mixed(self, group_size: int) -> float:
        return group_size * (self.groups - self.mixed) / self.mixed

    def per_intermediate(self, group_size: int) -> float:
        return group_size * self.groups / self.mixed_intermediate


@dataclass
class Run:
    """One training trajectory driven by ``pcl`` with ``k`` candidates per prompt."""

    k: int
    repeat: int
    filtering: Tally = field(default_factory=Tally)
    pcl: Tally = field(default_factory=Tally)
    oracle: Tally = field(default_factory=Tally)
    propose_ms: list[float] = field(default_factory=list)
    spearman: float = float("nan")
    final_accuracy: float = float("nan")


def run_once(k: int, repeat: int, steps: int, batch: int, seed: int) -> Run:
    scenario = get_scenario(SCENARIO)
    world = scenario.make_world(np.random.SeedSequence([seed, repeat]))
    group = world.rollouts
    cur = Curriculum(world.pool, "pcl", seed=seed + 1000 * repeat, k=k)
    oracle_rng = np.random.default_rng([seed, repeat, 7])
    everything = np.arange(world.pool.size)
    result = Run(k=k, repeat=repeat)
    for _ in range(steps):
        started = time.perf_counter()
        proposal = cur.propose(batch)
        result.propose_ms.append((time.perf_counter() - started) * 1e3)
        p = world.learner.p_correct(world.train_items, everything)
        result.filtering.add(p, group)
        result.pcl.add(p[proposal.indices], group)
        candidates = oracle_rng.choice(world.pool.size, min(k * batch, world.pool.size), False)
        best = candidates[np.argsort(np.abs(p[candidates] - 0.5), kind="stable")[:batch]]
        result.oracle.add(p[best], group)
        outcomes = world.generate(proposal)
        cur.observe(outcomes)
        world.train(outcomes)
    p = world.learner.p_correct(world.train_items, everything)
    result.spearman = float(spearmanr(cur.strategy.predict(everything), p).statistic)
    result.final_accuracy = world.accuracy()
    return result


def _mean_range(values: Sequence[float], fmt: str, unit: str = "") -> str:
    text = format(float(np.mean(values)), fmt) + unit
    if len(values) > 1:
        low, high = format(min(values), fmt), format(max(values), fmt)
        text += f" ({low}{unit}\N{EN DASH}{high}{unit})"
    return text


def render(runs: list[Run], *, steps: int, batch: int, group: int, command: str) -> str:
    ks = sorted({run.k for run in runs})
    rows = []
    for k in ks:
        mine = [run for run in runs if run.k == k]
        for label, pick in (
            ("rollout filtering (uniform prompts, keep mixed groups)", lambda r: r.filtering),
            (f"PCL value model (`OnlineRidge` on features), k = {k}", lambda r: r.pcl),
            (f"oracle value model (true p), k = {k}", lambda r: r.oracle),
        ):
            tallies = [pick(run) for run in mine]
            base = [run.filtering for run in mine]
            is_base = pick(mine[0]) is mine[0].filtering
            ratio = [
                b.per_mixed(group) / t.per_mixed(group) for b, t in zip(base, tallies, strict=True)
            ]
            waste = [
                b.wasted_per_mixed(group) / t.wasted_per_mixed(group)
                for b, t in zip(base, tallies, strict=True)
            ]
            rows.append(
                [
                    label if not is_base else f"{label}, trajectory of k = {k}",
                    _mean_range([t.rate() for t in tallies], ".3f"),
                    _mean_range([t.per_mixed(group) for t in tallies], ".1f"),
                    _mean_range([t.wasted_per_mixed(group) for t in tallies], ".1f"),
                    _mean_range([t.per_intermediate(group) for t in tallies], ".1f"),
                    "1" if is_base else _mean_range(ratio, ".2f", TIMES),
                    "1" if is_base else _mean_range(waste, ".2f", TIMES),
                ]
            )
    table = markdown_table(
        [
            "selection",
            "share of groups mixed",
            "rollouts per mixed group",
            "wasted rollouts per mixed group",
            "rollouts per mixed intermediate group",
            "saving (all rollouts)",
            "saving (wasted rollouts)",
        ],
        rows,
    )
    quality = markdown_table(
        ["k", "Spearman(V, true p) at the end", "`propose` ms (median)", "final accuracy"],
        [
            [
                str(k),
                _mean_range([r.spearman for r in runs if r.k == k], ".2f"),
                _mean_range([float(np.median(r.propose_ms)) for r in runs if r.k == k], ".2f"),
                _mean_range([r.final_accuracy for r in runs if r.k == k], ".3f"),
            ]
            for k in ks
        ],
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    repeats = len({run.repeat for run in runs})
    parts = [
        "## PCL: rollouts per useful prompt, learned value model vs rollout filtering",
        f"Reproduce with {command}. Measured {stamp} on: {machine_description()}.",
        f"Scenario `{SCENARIO}`: a learner trained for {steps} steps on the {batch} prompts "
        f"`pcl` proposes per step, {group} rollouts each; {repeats} seeded "
        f"{'repeat' if repeats == 1 else 'repeats'} "
        "(mean, with the range over repeats in brackets). At every step, on the learner as "
        "it is then, each rule's expected cost is computed from the true pass rates of the "
        "prompts it rolls out: a group is *mixed* (has a GRPO gradient) with probability "
        f"1 - p^{group} - (1 - p)^{group}; *intermediate* means true p in "
        f"[{BAND[0]}, {BAND[1]}]. Rollout filtering rolls out uniform prompts and keeps "
        "the mixed groups; PCL rolls out only the prompts its value model picked from k "
        "candidates per slot; the oracle picks by the true pass rate from as many "
        "candidates. *Wasted* rollouts are those on groups without a gradient (rejected by "
        "the filter, or trained on by PCL for nothing). Savings are filtering's cost "
        "divided by the rule's, on the same learner trajectory.",
        table,
        "Value model quality and selection cost:",
        quality,
        "### Reading",
        " ".join(interpretation(runs, group)),
    ]
    return "\n\n".join(parts) + "\n"


def interpretation(runs: list[Run], group: int) -> list[str]:
    """Sentences derived from the measured numbers."""
    sentences = []
    for k in sorted({run.k for run in runs}):
        mine = [run for run in runs if run.k == k]
        saving = np.mean([r.filtering.per_mixed(group) / r.pcl.per_mixed(group) for r in mine])
        wasted = np.mean(
            [r.filtering.wasted_per_mixed(group) / r.pcl.wasted_per_mixed(group) for r in mine]
        )
        ceiling = np.mean([r.filtering.per_mixed(group) / r.oracle.per_mixed(group) for r in mine])
        ceiling_waste = np.mean(
            [r.filtering.wasted_per_mixed(group) / r.oracle.wasted_per_mixed(group) for r in mine]
        )
        captured = (saving - 1.0) / (ceiling - 1.0) if ceiling > 1.0 else float("nan")
        sentences.append(
            f"With k = {k}, PCL needed {saving:.2f}{TIMES} fewer rollouts per mixed group than "
            f"rollout filtering ({wasted:.2f}{TIMES} fewer wasted ones); a perfect value "
            f"model with the same candidates would reach {ceiling:.2f}{TIMES} "
            f"({ceiling_waste:.2f}{TIMES} on wasted rollouts), so the learned model captured "
            f"{captured:.0%} of the attainable saving."
        )
    best = max(
        np.mean([r.filtering.wasted_per_mixed(group) / r.pcl.wasted_per_mixed(group) for r in mine])
        for k in {run.k for run in runs}
        for mine in [[run for run in runs if run.k == k]]
    )
    verdict = (
        "far below" if best < 12.1 / 2 else "below" if best < 12.1 else "in line with or above"
    )
    spearman = np.mean([run.spearman for run in runs])
    sentences.append(
        f"The paper reports {PAPER_CLAIMS} faster identification of intermediate prompts, "
        "measured in wall-clock time of an LLM value model against generating rollouts; here "
        f"the unit is rollouts, and the best saving measured ({best:.2f}{TIMES} on wasted "
        f"rollouts) is {verdict} the paper's figures. The simulator's features see only a "
        "noisy view of each item's population difficulty, not the learner-specific offset "
        "(standard deviation 2 logits) that dominates its pass rate, so the value model "
        f"ranks prompts only roughly (Spearman {spearman:.2f} with the true pass rates); the "
        "oracle rows show what a value model that sees the learner could save. Selection "
        f"took {np.median([np.median(r.propose_ms) for r in runs]):.2f} ms per step (median), "
        "no rollouts."
    )
    ks = sorted({run.k for run in runs})
    by_k = {k: np.mean([run.spearman for run in runs if run.k == k]) for k in ks}
    if len(ks) > 1 and by_k[ks[-1]] < by_k[ks[0]]:
        sentences.append(
            f"The value model ranked the pool worse with k = {ks[-1]} than with k = {ks[0]} "
            f"(Spearman {by_k[ks[-1]]:.2f} against {by_k[ks[0]]:.2f}): it learns only from the "
            "prompts it chose, and a larger k narrows them to its own guess of p = 0.5."
        )
    return sentences


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, help="training steps per run (default 300)")
    parser.add_argument("--repeats", type=int, help="seeded repeats per k (default 3)")
    parser.add_argument("--batch", type=int, default=64, help="prompts per step (default 64)")
    parser.add_argument("--k", type=int, nargs="+", help="candidates per prompt (default 4 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="markdown file to update (default docs/...)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny smoke run; writes only when --out is given"
    )
    args = parser.parse_args(argv)
    args.steps = args.steps or (10 if args.quick else 300)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.k = sorted(set(args.k or ((4,) if args.quick else (4, 16))))
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    if min(args.steps, args.repeats, args.batch, *args.k) < 1:
        parser.error("--steps, --repeats, --batch and --k must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started = time.perf_counter()
    runs = []
    for k in args.k:
        for repeat in range(args.repeats):
            print(f"k = {k}, repeat {repeat}", file=sys.stderr, flush=True)
            runs.append(run_once(k, repeat, args.steps, args.batch, args.seed))
    command = reproduce_command("pcl_cost.py", argv)
    group = get_scenario(SCENARIO).rollouts
    section = render(runs, steps=args.steps, batch=args.batch, group=group, command=command)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
        print(f"wrote {args.out}", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
