"""The papers' claims, checked in direction against the real GRPO and Fashion-MNIST runs.

Each row names a paper, the claim its authors make for their method, the quantity of
``benchmarks/grpo_cpu.py`` that tests that claim here, what was measured (paired by seed,
with a 95% t interval) and whether the claim reproduced *in direction*: ``yes`` when the
interval lies on the claimed side of 0, ``no`` when it lies on the other side, and ``not
shown`` when it contains 0. A claim about training efficiency is tested at matched rollouts
(the cost that the papers' GPUs pay), a claim about informative batches on the effective
ratio (share of groups with mixed rewards). This is one small task, so a ``no`` says the
claim does not transfer to it, not that the paper is wrong.

The results are the saved runs of ``grpo_cpu.py`` (``--save``), merged as its
``--render-from`` merges them, without the safety net (``uniform_mix=0, cover_groups=0``):
the claims are the papers', so their methods run as published. The table goes between the
``claims`` markers of docs/benchmarks.md.

    .venv/bin/python benchmarks/claims.py [--results a.json b.json ...] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _grpo_common import load, summarise, t_interval
from _markdown import markdown_table, reproduce_command, result_args, update_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "grpo_cpu"
RESULTS_B = ROOT / "benchmarks" / "results" / "grpo_cpu_b"
PAPERS_METHODS = (0.0, 0)  # load()'s uniform_mix, cover_groups: the safety net off
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- claims:start -->", "<!-- claims:end -->"


@dataclass(frozen=True)
class Claim:
    """One paper's claim and the measured quantity that tests it (claimed to be > 0)."""

    strategy: str
    paper: str
    claim: str
    test: str  # "matched", "steps", "effective" or "hardest"


CLAIMS = [
    Claim("dynamic_sampling", "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
          "dropping all-correct and all-wrong groups and refilling reaches a given accuracy "
          "in fewer training steps", "steps"),
    Claim("dynamic_sampling", "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
          "the extra generation is paid back: training is not slower overall", "matched"),
    Claim("balanced_filter",
          "Online Difficulty Filtering for Reasoning Oriented Reinforcement Learning",
          "keeping prompts of intermediate pass rate improves accuracy over plain GRPO",
          "matched"),
    Claim("knapsack", "Knapsack RL: Unlocking Exploration of LLMs via Optimizing Budget "
          "Allocation", "allocating the same rollout budget by value raises the share of "
          "groups with a non-zero gradient", "effective"),
    Claim("knapsack", "Knapsack RL: Unlocking Exploration of LLMs via Optimizing Budget "
          "Allocation", "... and improves accuracy at the same budget", "matched"),
    Claim("pcl", "Prompt Curriculum Learning for Efficient LLM Post-Training",
          "prompts predicted near p = 0.5 give more informative batches", "effective"),
    Claim("pcl", "Prompt Curriculum Learning for Efficient LLM Post-Training",
          "... and train faster than uniform sampling", "matched"),
    Claim("mopps", "Can Prompt Difficulty be Online Predicted for Accelerating RL Finetuning "
          "of Reasoning Models?", "Thompson-sampled pass rates select informative prompts "
          "and accelerate training", "matched"),
    Claim("cures", "CurES: From Gradient Analysis to Efficient Curriculum Learning for "
          "Reasoning LLMs", "sampling and budgeting by estimated gradient contribution "
          "improves accuracy at the same compute", "matched"),
    Claim("dump", "DUMP: Automated Distribution-Level Curriculum Learning for RL-based LLM "
          "Post-training", "a UCB schedule over distributions by mean |advantage| improves "
          "accuracy over uniform mixing", "matched"),
    Claim("sec", "Self-Evolving Curriculum for LLM Reasoning", "a bandit over categories "
          "improves accuracy, above all on the hardest problems", "hardest"),
    Claim("adarft", "Efficient Reinforcement Finetuning via Adaptive Curriculum Learning",
          "a target difficulty that follows the reward trains faster and better", "matched"),
    Claim("gain", "Angles Don't Lie: Unlocking Training-Efficient RL Through the Model's Own "
          "Signals", "ordering data by the model's own signal makes training more efficient",
          "matched"),
    Claim("vcrl", "VCRL: Variance-based Curriculum Reinforcement Learning for Large Language "
          "Models", "variance-based selection with replay beats GRPO", "matched"),
    Claim("cdas", "Rethinking the Sampling Criteria in Reinforcement Learning for LLM "
          "Reasoning", "aligning difficulty with competence improves accuracy and efficiency",
          "matched"),
]  # fmt: skip

