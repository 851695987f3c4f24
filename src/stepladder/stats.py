"""Running per-item statistics that the curriculum keeps and every strategy may read."""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder.outcomes import Outcomes

__all__ = ["ItemStats"]


class ItemStats:
    """Attempts, summed rewards and recency per item, updated from every observed batch.

    Arrays are allocated zeroed (the OS maps untouched pages lazily), so a pool of 10 million
    items costs memory only for the items ever observed. Checkpoints store touched items only.

    Attributes:
        attempts: rollouts observed per item (one per reward).
        successes: summed rewards per item (successes for 0/1 rewards).
        items_seen: number of distinct items observed so far (kept up to date in O(batch)).

    Example:
        >>> stats = ItemStats(4)
        >>> stats.update(Outcomes([1, 1, 3], rewards=[[1, 0], [1, 1], [0, 0]]), step=0)
        >>> stats.attempts.tolist(), stats.mean_reward([1, 3]).tolist(), stats.last_step.tolist()
        ([0, 4, 0, 2], [0.75, 0.0], [-1, 0, -1, 0])
        >>> stats.items_seen
        2
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.attempts = np.zeros(size, dtype=np.int64)
        self.successes = np.zeros(size, dtype=np.float64)
        self._seen_at = np.zeros(
            size, dtype=np.int64
        )  # step + 1 of the last observation; 0 = never
        self.items_seen = 0

    @property
    def last_step(self) -> np.ndarray:
        """Step of each item's most recent observation, -1 where never observed."""
        return self._seen_at - 1

    def seen(self, indices: Any = None) -> np.ndarray:
        """True where an item has been observed at least once."""
        seen_at = self._seen_at if indices is None else self._seen_at[np.asarray(indices)]
        return seen_at > 0

    def mean_reward(self, indices: Any = None) -> np.ndarray:
        """Running mean reward per item (pass rate); NaN where no reward was observed."""
        if indices is None:
            attempts, successes = self.attempts, self.successes
        else:
            idx = np.asarray(indices, dtype=np.int64)
            attempts, successes = self.attempts[idx], self.successes[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(attempts > 0, successes / np.maximum(attempts, 1), np.nan)

    def beta(
        self, indices: Any = None, prior: tuple[float, float] = (1.0, 1.0)
    ) -> tuple[np.ndarray, np.ndarray]:
        """Beta posterior of each item's pass rate: ``(alpha0 + successes, beta0 + failures)``.

        ``failures = attempts - successes`` (the summed ``1 - reward``) and ``prior`` is
        ``(alpha0, beta0)``. Every observation counts fully (no forgetting), so this is the
        posterior that the pass-rate strategies would otherwise keep item by item.

        Example:
            >>> stats = ItemStats(3)
            >>> stats.update(Outcomes([0, 0], rewards=[[1, 1, 0], [0, 0, 0]]), step=0)
            >>> alpha, beta = stats.beta([0, 2], prior=(1, 2))
            >>> alpha.tolist(), beta.tolist()
            ([3.0, 1.0], [6.0, 2.0])
        """
        if indices is None:
            attempts, successes = self.attempts, self.successes
        else:
            idx = np.asarray(indices, dtype=np.int64)
            attempts, successes = self.attempts[idx], self.successes[idx]
        alpha0, beta0 = prior
        return alpha0 + successes, beta0 + (attempts - successes)

    def update(self, outcomes: Outcomes, step: int) -> None:
        """Add one batch of feedback observed at ``step``."""
        if len(outcomes) == 0:
            return
        idx = outcomes.indices
        if outcomes.rewards is not None:
            np.add.at(self.attempts, idx, outcomes.rollouts)
            np.add.at(self.successes, idx, outcomes.reward_sum)
        new = idx[self._seen_at[idx] == 0]
        if len(new):
            self.items_seen += len(np.unique(new))
        self._seen_at[idx] = step + 1

    def state_dict(self) -> dict[str, Any]:
        """Touched items only, so checkpoints of huge, sparsely used pools stay small."""
        touched = np.flatnonzero(self._seen_at)
        return {
            "size": self.size,
            "touched": touched,
            "attempts": self.attempts[touched],
            "successes": self.successes[touched],
            "seen_at": self._seen_at[touched],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; every entry is checked before anything changes."""
        if int(state["size"]) != self.size:
            raise ValueError(
                f"stats were saved for {state['size']} items, this pool has {self.size}"
            )
        touched = np.asarray(state["touched"])
        if touched.ndim != 1 or (touched.size and touched.dtype.kind not in "iu"):
            raise ValueError(f"stats: touched must be a 1-D integer array, got {touched.dtype}")
        touched = touched.astype(np.int64)
        if touched.size and (touched.min() < 0 or touched.max() >= self.size):
            raise ValueError(f"stats: touched items outside 0..{self.size - 1}")
        if len(np.unique(touched)) != len(touched):
            raise ValueError("stats: touched items repeat")
        columns = {}
        for name in ("attempts", "successes", "seen_at"):
            column = np.asarray(state[name])
            if column.shape != touched.shape or (column.size and column.dtype.kind not in "iuf"):
                raise ValueError(
                    f"stats: {name} has shape {column.shape} and dtype {column.dtype}, "
                    f"expected {touched.shape} numbers"
                )
            columns[name] = column
        if columns["seen_at"].size and columns["seen_at"].min() <= 0:
            raise ValueError("stats: seen_at must be positive for touched items")
        self.attempts[:] = 0
        self.successes[:] = 0.0
        self._seen_at[:] = 0
        self.attempts[touched] = columns["attempts"]
        self.successes[touched] = columns["successes"]
        self._seen_at[touched] = columns["seen_at"]
        self.items_seen = len(touched)
