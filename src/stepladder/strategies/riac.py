"""Robust Intelligent Adaptive Curiosity (Baranes and Oudeyer, 2009), as in Portelas et al. 2019."""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Snap, episode_scores, unit_features
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


def _group(keys: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions sorted by key, batch order kept within a key; the distinct keys, ascending;
    occurrences of each) for keys in ``0..bound - 1``: a radix sort where keys fit 16 bits.

    Example:
        >>> [a.tolist() for a in _group(np.array([7, 2, 7, 7]), 8)]
        [[1, 0, 2, 3], [2, 7], [1, 3]]
    """
    small = keys.astype(np.uint16) if bound <= 2**16 else keys
    order = np.argsort(small, kind="stable")
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    return order, ordered[starts], np.diff(np.append(starts, len(keys)))


def _at_most(ordered: np.ndarray, dims: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many of each row of ``ordered`` (sorted rows) are at most ``values[k]``, in the row
    ``dims[k]``: a binary search per value.

    Example:
        >>> _at_most(np.array([[0.1, 0.5, 0.9], [0.2, 0.2, 0.3]]), np.array([0, 1, 1]),
        ...          np.array([0.5, 0.2, 0.0])).tolist()
        [2, 2, 0]
    """
    counts = ordered[0].searchsorted(values, side="right")
    for dim in range(1, len(ordered)):
        along = dims == dim
        counts[along] = ordered[dim].searchsorted(values[along], side="right")
    return counts


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
    uniform draw covers the pool's tasks (as ``alp_gmm``), not points of the box. A batch of
    episodes leaves exactly what they would fed one by one; a batch of proposals makes
    their draws in another order than proposals drawn one at a time.

    Cost: O(batch x depth) per step. ``observe`` descends the tree once for the batch and
    writes every pair to its regions' rings in one batched write, except around the leaves
    that fill: those events are taken in episode order (so their splits draw in the order
    the authors' loop would), each a split of ``max_region_size + 1`` pairs: draws counted
    by binary search over the pairs' coordinates sorted per dimension, both children of
    every attempt scored by one ``add.reduceat`` over their scores (about 0.2 ms). A leaf
    too narrow to split only drops pairs, in closed form, and makes no event. A proposal
    recomputes the ALP of the regions whose rings changed since the last one
    (O(max_region_size) per region); points snap to tasks in O(1) each (``Snap``). Regions
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
        rows = self._rows
        width = rows["tasks"].shape[1]
        held, count = int(rows["held"][region]), int(rows["count"][region])
        slots = (count - held + np.arange(held)) % width
        return rows["tasks"][region, slots], rows["scores"][region, slots]

    def _worst(self, regions: np.ndarray) -> np.ndarray:
        """Each region's lowest-scoring held task (the oldest on ties); regions hold pairs."""
        width = self.tasks.shape[1]
        held = self.held[regions]
        slots = (self.count[regions] - held)[:, None] + np.arange(width)  # oldest first
        slots %= width
        scores = self.scores[regions[:, None], slots]
        lowest = np.argmin(np.where(np.arange(width) < held[:, None], scores, np.inf), axis=1)
        return self.tasks[regions, slots[np.arange(len(regions)), lowest]]

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
        """:func:`window_alp` of the regions' rings: the older and newer halves of each
        window are runs of the ring (two pieces each where a run wraps around), summed by
        one ``add.reduceat`` over the rings laid end to end, not masks over every slot."""
        width = self.tasks.shape[1]
        held, count = self.held[regions], self.count[regions]
        span = np.minimum(held, self._window)
        half = span // 2
        laid = np.append(self.scores[regions], 0.0)  # a last index for runs that end a ring
        base = np.arange(len(regions)) * width
        pieces = []
        for start, length in ((count - span, span - half), (count - half, half)):
            start %= width
            pieces += [start, np.minimum(start + length, width)]  # up to the ring's end
            pieces += [np.zeros_like(start), np.maximum(start + length - width, 0)]  # wrapped
        bounds = np.stack(pieces, axis=1) + base[:, None]  # (regions, begin/end of 4 pieces)
        sums = np.add.reduceat(laid, bounds.ravel())[::2].reshape(-1, 4)
        sums[bounds[:, 1::2] == bounds[:, ::2]] = 0.0  # an empty run sums its first slot
        first, second = sums[:, 0] + sums[:, 1], sums[:, 2] + sums[:, 3]
        gap = first / np.maximum(span - half, 1) - second / np.maximum(half, 1)
        return np.where(held > 2, np.abs(gap), 0.0)

    def _descend(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each point's leaf, and (region, point) for every internal region containing it
        (level by level, points ascending within a level)."""
        rows = self._rows
        child, dim, at = rows["child"], rows["split_dim"], rows["split_at"]
        node = np.zeros(len(points), dtype=np.int64)
        regions, episodes = [], []
        inside = np.arange(len(points)) if child[0] >= 0 else node[:0]
        while len(inside):
            here = node[inside]
            regions.append(here)
            episodes.append(inside)
            below = child[here] + (points[inside, dim[here]] > at[here])
            node[inside] = below
            inside = inside[child[below] >= 0]
        if not regions:
            return node, node[:0], node[:0]
        return node, np.concatenate(regions), np.concatenate(episodes)

    def _push(self, regions: np.ndarray, tasks: np.ndarray, scores: np.ndarray) -> None:
        """Append pairs to regions' rings, in the given order within each region."""
        if not len(regions):
            return
        rows = self._rows
        width = rows["tasks"].shape[1]
        order, keys, lengths = _group(regions, self._regions)
        starts = np.cumsum(lengths) - lengths
        within = np.arange(len(order)) - np.repeat(starts, lengths)
        last = within >= np.repeat(lengths - width, lengths)  # older ones would be overwritten
        order, within = order[last], within[last]
        ring = regions[order]
        slots = (rows["count"][ring] + within) % width
        rows["tasks"][ring, slots] = tasks[order]
        rows["scores"][ring, slots] = scores[order]
        rows["count"][keys] += lengths
        rows["held"][keys] = np.minimum(rows["held"][keys] + lengths, width)

    def _push_one(self, region: int, tasks: np.ndarray, scores: np.ndarray) -> None:
        """Append pairs to one region's ring, in order."""
        rows = self._rows
        width = rows["tasks"].shape[1]
        count, pushed = int(rows["count"][region]), len(tasks)
        kept = min(pushed, width)
        slots = (count + pushed - kept + np.arange(kept)) % width
        rows["tasks"][region, slots] = tasks[pushed - kept :]
        rows["scores"][region, slots] = scores[pushed - kept :]
        rows["count"][region] = count + pushed
        rows["held"][region] = min(int(rows["held"][region]) + pushed, width)

    def _narrow(self, regions: np.ndarray | int) -> np.ndarray:
        """Whether each region is too narrow in every dimension for any valid split."""
        rows = self._rows
        spans = rows["high"][regions] - rows["low"][regions]
        return (spans < 2 * self.min_dims_range_ratio).all(axis=-1)

    def observe(self, outcomes: Outcomes) -> None:
        """Push each episode's pair to every region containing its task, in batch order.

        Only the pushes that fill a leaf (it then holds ``max_region_size + 1`` pairs) need
        the batch's order: those events are taken in episode order (the order the random
        draws of their split attempts follow), each pushing its leaf's pairs up to the
        event, then splitting it or dropping pairs; every other push is one batched write.
        A leaf too narrow to split only drops its oldest pairs when full, drawing nothing:
        what it holds after the batch is arithmetic, so it makes no event."""
        tasks, scores = episode_scores(outcomes)
        if not len(tasks):
            return
        width = self.max_region_size + 1
        points = self._unit[tasks]
        leaf, regions, episodes = self._descend(points)  # once: a split moves few tasks
        pending_regions, pending_episodes = [regions], [episodes]  # pushed after the events
        narrow_regions, narrow_held, narrow_pushes = [], [], []
        events: list[tuple[int, int, int, np.ndarray]] = []

        def enqueue(region: int, later: np.ndarray) -> None:
            """The leaf's next episodes (ascending): an event where one fills it, else pending."""
            if not len(later):
                return
            held = int(self._rows["held"][region])
            if self._narrow(region):
                narrow_regions.append(region)
                narrow_held.append(held)
                narrow_pushes.append(len(later))
            elif len(later) > (fills := max(width - 1 - held, 0)):
                heapq.heappush(events, (int(later[fills]), region, fills, later))
                return
            pending_regions.append(np.full(len(later), region))
            pending_episodes.append(later)

        order, keys, lengths = _group(leaf, self._regions)
        held = self._rows["held"][keys]
        narrow = self._narrow(keys)
        busy = ~narrow & (lengths > np.maximum(width - 1 - held, 0))  # filled in this batch
        quiet = ~np.repeat(busy, lengths)  # in group order
        pending_regions.append(leaf[order[quiet]])
        pending_episodes.append(order[quiet])
        narrow_regions.extend(keys[narrow].tolist())
        narrow_held.extend(held[narrow].tolist())
        narrow_pushes.extend(lengths[narrow].tolist())
        starts = np.cumsum(lengths) - lengths
        for group in np.flatnonzero(busy).tolist():
            start = int(starts[group])
            enqueue(int(keys[group]), order[start : start + int(lengths[group])])

        while events:
            _, region, fills, later = heapq.heappop(events)
            now = later[: fills + 1]
            self._push_one(region, tasks[now], scores[now])
            self._split(region)
            later = later[fills + 1 :]
            rows = self._rows
            first = int(rows["child"][region])
            if first < 0:  # no split: the leaf dropped pairs and goes on filling
                enqueue(region, later)
                continue
            pending_regions.append(np.full(len(later), region))  # an internal region now
            pending_episodes.append(later)
            upper = points[later, rows["split_dim"][region]] > rows["split_at"][region]
            enqueue(first, later[~upper])
            enqueue(first + 1, later[upper])

        episodes = np.concatenate(pending_episodes)
        self._push(np.concatenate(pending_regions), tasks[episodes], scores[episodes])
        if narrow_regions:
            held_now = self._rows["held"]
            held_now[narrow_regions] = self._held_after(
                np.array(narrow_held, dtype=np.int64), np.array(narrow_pushes, dtype=np.int64)
            )

    def _held_after(self, held: np.ndarray, pushes: np.ndarray) -> np.ndarray:
        """Pairs a leaf that cannot split holds after ``pushes`` more, from ``held``: each
        time it reaches the ring's width it drops ``discard`` of them."""
        width = self.tasks.shape[1]
        discard = int(self.max_region_size * self.discard_ratio)
        reached = held + pushes - width  # pushes after the first time it is full
        if discard == 0:
            return np.minimum(held + pushes, width)
        return np.where(reached < 0, held + pushes, width - discard + reached % discard)

    def _split(self, region: int) -> None:
        """Split a full leaf into two children, or drop its oldest pairs."""
        rows = self._rows
        low, high = rows["low"][region].copy(), rows["high"][region].copy()
        ratio = self.min_dims_range_ratio
        drop = int(self.max_region_size * self.discard_ratio)
        if (high - low < 2 * ratio).all():  # no threshold leaves both children wide enough
            rows["held"][region] -= drop
            return
        tasks, scores = self.pairs(region)
        columns = self._unit[tasks].T  # (d, pairs)
        ordered = np.sort(columns, axis=1)
        spans = high - low
        n, d, attempts, minlen = len(tasks), len(low), self.nb_split_attempts, self._minlen
        dims = np.zeros(attempts, dtype=np.int64)
        at = np.zeros(attempts)
        below = np.zeros(attempts, dtype=np.int64)
        todo = np.arange(attempts)  # attempts still to (re)draw until both halves hold minlen
        for _ in range(_MAX_REDRAWS):
            drawn = self.rng.integers(0, d, size=len(todo))
            cut = low[drawn] + self.rng.random(len(todo)) * spans[drawn]
            counted = _at_most(ordered, drawn, cut)
            dims[todo], at[todo], below[todo] = drawn, cut, counted
            todo = todo[(counted < minlen) | (n - counted < minlen)]
            if not len(todo):
                break
        valid = (at - low[dims] >= ratio) & (high[dims] - at >= ratio)
        valid[todo] = False  # still short after the last redraw
        if not valid.any():
            rows["held"][region] -= drop
            return
        tried = np.flatnonzero(valid)
        lower = at[tried, None] >= columns[dims[tried]]
        gap = self._child_gaps(lower, below[tried], scores)
        pick = len(tried) - 1 - int(np.argmax(gap[::-1]))  # the last of the best, as theirs
        best, mask = tried[pick], lower[pick]
        dim, threshold, k = int(dims[best]), float(at[best]), int(below[best])
        first = self._regions
        self._add_regions(2)
        rows = self._rows
        rows["child"][region] = first
        rows["split_dim"][region], rows["split_at"][region] = dim, threshold
        rows["low"][first : first + 2] = low
        rows["high"][first : first + 2] = high
        rows["high"][first, dim] = rows["low"][first + 1, dim] = threshold
        for child, side, held in ((first, mask, k), (first + 1, ~mask, n - k)):  # empty rings
            rows["tasks"][child, :held] = tasks[side]
            rows["scores"][child, :held] = scores[side]
            rows["count"][child] = rows["held"][child] = held

    def _child_gaps(self, lower: np.ndarray, below: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``|ALP_1 - ALP_2|`` of the two children of each split attempt: :func:`window_alp`
        of the pairs with ``lower`` (``below`` of them, at least one) and of the others.

        A child's window is two runs of its row of masked scores (older half, newer half),
        from its pair at rank ``held - span`` (then ``held - half``) to the end of the row;
        one ``add.reduceat`` sums every run (equal rows give equal sums, so equal attempts
        tie exactly, as the authors' do)."""
        attempts, n = lower.shape
        sides = np.concatenate([lower, ~lower])  # (2 attempts, pairs): lower, then upper
        held = np.concatenate([below, n - below])
        pairs = np.flatnonzero(sides)  # row * n + column of each child's pairs, oldest first
        start = np.cumsum(held) - held
        span = np.minimum(held, self._window)
        half = span // 2
        # with half 0 (held < 3, ALP 0) the newer run starts in the next row: any bounds do
        ranks = np.stack([start + held - span, start + held - half], axis=1)
        rows_end = np.arange(1, len(sides) + 1) * n  # the last row runs to the end of the array
        bounds = np.column_stack([pairs[np.minimum(ranks, len(pairs) - 1)], rows_end]).ravel()
        sums = np.add.reduceat((sides * scores).ravel(), bounds[:-1])
        gap = sums[0::3] / np.maximum(span - half, 1) - sums[1::3] / np.maximum(half, 1)
        alp = np.where(held > 2, np.abs(gap), 0.0)
        return np.abs(alp[:attempts] - alp[attempts:])

    def _add_regions(self, added: int) -> None:
        """Append ``added`` empty leaves. Rows past the regions in use are kept empty
        (``child`` -1, the rest 0); when they run out the spare rows double."""
        used = self._regions
        for name, rows in self._rows.items():
            if len(rows) < used + added:
                spare = np.full(
                    (max(2 * used, used + added), *rows.shape[1:]),
                    -1 if name == "child" else 0,
                    dtype=rows.dtype,
                )
                spare[:used] = rows[:used]
                self._rows[name] = spare
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
            region = chosen[has_pairs]
            distinct, back = np.unique(region, return_inverse=True)
            worst = self._worst(distinct)[back]
            moved = np.clip(
                self._unit[worst] + noise[has_pairs],
                self.low[region] + 1e-5,
                self.high[region] - 1e-5,
            )
            points = np.concatenate([points, moved])
            slots = np.concatenate([guided, mutate[has_pairs]])
        out[slots] = self._snap(points)  # one lookup for both modes
        return Proposal(out)

    def metrics(self) -> dict[str, float]:
        return {"regions": float(len(self.low)), "alp_max": float(self.alps().max())}
