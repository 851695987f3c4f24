"""Machinery the teacher strategies share: episode scores, arms, score histories, a max tree.

- :func:`episode_scores`: one score per episode (the mean reward over its rollouts).
- :func:`segments`: a batch grouped by key, batch order kept within each key.
- :class:`Arms`: arms are tasks or pool groups; a group's tasks are drawn uniformly.
- :class:`ScoreHistory`: the last ``window`` scores of each arm, stored only for arms played.
- :class:`MaxTree`: the largest value over many slots and uniform draws among the slots that
  hold it, with O(k log size) updates (greedy selection without scanning the pool).
- :func:`unit_features`, :class:`Snap`: task parameters (``pool.features``) rescaled to the
  unit box, and the nearest task to points of the box (teachers over continuous spaces).

Every stateful helper has ``state_dict``/``load_state_dict`` whose state grows with the arms
played, not with their number.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool

__all__ = [
    "Arms",
    "MaxTree",
    "ScoreHistory",
    "Segments",
    "Snap",
    "episode_scores",
    "segments",
    "unit_features",
]


def episode_scores(outcomes: Outcomes) -> tuple[np.ndarray, np.ndarray]:
    """(indices, score) of the items that carry rewards: the mean reward over rollouts.

    Example:
        >>> episode_scores(Outcomes([3, 1], rewards=[[1.0, 0.0], [1.0, 1.0]]))
        (array([3, 1]), array([0.5, 1. ]))
    """
    if len(outcomes) == 0 or outcomes.rewards is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    scores = outcomes.pass_rate
    keep = ~np.isnan(scores)
    return outcomes.indices[keep], scores[keep]


class Segments(NamedTuple):
    """A batch grouped by key (see :func:`segments`)."""

    order: np.ndarray  # batch positions sorted by key, batch order kept within a key
    keys: np.ndarray  # the distinct keys, ascending
    segment: np.ndarray  # segment (position in ``keys``) of each entry of ``order``
    within: np.ndarray  # occurrence number of each entry of ``order`` within its key
    lengths: np.ndarray  # occurrences of each key


def segments(keys: np.ndarray) -> Segments:
    """Group a batch by key, keeping batch order within each key: O(batch log batch).

    Example:
        >>> s = segments(np.array([7, 2, 7, 7]))
        >>> s.order.tolist(), s.keys.tolist(), s.within.tolist(), s.lengths.tolist()
        ([1, 0, 2, 3], [2, 7], [0, 0, 1, 2], [1, 3])
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    segment = np.cumsum(first) - 1
    within = np.arange(len(keys)) - starts[segment]
    lengths = np.diff(np.append(starts, len(keys)))
    return Segments(order, ordered[starts], segment, within, lengths)


