"""Machinery that several strategy families share, written once.

- :func:`empty_proposal`: the proposal of zero items.
- :func:`softmax`: a normalised exponential over the allowed entries.
- :class:`ShuffledPasses`: shuffled passes over ``0 .. size-1`` at O(batch) per draw.
- :class:`GroupPasses`: shuffled passes within each pool group (groups as bandit arms).
- :class:`RingBuffer`: the last ``window`` values per row (sliding-window statistics).
- :class:`SumTree`: proportional sampling with point updates, O(log pool) per item.

Every stateful helper has ``state_dict``/``load_state_dict`` whose states are small (no
pool-sized arrays unless the helper itself is pool-sized, like :class:`SumTree`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._permutation import FeistelPermutation
from stepladder.pool import ItemPool
from stepladder.strategies.base import Proposal

__all__ = [
    "GroupPasses",
    "RingBuffer",
    "ShuffledPasses",
    "SumTree",
    "empty_proposal",
    "smallest",
    "softmax",
]


def empty_proposal() -> Proposal:
    """A proposal of zero items."""
    return Proposal(np.zeros(0, dtype=np.int64))


def smallest(keys: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest ``keys``, ascending, ties by position: exactly
    ``np.argsort(keys, kind="stable")[:n]``, in O(len(keys) + n log n) instead of a full sort.

    Example:
        >>> smallest(np.array([3.0, 1.0, 2.0, 1.0, 0.5]), 3).tolist()
        [4, 1, 3]
    """
    keys = np.asarray(keys)
    if n >= len(keys) or n <= 0:
        return np.argsort(keys, kind="stable")[: max(n, 0)]
    kth = np.partition(keys, n - 1)[n - 1]
    if np.isnan(kth):  # NaNs sort last: fewer than n numbers
        return np.argsort(keys, kind="stable")[:n]
    below = np.flatnonzero(keys < kth)
    ties = np.flatnonzero(keys == kth)[: n - len(below)]
    chosen = np.concatenate([below, ties])
    return chosen[np.argsort(keys[chosen], kind="stable")]


def softmax(
    scores: np.ndarray, temperature: float = 1.0, allowed: np.ndarray | None = None
) -> np.ndarray:
    """``exp(score / temperature)`` normalised over the ``allowed`` entries (others get 0).

    Example:
        >>> softmax(np.array([0.0, np.log(3.0), 5.0]), allowed=np.array([True, True, False]))
        array([0.25, 0.75, 0.  ])
    """
    z = np.asarray(scores, dtype=np.float64) / temperature
    if allowed is not None:
        z = np.where(allowed, z, -np.inf)
    weights = np.exp(z - z.max())
    return weights / weights.sum()


