"""Robust Intelligent Adaptive Curiosity (Baranes and Oudeyer, 2009), as in Portelas et al. 2019."""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Snap, episode_scores, segments, unit_features
from stepladder.strategies._toolbox import empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["RIAC", "window_alp"]

#: Draws of (dimension, threshold) per split attempt before it counts as invalid (the
#: authors redraw forever; identical tasks would never split).
_MAX_REDRAWS = 100


def window_alp(rewards: np.ndarray, held: np.ndarray, window: int) -> np.ndarray:
    """ALP of each row's held rewards (oldest first, a mask): ``|mean(first half) -
    mean(second half)|`` of the last ``min(held, window)``, 0 with two or fewer.

    Example:
        >>> window_alp(np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[True] * 4]), 200).tolist()
        [1.0]
        >>> window_alp(np.array([[0.2, 0.4, 0.9]]), np.array([[True] * 3]), 200).round(6).tolist()
        [0.6]
    """
    n = held.sum(axis=1)
    from_end = n[:, None] - np.cumsum(held, axis=1)  # 0 for the newest held reward
    span = np.minimum(n, window)[:, None]
    half = span // 2
    second = held & (from_end < half)
    first = held & (from_end >= half) & (from_end < span)
    mean_first = (rewards * first).sum(axis=1) / np.maximum(first.sum(axis=1), 1)
    mean_second = (rewards * second).sum(axis=1) / np.maximum(second.sum(axis=1), 1)
    return np.where(n > 2, np.abs(mean_first - mean_second), 0.0)


