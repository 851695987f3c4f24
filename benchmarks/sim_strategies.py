"""Every registered strategy against uniform sampling on the simulated GRPO learner.

For the RL scenarios (`grpo-math`, `multi-source`), each strategy runs `--repeats` seeded
worlds (the same worlds for every strategy). The table reports steps and rollouts to the
scenario's target accuracy, final accuracy and effective ratio (share of generated groups
with mixed rewards), each relative to `uniform`. A second table checks the direction and
size of the papers' claims where the simulator can speak to them. Results are written
between the `sim_strategies` markers of docs/benchmarks.md.

    .venv/bin/python benchmarks/sim_strategies.py [--repeats 5] [--scenarios grpo-math,multi-source]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _markdown import machine_description, update_section  # benchmarks/_markdown.py

from stepladder import strategies
from stepladder.sim import compare

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- sim_strategies:start -->", "<!-- sim_strategies:end -->"
# Supervised-only strategies are compared in the sft scenario, not here.
RL_ONLY_EXCLUDED = {"self_paced", "spdcl", "reweight", "dds_mae", "adcl"}


def _mean(values: list[Any]) -> float:
    present = [float(v) for v in values if v is not None]
    return float(np.mean(present)) if present else math.nan


def _steps_to(curve_steps: list[int], accuracy: list[float], level: float) -> float:
    for step, value in zip(curve_steps, accuracy, strict=True):
        if value >= level:
            return float(step)
    return math.nan


def _fmt(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not reached"
    return f"{value:,.{digits}f}"


def _ratio(value: float, reference: float) -> str:
    if any(isinstance(v, float) and math.isnan(v) for v in (value, reference)) or not reference:
        return "-"
    return f"{value / reference:.2f}"


def run(scenarios: list[str], repeats: int, seed: int) -> dict[str, Any]:
    names = [n for n in strategies.available() if n not in RL_ONLY_EXCLUDED]
    results = {}
    for scenario in scenarios:
        started = time.process_time()
        results[scenario] = compare(scenario, names, seed=seed, repeats=repeats)
        print(f"{scenario}: {len(names)} strategies x {repeats} repeats in "
              f"{time.process_time() - started:.0f} s of CPU time", file=sys.stderr)  # fmt: skip
    return results


def strategy_table(result: dict[str, Any]) -> list[str]:
    rows = result["strategies"]
    base = rows["uniform"]
    base_steps = base["steps_to_target"]["mean"] or math.nan
    base_rollouts = base["rollouts_to_target"]["mean"] or math.nan
    base_eff = base["effective_ratio"]["mean"] or math.nan
    lines = [
        f"**{result['scenario']}** (target {result['target_accuracy']}, {result['steps']} steps, "
        f"{result['repeats']} repeats; ratios are strategy / uniform, lower is better for "
        "steps and rollouts)",
        "",
        "| strategy | steps to target | ratio | rollouts to target | ratio | reached | "
        "final accuracy | effective ratio | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = sorted(rows, key=lambda n: (rows[n]["steps_to_target"]["mean"] or math.inf, n))
    for name in order:
        row = rows[name]
        steps = row["steps_to_target"]["mean"] or math.nan
        rollouts = row["rollouts_to_target"]["mean"] or math.nan
        eff = row["effective_ratio"]["mean"] or math.nan
        lines.append(
            f"| `{name}` | {_fmt(steps, 1)} | {_ratio(steps, base_steps)} | {_fmt(rollouts)} | "
            f"{_ratio(rollouts, base_rollouts)} | {row['steps_to_target']['reached']}/"
            f"{result['repeats']} | {row['final_accuracy']['mean']:.3f} | {eff:.3f} | "
            f"{_ratio(eff, base_eff)} |"
        )
    return lines


def time_to_uniform_best(result: dict[str, Any], name: str) -> float:
    """Mean over repeats of steps(name reaches uniform's best accuracy) / steps(uniform does)."""
    rows = result["strategies"]
    steps = rows["uniform"]["curves"]["step"]
    ratios = []
    for base_curve, curve in zip(rows["uniform"]["curves"]["accuracy"],
                                 rows[name]["curves"]["accuracy"], strict=True):  # fmt: skip
        best = max(base_curve)
        ratios.append(_steps_to(steps, curve, best) / _steps_to(steps, base_curve, best))
    return _mean(ratios)


def claims_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| claim (paper) | measured here | reproduced? |",
        "| --- | --- | --- |",
    ]
    math_rows = results.get("grpo-math", {}).get("strategies", {})
    if "knapsack" in math_rows:
        k = math_rows["knapsack"]["effective_ratio"]["mean"]
        u = math_rows["uniform"]["effective_ratio"]["mean"]
        gain = k / u - 1
        verdict = "yes" if 0.2 <= gain <= 0.4 else ("direction only" if gain > 0 else "no")
        lines.append(
            f"| Knapsack RL: 20-40% more non-zero-gradient groups than uniform allocation | "
            f"effective ratio {k:.3f} vs {u:.3f} ({gain:+.0%}) on grpo-math | {verdict} |"
        )
    if "balanced_filter" in math_rows:
        ratio = time_to_uniform_best(results["grpo-math"], "balanced_filter")
        verdict = "yes" if ratio <= 0.65 else ("direction only" if ratio < 1 else "no")
        lines.append(
            "| Balanced filtering reaches plain GRPO's best reward in 60% of the time | "
            f"{_fmt(ratio * 100, 0)}% of uniform's steps to uniform's best accuracy on grpo-math "
            f"(rollouts: filtering pays for regenerated groups) | {verdict} |"
        )
    multi = results.get("multi-source", {}).get("strategies", {})
    if "dump" in multi:
        d = multi["dump"]["steps_to_target"]["mean"] or math.nan
        u = multi["uniform"]["steps_to_target"]["mean"] or math.nan
        verdict = "yes" if d < u else "no"
        lines.append(
            f"| DUMP converges faster on mixed sources | steps to target {_fmt(d, 1)} vs "
            f"{_fmt(u, 1)} for uniform on multi-source | {verdict} |"
        )
    lines.append(
        "| PCL finds intermediate prompts 12x more cheaply than rollout filtering | "
        "see the `pcl_cost` section (rollouts per informative prompt) | see there |"
    )
    return lines


def render(results: dict[str, Any], command: str, seconds: float) -> str:
    lines = [
        "## Strategies on the simulated GRPO learner",
        "",
        f"Reproduce with `{command}` (part of `make bench`). Measured on "
        f"{machine_description()}, in {seconds:.0f} s of CPU time. The simulator and its "
        "assumptions are described in [simulator.md](simulator.md): only prompts with mixed "
        "groups teach, `grpo-math` has one skill per difficulty level with interference "
        "between levels and memorisation of prompts trained on again, `multi-source` keeps "
        "one skill per source and no memorisation. How far its ranking agrees with real GRPO "
        "training is measured in the `sim_vs_real` section; treat these tables as a coarse "
        "ranking, not as the gain a real model would see.",
        "",
    ]
    for result in results.values():
        lines += [*strategy_table(result), ""]
    lines += ["### The papers' claims", "", *claims_table(results), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", default="grpo-math,multi-source")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.process_time()
    results = run(args.scenarios.split(","), args.repeats, args.seed)
    command = ".venv/bin/python benchmarks/sim_strategies.py" + (
        f" --repeats {args.repeats}" if args.repeats != 5 else ""
    )
    section = render(results, command, time.process_time() - started)
    print(section)
    update_section(args.out, section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