class ShuffledPasses:
    """Shuffled passes over positions ``0 .. size-1``: each pass visits every position once.

    The order of a pass is a keyed permutation (:class:`FeistelPermutation`) whose key is
    drawn from the strategy's generator when the pass begins, so a draw costs O(batch) and
    the state is four integers.

    Example:
        >>> passes = ShuffledPasses(5)
        >>> rng = np.random.default_rng(0)
        >>> first = passes.take(5, rng)
        >>> sorted(first.tolist()), passes.remaining
        ([0, 1, 2, 3, 4], 0)
        >>> len(passes.draw(7, rng))  # starts new passes as needed
        7
    """

    def __init__(self, size: int = 0) -> None:
        self.restart(size)

    def restart(self, size: int) -> None:
        """Begin a fresh pass over ``size`` positions."""
        self.size, self.key, self.cursor, self.taken = int(size), None, 0, 0

    @property
    def remaining(self) -> int:
        """Positions not yet handed out in the current pass."""
        return self.size - self.taken

    def take(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``n`` positions of the current pass (fewer when the pass ends first)."""
        n = min(n, self.remaining)
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        if self.key is None:
            self.key = int(rng.integers(0, 2**63))
        positions, self.cursor = FeistelPermutation(self.size, self.key).take(self.cursor, n)
        self.taken += len(positions)
        return positions

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Exactly ``n`` positions, starting new passes as needed."""
        parts, found = [], 0
        while found < n:
            if self.remaining == 0:
                self.restart(self.size)
            part = self.take(n - found, rng)
            parts.append(part)
            found += len(part)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "key": self.key, "cursor": self.cursor, "taken": self.taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size, cursor, taken = int(state["size"]), int(state["cursor"]), int(state["taken"])
        key = None if state["key"] is None else int(state["key"])
        if not 0 <= taken <= size or cursor < 0:
            raise ValueError(f"bad pass state: size {size}, cursor {cursor}, taken {taken}")
        self.size, self.key, self.cursor, self.taken = size, key, cursor, taken


class GroupPasses:
    """Items of each pool group in shuffled passes: the next k items of a group cost O(k).

    Example:
        >>> pool = ItemPool(size=6, groups=[0, 1, 0, 1, 0, 1])
        >>> within = GroupPasses(pool)
        >>> sorted(within.take(0, 3, np.random.default_rng(0)).tolist())
        [0, 2, 4]
    """

    def __init__(self, pool: ItemPool) -> None:
        self.pool = pool
        self.passes = [ShuffledPasses(int(size)) for size in pool.group_sizes()]

    def take(self, group: int, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` items of ``group``, starting new passes over the group as needed."""
        return self.pool.members(group)[self.passes[group].draw(count, rng)]

    def state_dict(self) -> dict[str, Any]:
        started = [g for g, p in enumerate(self.passes) if p.key is not None or p.taken]
        return {
            "groups": np.array(started, dtype=np.int64),
            "keys": np.array([self.passes[g].key or 0 for g in started], dtype=np.int64),
            "cursors": np.array([self.passes[g].cursor for g in started], dtype=np.int64),
            "taken": np.array([self.passes[g].taken for g in started], dtype=np.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        groups = np.asarray(state["groups"], dtype=np.int64)
        if groups.size and (groups.min() < 0 or groups.max() >= len(self.passes)):
            raise ValueError(f"group passes name groups outside 0..{len(self.passes) - 1}")
        fresh = [ShuffledPasses(p.size) for p in self.passes]
        for g, key, cursor, taken in zip(
            groups, state["keys"], state["cursors"], state["taken"], strict=True
        ):
            fresh[g].load_state_dict(
                {"size": fresh[g].size, "key": int(key), "cursor": cursor, "taken": taken}
            )
        self.passes = fresh


class RingBuffer:
    """The last ``window`` values pushed to each of ``rows`` rows.

    Example:
        >>> ring = RingBuffer(rows=2, window=3)
        >>> ring.push(0, np.array([1.0, 2.0, 3.0, 4.0]))
        >>> ring.push(1, np.array([5.0]))
        >>> ring.means().tolist(), ring.filled.tolist()
        ([3.0, 5.0], [3, 1])
    """

    def __init__(self, rows: int, window: int) -> None:
        self.window = int(window)
        self.values = np.zeros((rows, self.window))
        self.filled = np.zeros(rows, dtype=np.int64)  # values held, <= window
        self.head = np.zeros(rows, dtype=np.int64)  # next write position

    def push(self, row: int, values: np.ndarray) -> None:
        """Append ``values`` to ``row``, keeping its last ``window`` values."""
        size = self.window
        if values.size >= size:
            self.values[row] = values[-size:]
            self.filled[row], self.head[row] = size, 0
            return
        positions = (self.head[row] + np.arange(values.size)) % size
        self.values[row, positions] = values
        self.head[row] = (self.head[row] + values.size) % size
        self.filled[row] = min(size, self.filled[row] + values.size)

    def means(self) -> np.ndarray:
        """Mean of the values held per row (0 for an empty row)."""
        return self.values.sum(axis=1) / np.maximum(self.filled, 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "values": self.values.copy(),
            "filled": self.filled.copy(),
            "head": self.head.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        values = np.asarray(state["values"], dtype=np.float64)
        if values.shape != self.values.shape:
            raise ValueError(f"ring buffer of shape {values.shape}, expected {self.values.shape}")
        self.values = values.copy()
        self.filled = np.asarray(state["filled"], dtype=np.int64).copy()
        self.head = np.asarray(state["head"], dtype=np.int64).copy()


class SumTree:
    """Non-negative weights over ``size`` slots with O(log size) updates and proportional draws.

    A Fenwick (binary indexed) tree of partial sums, updated and searched level by level
    with vectorised NumPy: ``update`` of k weights costs O(k log size), ``sample`` of n slots
    (probability proportional to weight) O(n log size), ``total`` O(log size). Nothing is
    O(size) after construction, which is what keeps proportional strategies at O(batch)
    per step on pools of 10 million items.

    Example:
        >>> tree = SumTree(4)
        >>> tree.update(np.array([1, 3]), np.array([1.0, 3.0]))
        >>> tree.total, tree.weights([1, 3]).tolist()
        (4.0, [1.0, 3.0])
        >>> np.bincount(tree.sample(4000, np.random.default_rng(0)), minlength=4).round(-2)
        array([   0, 1000,    0, 3000])
    """

    def __init__(self, size: int, initial: float = 0.0) -> None:
        self.size = int(size)
        self._top = 1 << max(self.size.bit_length() - 1, 0)
        self._set_leaves(np.full(self.size, float(initial)))

    def _set_leaves(self, leaves: np.ndarray) -> None:
        """O(size) rebuild: node i holds the sum of leaves (i - lowbit(i), i]."""
        self._leaf = leaves
        prefix = np.concatenate(([0.0], np.cumsum(leaves)))
        nodes = np.arange(1, self.size + 1)
        self._tree = np.concatenate(([0.0], prefix[nodes] - prefix[nodes - (nodes & -nodes)]))

    @property
    def total(self) -> float:
        """Sum of all weights."""
        i, total = self.size, 0.0
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return float(total)

    def weights(self, slots: Any) -> np.ndarray:
        """Current weights of ``slots``."""
        return self._leaf[np.asarray(slots, dtype=np.int64)].copy()

    def update(self, slots: Any, weights: Any) -> None:
        """Set ``weights[k]`` at ``slots[k]`` (a repeated slot keeps its last weight)."""
        slots = np.asarray(slots, dtype=np.int64)
        weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), slots.shape)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("sum-tree weights must be finite and non-negative")
        last = len(slots) - 1 - np.unique(slots[::-1], return_index=True)[1]
        slots, weights = slots[last], weights[last]
        delta = weights - self._leaf[slots]
        self._leaf[slots] = weights
        nodes = slots + 1
        while nodes.size:
            np.add.at(self._tree, nodes, delta)
            nodes = nodes + (nodes & -nodes)
            inside = nodes <= self.size
            nodes, delta = nodes[inside], delta[inside]

    def find(self, targets: Any) -> np.ndarray:
        """Slots whose cumulative-weight interval contains each target in ``[0, total)``."""
        remaining = np.asarray(targets, dtype=np.float64).copy()
        position = np.zeros(len(remaining), dtype=np.int64)
        step = self._top
        while step:
            nxt = position + step
            valid = nxt <= self.size
            go = valid.copy()
            go[valid] = self._tree[nxt[valid]] <= remaining[valid]
            remaining[go] -= self._tree[nxt[go]]
            position[go] = nxt[go]
            step >>= 1
        out = np.minimum(position, self.size - 1)
        zero = self._leaf[out] <= 0  # rounding can land on an empty slot at an interval edge
        if zero.any():
            out[zero] = self._nearest_positive(out[zero])
        return out

    def _nearest_positive(self, slots: np.ndarray) -> np.ndarray:
        positive = np.flatnonzero(self._leaf > 0)  # rare path
        where = np.clip(np.searchsorted(positive, slots), 0, len(positive) - 1)
        return positive[where]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` slots drawn with replacement, proportionally to weight."""
        total = self.total
        if not total > 0:
            raise ValueError("cannot sample from a sum tree whose weights are all zero")
        return self.find(rng.random(n) * total)

    def state_dict(self) -> dict[str, Any]:
        """Non-zero leaves only, so a sparsely weighted tree checkpoints small."""
        slots = np.flatnonzero(self._leaf)
        return {"size": self.size, "slots": slots, "weights": self._leaf[slots]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"sum tree of {state['size']} slots, expected {self.size}")
        slots = np.asarray(state["slots"], dtype=np.int64)
        weights = np.asarray(state["weights"], dtype=np.float64)
        if slots.shape != weights.shape or (
            slots.size and not 0 <= slots.min() <= slots.max() < self.size
        ):
            raise ValueError("sum tree state has slots outside the tree or mismatched weights")
        leaves = np.zeros(self.size)
        leaves[slots] = weights
        self._set_leaves(leaves)
