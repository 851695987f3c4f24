"""Mastering Rate based Curriculum Learning (Willems, Lahlou and Bengio, 2020), simplified."""

from __future__ import annotations

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Arms, ScoreHistory, episode_scores
from stepladder.strategies._toolbox import empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["MasteringRate"]


@register("mastering_rate")
class MasteringRate(Strategy):
    """Prefer arms that are learnable (prerequisites mastered) but not yet mastered.

    From "Mastering Rate based Curriculum Learning" (Willems, Lahlou and Bengio, 2020).
    Arms are the pool's groups (one arm without groups); prerequisites are the previous
    group in ``pool.group_names`` order (a chain), or ``prerequisites``, a dict mapping a
    group name to the names of the groups it requires (a DAG). Simplified form implemented:
    with ``M_c`` = mean of the last ``window`` episode scores of arm ``c`` (the mastering
    rate; scores are already normalised to ``[0, 1]``) and ``LP_c`` = slope of those scores,
    the attention of arm ``c`` is ::

        a_c = (min_{p in pre(c)} M_p) ** power  *  (delta + (1 - delta) * |LP_c| / max|LP|)
              * (1 - M_c)

    (``min`` over no prerequisites is 1), and ``P(c) = (1 - epsilon) a_c / sum a + epsilon /
    n_arms`` (uniform when every ``a_c = 0``). The paper's redistribution of attention to
    predecessors and successors is not implemented. A step costs O(batch + arms).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, groups=["a", "a", "b", "b"])
        >>> cur = Curriculum(pool, "mastering_rate", seed=0, epsilon=0.0)
        >>> cur.strategy.arm_probabilities().tolist()  # b needs a, unmastered so far
        [1.0, 0.0]
        >>> cur.observe(Outcomes([0, 1], rewards=[1.0, 1.0]))
        >>> cur.strategy.arm_probabilities().tolist()  # a mastered: attention moves to b
        [0.0, 1.0]
    """

    feedback = ("rewards",)
    learned = ("history",)

    def __init__(
        self,
        *,
        prerequisites: dict | None = None,
        window: int = 20,
        power: float = 6.0,
        delta: float = 0.6,
        epsilon: float = 0.05,
    ) -> None:
        self.prerequisites = prerequisites
        self.window = positive_int("window", window)
        self.power = number("power", power, low=0.0)
        self.delta = number("delta", delta, low=0.0, high=1.0)
        self.epsilon = number("epsilon", epsilon, low=0.0, high=1.0)

    def _setup(self) -> None:
        arms = self.pool.n_groups
        self._requires: list[list[int]] = [[c - 1] if c > 0 else [] for c in range(arms)]
        if self.prerequisites is not None:
            if self.pool.groups is None:
                raise ValueError("mastering_rate: prerequisites need a pool with group labels")
            code = {name: i for i, name in enumerate(self.pool.group_names)}
            self._requires = [[] for _ in range(arms)]
            for name, required in self.prerequisites.items():
                try:
                    self._requires[code[name]] = [code[r] for r in required]
                except KeyError as error:
                    raise ValueError(
                        f"prerequisites name unknown group {error.args[0]!r}"
                    ) from None
        self._arms = Arms(self.pool, by_group=True)
        self.history = ScoreHistory(arms, max(self.window, 2))

    def arm_probabilities(self) -> np.ndarray:
        """Probability of each arm (pool group code order) at the next proposal."""
        every = np.arange(self._arms.count)
        mastery = self.history.means(every)
        lp = np.abs(self.history.slopes(every))
        lp = lp / lp.max() if lp.max() > 0 else lp
        learnable = np.array(
            [min((mastery[p] for p in req), default=1.0) for req in self._requires]
        )
        attention = learnable**self.power * (self.delta + (1 - self.delta) * lp) * (1 - mastery)
        n = len(attention)
        base = attention / attention.sum() if attention.sum() > 0 else np.full(n, 1.0 / n)
        return (1 - self.epsilon) * base + self.epsilon / n

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        if self.pool.groups is None:
            return Proposal(self.rng.integers(0, self.pool.size, size=n).astype(np.int64))
        p = self.arm_probabilities()
        arms = self.rng.choice(len(p), size=n, p=p)
        return Proposal(self._arms.items(arms, self.rng))

    def observe(self, outcomes: Outcomes) -> None:
        indices, scores = episode_scores(outcomes)
        self.history.push(self._arms.of(indices), scores)

    def metrics(self) -> dict[str, float]:
        return {"mastery_mean": float(self.history.means(np.arange(self._arms.count)).mean())}
