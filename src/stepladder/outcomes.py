"""Feedback from one training step: which items were trained and what happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stepladder._checks import finite_array, first_bad, float_array, index_array

__all__ = ["Outcomes"]


@dataclass(frozen=True, eq=False)
class Outcomes:
    """A batch of feedback, the one type every strategy observes.

    Attributes:
        indices: item indices, shape ``(n,)``; an item may appear more than once.
        rewards: scores in ``[0, 1]`` (1 = success), one per item ``(n,)`` or one per rollout
            ``(n, G)``. NaN is an error: groups of different sizes need ``counts`` (or
            :meth:`from_groups`, which sets it).
        counts: optional rollouts per row of 2-D ``rewards``, each in ``0..G``: row ``i`` holds
            ``counts[i]`` rewards in its first columns; the entries after them are padding,
            ignored whatever they hold (stored as NaN, so ``rewards`` is NaN-padded on the
            right). None when every row is full.
        advantages: optional advantages, same shape as ``rewards`` (padding as for rewards).
        losses: optional per-item training loss ``(n,)``.
        signals: optional per-item model signal ``(n,)`` (entropy, uncertainty, any scalar).
        step: optional training step the feedback belongs to.

    Example:
        >>> out = Outcomes([3, 7], rewards=[[1, 0, 1, 1], [0, 0, 0, 0]])
        >>> out.pass_rate.tolist(), out.mixed.tolist(), out.rollouts.tolist()
        ([0.75, 0.0], [True, False], [4, 4])
        >>> Outcomes.from_groups([0, 1], [[1, 0], [1, 1, 0, 1]]).rollouts.tolist()
        [2, 4]
        >>> out.mean_abs_advantage().round(3).tolist()  # GRPO advantages when none are given
        [0.866, 0.0]
        >>> Outcomes([0, 1], [[1, 0, 0], [1, 0, 0]], counts=[3, 1]).pass_rate.tolist()  # padded
        [0.3333333333333333, 1.0]
    """

    indices: np.ndarray
    rewards: np.ndarray | None = None
    counts: np.ndarray | None = None
    advantages: np.ndarray | None = None
    losses: np.ndarray | None = None
    signals: np.ndarray | None = None
    step: int | None = None

    def __init__(
        self,
        indices: Any,
        rewards: Any = None,
        *,
        counts: Any = None,
        advantages: Any = None,
        losses: Any = None,
        signals: Any = None,
        step: int | None = None,
    ) -> None:
        idx = _indices(indices)
        n = len(idx)
        count_array, present = None, None
        if counts is not None:
            if rewards is None or np.ndim(rewards) != 2:
                raise ValueError("counts given without 2-D rewards (one row of rollouts per item)")
            count_array = _counts(counts, n, np.shape(rewards)[1])
            present = np.arange(np.shape(rewards)[1]) < count_array[:, None]
        reward_array = _scores("rewards", rewards, n, present)
        advantage_array = None
        if advantages is not None:
            if reward_array is None:
                raise ValueError("advantages given without rewards")
            advantage_array = _padded_like("advantages", advantages, reward_array, present)
        set_ = object.__setattr__
        set_(self, "indices", idx)
        set_(self, "rewards", reward_array)
        set_(self, "counts", count_array)
        set_(self, "advantages", advantage_array)
        set_(self, "losses", _per_item("losses", losses, n))
        set_(self, "signals", _per_item("signals", signals, n))
        set_(self, "step", None if step is None else int(step))

    @classmethod
    def from_groups(
        cls,
        indices: Any,
        groups: Sequence[Sequence[float]],
        *,
        advantages: Sequence[Sequence[float]] | None = None,
        **kwargs: Any,
    ) -> Outcomes:
        """Build outcomes from a list of reward groups of varying size (one per item)."""
        rewards = _pad(groups)
        padded_advantages = None if advantages is None else _pad(advantages)
        counts = np.array([len(g) for g in groups], dtype=np.int64)
        return cls(indices, rewards, counts=counts, advantages=padded_advantages, **kwargs)

    @classmethod
    def empty(cls) -> Outcomes:
        """An empty batch (observing it changes nothing but the step counter)."""
        return cls(np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def rollouts(self) -> np.ndarray:
        """Number of rewards per item (0 where the batch carries no rewards)."""
        if self.rewards is None:
            return np.zeros(len(self), dtype=np.int64)
        if self.rewards.ndim == 1:
            return np.ones(len(self), dtype=np.int64)
        if self.counts is not None:
            return self.counts.copy()
        return np.full(len(self), self.rewards.shape[1], dtype=np.int64)

    @property
    def reward_sum(self) -> np.ndarray:
        """Sum of rewards per item (successes for 0/1 rewards)."""
        if self.rewards is None:
            return np.zeros(len(self))
        if self.rewards.ndim == 1:
            return self.rewards.copy()
        return np.nansum(self.rewards, axis=1)

    @property
    def pass_rate(self) -> np.ndarray:
        """Mean reward per item; NaN for items without rewards."""
        counts = self.rollouts
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, self.reward_sum / np.maximum(counts, 1), np.nan)

    @property
    def mixed(self) -> np.ndarray:
        """True where an item's rollouts did not all get the same reward (non-zero GRPO signal)."""
        if self.rewards is None or self.rewards.ndim == 1:
            return np.zeros(len(self), dtype=bool)
        if self.rewards.shape[1] == 0:
            return np.zeros(len(self), dtype=bool)
        return np.nanmax(self.rewards, axis=1, initial=-np.inf) > np.nanmin(
            self.rewards, axis=1, initial=np.inf
        )

    def group_advantages(self) -> np.ndarray:
        """Per-rollout advantages: the given ones, else GRPO's (r - mean) / (std + 1e-6).

        Computed per group over its present rollouts (population std); NaN padding kept;
        zero for groups whose rewards are all equal and for scalar rewards.
        """
        if self.advantages is not None:
            return self.advantages
        if self.rewards is None:
            return np.zeros((len(self), 0))
        rewards = self.rewards if self.rewards.ndim == 2 else self.rewards[:, None]
        if rewards.shape[1] == 0:
            return rewards.copy()
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(rewards, axis=1, keepdims=True)
            std = np.nanstd(rewards, axis=1, keepdims=True)
        return (rewards - mean) / (std + 1e-6)

    def mean_abs_advantage(self) -> np.ndarray:
        """Mean |advantage| over each item's rollouts (0 for items without rewards)."""
        advantages = np.abs(self.group_advantages())
        if advantages.shape[1] == 0:
            return np.zeros(len(self))
        counts = np.sum(~np.isnan(advantages), axis=1)
        return np.where(counts > 0, np.nansum(advantages, axis=1) / np.maximum(counts, 1), 0.0)

    def select(self, mask: Any) -> Outcomes:
        """The sub-batch of items where ``mask`` (bool array or index array) selects."""

        def take(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[mask]

        return Outcomes(
            self.indices[mask],
            take(self.rewards),
            counts=take(self.counts),
            advantages=take(self.advantages),
            losses=take(self.losses),
            signals=take(self.signals),
            step=self.step,
        )


def _pad(groups: Sequence[Sequence[float]]) -> np.ndarray:
    width = max((len(g) for g in groups), default=0)
    padded = np.full((len(groups), width), np.nan)
    for row, group in enumerate(groups):
        values = np.asarray(group, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"groups[{row}] must be a flat sequence of rewards")
        if np.isnan(values).any():
            raise ValueError(f"groups[{row}] contains NaN")
        padded[row, : len(values)] = values
    return padded


def _indices(values: Any) -> np.ndarray:
    """Item indices as int64, refusing values that int64 cannot hold (they would wrap)."""
    array = np.asarray(values)
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        i = int(np.argmax(array.reshape(-1) > np.iinfo(np.int64).max))
        raise ValueError(f"indices[{i}] = {array.reshape(-1)[i]} is too large for an item index")
    idx = index_array("indices", array)
    if idx.size and idx.min() < 0:
        i = int(np.argmax(idx < 0))
        raise ValueError(f"indices[{i}] = {idx[i]} is negative")
    return idx


def _counts(values: Any, n: int, width: int) -> np.ndarray:
    array = np.asarray(values)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"counts must hold integers, got dtype {array.dtype}")
    if array.shape != (n,):
        raise ValueError(f"counts must have one entry per item ({n}), got shape {array.shape}")
    array = array.astype(np.int64)
    bad = (array < 0) | (array > width)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"counts[{i}] = {array[i]} is outside 0..{width} (the rewards' columns)")
    return array


