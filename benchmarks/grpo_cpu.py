"""Real GRPO on CPU: a tiny transformer learns multi-digit addition, each strategy picks prompts.

A 2-layer, d_model-64 transformer trained from scratch is warmed up on 1-4 digit additions
until it partly solves them, then trained by GRPO on a pool of about 6,000 additions while a
curriculum strategy chooses the prompts (and rollout budgets) of every step. Every RL
strategy of the registry runs, each compared with ``uniform`` on the same seed at the same
steps and, when its rollouts differ, with a rollout-matched ``uniform`` (more prompts per
step). The shared machinery is in ``_grpo_common.py``; the results are written between the
``grpo_cpu`` markers of docs/benchmarks.md.

``--regime b`` pads the pool with items the warmed-up policy never solves (three-operand
sums), so that most GRPO groups are all-equal, as in LLM RL pools; its section is
``grpo_cpu_b``. ``--uniform-mix X`` and ``--cover-groups W`` pass the generic safety net to
every strategy's ``Curriculum`` (not to ``uniform`` or its controls); such runs get sections
of their own (``grpo_cpu_net``, ``grpo_cpu_b_net``). Every run saves diagnostics (selection
per level over time, per-level accuracy, effective ratio, and ``pcl``'s calibration,
``vcrl``'s bank, the bandits' arm probabilities), rendered for the strategies behind uniform.

    .venv/bin/python benchmarks/grpo_cpu.py [--seeds 5] [--steps 300] [--threads 2] [--quick]
        [--regime {a,b}] [--uniform-mix X] [--cover-groups W] [--save raw.json]
    .venv/bin/python benchmarks/grpo_cpu.py --render-from raw.json   # rewrite from saved results
"""

from __future__ import annotations

from _grpo_common import RL_STRATEGIES, Config, main_for

START, END = "<!-- grpo_cpu:start -->", "<!-- grpo_cpu:end -->"
TITLE = "Real GRPO on CPU: curriculum strategies on multi-digit addition"
STRATEGIES = RL_STRATEGIES


def main(argv: list[str] | None = None) -> None:
    main_for("grpo_cpu.py", Config(), __doc__ or "", START, END, TITLE, argv)


if __name__ == "__main__":
    main()
