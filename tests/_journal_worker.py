"""A training loop with a journal and periodic checkpoints, for the kill -9 test.

:func:`run` continues the run in a directory (recovering it if a journal is there) until a
number of observations, checkpointing every 3 steps, then saves the final state to
``DIR/final.npz``. Feedback is a fixed function of (step, proposal), so a killed and recovered
run must reproduce an uninterrupted one exactly. The test runs it in processes forked from a
forkserver that has imported stepladder (no second of imports per start); from a shell:
``python _journal_worker.py DIR STRATEGY STEPS``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from stepladder import Curriculum, ItemPool, Outcomes, recover, save_state
from stepladder.strategies import Proposal

BATCH = 12
SEED = 7


def make_pool() -> ItemPool:
    size = 240
    rng = np.random.default_rng(0)
    return ItemPool(
        size=size,
        groups=np.arange(size) % 5,
        difficulty=np.linspace(-2.0, 2.0, size),
        features=rng.random((size, 2)),
    )


def _noise(step: int, indices: np.ndarray, width: int) -> np.ndarray:
    """Uniform-looking numbers in [0, 1), a pure function of (step, item, rollout)."""
    x = indices[:, None] * 12.9898 + step * 78.233 + np.arange(width)[None, :] * 37.719
    return np.modf(np.abs(np.sin(x)) * 43758.5453)[0]


def feedback(step: int, proposal: Proposal, difficulty: np.ndarray) -> Outcomes:
    """Rewards (NaN-free padding via counts when rollouts vary), losses and signals."""
    indices = proposal.indices
    counts = np.full(len(indices), 4) if proposal.rollouts is None else proposal.rollouts
    width = int(counts.max(initial=1))
    p = 1.0 / (1.0 + np.exp(difficulty[indices] - step / 15.0))
    noise = _noise(step, indices, width)
    rewards = (noise < p[:, None]).astype(np.float64)  # entries beyond counts are padding
    return Outcomes(
        indices, rewards, counts=counts, losses=1.0 - p + 0.1 * noise[:, 0], signals=noise[:, 0]
    )


def run(directory: Path, strategy: str, steps: int, ready: Any = None) -> Curriculum:
    """The loop; ``ready`` (an Event, if given) is set once the curriculum is built."""
    pool = make_pool()
    journal, checkpoint = directory / "journal", directory / "checkpoint.npz"
    if journal.exists():
        cur = recover(journal, pool, checkpoint if checkpoint.exists() else None)
    else:
        cur = Curriculum(pool, strategy, seed=SEED, journal=journal)
    if ready is not None:
        ready.set()
    while cur.step < steps:
        proposal = cur.pending[0] if cur.pending else cur.propose(BATCH)
        outcomes = feedback(cur.step, proposal, pool.difficulty)
        cur.observe(outcomes)
        cur.keep(outcomes)
        if cur.step % 3 == 0:
            save_state(checkpoint, cur.state_dict())
    save_state(checkpoint, cur.state_dict())
    save_state(directory / "final.npz", cur.state_dict())
    cur.close()
    return cur


if __name__ == "__main__":
    run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
