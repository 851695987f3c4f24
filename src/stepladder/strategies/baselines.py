"""Baselines every comparison needs: uniform sampling and fixed difficulty orders."""

from __future__ import annotations

import numpy as np

from stepladder._checks import positive_int
from stepladder._permutation import FeistelPermutation
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["EasyToHard", "HardToEasy", "Uniform"]


@register("uniform")
class Uniform(Strategy):
    """Uniform random sampling, the control for every curriculum.

    Without replacement (default) each epoch visits every item exactly once in a fresh random
    order; the order is a keyed pseudo-random permutation evaluated per batch, so a step costs
    O(batch) even for pools of 10^7 items and the state is three integers. Batches may
    straddle two epochs. With
    ``replace=True`` items are drawn independently.

    Example:
        >>> from stepladder import Curriculum
        >>> cur = Curriculum(5, "uniform", seed=0)
        >>> sorted(cur.propose(5).indices.tolist())
        [0, 1, 2, 3, 4]
    """

    feedback = ()
    learned = ("_epoch", "_cursor", "_key")

    def __init__(self, *, replace: bool = False) -> None:
        self.replace = bool(replace)

    def _setup(self) -> None:
        self._epoch = 0
        self._cursor = 0  # position in the current epoch's permutation domain
        self._key = -1  # the epoch's permutation key, drawn when the epoch starts (-1: not yet)

    def propose(self, n: int) -> Proposal:
        size = self.pool.size
        if self.replace:
            return Proposal(self.rng.integers(0, size, n, dtype=np.int64))
        parts, found = [], 0
        while found < n:
            if self._key < 0:
                self._key = int(self.rng.integers(0, 2**63))
            permutation = FeistelPermutation(size, self._key)
            items, self._cursor = permutation.take(self._cursor, n - found)
            parts.append(items)
            found += len(items)
            if self._cursor >= permutation.domain:
                self._epoch, self._cursor, self._key = self._epoch + 1, 0, -1
        return Proposal(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))

    def metrics(self) -> dict[str, float]:
        return {} if self.replace else {"epoch": float(self._epoch)}


class _DifficultySweep(Strategy):
    """Walk the items in a fixed difficulty order, batch after batch, restarting at the end."""

    needs_difficulty = True
    feedback = ()
    learned = ("_position",)
    _descending = False

    def __init__(self, *, start: int = 0) -> None:
        self.start = positive_int("start", start, allow_zero=True)

    def _setup(self) -> None:
        difficulty = self.pool.difficulty
        key = -difficulty if self._descending else difficulty
        # Stable sort: ties keep pool order; unknown (NaN) difficulty sorts last either way.
        self._order = np.argsort(key, kind="stable")
        self._position = self.start

    def propose(self, n: int) -> Proposal:
        positions = np.arange(self._position, self._position + n) % self.pool.size
        self._position += n
        return Proposal(self._order[positions])

    def metrics(self) -> dict[str, float]:
        return {"epoch": float(self._position // self.pool.size)}


@register("easy_to_hard")
class EasyToHard(_DifficultySweep):
    """Present items from easiest to hardest by the pool's prior difficulty, then repeat.

    The plain sorted curriculum ("Curriculum learning", Bengio et al., 2009); ``start`` skips
    that many items of the order at the beginning.

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> cur = Curriculum(ItemPool(size=4, difficulty=[3.0, 1.0, 2.0, 0.0]), "easy_to_hard")
        >>> cur.propose(4).indices.tolist()
        [3, 1, 2, 0]
    """


@register("hard_to_easy")
class HardToEasy(_DifficultySweep):
    """Anti-curriculum: present items from hardest to easiest by prior difficulty, then repeat.

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> cur = Curriculum(ItemPool(size=4, difficulty=[3.0, 1.0, 2.0, 0.0]), "hard_to_easy")
        >>> cur.propose(4).indices.tolist()
        [0, 2, 1, 3]
    """

    _descending = True
