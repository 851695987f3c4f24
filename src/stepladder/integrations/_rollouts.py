"""What the RL trainer adapters (TRL, verl) share: budgets as whole groups, rows to outcomes,
reward scaling, per-source metrics. Framework-free: NumPy and the core package only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool

__all__ = [
    "ALLOCATIONS",
    "FILTERINGS",
    "RewardScale",
    "group_metrics",
    "groups_from_rollouts",
    "outcomes_from_rows",
]

#: How an adapter handles rollout budgets: whole groups per prompt, or one group each.
ALLOCATIONS = ("groups", "ignore")
#: How an adapter handles groups a filtering strategy rejects: zero their advantages, or train.
FILTERINGS = ("mask", "ignore")


def groups_from_rollouts(rollouts: Any, n_groups: int) -> np.ndarray:
    """Turn per-item rollout counts into a whole number of groups per item, ``n_groups`` in all.

    Trainers generate a fixed group size G per prompt (TRL's ``num_generations``, verl's
    ``rollout.n``), so a budget of ``r_i`` rollouts becomes about ``r_i / G`` groups: shares
    ``n_groups * r_i / sum(r)`` rounded by largest remainder (ties to the earlier item). Items
    may get 0 groups or several.

    Example:
        >>> groups_from_rollouts([16, 2, 8, 6], 4).tolist()
        [2, 0, 1, 1]
        >>> groups_from_rollouts([8, 8, 8], 3).tolist()
        [1, 1, 1]
    """
    counts = np.asarray(rollouts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f"rollouts must be non-negative counts with a positive sum, got {counts}")
    shares = counts * (n_groups / counts.sum())
    groups = np.floor(shares).astype(np.int64)
    left = n_groups - int(groups.sum())
    order = np.argsort(-(shares - groups), kind="stable")
    groups[order[:left]] += 1
    return groups


def outcomes_from_rows(
    indices: np.ndarray,
    rewards: np.ndarray,
    advantages: np.ndarray | None = None,
    *,
    step: int | None = None,
) -> tuple[Outcomes, np.ndarray]:
    """Per-prompt outcomes from the flat rollout rows of a batch, in any row order.

    Rows with the same prompt index become one item (several groups of one prompt merge),
    items in order of first appearance; NaN rewards (unscorable completions) are left out.
    Returns the outcomes and, for every row, the position of its item in them.

    Example:
        >>> out, item = outcomes_from_rows(
        ...     np.array([7, 3, 7, 3, 7]), np.array([1.0, 1, 0, 0, np.nan]))
        >>> out.indices.tolist(), out.rollouts.tolist(), item.tolist()
        ([7, 3], [2, 2], [0, 1, 0, 1, 0])
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if advantages is not None:
        advantages = np.asarray(advantages, dtype=np.float64).reshape(-1)
    if len(rewards) != len(indices) or (advantages is not None and len(advantages) != len(indices)):
        raise ValueError(
            f"{len(indices)} rows, {len(rewards)} rewards"
            + ("" if advantages is None else f" and {len(advantages)} advantages")
            + ": one of each per row is needed"
        )
    items, first, item_of_index = np.unique(indices, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # items in order of first appearance
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    item_of_row = position[item_of_index]
    reward_groups: list[list[float]] = [[] for _ in order]
    advantage_groups: list[list[float]] = [[] for _ in order]
    scored = ~np.isnan(rewards)
    for row in np.flatnonzero(scored).tolist():
        reward_groups[item_of_row[row]].append(float(rewards[row]))
        if advantages is not None:
            advantage_groups[item_of_row[row]].append(float(advantages[row]))
    outcomes = Outcomes.from_groups(
        items[order],
        reward_groups,
        advantages=None if advantages is None else advantage_groups,
        step=step,
    )
    return outcomes, item_of_row


class RewardScale:
    """Maps a trainer's reward range ``(low, high)`` linearly onto ``[0, 1]``, the scale of
    :class:`~stepladder.Outcomes` rewards; values outside are clipped, with one warning.

    Example:
        >>> RewardScale((-1.0, 1.0))(np.array([-1.0, 0.0, 1.0])).tolist()
        [0.0, 0.5, 1.0]
    """

    def __init__(
        self, reward_range: tuple[float, float], logger: logging.Logger | None = None
    ) -> None:
        try:
            low, high = (float(v) for v in reward_range)
        except (TypeError, ValueError):
            low, high = np.nan, np.nan
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(
                f"reward_range must be finite (low, high) with low < high, got {reward_range}"
            )
        self.range = (low, high)
        self._logger = logger or logging.getLogger(__name__)
        self._warned = False

    def __call__(self, rewards: np.ndarray) -> np.ndarray:
        low, high = self.range
        scaled = (np.asarray(rewards, dtype=np.float64) - low) / (high - low)
        with np.errstate(invalid="ignore"):
            outside = (scaled < -1e-6) | (scaled > 1 + 1e-6)
        if outside.any() and not self._warned:
            self._logger.warning(
                "rewards outside reward_range=%s (e.g. %s) are clipped to it; pass "
                "reward_range=(low, high) covering the trainer's total reward",
                self.range,
                float(np.asarray(rewards)[outside][0]),
            )
            self._warned = True
        return np.clip(scaled, 0.0, 1.0)


def group_metrics(
    pool: ItemPool, outcomes: Outcomes, *, prefix: str = "curriculum/source/"
) -> dict[str, float]:
    """Per-source (pool group) metrics of one batch, for a trainer's logger.

    For every group: ``<prefix><name>/share``, its share of the batch's items (0 when
    absent). For every group present: ``/pass_rate``, the mean reward over its rollouts, and
    ``/effective_ratio``, the share of its items whose rollouts got different rewards (a
    non-zero GRPO signal), when the batch has rewards. Empty for a pool without groups or an
    empty batch. O(batch + groups).

    Example:
        >>> pool = ItemPool(size=4, groups=["math", "math", "code", "code"])
        >>> out = Outcomes([0, 1, 2], rewards=[[1, 0], [1, 1], [0, 0]])
        >>> group_metrics(pool, out)  # doctest: +NORMALIZE_WHITESPACE
        {'curriculum/source/math/share': 0.6666666666666666,
         'curriculum/source/code/share': 0.3333333333333333,
         'curriculum/source/math/pass_rate': 0.75,
         'curriculum/source/math/effective_ratio': 0.5,
         'curriculum/source/code/pass_rate': 0.0,
         'curriculum/source/code/effective_ratio': 0.0}
    """
    if pool.groups is None or len(outcomes) == 0:
        return {}
    n_groups = len(pool.group_names)
    codes = pool.groups[outcomes.indices]
    items = np.bincount(codes, minlength=n_groups)
    names = [str(name) for name in pool.group_names]
    metrics = {f"{prefix}{names[g]}/share": items[g] / len(outcomes) for g in range(n_groups)}
    if outcomes.rewards is None:
        return {key: float(value) for key, value in metrics.items()}
    rollouts = np.bincount(codes, weights=outcomes.rollouts, minlength=n_groups)
    rewards = np.bincount(codes, weights=outcomes.reward_sum, minlength=n_groups)
    mixed = np.bincount(codes, weights=outcomes.mixed, minlength=n_groups)
    for g in np.flatnonzero(items):
        if rollouts[g] > 0:
            metrics[f"{prefix}{names[g]}/pass_rate"] = rewards[g] / rollouts[g]
        metrics[f"{prefix}{names[g]}/effective_ratio"] = mixed[g] / items[g]
    return {key: float(value) for key, value in metrics.items()}
