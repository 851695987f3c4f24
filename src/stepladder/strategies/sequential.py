"""A hand-designed curriculum: stages in a fixed order, each kept until a stopping condition."""

from __future__ import annotations

import numpy as np

from stepladder._checks import choice, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import episode_scores
from stepladder.strategies._toolbox import RingBuffer
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["Sequential"]


@register("sequential")
class Sequential(Strategy):
    """Stages in a fixed order, each trained until a stopping condition holds.

    Stages are the pool's groups in ``pool.group_names`` order (``stages="groups"``), or
    ``n_stages`` quantile bands of ``pool.difficulty`` (``stages="difficulty"``; easiest
    first); ``"auto"`` uses groups when the pool has them, else difficulty. Tasks are drawn
    uniformly within the current stage; it advances (the last stage stays) when:

    - ``until="steps"``: ``threshold`` observe calls were made in the stage;
    - ``until="episodes"``: ``threshold`` episodes were observed in the stage;
    - ``until="mean_return"``: the mean score of the stage's last ``window`` episodes
      reaches ``threshold`` (with at least ``window`` episodes).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, groups=["easy", "easy", "hard", "hard"])
        >>> cur = Curriculum(pool, "sequential", seed=0, until="episodes", threshold=2)
        >>> sorted(set(cur.propose(6).indices.tolist()))
        [0, 1]
        >>> cur.observe(Outcomes([0, 1], rewards=[0.0, 1.0]))
        >>> cur.strategy.stage, sorted(set(cur.propose(6).indices.tolist()))
        (1, [2, 3])
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = ("stage", "stage_steps", "stage_episodes", "recent")

    def __init__(
        self,
        *,
        stages: str = "auto",
        n_stages: int = 4,
        until: str = "mean_return",
        threshold: float = 0.8,
        window: int = 50,
    ) -> None:
        self.stages = choice("stages", stages, ("auto", "groups", "difficulty"))
        self.n_stages = positive_int("n_stages", n_stages)
        self.until = choice("until", until, ("steps", "episodes", "mean_return"))
        self.threshold = number("threshold", threshold, low=0.0)
        self.window = positive_int("window", window)

    def _setup(self) -> None:
        kind = self.stages
        if kind == "auto":
            kind = "groups" if self.pool.groups is not None else "difficulty"
        if kind == "groups":
            if self.pool.groups is None:
                raise ValueError("sequential: stages='groups' needs a pool with group labels")
            members = [self.pool.members(g) for g in range(self.pool.n_groups)]
        else:
            difficulty = self.pool.difficulty
            if difficulty is None:
                raise ValueError(
                    "sequential needs stages: a pool with group labels or a difficulty column"
                )
            known = np.where(np.isnan(difficulty), np.nanmax(difficulty, initial=0.0), difficulty)
            edges = np.quantile(known, np.linspace(0, 1, self.n_stages + 1)[1:-1])
            band = np.searchsorted(edges, known, side="right")
            members = [np.flatnonzero(band == b) for b in range(self.n_stages)]
        self._members = [m.astype(np.int64) for m in members if len(m)]
        self.stage = 0
        self.stage_steps = 0
        self.stage_episodes = 0
        self.recent = RingBuffer(rows=1, window=self.window)  # the stage's last scores

    def propose(self, n: int) -> Proposal:
        members = self._members[self.stage]
        return Proposal(members[self.rng.integers(0, len(members), size=n)])

    def _done(self) -> bool:
        if self.until == "steps":
            return self.stage_steps >= self.threshold
        if self.until == "episodes":
            return self.stage_episodes >= self.threshold
        full = self.stage_episodes >= self.window
        return full and float(self.recent.means()[0]) >= self.threshold

    def observe(self, outcomes: Outcomes) -> None:
        _, scores = episode_scores(outcomes)
        if len(scores):
            self.recent.push(0, scores)
        self.stage_episodes += len(scores)
        self.stage_steps += 1
        if self.stage < len(self._members) - 1 and self._done():
            self.stage += 1
            self.stage_steps = 0
            self.stage_episodes = 0
            self.recent = RingBuffer(rows=1, window=self.window)

    def metrics(self) -> dict[str, float]:
        return {"stage": float(self.stage), "stages": float(len(self._members))}
