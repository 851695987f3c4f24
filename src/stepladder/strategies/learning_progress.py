"""Teacher-Student Curriculum Learning (Matiisen, Oliver, Cohen and Schulman, 2017)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stepladder._checks import choice, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Arms, MaxTree, ScoreHistory, episode_scores
from stepladder.strategies._toolbox import SumTree, empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["LearningProgress"]

#: Boltzmann weights are exp((|Q| - shift) / temperature); the shift follows the largest |Q|
#: whenever it moves this many temperatures away, so weights neither overflow nor vanish.
_SHIFT_LIMIT = 300.0


@register("learning_progress")
class LearningProgress(Strategy):
    """Teacher-Student Curriculum Learning: sample the arm whose score changes fastest.

    From "Teacher-Student Curriculum Learning" (Matiisen, Oliver, Cohen and Schulman, 2017).
    Arms are tasks (``arms="tasks"``) or pool groups (``arms="groups"``; a task is then
    drawn uniformly in the group). After an episode of arm ``a`` with score ``x_t``:

    - ``mode="online"``: ``Q_a <- alpha * (x_t - x_prev_a) + (1 - alpha) * Q_a``
      (exponential moving average of score differences);
    - ``mode="window"``: ``Q_a`` = least-squares slope of the last ``window`` scores of ``a``
      against their order ``0 .. K-1``;
    - ``mode="sampling"``: at each proposal ``Q_a`` is one difference ``x_{i+1} - x_i`` drawn
      uniformly from the last ``window`` scores of ``a`` (a Thompson-like draw; 0 before
      two scores).

    Selection by ``|Q_a|`` (progress or forgetting): ``selection="epsilon"`` draws each slot
    uniformly with probability ``epsilon``, else the arm with the largest ``|Q|`` (ties at
    random); ``selection="boltzmann"`` draws arms with ``P(a) ∝ exp(|Q_a| / temperature)``.
    Decision: arms never played have ``Q = 0``, so exploration is what finds them (as in the
    paper); with ``arms="tasks"`` over very many tasks prefer ``arms="groups"``.

    Cost: ``|Q|`` lives in a :class:`~stepladder.strategies._teacher_tools.MaxTree` (greedy
    draws among tied maxima) and, for Boltzmann, a :class:`~stepladder.strategies._toolbox.
    SumTree`, so online and window modes cost O(batch log arms) per step; the sampling mode
    draws afresh for every arm with two scores at each proposal, O(arms played). The
    distribution is the paper's; Boltzmann draws come from the tree instead of
    ``rng.choice(p=...)`` (the same inverse-CDF draw up to rounding).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(3, "learning_progress", seed=0, epsilon=0.0)
        >>> cur.observe(Outcomes([1, 1], rewards=[0.2, 0.6]))
        >>> cur.propose(2).indices.tolist(), round(float(cur.strategy.progress[1]), 3)
        ([1, 1], 0.04)
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = ("q", "last", "scored", "history", "progress_total")

    def __init__(
        self,
        *,
        mode: str = "online",
        alpha: float = 0.1,
        window: int = 10,
        selection: str = "epsilon",
        epsilon: float = 0.1,
        temperature: float = 0.1,
        arms: str = "tasks",
    ) -> None:
        self.mode = choice("mode", mode, ("online", "window", "sampling"))
        self.alpha = number("alpha", alpha, low=0.0, high=1.0)
        self.window = positive_int("window", window)
        if self.window < 2:
            raise ValueError(f"window must be at least 2, got {window}")
        self.selection = choice("selection", selection, ("epsilon", "boltzmann"))
        self.epsilon = number("epsilon", epsilon, low=0.0, high=1.0)
        self.temperature = number("temperature", temperature, low=0.0, open_low=True)
        self.arms = choice("arms", arms, ("tasks", "groups"))

    def _setup(self) -> None:
        if self.arms == "groups" and self.pool.groups is None:
            raise ValueError(f"{self.name}: arms='groups' needs a pool with group labels")
        self._arms = Arms(self.pool, by_group=self.arms == "groups")
        count = self._arms.count
        self.q = np.zeros(count)
        self.last = np.zeros(count)  # latest score per arm, where scored
        self.scored = np.zeros(count, dtype=bool)  # (not NaN-filled: checkpoints compare equal)
        # the online mode reads no history: keep none
        self.history = ScoreHistory(count if self.mode != "online" else 0, self.window)
        self.progress_total = 0.0  # sum of |progress| over arms, for metrics
        self._derive()

    def _derive(self) -> None:
        """Rebuild what follows from the learned state (O(arms), at bind and load only)."""
        count = self._arms.count
        self._slope = np.zeros(count if self.mode == "window" else 0)
        if self.mode == "window":
            played = self.history.played(minimum=2)
            self._slope[played] = self.history.slopes(played)
        magnitude = np.abs(self.progress)
        if self._arms.valid is not None:
            invalid = np.ones(count, dtype=bool)
            invalid[self._arms.valid] = False
            magnitude[invalid] = -np.inf
        self._greedy = MaxTree(magnitude)  # |progress|, -inf for arms without tasks
        self._shift = 0.0
        self._boltzmann: SumTree | None = None
        if self.selection == "boltzmann" and self.mode != "sampling":
            self._rebuild_boltzmann()

    def _rebuild_boltzmann(self) -> None:
        self._shift = self._greedy.max
        weights = np.exp((self._greedy.values - self._shift) / self.temperature)
        tree = SumTree(len(weights))
        tree.load_state_dict(
            {"size": len(weights), "slots": np.arange(len(weights)), "weights": weights}
        )
        self._boltzmann = tree

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._derive()

    @property
    def progress(self) -> np.ndarray:
        """Current learning progress ``Q`` per arm (online and window modes)."""
        return self._slope if self.mode == "window" else self.q

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        if self.mode == "sampling":
            arms = self._propose_sampled(n)
        elif self.selection == "boltzmann":
            assert self._boltzmann is not None
            arms = self._boltzmann.sample(n, self.rng)
        else:
            arms = self._greedy.select(self.rng.integers(0, self._greedy.count, size=n))
            explore = self.rng.random(n) < self.epsilon
            arms[explore] = self._arms.uniform(int(explore.sum()), self.rng)
        return Proposal(self._arms.items(np.asarray(arms, dtype=np.int64), self.rng))

    def _propose_sampled(self, n: int) -> np.ndarray:
        """Sampling mode: one recent difference drawn per arm with two scores, then select."""
        played = np.sort(self.history.played(minimum=2))
        values, valid = self.history.windows(played)
        held = valid.sum(axis=1)
        pick = self.rng.integers(0, np.maximum(held - 1, 1)) if len(played) else played
        rows = np.arange(len(played))
        draws = np.abs(values[rows, pick + 1] - values[rows, pick])
        top = float(draws.max()) if len(draws) else 0.0
        if self.selection == "epsilon":
            if top > 0:
                best = played[draws == top]
                arms = best[self.rng.integers(0, len(best), size=n)]
            else:  # every arm scores 0: all tie
                arms = self._arms.uniform(n, self.rng)
            explore = self.rng.random(n) < self.epsilon
            arms[explore] = self._arms.uniform(int(explore.sum()), self.rng)
            return arms
        # Boltzmann over every arm: arms without a draw score 0, each of weight exp(-top / T)
        rest = len(self._arms.valid) if self._arms.valid is not None else self._arms.count
        rest -= len(played)
        weights = np.exp((draws - top) / self.temperature)
        base = rest * math.exp(-top / self.temperature)
        cumulative = np.cumsum(weights)
        total = base + (cumulative[-1] if len(cumulative) else 0.0)
        u = self.rng.random(n) * total
        arms = np.empty(n, dtype=np.int64)
        drawn = u >= base
        slots = np.searchsorted(cumulative, u[drawn] - base, side="right")
        arms[drawn] = played[np.minimum(slots, len(played) - 1)]
        arms[~drawn] = self._unplayed(int((~drawn).sum()))
        return arms

    def _unplayed(self, k: int) -> np.ndarray:
        """``k`` arms drawn uniformly among those with fewer than two scores (rejection)."""
        parts, found = [], 0
        while found < k:
            candidates = self._arms.uniform(2 * (k - found) + 16, self.rng)
            candidates = candidates[self.history.counts(candidates) < 2][: k - found]
            parts.append(candidates)
            found += len(candidates)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def observe(self, outcomes: Outcomes) -> None:
        indices, scores = episode_scores(outcomes)
        if not len(indices):
            return
        arms = self._arms.of(indices)
        touched = np.unique(arms)
        keys = touched.tolist()
        q = dict(zip(keys, self.q[touched].tolist(), strict=True))
        last = dict(
            zip(
                keys,
                np.where(self.scored[touched], self.last[touched], np.nan).tolist(),
                strict=True,
            )
        )
        alpha = self.alpha
        for arm, x in zip(arms.tolist(), scores.tolist(), strict=True):  # in episode order
            previous = last[arm]
            if not math.isnan(previous):
                q[arm] = alpha * (x - previous) + (1 - alpha) * q[arm]
            last[arm] = x
        before = np.abs(self.progress[touched])
        self.q[touched] = list(q.values())
        self.last[touched] = list(last.values())
        self.scored[touched] = True
        if self.mode != "online":
            self.history.push(arms, scores)
        if self.mode == "window":
            self._slope[touched] = self.history.slopes(touched)
        after = np.abs(self.progress[touched])
        self.progress_total += float(after.sum() - before.sum())
        self._greedy.update(touched, after)
        if self._boltzmann is not None:
            if abs(self._greedy.max - self._shift) > _SHIFT_LIMIT * self.temperature:
                self._rebuild_boltzmann()
            else:
                self._boltzmann.update(touched, np.exp((after - self._shift) / self.temperature))

    def metrics(self) -> dict[str, float]:
        return {
            "progress_max": max(self._greedy.max, 0.0),
            "progress_mean": max(self.progress_total, 0.0) / self._arms.count,
        }
