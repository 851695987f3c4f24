"""What the pass-rate posterior strategies (``posterior.py``, ``budget.py``) share.

- :class:`PosteriorStrategy`: a Beta posterior of every item's pass rate, read from the
  curriculum's statistics or kept where it forgets or resets.
- :func:`beta_prior` and :func:`check_rollout_bounds`: parameter checks.
- :class:`RecentRewards`: the last rewards of every observed item (Knapsack RL's estimate).
- :func:`allocate_proportional`: a total split in proportion to weights, within bounds, rounded
  so that the total is met exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from stepladder._checks import finite_array, index_array, number, positive_int
from stepladder.difficulty.passrate import BetaPassRate
from stepladder.outcomes import Outcomes
from stepladder.strategies._toolbox import ShuffledPasses
from stepladder.strategies.base import Strategy

__all__ = [
    "SLACK",
    "PosteriorStrategy",
    "RecentRewards",
    "allocate_proportional",
    "beta_prior",
    "check_rollout_bounds",
]

#: Slack that keeps ``ceil``/``floor`` of quotients such as ``4 / (1/3)`` from stepping past
#: the integer that exact arithmetic gives.
SLACK = 1e-9


def beta_prior(value: Any) -> tuple[float, float]:
    """A Beta prior ``(alpha0, beta0)`` of two positive numbers.

    Example:
        >>> beta_prior([1, 2])
        (1.0, 2.0)
    """
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"prior must be a pair (alpha0, beta0), got {value!r}")
    return (
        number("prior[0]", value[0], low=0, open_low=True),
        number("prior[1]", value[1], low=0, open_low=True),
    )


def check_rollout_bounds(rollouts: int, low: int, high: int | None) -> None:
    """Raise ``ValueError`` unless ``low <= rollouts <= high`` (``high`` None: no cap)."""
    if low > rollouts or (high is not None and rollouts > high):
        upper = "" if high is None else f" <= max_rollouts={high}"
        raise ValueError(f"need min_rollouts={low} <= rollouts={rollouts}{upper}")


class PosteriorStrategy(Strategy):
    """A Beta posterior of every item's pass rate, updated from observed rewards.

    Subclasses set ``prior`` (and ``decay``, default 1) in ``__init__``. With no forgetting
    (``decay == 1``) and no reset (``resets`` False) the posterior of item ``i`` is
    ``Beta(alpha0 + successes_i, beta0 + failures_i)`` over all its history, which the
    curriculum's :class:`~stepladder.stats.ItemStats` already counts (updated before
    :meth:`observe`), so it is read from ``self.stats`` (:meth:`ItemStats.beta
    <stepladder.stats.ItemStats.beta>`): no state, update or checkpoint bytes of its own. That
    is the case of ``knapsack`` (its ``"posterior"`` and ``"observed"`` estimates; its default
    ``"recent"`` estimate keeps a window of rewards, :class:`RecentRewards`, and reads only the
    all-time reward counts from the statistics), ``gfpo``, ``dart`` and ``mopps`` at its default
    ``decay=1``. The others keep their own
    :class:`~stepladder.difficulty.passrate.BetaPassRate` as ``posterior`` (None otherwise):
    ``mopps`` with ``decay < 1`` (old evidence fades) and ``cures`` (every iteration resets
    its subset to the prior). Read the posterior through :meth:`beta`, :meth:`pass_mean` and
    :meth:`observed`, which pick the right source.

    :meth:`_choose` draws prompts in shuffled passes over the pool
    (:class:`~stepladder.strategies._toolbox.ShuffledPasses`, the same order as the
    ``uniform`` strategy) from the curriculum's generator. ``_last`` holds scalars about the
    latest proposal, reported by :meth:`metrics` and kept in the state. Everything here costs
    O(batch) per step; checkpoints hold the items whose own posterior left the prior.
    """

    allocates_rollouts = True
    feedback = ("rewards",)
    learned = ("_passes", "_last")
    #: Whether the posterior returns to the prior now and then (then it is kept here).
    resets: ClassVar[bool] = False

    prior: tuple[float, float]
    posterior: BetaPassRate | None

    def _setup(self) -> None:
        alpha0, beta0 = self.prior
        decay = getattr(self, "decay", 1.0)
        self.posterior = None
        if self.resets or decay != 1.0:
            self.posterior = BetaPassRate(self.pool.size, alpha0=alpha0, beta0=beta0, decay=decay)
            if "posterior" not in self.learned:
                self.learned = ("posterior", *self.learned)
        self._passes = ShuffledPasses(self.pool.size)
        self._last: dict[str, float] = {}

    def beta(self, items: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior ``(alpha, beta)`` of ``items`` (all items when None)."""
        post = self.posterior
        if post is None:
            return self.stats.beta(items, self.prior)
        if items is None:
            return post.alpha.copy(), post.beta.copy()
        idx = np.asarray(items, dtype=np.int64)
        return post.alpha[idx], post.beta[idx]

    def pass_mean(self, items: Any = None) -> np.ndarray:
        """Posterior mean pass rate ``alpha / (alpha + beta)`` of ``items`` (all when None)."""
        alpha, beta = self.beta(items)
        return alpha / (alpha + beta)

    def observed(self, items: Any) -> np.ndarray:
        """True for items whose posterior has absorbed at least one reward."""
        idx = np.asarray(items, dtype=np.int64)
        post = self.posterior
        if post is None:
            return self.stats.attempts[idx] > 0
        return (post.alpha[idx] != post.alpha0) | (post.beta[idx] != post.beta0)

    def _choose(self, n: int) -> np.ndarray:
        """``n`` prompts, uniformly without replacement within each pass over the pool."""
        return self._passes.draw(n, self.rng)

    def observe(self, outcomes: Outcomes) -> None:
        """Add each group's successes (sum of rewards) and trials (rollouts) to the posterior
        kept here, if any (the shared statistics are already up to date)."""
        if self.posterior is None or len(outcomes) == 0 or outcomes.rewards is None:
            return
        self.posterior.update(outcomes.indices, outcomes.reward_sum, outcomes.rollouts)

    def metrics(self) -> dict[str, float]:
        return dict(self._last)

    def _summarise(self, items: np.ndarray, rollouts: np.ndarray, p: np.ndarray) -> None:
        if len(items):
            self._last = {
                "mean_rollouts": float(rollouts.mean()),
                "max_rollouts": float(rollouts.max()),
                "min_rollouts": float(rollouts.min()),
                "mean_pass_estimate": float(p.mean()),
            }


