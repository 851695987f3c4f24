"""Domain randomization: uniform over the task space, the baseline of the teacher literature."""

from __future__ import annotations

import numpy as np

from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["DomainRandomization"]


@register("domain_randomization")
class DomainRandomization(Strategy):
    """Uniform over the task space: every task drawn with probability 1 / size (with replacement).

    The baseline of the teacher literature. Over a :class:`~stepladder.tasks.BoxTasks` pool
    of candidates it is uniform sampling of the box. It learns nothing from feedback.

    Example:
        >>> from stepladder import Curriculum
        >>> Curriculum(10, "domain_randomization", seed=0).propose(4).indices.shape
        (4,)
    """

    family = "teachers"
    feedback = ()  # observe reads nothing

    def __init__(self) -> None:
        pass

    def propose(self, n: int) -> Proposal:
        return Proposal(self.rng.integers(0, self.pool.size, size=n).astype(np.int64))
