"""Baselines every comparison needs: uniform sampling and fixed difficulty orders."""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import positive_int
from stepladder._permutation import FeistelPermutation
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["EasyToHard", "HardToEasy", "Uniform"]


def _epoch_positions(start: int, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``start .. start+n-1`` of an endless sequence of epochs of ``size``."""
    flat = np.arange(start, start + n, dtype=np.int64)
    return flat // size, flat % size


@register("uniform")
class Uniform(Strategy):
    """Uniform random sampling, the control for every curriculum.

    Without replacement (default) each epoch visits every item exactly once in a fresh random
    order; the order is a keyed pseudo-random permutation evaluated per batch, so a step costs
    O(batch) even for pools of 10^7 items and the state is three integers. With
    ``replace=True`` items are drawn independently.

    Example:
        >>> from stepladder import Curriculum
        >>> cur = Curriculum(5, "uniform", seed=0)
        >>> sorted(cur.propose(5).indices.tolist())
        [0, 1, 2, 3, 4]
    """

    def __init__(self, *, replace: bool = False) -> None:
        self.replace = bool(replace)

    def _setup(self) -> None:
        self._position = 0  # items handed out so far, over all epochs
        self._keys: dict[int, int] = {}  # epoch -> permutation key

    def _key(self, epoch: int) -> int:
        # Keys are drawn from the shared generator when an epoch is first reached.
        if epoch not in self._keys:
            self._keys = {e: k for e, k in self._keys.items() if e >= epoch - 1}
            self._keys[epoch] = int(self.rng.integers(0, 2**63))
        return self._keys[epoch]

    def propose(self, n: int) -> Proposal:
        size = self.pool.size
        if self.replace:
            return Proposal(self.rng.integers(0, size, n, dtype=np.int64))
        epochs, offsets = _epoch_positions(self._position, n, size)
        indices = np.empty(n, dtype=np.int64)
        for epoch in np.unique(epochs):
            in_epoch = epochs == epoch
            indices[in_epoch] = FeistelPermutation(size, self._key(int(epoch)))(offsets[in_epoch])
        self._position += n
        return Proposal(indices)

    def state_dict(self) -> dict[str, Any]:
        return {"position": self._position, "keys": [[e, k] for e, k in self._keys.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._position = int(state["position"])
        self._keys = {int(e): int(k) for e, k in state["keys"]}

    def metrics(self) -> dict[str, float]:
        return {"epoch": float(self._position // self.pool.size)} if not self.replace else {}


class _DifficultySweep(Strategy):
    """Walk the items in a fixed difficulty order, batch after batch, restarting at the end."""

    needs_difficulty = True
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
        _, offsets = _epoch_positions(self._position, n, self.pool.size)
        self._position += n
        return Proposal(self._order[offsets])

    def state_dict(self) -> dict[str, Any]:
        return {"position": self._position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._position = int(state["position"])

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