def allocate_proportional(
    weights: Any, total: int, *, low: int = 1, high: int | None = None
) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights``, each within ``[low, high]``.

    The real-valued split is ``x_i = clip(c * w_i, low, high)`` with the one ``c`` for which
    ``sum x_i = total`` (found by bisection, then solved exactly on its linear piece); zero
    weights get ``low`` (all weights zero: equal shares). Integers come from the largest
    remainder method: every item gets ``floor(x_i)``, and the items with the largest fractional
    parts (ties: lower position first) get one more until the total is met exactly.

    Example:
        >>> allocate_proportional([0.5, 0.3, 0.2], 20, low=2).tolist()
        [10, 6, 4]
        >>> allocate_proportional([1.0, 1.0, 1.0], 10, low=2).tolist()  # remainder to the first
        [4, 3, 3]
        >>> allocate_proportional([100.0, 1.0], 12, low=2, high=8).tolist()
        [8, 4]
    """
    w = finite_array("weights", weights, ndim=(1,))
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative, got {w[np.argmax(w < 0)]}")
    total = positive_int("total", total, allow_zero=True)
    low = positive_int("low", low, allow_zero=True)
    cap = math.inf if high is None else positive_int("high", high)
    k = len(w)
    if low > cap:
        raise ValueError(f"low={low} exceeds high={high}")
    if total < k * low or total > k * cap:
        raise ValueError(f"cannot split {total} into {k} parts within [{low}, {high}]")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if not (w > 0).any():
        w = np.ones(k)
    return _largest_remainder(_water_fill(w, total, low, cap), total, low, cap)


def _water_fill(w: np.ndarray, total: int, low: int, cap: float) -> np.ndarray:
    """Real ``x = clip(c w, low, cap)`` (zero weights at ``low``) summing to ``total``."""
    pos = w > 0
    wp = w[pos]
    zeros = int(np.count_nonzero(~pos))
    x = np.full(len(w), float(low))
    if total >= len(wp) * cap + zeros * low:  # every weighted item at its cap
        x[pos] = cap
        if zeros:
            x[~pos] += (total - len(wp) * cap - zeros * low) / zeros
        return x

    def filled(c: float) -> float:
        return float(np.clip(c * wp, low, cap).sum()) + zeros * low

    lo, hi = 0.0, (cap if math.isfinite(cap) else float(total)) / float(wp.min())
    for _ in range(200):  # bisection down to adjacent doubles
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if filled(mid) < total:
            lo = mid
        else:
            hi = mid
    c = hi
    free = (c * wp > low) & (c * wp < cap)
    if free.any():  # exact solution on this linear piece: fixed part + c * (free weights)
        fixed = np.where(c * wp >= cap, cap, float(low))[~free].sum() + zeros * low
        c = (total - fixed) / wp[free].sum()
    x[pos] = np.clip(c * wp, low, cap)
    return x


def _largest_remainder(x: np.ndarray, total: int, low: int, cap: float) -> np.ndarray:
    """Integers within ``[low, cap]`` near ``x`` that sum to ``total`` exactly."""
    base = np.clip(np.floor(x + SLACK), low, cap).astype(np.int64)
    frac = x - base
    short = total - int(base.sum())
    while short > 0:  # one more to the largest fractional parts with room
        order = np.argsort(-frac, kind="stable")
        order = order[base[order] < cap][:short]
        base[order] += 1
        frac[order] -= 1.0
        short -= len(order)
    while short < 0:  # float noise only: one less to the smallest fractional parts
        order = np.argsort(frac, kind="stable")
        order = order[base[order] > low][:-short]
        base[order] -= 1
        frac[order] += 1.0
        short += len(order)
    return base


class RecentRewards:
    """The last ``window`` rewards of every observed item.

    Storage grows with the items observed: a pool-sized slot map (allocated zeroed, so
    untouched pages cost no memory) and one row of ``window`` rewards per observed item, kept
    in order, oldest first. :meth:`estimate` is Knapsack RL's recent pass rate (authors'
    ``rl_dataset.update_sample_state`` with ``epoch_estimation`` and
    ``robust_epoch_estimation``): the mean of the latest group when it holds at least
    ``window`` rewards, else the mean of the last ``window`` rewards across groups. (The
    all-time reward count, which the authors also use, is the curriculum's
    ``stats.attempts``.)

    Example:
        >>> recent = RecentRewards(3, window=4)
        >>> recent.push(np.array([2, 2]), np.array([[1.0, 0.0, 0.0], [1.0, 1.0, np.nan]]))
        >>> recent.estimate([2, 0]).tolist()
        [0.5, nan]
    """

    def __init__(self, size: int, window: int) -> None:
        self.size, self.window = int(size), int(window)
        self._slot = np.zeros(self.size, dtype=np.int64)  # slot + 1; 0 = never observed
        self._used = 0
        self._allocate(0)

    def _allocate(self, capacity: int) -> None:
        """Grow the per-slot arrays to ``capacity`` rows (doubling keeps pushes amortised O(1))."""
        used = self._used
        grown = {
            "_items": np.zeros(capacity, dtype=np.int64),
            "_values": np.full((capacity, self.window), np.nan),  # NaN = not yet filled
            "_latest": np.full(capacity, np.nan),  # latest group's mean if >= window, else NaN
        }
        for name, array in grown.items():
            if used:
                array[:used] = getattr(self, name)[:used]
            setattr(self, name, array)

    def _slots(self, items: np.ndarray) -> np.ndarray:
        """Slots of ``items`` (unique), creating them for items never seen."""
        new = items[self._slot[items] == 0]
        if len(new):
            start, end = self._used, self._used + len(new)
            if end > len(self._items):
                self._allocate(max(end, 2 * len(self._items)))
            self._slot[new] = np.arange(start + 1, end + 1)
            self._items[start:end] = new
            self._used = end
        return self._slot[items] - 1

    def push(self, items: np.ndarray, rewards: np.ndarray) -> None:
        """Append each row of ``rewards`` (NaN-padded on the right; 1-D: one reward per item)
        to its item, in order."""
        items = np.asarray(items, dtype=np.int64)
        if len(items) == 0:
            return
        rewards = np.asarray(rewards, dtype=np.float64).reshape(len(items), -1)
        # Repeated items are pushed in rounds (k-th occurrence in round k), keeping their order.
        order = np.argsort(items, kind="stable")
        first = np.r_[0, np.flatnonzero(np.diff(items[order])) + 1]
        rank = np.empty(len(items), dtype=np.int64)
        rank[order] = np.arange(len(items)) - np.repeat(first, np.diff(np.r_[first, len(items)]))
        for r in range(int(rank.max()) + 1):
            rows = np.flatnonzero(rank == r)
            self._push_unique(items[rows], rewards[rows])

    def _push_unique(self, items: np.ndarray, rewards: np.ndarray) -> None:
        slots = self._slots(items)
        sizes = np.sum(~np.isnan(rewards), axis=1)
        # Old window, then the new group; the last ``window`` values end at column w + size.
        joined = np.concatenate([self._values[slots], rewards], axis=1)
        columns = sizes[:, None] + np.arange(self.window)
        self._values[slots] = np.take_along_axis(joined, columns, axis=1)
        with np.errstate(invalid="ignore"):
            means = np.nansum(rewards, axis=1) / np.maximum(sizes, 1)
        self._latest[slots] = np.where(sizes >= self.window, means, np.nan)

    def estimate(self, items: Any) -> np.ndarray:
        """Recent pass rate per item (NaN where nothing was observed)."""
        slot = self._slot[np.asarray(items, dtype=np.int64)]
        seen = slot > 0
        out = np.full(len(slot), np.nan)
        rows = slot[seen] - 1
        values = self._values[rows]
        filled = np.sum(~np.isnan(values), axis=1)
        window_mean = np.nansum(values, axis=1) / np.maximum(filled, 1)
        latest = self._latest[rows]
        out[seen] = np.where(np.isnan(latest), window_mean, latest)
        return out

    def state_dict(self) -> dict[str, Any]:
        used = self._used
        return {
            "items": self._items[:used].copy(),
            "values": self._values[:used].copy(),
            "latest": self._latest[:used].copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        items = index_array("items", state["items"], self.size)
        values = np.asarray(state["values"], dtype=np.float64).reshape(-1, self.window)
        latest = np.asarray(state["latest"], dtype=np.float64)
        if not len(items) == len(values) == len(latest):
            raise ValueError("recent rewards: items, values and latest differ in length")
        if len(np.unique(items)) != len(items):
            raise ValueError("recent rewards: repeated items")
        self._slot = np.zeros(self.size, dtype=np.int64)
        self._slot[items] = np.arange(1, len(items) + 1)
        self._used = len(items)
        self._items, self._values, self._latest = items.copy(), values.copy(), latest.copy()