class _RegionRows:
    """A per-region array kept with spare rows (``obj._rows[name]``), of which the first
    ``obj._regions`` are in use: a split appends two rows without copying every region's
    ring. Assigning an array (as loading a state does) stores it as it is."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> np.ndarray:
        return obj._rows[self.name][: obj._regions]

    def __set__(self, obj: Any, value: np.ndarray) -> None:
        obj._rows[self.name] = np.asarray(value)
        obj._regions = len(value)


@register("riac")
class RIAC(Strategy):
    """Split the task space into regions of different learning progress; sample by ALP.

    Robust Intelligent Adaptive Curiosity (Baranes and Oudeyer, 2009) as the ALP-GMM paper
    (Portelas et al., CoRL 2019) runs it: flowersteam/teachDeepRL,
    ``teachers/algos/riac.py``, with its defaults. Task parameters are the pool's
    ``features`` rescaled to the unit box.

    - Regions form a tree of boxes, the root the whole box. Every region containing an
      episode's task keeps ``(task, score)`` (its last ``max_region_size + 1``).
      ALP of a region: ``|mean(first half) - mean(second half)|`` of its last
      ``min(held, alp_window)`` scores (0 with two or fewer).
    - A leaf holding more than ``max_region_size`` pairs tries ``nb_split_attempts`` splits:
      a dimension and a threshold drawn uniformly, redrawn until both halves hold at least
      ``min_region_size`` pairs; a split is valid when both children span at least
      ``min_dims_range_ratio`` of every dimension; the valid split with the largest
      ``|ALP_1 - ALP_2|`` (the last on ties) makes two children holding their pairs.
      Without a valid split the leaf drops its oldest ``discard_ratio`` share of pairs.
    - Proposal: with probability 0.7 a region drawn with probability ∝ ALP (uniform when all
      are 0; every region, internal ones included), a point uniform in it; 0.2 a task
      uniform over the pool; 0.1 a region ∝ ALP, its lowest-scoring task moved by ``N(0,
      0.1^2)`` per dimension and clipped inside it. Points snap to the nearest task.

    Decisions: the authors' split score multiplies ``|ALP_1 - ALP_2|`` by
    ``len(sub_reg1) * len(sub_reg2)``, lengths of two-element lists (a constant 4), and
    gives new children the ALPs of the last attempt rather than the chosen one: here they
    get their own. A task on a threshold belongs to the lower child. A split attempt gives
    up after 100 redraws (theirs loops forever when the pairs are one repeated task); a leaf
    narrower than ``2 min_dims_range_ratio`` in every dimension, where no split can be
    valid, drops its oldest pairs without drawing. The
    uniform draw covers the pool's tasks (as ``alp_gmm``), not points of the box. A batch
    gives what its episodes fed one by one would, with the random draws in another order.

    Cost: O(batch x depth) per step plus, per split, ``nb_split_attempts`` partitions of
    ``max_region_size`` pairs (vectorised, about 0.3 ms); a leaf too narrow to split only
    drops pairs, in closed form, without interrupting the batch. A proposal recomputes the
    ALP of the regions whose rings changed since the last one (prefix sums along each ring,
    O(max_region_size) per region); points snap to tasks in O(1) each (``Snap``). Regions
    hold task indices, so checkpoints grow with the regions (at most about
    ``2 / min_dims_range_ratio^d``), not with the pool.

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=100, features=np.linspace(0, 1, 100)[:, None])
        >>> cur = Curriculum(pool, "riac", seed=0, max_region_size=20)
        >>> tasks = np.arange(0, 100, 4)  # 25 episodes: easy left half, hard right half
        >>> cur.observe(Outcomes(tasks, rewards=(tasks < 50).astype(float)))
        >>> len(cur.strategy.low), cur.strategy.split_dim[0]  # the root split in two
        (3, np.int64(0))
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = (
        "low",
        "high",
        "child",
        "split_dim",
        "split_at",
        "tasks",
        "scores",
        "count",
        "held",
    )

    def __init__(
        self,
        *,
        max_region_size: int = 200,
        alp_window: int | None = None,
        nb_split_attempts: int = 50,
        min_region_size: int | None = None,
        min_dims_range_ratio: float = 1 / 15,
        discard_ratio: float = 0.25,
    ) -> None:
        self.max_region_size = positive_int("max_region_size", max_region_size)
        self.alp_window = None if alp_window is None else positive_int("alp_window", alp_window)
        self.nb_split_attempts = positive_int("nb_split_attempts", nb_split_attempts)
        self.min_region_size = (
            None if min_region_size is None else positive_int("min_region_size", min_region_size)
        )
        self.min_dims_range_ratio = number(
            "min_dims_range_ratio", min_dims_range_ratio, low=0.0, high=0.5
        )
        self.discard_ratio = number("discard_ratio", discard_ratio, low=0.0, high=1.0)

    low = _RegionRows()  # (regions, d) lower corner of each region's box
    high = _RegionRows()  # (regions, d) upper corner
    child = _RegionRows()  # first child (the lower half), -1: leaf
    split_dim = _RegionRows()
    split_at = _RegionRows()
    tasks = _RegionRows()  # (regions, max_region_size + 1) rings of (task, score) per region
    scores = _RegionRows()
    count = _RegionRows()  # pairs ever added (ring position)
    held = _RegionRows()  # pairs held, at most max_region_size + 1

    def _setup(self) -> None:
        self._rows: dict[str, np.ndarray] = {}
        self._regions = 0
        self._unit = unit_features(self.pool, self.name)
        self._snap = Snap(self._unit)
        d = self._unit.shape[1]
        width = self.max_region_size + 1
        self.low = np.zeros((1, d))
        self.high = np.ones((1, d))
        self.child = np.full(1, -1, dtype=np.int64)
        self.split_dim = np.zeros(1, dtype=np.int64)
        self.split_at = np.zeros(1)
        self.tasks = np.zeros((1, width), dtype=np.int64)
        self.scores = np.zeros((1, width))
        self.count = np.zeros(1, dtype=np.int64)
        self.held = np.zeros(1, dtype=np.int64)
        self._forget_alps()

    def _forget_alps(self) -> None:
        self._alp_key = np.zeros(0, dtype=np.int64)  # (count, held) each cached ALP is of
        self._alp = np.zeros(0)

    @property
    def _window(self) -> int:
        return self.alp_window if self.alp_window is not None else self.max_region_size

    @property
    def _minlen(self) -> float:
        if self.min_region_size is not None:
            return self.min_region_size
        return self.max_region_size / 20

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._forget_alps()
        regions = len(self.low)
        sizes = {len(self._rows[name]) for name in self.learned}
        if sizes != {regions} or (self.child >= regions).any():
            raise ValueError("riac: region arrays of different lengths")

    def pairs(self, region: int) -> tuple[np.ndarray, np.ndarray]:
        """The region's (tasks, scores), oldest first."""
        tasks, scores, held = self._rings(np.array([region]))
        return tasks[0, held[0]], scores[0, held[0]]

    def _rings(self, regions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width = self.tasks.shape[1]
        held = self.held[regions]
        columns = (self.count[regions] - held)[:, None] + np.arange(width)
        columns %= width
        rows = regions[:, None]
        mask = np.arange(width) < held[:, None]
        return self.tasks[rows, columns], self.scores[rows, columns], mask

    def alps(self) -> np.ndarray:
        """ALP of every region.

        Cached per region with the ring state it was computed from (pairs ever added, pairs
        held: a ring changes only by a push or a discard), so only regions whose rings
        changed since the last call are recomputed."""
        regions = len(self.low)
        key = self.count * (self.tasks.shape[1] + 1) + self.held
        if len(self._alp_key) < regions:
            grow = max(regions, 2 * len(self._alp_key)) - len(self._alp_key)
            self._alp_key = np.r_[self._alp_key, np.full(grow, -1, dtype=np.int64)]
            self._alp = np.r_[self._alp, np.zeros(grow)]
        stale = np.flatnonzero(self._alp_key[:regions] != key)
        if len(stale):
            self._alp[stale] = self._ring_alps(stale)
            self._alp_key[stale] = key[stale]
        return self._alp[:regions].copy()

    def _ring_alps(self, regions: np.ndarray) -> np.ndarray:
        """:func:`window_alp` of the regions' rings from prefix sums along each ring: the
        sums of the newest ``half`` and ``span`` scores are two differences of the prefix
        sums (three where the run wraps around), not masks over every slot."""
        width = self.tasks.shape[1]
        held, count = self.held[regions], self.count[regions]
        span = np.minimum(held, self._window)
        half = span // 2
        prefix = np.zeros((len(regions), width + 1))
        np.cumsum(self.scores[regions], axis=1, out=prefix[:, 1:])
        rows = np.arange(len(regions))

        def newest(m: np.ndarray) -> np.ndarray:  # sum of the newest m scores (m <= width)
            start = (count - m) % width
            wraps = start + m >= width
            end = np.where(wraps, start + m - width, start + m)
            return prefix[rows, end] - prefix[rows, start] + np.where(wraps, prefix[:, -1], 0.0)

        second = newest(half)
        first = newest(span) - second
        gap = first / np.maximum(span - half, 1) - second / np.maximum(half, 1)
        return np.where(held > 2, np.abs(gap), 0.0)

    def _leaf_paths(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(region, episode) of every region containing each point, and each point's leaf."""
        node = np.zeros(len(points), dtype=np.int64)
        regions, episodes = [node.copy()], [np.arange(len(points))]
        inside = np.flatnonzero(self.child[node] >= 0)
        while len(inside):
            at = node[inside]
            upper = points[inside, self.split_dim[at]] > self.split_at[at]
            node[inside] = self.child[at] + upper
            regions.append(node[inside])
            episodes.append(inside)
            inside = inside[self.child[node[inside]] >= 0]
        return np.concatenate(regions), np.concatenate(episodes), node

    def _push(self, regions: np.ndarray, tasks: np.ndarray, scores: np.ndarray) -> None:
        """Append pairs to regions' rings, in the given order within each region."""
        width = self.tasks.shape[1]
        s = segments(regions)
        rows = regions[s.order]
        last = s.within >= s.lengths[s.segment] - width  # older ones would be overwritten
        slots = (self.count[rows] + s.within) % width
        self.tasks[rows[last], slots[last]] = tasks[s.order][last]
        self.scores[rows[last], slots[last]] = scores[s.order][last]
        self.count[s.keys] += s.lengths
        self.held[s.keys] = np.minimum(self.held[s.keys] + s.lengths, width)

    def observe(self, outcomes: Outcomes) -> None:
        tasks, scores = episode_scores(outcomes)
        width = self.tasks.shape[1]
        points = self._unit[tasks]
        regions, episodes, leaf = self._leaf_paths(points)  # once: a split moves few tasks
        # pairs its leaf holds once episode i is pushed: a leaf is full at width; only the
        # episodes after a full one in the same leaf change (moved to a child, or fewer held)
        level = self._levels(leaf, np.arange(len(tasks)))
        # a leaf too narrow to split only drops its oldest pairs when full, drawing nothing:
        # what it holds after the batch is arithmetic, so it never interrupts the pushes
        narrow = (self.high[leaf] - self.low[leaf] < 2 * self.min_dims_range_ratio).all(axis=1)
        narrow_leaves, narrow_pushes = np.unique(leaf[narrow], return_counts=True)
        narrow_held = self.held[narrow_leaves]
        level[narrow] = 0
        start = 0
        while start < len(tasks):
            full = np.flatnonzero(level[start:] >= width)
            end = start + int(full[0]) + 1 if len(full) else len(tasks)  # up to a full leaf
            chunk = (episodes >= start) & (episodes < end)
            self._push(regions[chunk], tasks[episodes[chunk]], scores[episodes[chunk]])
            if not len(full):
                break
            region = int(leaf[end - 1])
            self._split(region)
            later = end + np.flatnonzero(leaf[end:] == region)
            if self.child[region] >= 0:  # later episodes in it go down to a new child
                upper = points[later, self.split_dim[region]] > self.split_at[region]
                leaf[later] = self.child[region] + upper
                regions = np.concatenate([regions, leaf[later]])
                episodes = np.concatenate([episodes, later])
            level[later] = self._levels(leaf, later)
            start = end
        self.held[narrow_leaves] = self._held_after(narrow_held, narrow_pushes)

    def _held_after(self, held: np.ndarray, pushes: np.ndarray) -> np.ndarray:
        """Pairs a leaf that cannot split holds after ``pushes`` more, from ``held``: each
        time it reaches the ring's width it drops ``discard`` of them."""
        width = self.tasks.shape[1]
        discard = int(self.max_region_size * self.discard_ratio)
        reached = held + pushes - width  # pushes after the first time it is full
        if discard == 0:
            return np.minimum(held + pushes, width)
        return np.where(reached < 0, held + pushes, width - discard + reached % discard)

    def _levels(self, leaf: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Pairs held by the leaf of each of ``episodes`` (ascending) once it is pushed,
        counting from the pairs held now."""
        s = segments(leaf[episodes])
        occurrence = np.empty(len(episodes), dtype=np.int64)
        occurrence[s.order] = s.within + 1
        return self.held[leaf[episodes]] + occurrence

    def _split(self, region: int) -> None:
        """Split a full leaf into two children, or drop its oldest pairs."""
        low, high = self.low[region], self.high[region]
        ratio = self.min_dims_range_ratio
        if (high - low < 2 * ratio).all():  # no threshold leaves both children wide enough
            self.held[region] -= int(self.max_region_size * self.discard_ratio)
            return
        tasks, scores = self.pairs(region)
        points = self._unit[tasks]
        attempts, d = self.nb_split_attempts, points.shape[1]
        dims = np.zeros(attempts, dtype=np.int64)
        at = np.zeros(attempts)
        lower = np.zeros((attempts, len(tasks)), dtype=bool)
        drawn = np.zeros(attempts, dtype=bool)  # both halves hold min_region_size pairs
        for _ in range(_MAX_REDRAWS):
            todo = np.flatnonzero(~drawn)
            if not len(todo):
                break
            dims[todo] = self.rng.integers(0, d, size=len(todo))
            at[todo] = low[dims[todo]] + self.rng.random(len(todo)) * (
                high[dims[todo]] - low[dims[todo]]
            )
            lower[todo] = at[todo, None] >= points[:, dims[todo]].T
            below = lower[todo].sum(axis=1)
            drawn[todo] = (below >= self._minlen) & (len(tasks) - below >= self._minlen)
        valid = drawn & (at - low[dims] >= ratio) & (high[dims] - at >= ratio)
        if not valid.any():
            self.held[region] -= int(self.max_region_size * self.discard_ratio)
            return
        halves = np.concatenate([lower, ~lower])  # both children of every attempt at once
        alps = window_alp(np.broadcast_to(scores, halves.shape), halves, self._window)
        gap = np.where(valid, np.abs(alps[:attempts] - alps[attempts:]), -np.inf)
        best = attempts - 1 - int(np.argmax(gap[::-1]))  # the last of the best, as theirs
        dim, threshold, mask = int(dims[best]), float(at[best]), lower[best]
        first = len(self.low)
        self.child[region] = first
        self.split_dim[region], self.split_at[region] = dim, threshold
        lows, highs = np.repeat(low[None], 2, axis=0), np.repeat(high[None], 2, axis=0)
        highs[0, dim], lows[1, dim] = threshold, threshold
        self._add_regions(2)
        self.low[first:], self.high[first:] = lows, highs
        side = np.where(mask, first, first + 1)
        self._push(side, tasks, scores)

    def _add_regions(self, added: int) -> None:
        """Append ``added`` empty leaves (rows zeroed, ``child`` -1), doubling the spare rows
        when they run out."""
        used = self._regions
        for name, rows in self._rows.items():
            if len(rows) < used + added:
                spare = np.zeros((max(2 * used, used + added), *rows.shape[1:]), rows.dtype)
                spare[:used] = rows[:used]
                self._rows[name] = rows = spare
            rows[used : used + added] = -1 if name == "child" else 0
        self._regions = used + added

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        mode = self.rng.random(n)
        out = self.rng.integers(0, self.pool.size, size=n).astype(np.int64)  # mode 2
        alps = self.alps()
        regions = len(alps)
        p = alps / alps.sum() if alps.sum() > 0 else np.full(regions, 1.0 / regions)
        guided = np.flatnonzero(mode >= 0.3)  # mode 1
        chosen = self.rng.choice(regions, size=len(guided), p=p)
        d = self.low.shape[1]
        span = self.high[chosen] - self.low[chosen]
        points = self.low[chosen] + self.rng.random((len(guided), d)) * span
        mutate = np.flatnonzero(mode < 0.1)  # mode 3
        chosen = self.rng.choice(regions, size=len(mutate), p=p)
        noise = self.rng.normal(0.0, 0.1, size=(len(mutate), d))
        has_pairs = self.held[chosen] > 0
        slots = guided
        if has_pairs.any():
            tasks, scores, held = self._rings(chosen[has_pairs])
            worst = tasks[np.arange(len(tasks)), np.argmin(np.where(held, scores, np.inf), axis=1)]
            region = chosen[has_pairs]
            moved = np.clip(
                self._unit[worst] + noise[has_pairs],
                self.low[region] + 1e-5,
                self.high[region] - 1e-5,
            )
            points, slots = np.r_[points, moved], np.r_[guided, mutate[has_pairs]]
        out[slots] = self._snap(points)  # one lookup for both modes
        return Proposal(out)

    def metrics(self) -> dict[str, float]:
        return {"regions": float(len(self.low)), "alp_max": float(self.alps().max())}
