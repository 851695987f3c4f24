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

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._toolbox import GroupPasses, RingBuffer, empty_proposal, softmax
from stepladder.strategies.base import PROMPT_SELECTION_NET, Proposal, Strategy

__all__ = ["DUMP", "SEC"]


class _ArmBandit(Strategy):
    """Shared machinery: arms = pool groups, arm distribution, per-arm draws, arm of an item."""

    feedback = ("rewards",)  # |advantage|: given advantages, else GRPO's from the rewards

    def _setup(self) -> None:
        self._arms = self.pool.n_groups
        self._nonempty = self.pool.group_sizes() > 0
        self._within = GroupPasses(self.pool)  # items of each arm in shuffled passes

    def arm_probabilities(self) -> np.ndarray:
        """Probability of drawing each arm (pool group code order) at the next proposal."""
        raise NotImplementedError

    def _arm_of(self, indices: np.ndarray) -> np.ndarray:
        if self.pool.groups is None:
            return np.zeros(len(indices), dtype=np.int64)
        return self.pool.groups[indices].astype(np.int64)

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
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

    default_safety_net = PROMPT_SELECTION_NET

    learned = ("_windows", "_counts", "_within")

    def __init__(self, *, window: int = 300, c: float = 1.0, temperature: float = 0.1) -> None:
        self.window = positive_int("window", window)
        self.c = number("c", c, low=0.0)
        self.temperature = number("temperature", temperature, low=0.0, open_low=True)

    def _setup(self) -> None:
        super()._setup()
        self._windows = RingBuffer(rows=self._arms, window=self.window)  # |advantage| per arm
        self._counts = np.zeros(self._arms, dtype=np.int64)  # n_j: responses ever observed

    def window_means(self) -> np.ndarray:
        """Mean |advantage| in each arm's window (0 for an empty window)."""
        return self._windows.means()

    def ucb_scores(self) -> np.ndarray:
        """UCB_j = mean(window_j) + c * sqrt(2 ln(N + 1) / (n_j + 1)) per arm."""
        total = self._counts.sum()
        bonus = np.sqrt(2.0 * np.log(total + 1.0) / (self._counts + 1.0))
        return self.window_means() + self.c * bonus

    def arm_probabilities(self) -> np.ndarray:
        return softmax(self.ucb_scores(), self.temperature, self._nonempty)

    def observe(self, outcomes: Outcomes) -> None:
        for arm, values in self._abs_advantages_by_arm(outcomes).items():
            self._windows.push(arm, values)
            self._counts[arm] += values.size

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

    default_safety_net = PROMPT_SELECTION_NET

    learned = ("_q", "_within")

    def __init__(self, *, alpha: float = 0.5, tau: float = 1.0, decay_unsampled: bool = False):
        self.alpha = number("alpha", alpha, low=0.0, high=1.0, open_low=True)
        self.tau = number("tau", tau, low=0.0, open_low=True)
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
        return softmax(self._q, self.tau, self._nonempty)

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

    def metrics(self) -> dict[str, float]:
        values = self._q[self._nonempty]
        return {**super().metrics(), "q_min": float(values.min()), "q_max": float(values.max())}
