"""What the pass-rate posterior strategies (``posterior.py``, ``budget.py``) share.

- :class:`PosteriorStrategy`: a Beta posterior of every item's pass rate, updated from rewards.
- :func:`beta_prior` and :func:`check_rollout_bounds`: parameter checks.
- :func:`allocate_proportional`: a total split in proportion to weights, within bounds, rounded
  so that the total is met exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from stepladder._checks import finite_array, number, positive_int
from stepladder.difficulty.passrate import BetaPassRate
from stepladder.outcomes import Outcomes
from stepladder.strategies._toolbox import ShuffledPasses
from stepladder.strategies.base import Strategy

__all__ = [
    "SLACK",
    "PosteriorStrategy",
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

    Subclasses set ``prior`` (and ``decay``, default 1) in ``__init__``. :meth:`_choose`
    draws prompts in shuffled passes over the pool
    (:class:`~stepladder.strategies._toolbox.ShuffledPasses`, the same order as the
    ``uniform`` strategy) from the curriculum's generator. ``_last`` holds scalars about the
    latest proposal, reported by :meth:`metrics` and kept in the state. Everything here costs
    O(batch) per step; checkpoints hold the items whose posterior left the prior.
    """

    allocates_rollouts = True
    feedback = ("rewards",)
    learned = ("posterior", "_passes", "_last")

    prior: tuple[float, float]

    def _setup(self) -> None:
        alpha0, beta0 = self.prior
        decay = getattr(self, "decay", 1.0)
        self.posterior = BetaPassRate(self.pool.size, alpha0=alpha0, beta0=beta0, decay=decay)
        self._passes = ShuffledPasses(self.pool.size)
        self._last: dict[str, float] = {}

    def _choose(self, n: int) -> np.ndarray:
        """``n`` prompts, uniformly without replacement within each pass over the pool."""
        return self._passes.draw(n, self.rng)

    def observe(self, outcomes: Outcomes) -> None:
        """Add each group's successes (sum of rewards) and trials (rollouts) to the posterior."""
        if len(outcomes) == 0 or outcomes.rewards is None:
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
