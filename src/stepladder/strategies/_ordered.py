"""Ordered structures for strategies that pick items by rank or nearness of a value.

- :class:`FlagCounts`: a Fenwick tree of 0/1 flags over positions: how many flags are set
  before a position, and where the j-th set flag is, in O(log size) each (vectorised).
- :class:`SortedKeys`: items sorted by a float key, updated in batches by merging.
- :class:`BlockMax`: the largest value of an array under point updates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BlockMax", "FlagCounts", "SortedKeys"]


class FlagCounts:
    """Flags over ``size`` positions, all set at first; cleared ones stay cleared.

    Example:
        >>> flags = FlagCounts(6)
        >>> flags.clear(np.array([1, 4]))
        >>> flags.prefix(5), flags.find(np.array([0, 1, 2, 3])).tolist()
        (3, [0, 2, 3, 5])
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        nodes = np.arange(self.size + 1, dtype=np.int64)
        self._tree = nodes & -nodes  # node i counts the flags in (i - lowbit(i), i]
        self._top = 1 << max(self.size.bit_length() - 1, 0)

    def clear(self, positions: np.ndarray) -> None:
        """Clear the flags at ``positions`` (distinct positions whose flags are set)."""
        nodes = np.asarray(positions, dtype=np.int64) + 1
        while nodes.size:
            np.subtract.at(self._tree, nodes, 1)
            nodes = nodes + (nodes & -nodes)
            nodes = nodes[nodes <= self.size]

    def prefix(self, position: int) -> int:
        """Number of set flags at positions ``< position``."""
        i, total = int(position), 0
        while i > 0:
            total += int(self._tree[i])
            i -= i & -i
        return total

    def find(self, ranks: Any) -> np.ndarray:
        """Position of the set flag of each 0-based rank (ranks below the number set)."""
        remaining = np.asarray(ranks, dtype=np.int64).copy()
        position = np.zeros(len(remaining), dtype=np.int64)
        step = self._top
        while step:
            nxt = position + step
            go = nxt <= self.size
            go[go] = self._tree[nxt[go]] <= remaining[go]
            remaining[go] -= self._tree[nxt[go]]
            position[go] = nxt[go]
            step >>= 1
        return position


class SortedKeys:
    """Items of a pool kept sorted by a float key (ties in no particular order).

    :meth:`update` sets the keys of a batch of items (adding the items not held yet) by one
    vectorised merge: O(k log m) searches plus one pass over the m entries held (a memory
    move of about a millisecond per million entries), so its cost grows with the items held,
    never with the pool.

    Example:
        >>> held = SortedKeys(10)
        >>> held.update(np.array([7, 3, 9]), np.array([0.5, 0.1, 0.5]))
        >>> held.update(np.array([9]), np.array([0.2]))
        >>> held.keys.tolist(), held.items.tolist()
        ([0.1, 0.2, 0.5], [3, 9, 7])
    """

    def __init__(self, size: int) -> None:
        self.keys = np.zeros(0)
        self.items = np.zeros(0, dtype=np.int64)
        self._marked = np.zeros(size, dtype=bool)  # scratch, all False between calls

    def __len__(self) -> int:
        return len(self.keys)

    def update(self, items: np.ndarray, keys: np.ndarray) -> None:
        """Give each of the distinct ``items`` its key in ``keys``."""
        items = np.asarray(items, dtype=np.int64)
        self._marked[items] = True
        keep = ~self._marked[self.items]
        self._marked[items] = False
        order = np.argsort(keys, kind="stable")
        new_keys = np.asarray(keys, dtype=np.float64)[order]
        kept_keys = self.keys[keep]
        at = np.searchsorted(kept_keys, new_keys, side="right")
        self.keys = np.insert(kept_keys, at, new_keys)
        self.items = np.insert(self.items[keep], at, items[order])


class BlockMax:
    """The largest of an array's values under point updates, in O(k log size) per update.

    Levels of maxima: of blocks of 64 values, of blocks of 64 of those, and so on to one.

    Example:
        >>> top = BlockMax(np.array([0.5, 0.2, 0.9]))
        >>> top.update(np.array([2]), np.array([0.1]))
        >>> top.max
        0.5
    """

    fan = 64

    def __init__(self, values: np.ndarray) -> None:
        self.levels = [np.array(values, dtype=np.float64)]
        while len(self.levels[-1]) > 1:
            self.levels.append(self._block_maxima(self.levels[-1]))

    def _block_maxima(self, values: np.ndarray) -> np.ndarray:
        padded = np.concatenate([values, np.full(-len(values) % self.fan, -np.inf)])
        return padded.reshape(-1, self.fan).max(axis=1)

    @property
    def max(self) -> float:
        """The largest value."""
        return float(self.levels[-1][0])

    def update(self, positions: np.ndarray, values: np.ndarray) -> None:
        """Set ``values`` at ``positions`` (a repeated position keeps its last value)."""
        self.levels[0][positions] = values
        blocks = np.unique(np.asarray(positions, dtype=np.int64) // self.fan)
        for below, level in zip(self.levels, self.levels[1:], strict=False):
            members = blocks[:, None] * self.fan + np.arange(self.fan)
            inside = members < len(below)
            gathered = np.where(inside, below[np.where(inside, members, 0)], -np.inf)
            level[blocks] = gathered.max(axis=1)
            blocks = np.unique(blocks // self.fan)