def _nan_message(name: str, where: tuple[int, ...], padded: bool) -> str:
    if padded:
        return f"{name} contains NaN at {list(where)}, within the row's count"
    return (
        f"{name} contains NaN at {list(where)}; for groups of different sizes pass counts= "
        "(rollouts per row) or use Outcomes.from_groups"
    )


def _scores(name: str, values: Any, n: int, present: np.ndarray | None) -> np.ndarray | None:
    if values is None:
        return None
    array = float_array(name, values)
    if array.ndim not in (1, 2) or array.shape[0] != n:
        raise ValueError(f"{name} must have shape (n,) or (n, G) with n={n}, got {array.shape}")
    if array.ndim == 1 and np.isnan(array).any():
        raise ValueError(f"{name} contains NaN at position {int(np.argmax(np.isnan(array)))}")
    if present is not None:
        array = np.where(present, array, np.nan)  # padding is ignored, stored as NaN
        stray = present & np.isnan(array)
    else:
        stray = np.isnan(array)
    if stray.any():
        raise ValueError(_nan_message(name, first_bad(stray), present is not None))
    with np.errstate(invalid="ignore"):
        bad = (array < 0) | (array > 1) | np.isinf(array)
    if bad.any():
        where = first_bad(bad)
        raise ValueError(f"{name} must lie in [0, 1], got {array[where]} at {list(where)}")
    return array


def _padded_like(
    name: str, values: Any, rewards: np.ndarray, present: np.ndarray | None
) -> np.ndarray:
    array = float_array(name, values)
    if array.shape != rewards.shape:
        raise ValueError(
            f"{name} must have the shape of rewards {rewards.shape}, got {array.shape}"
        )
    if present is not None:
        array = np.where(present, array, np.nan)
    bad = ~np.isfinite(array) if present is None else present & ~np.isfinite(array)
    if bad.any():
        where = first_bad(bad)
        raise ValueError(
            f"{name} must be finite where rewards exist, got {array[where]} at {list(where)}"
        )
    return array


def _per_item(name: str, values: Any, n: int) -> np.ndarray | None:
    if values is None:
        return None
    array = finite_array(name, values, ndim=(1,))
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} values for {n} items")
    return array
