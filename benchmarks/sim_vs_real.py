"""Does the simulator rank RL strategies as real GRPO training does?

Compares, strategy by strategy, the saved results of the real GRPO benchmark
(``benchmarks/grpo_cpu.py``; the reduced run's raw results are committed under
``benchmarks/results/grpo_cpu/``, and ``--results`` takes any list of saved files, e.g. with
more seeds) with the simulator run now, and reports the rank correlation (Spearman's rho and
Kendall's tau) on two measures:

- **final accuracy at the same steps** (real: held-out accuracy after the run's GRPO steps;
  sim: accuracy after the scenario's steps);
- **mean accuracy over uniform's rollouts** (area under accuracy against rollouts generated,
  up to ``uniform``'s total, divided by it), the rollout-aware measure: strategies are
  compared at matched rollouts.

It does so for the simulator's learning rule before the change of issue 17 (scenario
``grpo-math-v1``: one shared ability) and after it (``grpo-math``: per-level skills,
interference, memorisation), each on several simulator seeds (``--sim-seeds``) to show how
robust the correlation is. The section goes between the ``sim_vs_real`` markers of
docs/benchmarks.md.

    .venv/bin/python benchmarks/sim_vs_real.py [--repeats 5] [--sim-seeds 0,1,2] [--out docs/benchmarks.md]
    .venv/bin/python benchmarks/sim_vs_real.py --results benchmarks/results/grpo_cpu/*.json /tmp/grpo/seed3.json /tmp/grpo/seed4.json
    .venv/bin/python benchmarks/sim_vs_real.py --quick     # smoke run: 10 steps, 1 world
"""  # noqa: E501

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _grpo_common import area, load  # benchmarks/_grpo_common.py
from _markdown import machine_description, markdown_table, reproduce_command, update_section
from scipy import stats

from stepladder.sim import compare
from stepladder.sim.scenarios import GRPO_RULE

ROOT = Path(__file__).resolve().parents[1]
SAVED = sorted((ROOT / "benchmarks" / "results" / "grpo_cpu").glob("*.json"))
START, END = "<!-- sim_vs_real:start -->", "<!-- sim_vs_real:end -->"
BEFORE, AFTER = "grpo-math-v1", "grpo-math"
MEASURES = ("final accuracy, same steps", "mean accuracy over uniform's rollouts")
#: A strategy is "clearly below uniform" in the real run when its mean accuracy over uniform's
#: rollouts is lower by more than this (the spread among the strategies near uniform).
CLEAR_LOSS = 0.02

Measures = dict[str, tuple[float, float]]
#: Both sides run the methods as published, without the safety net (load()'s uniform_mix,
#: cover_groups), so that the simulator is judged on the methods' own behaviour.
PAPERS_METHODS = (0.0, 0)


def real_measures(paths: list[Path]) -> tuple[Measures, int]:
    """Strategy -> (final accuracy, mean accuracy over uniform's rollouts), seed means; and
    the number of seeds."""
    _, out, _, _, _ = load(paths, *PAPERS_METHODS)
    results = out["results"]
    budgets = [run["rollouts"] for run in results["uniform"]]
    measures = {
        name: (
            float(np.mean([run["final"] for run in runs])),
            float(np.mean([area(run["curve"], b) for run, b in zip(runs, budgets, strict=True)])),
        )
        for name, runs in results.items()
    }
    return measures, len(out["seeds"])


def sim_measures(
    scenario: str, names: list[str], seed: int, repeats: int, steps: int | None
) -> Measures:
    """The same two measures on a simulator scenario (means over ``repeats`` worlds)."""
    off = {name: dict(zip(("uniform_mix", "cover_groups"), PAPERS_METHODS, strict=True))
           for name in names}  # fmt: skip
    results = compare(scenario, names, seed=seed, repeats=repeats, steps=steps, params=off)
    results = results["strategies"]
    budgets = [curve[-1] for curve in results["uniform"]["curves"]["rollouts"]]
    measures = {}
    for name, row in results.items():
        curves = row["curves"]
        areas = [
            area({"rollouts": r, "accuracy": a}, b)
            for r, a, b in zip(curves["rollouts"], curves["accuracy"], budgets, strict=True)
        ]
        measures[name] = (row["final_accuracy"]["mean"], float(np.mean(areas)))
    return measures


def correlations(real: Measures, sim: Measures) -> list[tuple[float, float]]:
    """(Spearman rho, Kendall tau) between the real and simulated values, per measure."""
    names = list(real)
    out = []
    for k in range(len(MEASURES)):
        r, s = [real[n][k] for n in names], [sim[n][k] for n in names]
        out.append((float(stats.spearmanr(r, s)[0]), float(stats.kendalltau(r, s)[0])))
    return out