class Arms:
    """Arms are tasks (one arm per item) or pool groups (a group's tasks drawn uniformly).

    Example:
        >>> arms = Arms(ItemPool(size=4, groups=[0, 1, 0, 1]), by_group=True)
        >>> arms.count, arms.of(np.array([3, 2])).tolist()
        (2, [1, 0])
        >>> np.unique(arms.items(np.zeros(50, dtype=np.int64), np.random.default_rng(0))).tolist()
        [0, 2]
    """

    def __init__(self, pool: ItemPool, by_group: bool) -> None:
        self.pool, self.by_group = pool, by_group
        self.count = pool.n_groups if by_group else pool.size
        #: arms with at least one task, or None when every arm has one (tasks as arms)
        self.valid = None
        if by_group:
            sizes = pool.group_sizes()
            self.valid = None if (sizes > 0).all() else np.flatnonzero(sizes > 0)

    def of(self, indices: np.ndarray) -> np.ndarray:
        """The arm of each item."""
        if not self.by_group:
            return indices.astype(np.int64)
        if self.pool.groups is None:
            return np.zeros(len(indices), dtype=np.int64)
        return self.pool.groups[indices].astype(np.int64)

    def uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` arms drawn uniformly among the arms that have tasks."""
        if self.valid is None:
            return rng.integers(0, self.count, size=n).astype(np.int64)
        return self.valid[rng.integers(0, len(self.valid), size=n)]

    def items(self, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One task per arm: the arm itself, or a task drawn uniformly in the group."""
        if not self.by_group:
            return arms.astype(np.int64)
        out = np.empty(len(arms), dtype=np.int64)
        for arm in np.unique(arms):
            slots = np.flatnonzero(arms == arm)
            members = self.pool.members(int(arm))
            out[slots] = members[rng.integers(0, len(members), size=len(slots))]
        return out


class ScoreHistory:
    """The last ``window`` scores of each arm; rows are stored only for arms with scores.

    Example:
        >>> history = ScoreHistory(arms=10**6, window=3)
        >>> history.push(np.array([5, 9, 5, 5, 5]), np.array([0.1, 0.7, 0.2, 0.4, 0.6]))
        >>> history.recent(5).tolist(), history.means(np.array([5, 9, 0])).tolist()
        ([0.2, 0.4, 0.6], [0.4, 0.7, 0.0])
        >>> history.slopes(np.array([5, 9])).round(6).tolist()  # 0 with fewer than 2 scores
        [0.2, 0.0]
    """

    def __init__(self, arms: int, window: int) -> None:
        self.window = int(window)
        self.row = np.full(arms, -1, dtype=np.int64)  # storage row of each arm, -1: none
        self.arms = np.zeros(0, dtype=np.int64)  # arm of each storage row
        self.buffer = np.zeros((0, self.window))  # ring of the last scores, per row
        self.count = np.zeros(0, dtype=np.int64)  # scores pushed per row (not capped)
        self.used = 0

    def push(self, arms: np.ndarray, scores: np.ndarray) -> None:
        """Append each score to its arm's history, in batch order."""
        if len(arms) == 0:
            return
        self._add_rows(arms)
        rows = self.row[arms]
        s = segments(rows)
        rows, values = rows[s.order], scores[s.order]
        last = s.within >= s.lengths[s.segment] - self.window  # older ones are overwritten
        slots = (self.count[rows] + s.within) % self.window
        self.buffer[rows[last], slots[last]] = values[last]
        self.count[s.keys] += s.lengths

    def _add_rows(self, arms: np.ndarray) -> None:
        first = np.unique(arms, return_index=True)[1]
        fresh = arms[np.sort(first)]
        fresh = fresh[self.row[fresh] < 0]  # in order of first appearance
        if not len(fresh):
            return
        needed = self.used + len(fresh)
        if needed > len(self.arms):
            capacity = max(needed, 2 * len(self.arms), 16)
            grow = capacity - len(self.arms)
            self.arms = np.r_[self.arms, np.zeros(grow, dtype=np.int64)]
            self.buffer = np.r_[self.buffer, np.zeros((grow, self.window))]
            self.count = np.r_[self.count, np.zeros(grow, dtype=np.int64)]
        self.arms[self.used : needed] = fresh
        self.row[fresh] = np.arange(self.used, needed)
        self.used = needed

    def played(self, minimum: int = 1) -> np.ndarray:
        """Arms with at least ``minimum`` scores, in order of first score."""
        return self.arms[: self.used][self.count[: self.used] >= minimum]

    def counts(self, arms: np.ndarray) -> np.ndarray:
        """Scores pushed to each arm so far."""
        if not self.used:
            return np.zeros(len(arms), dtype=np.int64)
        rows = self.row[arms]
        return np.where(rows >= 0, self.count[np.maximum(rows, 0)], 0)

    def recent(self, arm: int) -> np.ndarray:
        """The arm's last scores, oldest first."""
        values, valid = self.windows(np.array([arm]))
        return values[0, valid[0]]

    def windows(self, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Last scores of each arm, oldest first, shape (k, window), and which are held."""
        count = self.counts(arms)
        if not self.used:
            return np.zeros((len(arms), self.window)), np.zeros((len(arms), self.window), bool)
        rows = self.row[arms]
        held = np.minimum(count, self.window)
        columns = (count - held)[:, None] + np.arange(self.window)
        values = self.buffer[np.maximum(rows, 0)[:, None], columns % self.window]
        valid = np.arange(self.window) < held[:, None]
        return np.where(valid, values, 0.0), valid

    def means(self, arms: np.ndarray) -> np.ndarray:
        """Mean of each arm's last scores (0 without scores)."""
        values, valid = self.windows(arms)
        return values.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)

    def slopes(self, arms: np.ndarray) -> np.ndarray:
        """Least-squares slope of each arm's last scores against 0, 1, ... (0 below 2)."""
        values, valid = self.windows(arms)
        held = valid.sum(axis=1)
        t = np.where(valid, np.arange(self.window) - (held[:, None] - 1) / 2, 0.0)
        mean = values.sum(axis=1) / np.maximum(held, 1)
        spread = (t * t).sum(axis=1)
        slope = (t * (values - mean[:, None])).sum(axis=1) / np.where(held >= 2, spread, 1.0)
        return np.where(held >= 2, slope, 0.0)

    def state_dict(self) -> dict[str, Any]:
        used = self.used
        return {
            "arms": self.arms[:used].copy(),
            "buffer": self.buffer[:used].copy(),
            "count": self.count[:used].copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        arms = np.asarray(state["arms"], dtype=np.int64).reshape(-1)
        buffer = np.asarray(state["buffer"], dtype=np.float64).reshape(-1, self.window)
        count = np.asarray(state["count"], dtype=np.int64).reshape(-1)
        if not len(arms) == len(buffer) == len(count):
            raise ValueError("score history: arms, buffer and count differ in length")
        if len(arms) and (arms.min() < 0 or arms.max() >= len(self.row)):
            raise ValueError(f"score history names arms outside 0..{len(self.row) - 1}")
        if len(np.unique(arms)) != len(arms) or (count < 0).any():
            raise ValueError("score history has repeated arms or negative counts")
        self.row = np.full(len(self.row), -1, dtype=np.int64)
        self.row[arms] = np.arange(len(arms))
        self.arms, self.buffer, self.count, self.used = arms, buffer, count, len(arms)


class MaxTree:
    """The largest value over ``size`` slots and uniform draws among the slots that hold it.

    Each node of a 16-ary tree keeps the largest value below it and how many slots hold it,
    so ``update`` of k slots costs O(k log size), ``max`` O(1), and :meth:`select` finds the
    j-th slot (in slot order) holding the maximum in O(log size): uniform draws among tied
    maxima are ``select(rng.integers(0, count, n))``, exactly what indexing
    ``np.flatnonzero(values == values.max())`` with the same draws gives.

    Example:
        >>> tree = MaxTree(np.array([0.0, 2.0, -np.inf, 2.0, 1.0]))
        >>> tree.max, tree.count, tree.select(np.array([0, 1])).tolist()
        (2.0, 2, [1, 3])
        >>> tree.update(np.array([3]), np.array([0.5]))
        >>> tree.max, tree.count, tree.select(np.array([0])).tolist()
        (2.0, 1, [1])
    """

    FANOUT = 16

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.array(values, dtype=np.float64)
        self.maxes: list[np.ndarray] = []  # level 1 (parents of the slots) .. the root
        self.counts: list[np.ndarray] = []
        below, below_counts = self.values, None
        while len(below) > 1 or not self.maxes:
            parents = np.arange(-(-len(below) // self.FANOUT))
            top, top_counts = self._combine(below, below_counts, parents)
            self.maxes.append(top)
            self.counts.append(top_counts)
            below, below_counts = top, top_counts

    def _combine(
        self, below: np.ndarray, below_counts: np.ndarray | None, parents: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        children = parents[:, None] * self.FANOUT + np.arange(self.FANOUT)
        inside = children < len(below)
        children = np.minimum(children, len(below) - 1)
        values = np.where(inside, below[children], -np.inf)
        top = values.max(axis=1)
        weight = inside if below_counts is None else np.where(inside, below_counts[children], 0)
        return top, ((values == top[:, None]) * weight).sum(axis=1)

    @property
    def max(self) -> float:
        """The largest value."""
        return float(self.maxes[-1][0])

    @property
    def count(self) -> int:
        """How many slots hold the largest value."""
        return int(self.counts[-1][0])

    def update(self, slots: np.ndarray, values: np.ndarray) -> None:
        """Set ``values[k]`` at ``slots[k]`` (distinct slots)."""
        self.values[slots] = values
        below, below_counts = self.values, None
        parents = np.unique(slots // self.FANOUT)
        for level in range(len(self.maxes)):
            top, top_counts = self._combine(below, below_counts, parents)
            self.maxes[level][parents] = top
            self.counts[level][parents] = top_counts
            below, below_counts = self.maxes[level], self.counts[level]
            parents = np.unique(parents // self.FANOUT)

    def select(self, ranks: np.ndarray) -> np.ndarray:
        """The ``ranks[k]``-th slot (0-based, slot order) among those holding the maximum."""
        best = self.maxes[-1][0]
        node = np.zeros(len(ranks), dtype=np.int64)
        ranks = np.asarray(ranks, dtype=np.int64).copy()
        levels = [(self.values, None), *zip(self.maxes[:-1], self.counts[:-1], strict=True)]
        for below, below_counts in reversed(levels):
            children = node[:, None] * self.FANOUT + np.arange(self.FANOUT)
            inside = children < len(below)
            children = np.minimum(children, len(below) - 1)
            holds = inside & (below[children] == best)
            weight = holds if below_counts is None else np.where(holds, below_counts[children], 0)
            before = np.cumsum(weight, axis=1)
            pick = (before <= ranks[:, None]).sum(axis=1)
            ranks -= np.where(pick > 0, before[np.arange(len(node)), np.maximum(pick - 1, 0)], 0)
            node = children[np.arange(len(node)), pick]
        return node


def unit_features(pool: ItemPool, name: str) -> np.ndarray:
    """Task parameters (``pool.features``, one row per task) rescaled to ``[0, 1]`` per
    dimension by the pool's min and max (a constant dimension maps to 0); ValueError
    naming the features when the pool has none or they hold NaN. O(pool): call at bind.

    Example:
        >>> unit_features(ItemPool(size=3, features=[[0.0, 5.0], [2.0, 5.0], [1.0, 5.0]]), "x")
        array([[0. , 0. ],
               [1. , 0. ],
               [0.5, 0. ]])
    """
    features = pool.features
    if features is None:
        raise ValueError(
            f"{name} needs task parameters: build the pool with features "
            "(e.g. stepladder.tasks.BoxTasks(...).pool())"
        )
    features = np.asarray(features, dtype=np.float64).reshape(pool.size, -1)
    if np.isnan(features).any():
        raise ValueError(f"{name}: pool features (task parameters) must not be NaN")
    low, high = features.min(axis=0), features.max(axis=0)
    return (features - low) / np.where(high > low, high - low, 1.0)


class Snap:
    """The task nearest to each point of the unit box: O(1) expected per point, at any pool size.

    With 1 to 3 dimensions the tasks are sorted into a grid of about ``size`` cells
    whose edges are the per-dimension quantiles of the tasks (so skewed parameters still
    fill the cells evenly), built once (O(size log size)). A query looks at the 3^d cells
    around its own, then at rings of cells around them, until no unvisited cell can hold a
    nearer task: a few NumPy calls for the whole batch, and the candidates scanned per point
    do not grow with the pool (a kd-tree query grows with its depth, and cache misses, at
    millions of tasks). The cells are stored in row-major order, so the cells of a ring that
    share all coordinates but the last are one contiguous run of tasks (3^(d-1) runs per
    point for the first look). Ties in distance go to the lowest task index. Where the
    tasks are skewed, the quantile cells are narrow in one direction and wide in another, and
    a point far from the dense part would need many rings: a point still open after
    ``MAX_ROUNDS`` rounds asks a kd-tree of all tasks instead (``scipy.spatial.cKDTree``,
    O(log size) a point, built once, O(size log size), by the step that first needs it).
    With more dimensions the rings would hold 3^d cells: there the kd-tree answers every
    point. The kd-tree's answers follow the same tie rule: the tasks within its nearest
    distance are compared by the grid's own arithmetic. Points are clipped to the unit box
    first.

    Example:
        >>> Snap(np.array([[0.0], [0.5], [1.0]]))(np.array([[0.2], [0.9]])).tolist()
        [0, 2]
        >>> unit = np.random.default_rng(0).random((1000, 2))
        >>> snap, points = Snap(unit), np.random.default_rng(1).random((5, 2))
        >>> brute = ((points[:, None] - unit[None]) ** 2).sum(axis=2).argmin(axis=1)
        >>> bool((snap(points) == brute).all())
        True
    """

    #: Most dimensions served by the grid; more go to a kd-tree.
    GRID_DIMENSIONS = 3
    #: Tasks per grid cell, on average.
    OCCUPANCY = 1
    #: Rounds of rings a point may take in the grid before it asks the kd-tree.
    MAX_ROUNDS = 4

    def __init__(self, unit: np.ndarray) -> None:
        unit = np.asarray(unit, dtype=np.float64)
        size, d = unit.shape
        self.tree: Any = None  # built on first need
        if d > self.GRID_DIMENSIONS or d == 0:
            self.side = 0
            self.order = np.arange(size)
            self.coordinates = unit
            return
        side = self.side = max(1, int((size / self.OCCUPANCY) ** (1 / d)))
        # cell edges at the quantiles of each dimension, edges[i, 0] = -inf, edges[i, side] = inf
        self.edges = np.full((d, side + 1), np.inf)
        self.edges[:, 0] = -np.inf
        cells = np.zeros(size, dtype=np.int64)
        for i in range(d):
            column = unit[:, i]
            self.edges[i, 1:side] = np.sort(column)[np.arange(1, side) * size // side]
            cells = cells * side + self._cell(i, column)
        index = np.int32 if size < 2**31 else np.int64
        self.order = np.argsort(cells, kind="stable").astype(index)  # tasks by cell, then index
        self.coordinates = unit[self.order]  # their coordinates, one row per task
        self.starts = np.searchsorted(cells[self.order], np.arange(side**d + 1)).astype(index)
        self.strides = side ** np.arange(d - 1, -1, -1)
        self._runs: list[np.ndarray] = []  # runs of cells visited in each round

    def _cell(self, dim: int, values: np.ndarray) -> np.ndarray:
        """Cell of each value along ``dim`` (a value on an edge belongs to the upper cell)."""
        at = np.searchsorted(self.edges[dim], values, side="right") - 1
        return np.minimum(at, self.side - 1)

    def _round(self, round_: int) -> tuple[int, np.ndarray]:
        """(Chebyshev radius reached, runs of cells new in that round).

        Round 0 visits the cells at Chebyshev distance at most 1 from the point's own (at
        most 0 on a grid of one cell per side), round r >= 1 those at distance r + 1. A run
        is a row ``(o_1, .., o_{d-1}, low, high)``: the cells at offsets o along the first
        d - 1 dimensions and ``low .. high`` along the last, consecutive in storage.
        """
        d = len(self.strides)
        while len(self._runs) <= round_:
            k = min(1, self.side - 1) if not self._runs else len(self._runs) + 1
            rows = np.zeros((1, 0), dtype=np.int64)  # offsets along the first d - 1 dims
            if d > 1:
                axes = np.meshgrid(*[np.arange(-k, k + 1)] * (d - 1), indexing="ij")
                rows = np.stack(axes, axis=-1).reshape(-1, d - 1)
            edge = np.abs(rows).max(axis=1, initial=0) == k
            if not self._runs:  # the whole block: every row runs from -k to k
                edge[:] = True
            whole = np.column_stack([rows[edge], np.tile([-k, k], (int(edge.sum()), 1))])
            # rows inside the ring's faces: the two end cells along the last dimension
            inner = np.repeat(rows[~edge], 2, axis=0)
            ends = np.column_stack([inner, np.tile([[-k, -k], [k, k]], (len(inner) // 2, 1))])
            self._runs.append(np.r_[whole, ends].astype(np.int64))
        radius = min(1, self.side - 1) if round_ == 0 else round_ + 1
        return min(radius, self.side - 1), self._runs[round_]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        if not len(points):
            return np.zeros(0, dtype=np.int64)
        points = np.clip(np.asarray(points, dtype=np.float64), 0.0, 1.0)
        if not self.side:
            return self._by_tree(points)
        m, d = points.shape
        side = self.side
        home = np.column_stack([self._cell(i, points[:, i]) for i in range(d)])
        best = np.full(m, np.inf)  # squared distance of the nearest task found so far
        task = np.full(m, np.iinfo(np.int64).max)
        active = np.arange(m)
        for round_ in range(side):
            if round_ == self.MAX_ROUNDS:  # skewed tasks: the rest ask the kd-tree
                task[active] = self._by_tree(points[active])
                break
            k, runs = self._round(round_)
            # first and last cell of each run of each active point; runs off the grid: empty
            row = np.zeros((len(active), len(runs)), dtype=np.int64)
            inside = np.ones((len(active), len(runs)), dtype=bool)
            for i in range(d - 1):
                cells = home[active, i][:, None] + runs[:, i]
                inside &= (cells >= 0) & (cells < side)
                row += cells * self.strides[i]
            last = home[active, d - 1][:, None]
            low = np.maximum(last + runs[:, d - 1], 0)
            high = np.minimum(last + runs[:, d], side - 1)
            inside &= low <= high
            row[~inside] = 0  # a run off the grid: the empty run 0 .. -1
            low[~inside], high[~inside] = 0, -1
            first = self.starts[row + low].reshape(-1)
            counts = self.starts[row + high + 1].reshape(-1) - first
            per_query = counts.reshape(len(active), -1).sum(axis=1)
            total = int(per_query.sum())
            if total:
                # storage positions of the candidates, grouped by query
                at = np.arange(total) + np.repeat(first - (np.cumsum(counts) - counts), counts)
                q = active[np.flatnonzero(per_query)]
                nearest, lowest = self._nearest_of(points[q], at, per_query[per_query > 0])
                better = (nearest < best[q]) | ((nearest == best[q]) & (lowest < task[q]))
                best[q[better]], task[q[better]] = nearest[better], lowest[better]
            # tasks outside the cells seen lie beyond the nearest face of their block
            reach = np.full(len(active), np.inf)
            for i in range(d):
                below, above = home[active, i] - k, home[active, i] + k + 1
                coordinate = points[active, i]
                ahead = coordinate - self.edges[i, np.maximum(below, 0)]
                behind = self.edges[i, np.minimum(above, side)] - coordinate
                reach = np.minimum(reach, np.minimum(ahead, behind))
            active = active[best[active] >= reach**2]
            if not len(active):
                break
        return task

    def _by_tree(self, points: np.ndarray) -> np.ndarray:
        """The nearest task to each point by a kd-tree of all tasks, the lowest task index
        among equally near ones (squared distances summed as the grid sums them)."""
        if self.tree is None:
            from scipy.spatial import cKDTree

            self.tree = cKDTree(self.coordinates, balanced_tree=False, compact_nodes=False)
        distance, _ = self.tree.query(points)
        # every task within the nearest distance (a hair more: the tree's own rounding)
        near = self.tree.query_ball_point(points, distance * (1 + 1e-9), return_sorted=False)
        lengths = np.fromiter(map(len, near), dtype=np.int64, count=len(near))
        return self._nearest_of(points, np.concatenate(near).astype(np.int64), lengths)[1]

    def _nearest_of(
        self, points: np.ndarray, at: np.ndarray, counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(squared distance, task) of the nearest candidate of each point: its ``counts``
        (all above 0) candidates are the tasks at storage positions ``at``, grouped by point.
        Ties go to the lowest task index (task indices are read only for the nearest ones:
        few reads of a large array)."""
        near = np.repeat(points, counts, axis=0)
        candidates = np.take(self.coordinates, at, axis=0)  # faster than [at]
        gaps = (candidates[:, 0] - near[:, 0]) ** 2
        for i in range(1, points.shape[1]):
            gaps += (candidates[:, i] - near[:, i]) ** 2
        starts = np.cumsum(counts) - counts
        nearest = np.minimum.reduceat(gaps, starts)
        tied = np.flatnonzero(gaps == np.repeat(nearest, counts))
        ties = np.searchsorted(tied, starts)  # each point's first nearest candidate
        return nearest, np.minimum.reduceat(self.order[at[tied]], ties).astype(np.int64)
