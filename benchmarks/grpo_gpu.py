"""Real GRPO on one GPU: the CPU benchmark widened to 6-digit addition and a larger policy.

The same task, trainer, strategies and paired report as ``grpo_cpu.py`` (both use
``_grpo_common.py``), sized for one H100: additions of up to 6 digits, a 4-layer d_model-256
transformer, 128 prompts x 16 rollouts per step, 300 steps, 3 seeds. The results are saved
after every seed (``--save``), so a run cut short still leaves the seeds it finished; they are
written between the ``grpo_gpu`` markers of docs/benchmarks.md. ``--quick`` runs a
seconds-long smoke configuration on whatever device is there (the CPU in ``make test``).

The options of ``grpo_cpu.py`` (``--regime b``, ``--uniform-mix``, ``--cover-groups``) work
here too; the padded items of regime (b) are then sums of a 5-, a 3- and a 3-digit operand.

    .venv/bin/python benchmarks/grpo_gpu.py [--seeds 3] [--steps 300] [--save raw.json] [--quick]
"""

from __future__ import annotations

import torch
from _grpo_common import RL_STRATEGIES, Config, main_for

START, END = "<!-- grpo_gpu:start -->", "<!-- grpo_gpu:end -->"
TITLE = "Real GRPO on one GPU: curriculum strategies on 6-digit addition"
STRATEGIES = RL_STRATEGIES


def gpu_config() -> Config:
    """The GPU-sized defaults (CUDA when available, else the CPU)."""
    return Config(
        seeds=3,
        steps=300,
        batch=128,
        rollouts=16,
        eval_every=20,
        lr=5e-4,
        width=6,
        d_model=256,
        layers=4,
        heads=8,
        warmup_mix={1: 0.05, 2: 0.2, 3: 0.25, 4: 0.25, 5: 0.2, 6: 0.05},
        warmup_max_steps=6000,
        warmup_batch=512,
        warmup_lr=1e-3,
        per_level=10_000,
        test_per_level=500,
        validation_per_level=300,
        device="cuda" if torch.cuda.is_available() else "cpu",
    )


def main(argv: list[str] | None = None) -> None:
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
    main_for("grpo_gpu.py", gpu_config(), __doc__ or "", START, END, TITLE, argv)


if __name__ == "__main__":
    main()