def _losers(real: Measures, before: Measures, after: Measures) -> str:
    """Which strategies the real run puts clearly below uniform, and where the simulator
    puts them before and after (first simulator seed)."""
    losers = [n for n in real if real[n][1] < real["uniform"][1] - CLEAR_LOSS]
    below = {
        key: [n for n in losers if m[n][1] < m["uniform"][1]]
        for key, m in (("before", before), ("after", after))
    }
    missed = [n for n in losers if n not in below["after"]]
    still = ""
    if missed:
        still = f"; it still ranks {_code(missed)} level with or above `uniform`"
    return (
        f"Real training puts {len(losers)} strategies clearly below `uniform` at matched "
        f"rollouts (by more than {CLEAR_LOSS}): {_code(losers)}. The simulator put "
        f"{len(below['before'])} of them below `uniform` before the change and puts "
        f"{len(below['after'])} after it{still}. It does not reproduce the size of the real "
        "losses (the real `pcl` and `adarft` collapse on some seeds), nor the order among "
        "the strategies within noise of `uniform`. Use it to rank strategies coarsely and "
        "to find failure modes, then confirm on real training."
    )


def _code(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _range(values: list[float]) -> str:
    mean = f"{np.mean(values):+.2f}"
    return mean if len(values) == 1 else f"{mean} ({min(values):+.2f} to {max(values):+.2f})"


def render(
    real: Measures,
    n_seeds: int,
    sims: dict[str, list[Measures]],
    seeds: list[int],
    repeats: int,
    seconds: float,
    argv: list[str] | None,
) -> str:
    names = list(real)
    n_sim = len(seeds)
    corr = {s: [correlations(real, m) for m in runs] for s, runs in sims.items()}
    summary = []
    for k, label in enumerate(MEASURES):
        for scenario, when in ((BEFORE, "before"), (AFTER, "after")):
            rhos = [c[k][0] for c in corr[scenario]]
            taus = [c[k][1] for c in corr[scenario]]
            summary.append([label, f"{when} (`{scenario}`)", _range(rhos), _range(taus)])
    # Per-strategy table: the first simulator seed, differences to uniform in each.
    after, before = sims[AFTER][0], sims[BEFORE][0]
    ranks = {
        key: stats.rankdata([-m[n][1] for n in names], method="min")
        for key, m in (("real", real), ("after", after), ("before", before))
    }
    rows = []
    for i, name in enumerate(names):
        row = [f"`{name}`"]
        for k in range(len(MEASURES)):
            row += [f"{m[name][k] - m['uniform'][k]:+.3f}" for m in (real, before, after)]
        row += [str(int(ranks[key][i])) for key in ("real", "before", "after")]
        rows.append(row)
    header = ["strategy"]
    for short in ("final", "budget"):
        header += [f"{short}: real", f"{short}: sim before", f"{short}: sim after"]
    header += ["rank (budget): real", "sim before", "sim after"]
    rho_after = np.mean([c[1][0] for c in corr[AFTER]])
    rho_before = np.mean([c[1][0] for c in corr[BEFORE]])
    lines = [
        "## Does the simulator rank strategies as real GRPO does?",
        "",
        f"Real: the saved GRPO-on-CPU results ({len(names)} strategies, {n_seeds} seeds, the "
        "steps of the `grpo_cpu` section), seed means. Simulator: the same strategies with "
        f"their default parameters, {repeats} seeded worlds per simulator seed, {n_sim} "
        f"simulator seed{'s' if n_sim > 1 else ''}; *before* is the learning rule the "
        f"simulator had until issue 17 (scenario `{BEFORE}`: one ability shared by every item), "
        f"*after* the current `{AFTER}` rule (one skill per difficulty level, transfer "
        f"{GRPO_RULE['transfer']}, interference {GRPO_RULE['interference']}, memorisation "
        f"{GRPO_RULE['memorisation']}; "
        "[simulator.md](simulator.md#why-grpo-math-changed) says why). Rank correlations over "
        "the strategies, mean over simulator seeds (min to max):",
        "",
        markdown_table(["measure", "learning rule", "Spearman rho", "Kendall tau"], summary),
        "",
        "Per strategy (differences to `uniform` in each; simulator seed "
        f"{seeds[0]}; *final* = final accuracy at the same steps, *budget* = mean "
        "accuracy over uniform's rollouts):",
        "",
        markdown_table(header, rows),
        "",
        f"On the rollout-aware measure the correlation went from {rho_before:+.2f} to "
        f"{rho_after:+.2f} (mean over simulator seeds). {_losers(real, before, after)}",
        "",
        f"Reproduce: {reproduce_command('sim_vs_real.py', argv)} ({seconds:.0f} s of CPU time "
        f"on {machine_description()}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=Path, nargs="+", default=SAVED, help="saved grpo_cpu.py --save files"
    )
    parser.add_argument("--repeats", type=int, default=5, help="simulated worlds per seed")
    parser.add_argument("--sim-seeds", default="0,1,2", help="simulator seeds, comma-separated")
    parser.add_argument("--quick", action="store_true", help="few simulated steps, no file")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = parser.parse_args(argv)
    started = time.process_time()
    real, n_seeds = real_measures(args.results)
    seeds = [0] if args.quick else [int(s) for s in args.sim_seeds.split(",")]
    repeats, steps = (1, 10) if args.quick else (args.repeats, None)
    sims = {
        scenario: [sim_measures(scenario, list(real), seed, repeats, steps) for seed in seeds]
        for scenario in (BEFORE, AFTER)
    }
    words = list(sys.argv[1:] if argv is None else argv)
    if "--out" in words:  # where the section was written is not part of how it was made
        del words[words.index("--out") : words.index("--out") + 2]
    section = render(real, n_seeds, sims, seeds, repeats, time.process_time() - started, words)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
