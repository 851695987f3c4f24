"""Mastering Rate based Curriculum Learning (Willems, Lahlou and Bengio, 2020)."""

from __future__ import annotations

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Arms, ScoreHistory, episode_scores, segments
from stepladder.strategies._toolbox import empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["MasteringRate"]

#: Added to every attention before normalising (the constant of the authors' ``PropA2DConverter``).
_FLOOR = 1e-8


@register("mastering_rate")
class MasteringRate(Strategy):
    """Prefer arms that are learnable (ancestors mastered) but not yet mastered.

    From "Mastering Rate based Curriculum Learning" (Willems, Lahlou and Bengio, 2020), as in
    the authors' code (lcswillems/automatic-curriculum: ``MrAttentionComputer``,
    ``LinregLpEstimator`` and ``PropA2DConverter``, with their default parameters). Arms are
    the pool's groups (one arm without groups); the graph is a chain over
    ``pool.group_names`` (each group follows the previous one) or ``prerequisites``, a dict
    mapping a group name to the names of the groups it requires (a DAG).

    Each ``observe`` is one update of the authors' loop (``step`` + 1): every arm with
    episodes in the batch gets one performance, the mean of their scores. Then, per arm ``c``:

    - ``P_c`` = mean of its last ``window`` performances, clipped to ``[min_c, max_c]``; once
      it has ``window`` performances, ``min_c`` and ``max_c`` widen to include that mean
      (they start at ``min_score`` and ``max_score``); ``M_c = (P_c - min_c) / (max_c -
      min_c)`` (0 before any performance);
    - ``lp_c`` = least-squares slope of its last ``lp_window`` performances against the
      steps at which they came (0 below two), ``na_c = |lp_c| / max |lp|``;
    - pre-attention ``M_anc(c) ** power * ((1 - gamma) na_c + gamma (1 - M_c)) * (1 -
      M_succ(c))``, ``M_anc`` the smallest mastery among all ancestors (1 without any),
      ``M_succ`` the smallest among the direct successors (0 without any);
    - in reverse topological order, each arm moves ``delta_pred`` of its attention to its
      direct predecessors (split equally; an arm without any loses it), then
      ``delta_succ`` of what is left to its direct successors;
    - ``P(c) = (a_c + 1e-8) / sum(a + 1e-8)``, mixed with uniform by ``epsilon`` (the
      authors' ``GreedyProp``; their default ``Prop`` is ``epsilon=0``).

    A step costs O(batch) plus O(arms^2 + edges) for the attention (arms are groups).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, groups=["a", "a", "b", "b"])
        >>> cur = Curriculum(pool, "mastering_rate", seed=0)
        >>> cur.strategy.arm_probabilities().round(4).tolist()  # b needs a, unmastered
        [0.95, 0.05]
        >>> cur.observe(Outcomes([0, 1], rewards=[1.0, 1.0]))
        >>> cur.strategy.arm_probabilities().round(4).tolist()  # a mastered: attention to b
        [0.1652, 0.8348]
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = ("performances", "steps", "low", "high", "step")

    def __init__(
        self,
        *,
        prerequisites: dict | None = None,
        window: int = 10,
        lp_window: int = 10,
        power: float = 6.0,
        gamma: float = 0.5,
        delta_pred: float = 0.2,
        delta_succ: float = 0.05,
        epsilon: float = 0.0,
        min_score: float = 0.0,
        max_score: float = 1.0,
    ) -> None:
        self.prerequisites = prerequisites
        self.window = positive_int("window", window)
        self.lp_window = positive_int("lp_window", lp_window)
        self.power = number("power", power, low=0.0)
        self.gamma = number("gamma", gamma, low=0.0, high=1.0)
        self.delta_pred = number("delta_pred", delta_pred, low=0.0, high=1.0)
        self.delta_succ = number("delta_succ", delta_succ, low=0.0, high=1.0)
        self.epsilon = number("epsilon", epsilon, low=0.0, high=1.0)
        self.min_score = number("min_score", min_score)
        self.max_score = number("max_score", max_score)
        if not self.max_score > self.min_score:
            raise ValueError(f"max_score ({max_score}) must exceed min_score ({min_score})")

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
        self._successors: list[list[int]] = [[] for _ in range(arms)]
        for c, required in enumerate(self._requires):
            for p in required:
                self._successors[p].append(c)
        self._order = self._topological_order()
        self._ancestors = np.zeros((arms, arms), dtype=bool)  # [c, a]: a is an ancestor of c
        for c in self._order:
            for p in self._requires[c]:
                self._ancestors[c] |= self._ancestors[p]
                self._ancestors[c, p] = True
        self._arms = Arms(self.pool, by_group=True)
        kept = max(self.window, self.lp_window, 2)
        self.performances = ScoreHistory(arms, kept)  # one per arm and update
        self.steps = ScoreHistory(arms, kept)  # the update at which each came
        self.low = np.full(arms, self.min_score)
        self.high = np.full(arms, self.max_score)
        self.step = 0

    def _topological_order(self) -> list[int]:
        """Arms with every prerequisite before them; ValueError on a cycle."""
        waiting = [len(set(r)) for r in self._requires]
        ready = [c for c, w in enumerate(waiting) if w == 0]
        order: list[int] = []
        while ready:
            c = ready.pop(0)
            order.append(c)
            for s in dict.fromkeys(self._successors[c]):
                waiting[s] -= 1
                if waiting[s] == 0:
                    ready.append(s)
        if len(order) < len(self._requires):
            raise ValueError("mastering_rate: prerequisites form a cycle")
        return order

    def _last(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each arm's last ``k`` performances and steps, and which are held (k, window)."""
        every = np.arange(self._arms.count)
        values, valid = self.performances.windows(every)
        steps, _ = self.steps.windows(every)
        held = valid.sum(axis=1)
        last = valid & (np.arange(valid.shape[1]) >= (held - k)[:, None])
        return values, steps, last

    def mastery(self) -> np.ndarray:
        """Mastering rate ``M_c`` of each arm, in ``[0, 1]``."""
        values, _, last = self._last(self.window)
        count = last.sum(axis=1)
        mean = (values * last).sum(axis=1) / np.maximum(count, 1)
        perf = np.where(count > 0, np.clip(mean, self.low, self.high), self.low)
        return (perf - self.low) / (self.high - self.low)

    def learning_progress(self) -> np.ndarray:
        """Slope of each arm's last ``lp_window`` performances against their steps."""
        values, steps, last = self._last(self.lp_window)
        count = last.sum(axis=1)
        n = np.maximum(count, 1)
        mean_x = (steps * last).sum(axis=1) / n
        mean_y = (values * last).sum(axis=1) / n
        dx = np.where(last, steps - mean_x[:, None], 0.0)
        spread = (dx * dx).sum(axis=1)
        slope = (dx * (values - mean_y[:, None])).sum(axis=1) / np.where(count >= 2, spread, 1.0)
        return np.where(count >= 2, slope, 0.0)

    def attention(self) -> np.ndarray:
        """Attention of each arm after redistribution (before the floor and epsilon)."""
        mastery = self.mastery()
        lp = np.abs(self.learning_progress())
        na_lp = lp / lp.max() if lp.max() != 0 else lp
        anc = np.where(self._ancestors, mastery[None, :], np.inf).min(axis=1, initial=np.inf)
        anc = np.where(np.isinf(anc), 1.0, anc)
        succ = np.array([min((mastery[s] for s in ss), default=0.0) for ss in self._successors])
        learning = (1 - self.gamma) * na_lp + self.gamma * (1 - mastery)
        attention = anc**self.power * learning * (1 - succ)
        for c in reversed(self._order):
            given = attention[c] * self.delta_pred
            attention[c] -= given
            if self._requires[c]:
                np.add.at(attention, self._requires[c], given / len(self._requires[c]))
            given = attention[c] * self.delta_succ
            attention[c] -= given
            if self._successors[c]:
                np.add.at(attention, self._successors[c], given / len(self._successors[c]))
        return attention

    def arm_probabilities(self) -> np.ndarray:
        """Probability of each arm (pool group code order) at the next proposal."""
        attention = self.attention() + _FLOOR
        if self._arms.valid is not None:  # groups without tasks cannot be drawn
            empty = np.ones(len(attention), dtype=bool)
            empty[self._arms.valid] = False
            attention[empty] = 0.0
        p = attention / attention.sum()
        uniform = np.zeros(len(p))
        uniform[self._arms.valid if self._arms.valid is not None else slice(None)] = 1.0
        return (1 - self.epsilon) * p + self.epsilon * uniform / uniform.sum()

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        if self.pool.groups is None:
            return Proposal(self.rng.integers(0, self.pool.size, size=n).astype(np.int64))
        p = self.arm_probabilities()
        arms = self.rng.choice(len(p), size=n, p=p)
        return Proposal(self._arms.items(arms, self.rng))

    def observe(self, outcomes: Outcomes) -> None:
        self.step += 1
        indices, scores = episode_scores(outcomes)
        if not len(indices):
            return
        s = segments(self._arms.of(indices))
        means = np.bincount(s.segment, weights=scores[s.order]) / s.lengths
        self.performances.push(s.keys, means)
        self.steps.push(s.keys, np.full(len(s.keys), float(self.step)))
        values, _, last = self._last(self.window)
        full = last.sum(axis=1) >= self.window  # widen the range with a full window's mean
        mean = (values * last).sum(axis=1) / np.maximum(last.sum(axis=1), 1)
        touched = np.zeros(len(full), dtype=bool)
        touched[s.keys] = True
        widen = full & touched
        self.low[widen] = np.minimum(self.low[widen], mean[widen])
        self.high[widen] = np.maximum(self.high[widen], mean[widen])

    def metrics(self) -> dict[str, float]:
        return {"mastery_mean": float(self.mastery().mean())}
