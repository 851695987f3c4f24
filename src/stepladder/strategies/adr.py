"""Automatic Domain Randomization (OpenAI et al., "Solving Rubik's Cube with a Robot Hand")."""

from __future__ import annotations

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Snap, episode_scores, segments, unit_features
from stepladder.strategies._toolbox import empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["ADR"]

#: Pending boundary probes kept (the oldest are dropped beyond this: never observed).
_MAX_PENDING = 1 << 16


@register("adr")
class ADR(Strategy):
    """Automatic Domain Randomization: a box of tasks that widens where the agent succeeds.

    From "Solving Rubik's Cube with a Robot Hand" (OpenAI et al., 2019), as implemented in
    flowersteam/TeachMyAgent (``teachers/algos/adr.py``, with its command-line defaults).
    Task parameters are the pool's ``features`` rescaled to the unit box ``[0, 1]^d``. The
    box ``[lo, hi]`` starts as the single task ``start`` (a pool index; None: the task of
    lowest ``pool.difficulty``, the paper's calibrated starting environment and the
    authors' "original" expert-knowledge setting, or without difficulties a task drawn
    uniformly, their default without expert knowledge).

    - Proposal: a point uniform in ``[lo, hi]``; with probability ``boundary_p`` one
      dimension ``i`` (uniform) is set to ``lo_i`` or ``hi_i`` (one of them at random; only
      the one not already at the edge of the unit box, if one is; unchanged if both are).
      The point is snapped to the nearest task of the pool.
    - A point lies on bound ``lo_i`` (``hi_i``) when its coordinate equals it (every point
      does on a dimension where ``lo_i = hi_i``). Its episode score joins that bound's
      queue; when a queue holds ``queue_len`` scores its mean decides: ``>= high_threshold``
      widens the bound by ``step_size`` (within the unit box), ``<= low_threshold``
      narrows it (not past the other bound); then the queue empties. Scores of points
      proposed before their bound moved no longer count (the authors compare coordinates).
      Other episodes teach nothing.

    Decisions: thresholds are in episode-score units (mean reward in ``[0, 1]``); the
    defaults 0.3 and 0.66 are the authors' 0 and 180 on BipedalWalker returns mapped to
    ``[0, 1]`` by their ``scale_reward`` (``env_reward_lb=-150``, ``env_reward_ub=350``);
    ``step_size`` is in unit-box coordinates (theirs, 0.1, is in raw units of parameter
    ranges of a few units). The probes of a proposal are remembered by task until observed
    (a task proposed twice is matched oldest first). Cost: O(batch log tasks) per step,
    the kd-tree built once at bind.

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=11, features=np.linspace(0, 1, 11)[:, None])
        >>> cur = Curriculum(pool, "adr", seed=0, start=5, queue_len=2)
        >>> cur.propose(3).indices.tolist()  # the box is the single task 5
        [5, 5, 5]
        >>> cur.observe(Outcomes([5, 5], rewards=[1.0, 0.8]))  # mean 0.9 >= 0.66: widen
        >>> cur.strategy.lo.round(2).tolist(), cur.strategy.hi.round(2).tolist()
        ([0.45], [0.55])
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = (
        "lo",
        "hi",
        "queues",
        "queued",
        "moves",
        "changed_at",
        "probe_task",
        "probe_bounds",
        "probe_made",
    )

    def __init__(
        self,
        *,
        step_size: float = 0.05,
        boundary_p: float = 0.7,
        queue_len: int = 10,
        low_threshold: float = 0.3,
        high_threshold: float = 0.66,
        start: int | None = None,
    ) -> None:
        self.step_size = number("step_size", step_size, low=0.0, high=1.0, open_low=True)
        self.boundary_p = number("boundary_p", boundary_p, low=0.0, high=1.0)
        self.queue_len = positive_int("queue_len", queue_len)
        self.low_threshold = number("low_threshold", low_threshold)
        self.high_threshold = number("high_threshold", high_threshold)
        if self.low_threshold > self.high_threshold:
            raise ValueError("low_threshold must not exceed high_threshold")
        if start is not None and (isinstance(start, bool) or int(start) != start or start < 0):
            raise ValueError(f"start must be a task index or None, got {start!r}")
        self.start = None if start is None else int(start)

    def _setup(self) -> None:
        self._unit = unit_features(self.pool, self.name)
        self._snap = Snap(self._unit)
        d = self._unit.shape[1]
        if self.start is not None and self.start >= self.pool.size:
            raise ValueError(f"start {self.start} outside the pool of {self.pool.size} tasks")
        start = self.start
        difficulty = self.pool.difficulty
        if start is None and difficulty is not None and not np.isnan(difficulty).all():
            start = int(np.nanargmin(difficulty))
        if start is None:
            start = int(self.rng.integers(self.pool.size))
        self.lo = self._unit[start].copy()
        self.hi = self._unit[start].copy()
        self.queues = np.zeros((2 * d, self.queue_len))  # bound 2i: lo_i, 2i + 1: hi_i
        self.queued = np.zeros(2 * d, dtype=np.int64)
        self.moves = 0  # bound changes so far
        self.changed_at = np.zeros(2 * d, dtype=np.int64)  # ``moves`` after each bound's last
        self.probe_task = np.zeros(0, dtype=np.int64)  # proposed tasks on a bound, oldest first
        self.probe_bounds = np.zeros((0, 2 * d), dtype=bool)  # which bounds each lies on
        self.probe_made = np.zeros(0, dtype=np.int64)  # ``moves`` when proposed

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        d = len(self.lo)
        points = self.lo + self.rng.random((n, d)) * (self.hi - self.lo)
        boundary = np.flatnonzero(self.rng.random(n) < self.boundary_p)
        dims = self.rng.integers(0, d, size=len(boundary))
        coin = self.rng.random(len(boundary)) < 0.5
        at_min, at_max = self.lo[dims] == 0.0, self.hi[dims] == 1.0
        to_min = np.where(at_min | at_max, ~at_min, coin)  # the free bound, else a coin
        keep = ~(at_min & at_max)
        boundary, dims, to_min = boundary[keep], dims[keep], to_min[keep]
        points[boundary, dims] = np.where(to_min, self.lo[dims], self.hi[dims])
        tasks = self._snap(points)
        on = np.empty((n, 2 * d), dtype=bool)
        on[:, 0::2], on[:, 1::2] = points == self.lo, points == self.hi
        probes = on.any(axis=1)
        self.probe_task = np.concatenate([self.probe_task, tasks[probes]])[-_MAX_PENDING:]
        self.probe_bounds = np.concatenate([self.probe_bounds, on[probes]])[-_MAX_PENDING:]
        made = np.full(int(probes.sum()), self.moves, dtype=np.int64)
        self.probe_made = np.concatenate([self.probe_made, made])[-_MAX_PENDING:]
        return Proposal(tasks)

    def _match(self, tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(episode, probe) pairs: each episode's task takes its oldest pending probe."""
        if not len(self.probe_task) or not len(tasks):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        big = len(self.probe_task) + len(tasks) + 1
        p, e = segments(self.probe_task), segments(tasks)
        probe_keys = self.probe_task[p.order] * big + p.within  # sorted
        episode_keys = tasks[e.order] * big + e.within
        at = np.minimum(np.searchsorted(probe_keys, episode_keys), len(probe_keys) - 1)
        hit = probe_keys[at] == episode_keys
        order = np.argsort(e.order[hit], kind="stable")  # in episode order
        return e.order[hit][order], p.order[at[hit]][order]

    def observe(self, outcomes: Outcomes) -> None:
        tasks, scores = episode_scores(outcomes)
        episodes, probes = self._match(tasks)
        if not len(probes):
            return
        bounds = self.probe_bounds[probes]
        made = self.probe_made[probes]
        rewards = scores[episodes]
        used = np.ones(len(self.probe_task), dtype=bool)
        used[probes] = False
        for dim in range(len(self.lo)):
            self._update_dim(dim, bounds, made, rewards)
        self.probe_task = self.probe_task[used]
        self.probe_bounds = self.probe_bounds[used]
        self.probe_made = self.probe_made[used]

    def _update_dim(
        self, dim: int, bounds: np.ndarray, made: np.ndarray, rewards: np.ndarray
    ) -> None:
        """Feed both bounds of ``dim`` in episode order, moving them as queues fill."""
        sides = (2 * dim, 2 * dim + 1)
        entries = {b: rewards[bounds[:, b] & (made >= self.changed_at[b])] for b in sides}
        cursor = dict.fromkeys(sides, 0)
        positions = {b: np.flatnonzero(bounds[:, b] & (made >= self.changed_at[b])) for b in sides}
        while True:
            fills = {}
            for b in sides:
                needed = self.queue_len - self.queued[b]
                if cursor[b] + needed <= len(entries[b]):
                    fills[b] = positions[b][cursor[b] + needed - 1]
            if not fills:
                break
            b = min(fills, key=lambda side: (fills[side], side))  # lo first on a tie
            needed = self.queue_len - self.queued[b]
            window = np.concatenate(
                [self.queues[b, : self.queued[b]], entries[b][cursor[b] : cursor[b] + needed]]
            )
            cursor[b] += needed
            self.queued[b] = 0
            if self._move(dim, b == sides[0], float(window.mean())):
                cursor[b] = len(entries[b])  # later probes of this bound no longer lie on it
        for b in sides:
            rest = entries[b][cursor[b] :]
            self.queues[b, self.queued[b] : self.queued[b] + len(rest)] = rest
            self.queued[b] += len(rest)

    def _move(self, dim: int, low_side: bool, mean: float) -> bool:
        """Widen or narrow one bound by its queue's mean; whether it changed."""
        lo, hi, step = self.lo[dim], self.hi[dim], self.step_size
        if low_side:
            if mean >= self.high_threshold:
                new = max(lo - step, 0.0)
            elif mean <= self.low_threshold:
                new = min(lo + step, hi)
            else:
                return False
            changed, self.lo[dim] = new != lo, new
        else:
            if mean >= self.high_threshold:
                new = min(hi + step, 1.0)
            elif mean <= self.low_threshold:
                new = max(hi - step, lo)
            else:
                return False
            changed, self.hi[dim] = new != hi, new
        if changed:
            self.moves += 1
            self.changed_at[2 * dim + (0 if low_side else 1)] = self.moves
        return changed

    def metrics(self) -> dict[str, float]:
        return {"width_mean": float(np.mean(self.hi - self.lo))}
