"""Generate, filter, refill: keep a training batch full when a strategy drops groups.

Filtering strategies (DAPO's dynamic sampling, range and balanced filters, VCRL) discard
groups whose rewards carry no learning signal. A trainer that wants a fixed batch size
then generates again for the shortfall. :func:`fill_batch` runs that loop around the
trainer's own ``generate`` function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.curriculum import Curriculum
from stepladder.outcomes import Outcomes
from stepladder.strategies import Proposal

__all__ = ["FilledBatch", "fill_batch"]


@dataclass(frozen=True)
class FilledBatch:
    """The groups to train on, plus what it cost to find them.

    Attributes:
        kept: outcomes of the groups kept for training (at most ``batch_size``).
        generated_groups: groups generated over all rounds.
        rollouts: rollouts generated over all rounds.
        rounds: generation rounds used.
        mixed_groups: generated groups whose rewards were not all equal (kept or not).
    """

    kept: Outcomes
    generated_groups: int
    rollouts: int
    rounds: int
    mixed_groups: int


def fill_batch(
    curriculum: Curriculum,
    generate: Callable[[Proposal], Outcomes],
    batch_size: int,
    *,
    max_rounds: int = 3,
    oversample: float = 1.0,
) -> FilledBatch:
    """Propose, generate and filter until ``batch_size`` groups are kept or rounds run out.

    Every generated group is observed by the curriculum (rejected groups still tell it
    something); only kept groups are returned for training. Each round proposes
    ``ceil(shortfall * oversample)`` items.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(100, "uniform", seed=0)
        >>> def generate(p):  # the trainer's rollouts: item i succeeds on rollout j if i > 50
        ...     return Outcomes(p.indices, (p.indices[:, None] > 50) & (np.arange(4) < 2))
        >>> batch = fill_batch(cur, generate, 8)
        >>> len(batch.kept), batch.rounds
        (8, 1)
    """
    batch_size = positive_int("batch_size", batch_size)
    max_rounds = positive_int("max_rounds", max_rounds)
    oversample = number("oversample", oversample, low=1.0)
    kept: list[Outcomes] = []
    found = groups = rollouts = mixed = rounds = 0
    while found < batch_size and rounds < max_rounds:
        rounds += 1
        proposal = curriculum.propose(math.ceil((batch_size - found) * oversample))
        outcomes = generate(proposal)
        curriculum.observe(outcomes)
        groups += len(outcomes)
        rollouts += int(outcomes.rollouts.sum())
        mixed += int(np.count_nonzero(outcomes.mixed))
        mask = curriculum.keep(outcomes)
        taken = np.flatnonzero(mask)[: batch_size - found]
        if len(taken):
            kept.append(outcomes.select(taken))
            found += len(taken)
    return FilledBatch(_concatenate(kept), groups, rollouts, rounds, mixed)


def _concatenate(parts: list[Outcomes]) -> Outcomes:
    if not parts:
        return Outcomes.empty()
    if len(parts) == 1:
        return parts[0]
    width = max(p.rewards.shape[1] if p.rewards is not None and p.rewards.ndim == 2 else 0
                for p in parts)  # fmt: skip

    def stack(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        if any(a is None for a in arrays):
            return None
        if arrays[0].ndim == 2:
            arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan)
                      for a in arrays]  # fmt: skip
        return np.concatenate(arrays)

    rewards = stack("rewards")
    return Outcomes(
        np.concatenate([p.indices for p in parts]),
        rewards,
        counts=None if rewards is None or rewards.ndim == 1 else stack("rollouts"),
        advantages=stack("advantages"),
        losses=stack("losses"),
        signals=stack("signals"),
    )