#: Supervised claims, tested on saved Fashion-MNIST runs (``fashion_mnist.py --json``): the
#: strategy's final clean test accuracy minus uniform's, paired by seed, per condition file.
SUPERVISED_CLAIMS = [
    (Claim("self_paced", "Self-Paced Learning for Latent Variable Models",
           "learning easy (low-loss) examples first makes training robust to noisy labels",
           "fashion"), ("fm_noise20.json", "fm_noise40.json")),
    (Claim("competence", "Competence-based Curriculum Learning for Neural Machine Translation",
           "a curriculum helps most when the training budget is limited (as *When Do "
           "Curricula Work?* reports)", "fashion"), ("fm_budget10.json",)),
]  # fmt: skip
FASHION = ROOT / "benchmarks" / "results" / "fashion_mnist"

TESTS = {
    "steps": "held-out accuracy minus uniform's after the same steps",
    "matched": "held-out accuracy minus a rollout-matched uniform's",
    "effective": "effective ratio (share of mixed-reward groups) minus uniform's",
    "hardest": "4-digit held-out accuracy minus uniform's",
    "fashion": "Fashion-MNIST clean test accuracy minus uniform's",
}


EXPLAIN = (
    "Each row names a paper, its authors' claim for their method, the quantity that tests the "
    "claim here, what was measured (paired by seed, 95% t interval) and whether the claim "
    "reproduced *in direction*: `yes` when the interval lies on the claimed side of 0, `no` "
    "when it lies on the other side, `not shown` when it contains 0. Efficiency claims are "
    "tested at matched rollouts, the cost the papers' GPUs pay; claims about informative "
    "batches on the effective ratio. This is one small task: a `no` says the claim did not "
    "transfer to it, not that the paper is wrong."
)


def measure(test: str, name: str, out: dict[str, Any], rows: dict[str, dict[str, Any]]):
    """The paired per-seed differences (mean, low, high) that test a claim."""
    runs, base = out["results"][name], out["results"]["uniform"]
    if test == "steps":
        return rows[name]["vs_uniform"]
    if test == "matched":
        return rows[name]["vs_matched"]
    if test == "effective":
        diff = [r["effective_ratio"] - b["effective_ratio"]
                for r, b in zip(runs, base, strict=True)]  # fmt: skip
    elif test == "hardest":
        last = max(runs[0]["curve"]["levels"][-1], key=int)
        diff = [r["curve"]["levels"][-1][last] - b["curve"]["levels"][-1][last]
                for r, b in zip(runs, base, strict=True)]  # fmt: skip
    else:
        raise ValueError(f"unknown test {test!r}")
    return t_interval(np.asarray(diff, dtype=float))


def fashion_rows(directory: Path) -> list[list[str]]:
    """Rows of the supervised claims, one per condition and learning-rate schedule."""
    rows = []
    for claim, files in SUPERVISED_CLAIMS:
        for file in files:
            path = directory / file
            if not path.exists():
                continue
            runs = json.loads(path.read_text())
            condition = path.stem.removeprefix("fm_")
            for schedule in sorted({r["schedule"] for r in runs}):
                final = {(r["strategy"], r["seed"]): r["curve"][-1][1]
                         for r in runs if r["schedule"] == schedule}  # fmt: skip
                seeds = sorted(s for n, s in final if n == "uniform")
                diff = [final[claim.strategy, s] - final["uniform", s] for s in seeds]
                mean, low, high = t_interval(100 * np.asarray(diff))
                rows.append([
                    f"`{claim.strategy}`", f"*{claim.paper}*", claim.claim,
                    f"{TESTS[claim.test]}, {condition}, {schedule} learning rate (points)",
                    f"{mean:+.2f} [{low:+.2f}, {high:+.2f}] ({len(seeds)} seeds)",
                    reproduced((mean, low, high)),
                ])  # fmt: skip
    return rows


