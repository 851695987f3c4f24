"""Distribution-level bandits: choose an arm (a pool group) per item, then an item within it.

Arms are the pool's groups (sources, difficulty levels, categories); a pool without group
labels is one arm. Each step draws one arm per batch slot from the arm distribution, then
fills the slots of an arm with its next items in a fresh keyed random order per pass over
the arm (no item of an arm repeats before the whole arm has been visited), so drawing k
items costs O(k) however large the arm. Arms without items get probability zero.

- :class:`DUMP`: UCB over a sliding window of |advantage|, softmax over the scores.
- :class:`SEC`: a TD(0) value of mean |advantage| per arm, Boltzmann over the values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stepladder._checks import positive_int
from stepladder._permutation import FeistelPermutation
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["DUMP", "SEC"]


def _positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (or >= 0), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def _softmax(scores: np.ndarray, temperature: float, allowed: np.ndarray) -> np.ndarray:
    """exp(score / temperature), normalised over the ``allowed`` arms (others get 0)."""
    z = np.where(allowed, scores / temperature, -np.inf)
    weights = np.exp(z - z.max())
    return weights / weights.sum()


class _WithinArm:
    """Items of each arm in passes of a keyed random order: the next k items cost O(k).

    State per arm: the key of the current pass (-1 before it is drawn) and the position in
    the pass's permutation domain.
    """

    def __init__(self, pool: ItemPool) -> None:
        self.pool = pool
        self.keys = np.full(pool.n_groups, -1, dtype=np.int64)
        self.cursors = np.zeros(pool.n_groups, dtype=np.int64)

    def take(self, arm: int, count: int, rng: np.random.Generator) -> np.ndarray:
        members = self.pool.members(arm)
        parts, found = [], 0
        while found < count:
            if self.keys[arm] < 0:
                self.keys[arm] = rng.integers(0, 2**63)
            permutation = FeistelPermutation(len(members), int(self.keys[arm]))
            positions, cursor = permutation.take(int(self.cursors[arm]), count - found)
            parts.append(members[positions])
            found += len(positions)
            self.cursors[arm] = cursor
            if cursor >= permutation.domain:  # pass complete: the next one gets a fresh key
                self.keys[arm], self.cursors[arm] = -1, 0
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        return {"keys": self.keys.copy(), "cursors": self.cursors.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.keys = np.array(state["keys"], dtype=np.int64)
        self.cursors = np.array(state["cursors"], dtype=np.int64)


class _ArmBandit(Strategy):
    """Shared machinery: arms = pool groups, arm distribution, per-arm draws, arm of an item."""

    feedback = ("rewards",)

    def _setup(self) -> None:
        self._arms = self.pool.n_groups
        self._nonempty = self.pool.group_sizes() > 0
        self._within = _WithinArm(self.pool)

    def arm_probabilities(self) -> np.ndarray:
        """Probability of drawing each arm (pool group code order) at the next proposal."""
        raise NotImplementedError

    def _arm_of(self, indices: np.ndarray) -> np.ndarray:
        if self.pool.groups is None:
            return np.zeros(len(indices), dtype=np.int64)
        return self.pool.groups[indices].astype(np.int64)

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return Proposal(np.zeros(0, dtype=np.int64))
        arms = self.rng.choice(self._arms, size=n, p=self.arm_probabilities())
        indices = np.empty(n, dtype=np.int64)
        for arm in np.unique(arms):
            slots = np.flatnonzero(arms == arm)
            indices[slots] = self._within.take(int(arm), len(slots), self.rng)
        return Proposal(indices)

    def _abs_advantages_by_arm(self, outcomes: Outcomes) -> dict[int, np.ndarray]:
        """|advantage| of every response in the batch, grouped by arm (batch order kept).

        Responses are the non-padding entries of ``outcomes.group_advantages()``: given
        advantages, else GRPO's; a scalar reward is one response with advantage 0.
        """
        if len(outcomes) == 0 or outcomes.rewards is None:
            return {}
        advantages = np.abs(outcomes.group_advantages())
        arms = self._arm_of(outcomes.indices)
        grouped = {}
        for arm in np.unique(arms):
            values = advantages[arms == arm].reshape(-1)
            values = values[~np.isnan(values)]
            if values.size:
                grouped[int(arm)] = values
        return grouped

    def metrics(self) -> dict[str, float]:
        probabilities = self.arm_probabilities()[self._nonempty]
        return {"prob_min": float(probabilities.min()), "prob_max": float(probabilities.max())}


@register("dump")
class DUMP(_ArmBandit):
    """UCB over arms scored by recent mean |advantage|, sampled by a softmax.

    From "DUMP: Automated Distribution-Level Curriculum Learning for RL-based LLM
    Post-training" (Wang et al., 2025). Arms are the pool's groups (one arm without groups).
    Each arm keeps a sliding window of the |advantage| of its last ``window`` responses and a
    count ``n_j``; then ::

        UCB_j = mean(window_j) + c * sqrt(2 ln(N + 1) / (n_j + 1)),   N = sum_j n_j
        P(j)  = softmax(UCB / temperature)

    An arm is drawn per batch slot, then an item uniformly within it (without replacement
    within the arm until all its items were drawn).

    Decisions: ``n_j`` counts responses (rollouts), the same units the window holds, as in
    the authors' code where each batch row is one response; a scalar-reward item counts as
    one response (advantage 0). An arm never observed has an empty window, whose mean is 0,
    so it is ranked by its exploration bonus alone. Advantages are the trainer's when given,
    else GRPO's group-normalised ones (:meth:`Outcomes.group_advantages`). Batches without
    rewards change nothing.

    Args:
        window: responses kept per arm (W = 300 in the paper).
        c: weight of the exploration bonus (1).
        temperature: softmax temperature T (0.1).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=6, groups=["a", "a", "a", "b", "b", "b"])
        >>> cur = Curriculum(pool, "dump", seed=0)
        >>> cur.observe(Outcomes([0, 3], rewards=[[1, 0], [1, 1]]))  # |A| = 1, 1 and 0, 0
        >>> cur.strategy.ucb_scores().round(3).tolist()  # 1 + 1.036 and 0 + 1.036
        [2.036, 1.036]
        >>> cur.strategy.arm_probabilities().round(5).tolist()  # softmax(UCB / 0.1)
        [0.99995, 5e-05]
    """

    def __init__(self, *, window: int = 300, c: float = 1.0, temperature: float = 0.1) -> None:
        self.window = positive_int("window", window)
        self.c = _positive_float("c", c, allow_zero=True)
        self.temperature = _positive_float("temperature", temperature)

    def _setup(self) -> None:
        super()._setup()
        self._buffer = np.zeros((self._arms, self.window))  # ring buffer of |advantage|
        self._filled = np.zeros(self._arms, dtype=np.int64)  # values held, <= window
        self._head = np.zeros(self._arms, dtype=np.int64)  # next write position
        self._counts = np.zeros(self._arms, dtype=np.int64)  # n_j: responses ever observed

    def window_means(self) -> np.ndarray:
        """Mean |advantage| in each arm's window (0 for an empty window)."""
        return self._buffer.sum(axis=1) / np.maximum(self._filled, 1)

    def ucb_scores(self) -> np.ndarray:
        """UCB_j = mean(window_j) + c * sqrt(2 ln(N + 1) / (n_j + 1)) per arm."""
        total = self._counts.sum()
        bonus = np.sqrt(2.0 * np.log(total + 1.0) / (self._counts + 1.0))
        return self.window_means() + self.c * bonus

    def arm_probabilities(self) -> np.ndarray:
        return _softmax(self.ucb_scores(), self.temperature, self._nonempty)

    def observe(self, outcomes: Outcomes) -> None:
        for arm, values in self._abs_advantages_by_arm(outcomes).items():
            self._push(arm, values)
            self._counts[arm] += values.size

    def _push(self, arm: int, values: np.ndarray) -> None:
        """Append to the arm's window, keeping its last ``window`` values."""
        size = self.window
        if values.size >= size:
            self._buffer[arm] = values[-size:]
            self._filled[arm], self._head[arm] = size, 0
            return
        positions = (self._head[arm] + np.arange(values.size)) % size
        self._buffer[arm, positions] = values
        self._head[arm] = (self._head[arm] + values.size) % size
        self._filled[arm] = min(size, self._filled[arm] + values.size)

    def state_dict(self) -> dict[str, Any]:
        return {
            "windows": self._buffer.copy(),
            "filled": self._filled.copy(),
            "head": self._head.copy(),
            "counts": self._counts.copy(),
            "within": self._within.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        windows = np.array(state["windows"], dtype=np.float64)
        if windows.shape != self._buffer.shape:
            raise ValueError(
                f"DUMP state has windows of shape {windows.shape}, expected {self._buffer.shape}"
            )
        self._buffer = windows
        self._filled = np.array(state["filled"], dtype=np.int64)
        self._head = np.array(state["head"], dtype=np.int64)
        self._counts = np.array(state["counts"], dtype=np.int64)
        self._within.load_state_dict(state["within"])

    def metrics(self) -> dict[str, float]:
        return {
            **super().metrics(),
            "ucb_max": float(self.ucb_scores()[self._nonempty].max()),
            "responses": float(self._counts.sum()),
        }


@register("sec")
class SEC(_ArmBandit):
    """Non-stationary bandit over arms valued by mean |advantage|, Boltzmann sampling.

    From "Self-Evolving Curriculum for LLM Reasoning" (Chen et al., 2025). Arms are the
    pool's groups (one arm without groups). After a step, every arm c with responses in the
    batch gets reward r_c = mean |advantage| over those responses, and ::

        Q_c <- alpha * r_c + (1 - alpha) * Q_c        (TD(0); Q starts at 0)
        pi(c) = exp(Q_c / tau) / sum_c' exp(Q_c' / tau)

    The paper updates observed arms only (default). With ``decay_unsampled=True`` arms
    without responses in the batch decay toward 0, ``Q_c <- (1 - alpha) * Q_c``, as in the
    authors' code. Batches without rewards change nothing. An arm is drawn per batch slot,
    then an item uniformly within it (without replacement within the arm per pass).

    Args:
        alpha: learning rate of the TD(0) update, in (0, 1] (0.5).
        tau: Boltzmann temperature (1; the paper's runs used 0.2-1).
        decay_unsampled: decay the values of arms absent from the batch (authors' code).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, groups=["a", "a", "b", "b"])
        >>> cur = Curriculum(pool, "sec", seed=0)
        >>> cur.observe(Outcomes([0], rewards=[[1, 0]], advantages=[[1.0, -1.0]]))
        >>> cur.strategy.q_values().tolist()  # 0.5 * 1 + 0.5 * 0
        [0.5, 0.0]
        >>> cur.strategy.arm_probabilities().round(4).tolist()  # e^0.5 / (e^0.5 + 1)
        [0.6225, 0.3775]
    """

    def __init__(self, *, alpha: float = 0.5, tau: float = 1.0, decay_unsampled: bool = False):
        self.alpha = _positive_float("alpha", alpha)
        if self.alpha > 1:
            raise ValueError(f"alpha must lie in (0, 1], got {self.alpha}")
        self.tau = _positive_float("tau", tau)
        if not isinstance(decay_unsampled, bool | np.bool_):
            raise ValueError(f"decay_unsampled must be a bool, got {decay_unsampled!r}")
        self.decay_unsampled = bool(decay_unsampled)

    def _setup(self) -> None:
        super()._setup()
        self._q = np.zeros(self._arms)

    def q_values(self) -> np.ndarray:
        """Current value Q_c of each arm."""
        return self._q.copy()

    def arm_probabilities(self) -> np.ndarray:
        return _softmax(self._q, self.tau, self._nonempty)

    def observe(self, outcomes: Outcomes) -> None:
        grouped = self._abs_advantages_by_arm(outcomes)
        if not grouped:
            return
        observed = np.zeros(self._arms, dtype=bool)
        for arm, values in grouped.items():
            reward = values.mean()  # r_c: mean |advantage| of the arm's responses this step
            self._q[arm] = self.alpha * reward + (1.0 - self.alpha) * self._q[arm]
            observed[arm] = True
        if self.decay_unsampled:
            self._q[~observed] *= 1.0 - self.alpha

    def state_dict(self) -> dict[str, Any]:
        return {"q": self._q.copy(), "within": self._within.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        q = np.array(state["q"], dtype=np.float64)
        if q.shape != self._q.shape:
            raise ValueError(f"SEC state has {q.size} arm values, the pool has {self._arms} arms")
        self._q = q
        self._within.load_state_dict(state["within"])

    def metrics(self) -> dict[str, float]:
        values = self._q[self._nonempty]
        return {**super().metrics(), "q_min": float(values.min()), "q_max": float(values.max())}