def reproduced(interval: tuple[float, float, float]) -> str:
    """``yes``/``no`` only when the 95% interval excludes 0."""
    _, low, high = interval
    if math.isnan(low):
        return "n/a (one seed)"
    return "yes" if low > 0 else "no" if high < 0 else "not shown"


def grpo_cells(claim: Claim, out: dict[str, Any] | None, rows: dict[str, Any]) -> list[str]:
    """The measured interval and the verdict of one claim on one regime ('-' if not run)."""
    if out is None or claim.strategy not in out["results"]:
        return ["-", "-"]
    mean, low, high = measure(claim.test, claim.strategy, out, rows)
    return [f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]", reproduced((mean, low, high))]


def render(
    out: dict[str, Any], command: str, supervised: list[list[str]] = (),
    out_b: dict[str, Any] | None = None,
) -> str:  # fmt: skip
    rows = {r["name"]: r for r in summarise(out)}
    rows_b = {r["name"]: r for r in summarise(out_b)} if out_b is not None else {}
    body = []
    for claim in CLAIMS:
        if claim.strategy not in out["results"]:
            continue
        body.append([
            f"`{claim.strategy}`", f"*{claim.paper}*", claim.claim.replace("|", "\\|"),
            TESTS[claim.test], *grpo_cells(claim, out, rows), *grpo_cells(claim, out_b, rows_b),
        ])  # fmt: skip
    body.extend([*row, "-", "-"] for row in supervised)
    tally = {
        regime: {v: sum(row[column] == v for row in body) for v in ("yes", "no", "not shown")}
        for regime, column in (("a", 5), ("b", 7))
    }
    seeds = len(out["warm"])
    seeds_b = len(out_b["warm"]) if out_b is not None else 0
    table = markdown_table(
        ["strategy", "paper", "claim", "tested here as",
         f"measured, regime (a) (GRPO: {seeds} seeds; 95% CI)", "reproduced, (a)",
         f"measured, regime (b) ({seeds_b} seeds)", "reproduced, (b)"],
        body, right_from=4)  # fmt: skip
    counts = [f"regime ({r}): {t['yes']} reproduced in direction, {t['no']} went the other "
              f"way, {t['not shown']} not shown either way" for r, t in tally.items()]  # fmt: skip
    return (
        "## The papers' claims on the real GRPO benchmark (`benchmarks/claims.py`)\n\n"
        f"Command: {command}, on the saved runs of `benchmarks/grpo_cpu.py` whose tables are "
        f"above: regime (a), the addition pool, and regime (b), the same pool padded with "
        f"never-solved prompts, the kind of pool the papers report their gains on "
        f"(`--regime b`; same seeds and configuration otherwise). {EXPLAIN}\n\n{table}\n\n"
        f"Of {len(body)} claims, {'; '.join(counts)}.\n"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--results",
        type=Path,
        nargs="+",
        help="saved grpo_cpu.py runs (default: benchmarks/results/grpo_cpu/*.json)",
    )
    p.add_argument(
        "--results-b",
        type=Path,
        nargs="+",
        help="saved regime (b) runs (default: benchmarks/results/grpo_cpu_b/*.json)",
    )
    p.add_argument(
        "--fashion",
        type=Path,
        default=FASHION,
        help="folder of saved fashion_mnist.py runs (fm_<condition>.json)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    paths = args.results or sorted(RESULTS.glob("*.json"))
    if not paths:
        raise SystemExit(f"no saved runs in {RESULTS}: run grpo_cpu.py --save first")
    _, out, _, _, _ = load(paths, *PAPERS_METHODS)
    command = reproduce_command("claims.py", result_args(sys.argv[1:] if argv is None else argv))
    paths_b = args.results_b or sorted(RESULTS_B.glob("*.json"))
    out_b = load(paths_b, *PAPERS_METHODS)[1] if paths_b else None
    section = render(out, command, fashion_rows(args.fashion), out_b)
    update_section(args.out, section, START, END)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
