"""Mixtures of sources: a share per pool group, and an item-level strategy inside each group.

:class:`Mixture` composes two decisions that data-mixing recipes keep apart:

- **Which source.** The pool's groups are the sources. Their shares of each batch come from
  fixed ``ratios``, from a ``schedule`` of ratios interpolated over steps, or from an
  ``allocator``: any registered group bandit (``dump``, ``sec``, ``mastering_rate``, ...),
  whose ``arm_probabilities()`` are the shares. Without any of them, every non-empty group
  gets the same share.
- **Which items of the source.** Each group runs its own copy of the ``inner`` strategy
  (any registered name, with ``inner_params``), bound to a sub-pool of that group's members:
  sub-pool item ``i`` is the group's ``i``-th member in index order, with its features and
  difficulty, and the inner strategy's statistics are the curriculum's restricted to the
  group. Indices are mapped both ways by lookup tables built at bind (the members of each
  group, and each item's position among them: 4 bytes per item), never per step.

Shares become whole counts per batch by largest remainder with a carried remainder per
group (each group's surplus or deficit, clipped to one item, moves to the next batch), so the
long-run counts follow the shares without random draws: with shares ``(0.5, 0.5)`` and
batches of one, the two groups alternate. A bandit allocator therefore gives each group its
expected number of slots instead of DUMP's and SEC's per-slot draws.

Cost per step: O(batch + groups). Bind builds the sub-pools (a copy of the pool's features
and difficulty, grouped). Checkpoints hold the allocator's and every inner strategy's state
plus one number per group.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.stats import ItemStats
from stepladder.strategies._registry import available, create, get, register
from stepladder.strategies._toolbox import empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["Mixture"]


@register("mixture")
class Mixture(Strategy):
    """A share of each batch per source (pool group) and an item strategy inside each source.

    Args:
        ratios: fixed weight per group label, ``{label: weight}`` (normalised; unnamed groups
            get 0).
        schedule: breakpoints ``[(step, {label: weight}), ...]`` with increasing steps; the
            shares at a step interpolate linearly between the normalised breakpoints around it
            and hold the first (last) breakpoint before (after) them. The step is the number
            of batches observed so far.
        allocator: a registered strategy with ``arm_probabilities()`` (``dump``, ``sec``,
            ``mastering_rate``) bound to the whole pool; it observes every batch and its arm
            probabilities are the shares.
        allocator_params: parameters of the allocator.
        inner: the strategy run inside each group (any registered name).
        inner_params: its parameters.

    At most one of ``ratios``, ``schedule`` and ``allocator`` may be given; with none, every
    non-empty group gets an equal share. ``feedback``, ``filters``, ``allocates_rollouts``
    and ``needs_difficulty`` follow the parts: a filtering ``inner`` filters each group with
    its own copy, so ``keep`` asks the copy of the item's group.

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=8, groups=["math"] * 6 + ["code"] * 2)
        >>> cur = Curriculum(pool, "mixture", ratios={"math": 3, "code": 1}, seed=0)
        >>> batch = cur.propose(4)
        >>> [pool.group_names[g] for g in pool.groups[batch.indices]]
        ['math', 'math', 'math', 'code']
        >>> cur.observe(Outcomes(batch.indices, rewards=[[1, 0]] * 4))
        >>> cur.metrics()["mixture/share/code"]
        0.25
        >>> ramp = Curriculum(pool, "mixture", schedule=[(0, {"math": 1}), (10, {"code": 1})])
        >>> ramp.strategy.shares().tolist()  # at step 0, then halfway
        [1.0, 0.0]
        >>> for _ in range(5):
        ...     ramp.observe(Outcomes([0], rewards=[1.0]))
        >>> ramp.strategy.shares().tolist()
        [0.5, 0.5]
    """

    learned: ClassVar[tuple[str, ...]] = ("_credit", "_observed", "_allocator", "_sources")

    def __init__(
        self,
        *,
        ratios: Mapping[Any, float] | None = None,
        schedule: Sequence[tuple[int, Mapping[Any, float]]] | None = None,
        allocator: str | None = None,
        allocator_params: Mapping[str, Any] | None = None,
        inner: str = "uniform",
        inner_params: Mapping[str, Any] | None = None,
    ) -> None:
        given = [name for name, v in (("ratios", ratios), ("schedule", schedule),
                                      ("allocator", allocator)) if v is not None]  # fmt: skip
        if len(given) > 1:
            raise ValueError(f"give at most one of ratios, schedule and allocator, got {given}")
        self.ratios = None if ratios is None else _weights("ratios", ratios)
        self.schedule = None if schedule is None else _breakpoints(schedule)
        self.allocator = allocator
        self.allocator_params = dict(allocator_params or {})
        self.inner = inner
        self.inner_params = dict(inner_params or {})
        parts = [create(inner, **self.inner_params)]
        if allocator is not None:
            if not callable(getattr(get(allocator), "arm_probabilities", None)):
                usable = [n for n in available() if hasattr(get(n), "arm_probabilities")]
                raise ValueError(
                    f"allocator {allocator!r} has no arm_probabilities(); use one of {usable}"
                )
            parts.append(create(allocator, **self.allocator_params))
        elif self.allocator_params:
            raise ValueError("allocator_params given without an allocator")
        self._parts = parts
        self.feedback = tuple(dict.fromkeys(f for p in parts for f in p.feedback))
        self.filters = parts[0].filters
        self.allocates_rollouts = parts[0].allocates_rollouts
        self.needs_difficulty = any(p.needs_difficulty for p in parts)

    def _setup(self) -> None:
        pool = self.pool
        labels = pool.group_names if pool.groups is not None else [None]
        self._nonempty = pool.group_sizes() > 0
        self._table = self._share_table(labels)  # (breakpoints, groups); one row for ratios
        self._credit = np.zeros(pool.n_groups)  # carried remainder of each group's quota
        self._observed = 0
        self._allocator: Strategy | None = None
        if self.allocator is not None:
            self._allocator = create(self.allocator, **self.allocator_params)
            self._allocator.bind(pool, self.stats, self.rng)
        self._sources = _Sources(pool, self.stats, self.rng, self.inner, self.inner_params)
        self._labels = [str(label) for label in labels]
        self._steps = np.array([s for s, _ in self.schedule or [(0, None)]])

    def _share_table(self, labels: list[Any]) -> np.ndarray:
        if self.schedule is not None:
            rows = [self._resolve(f"schedule at step {s}", w, labels) for s, w in self.schedule]
        elif self.ratios is not None:
            rows = [self._resolve("ratios", self.ratios, labels)]
        else:
            rows = [self._nonempty / self._nonempty.sum()]
        return np.array(rows)

    def _resolve(self, where: str, weights: dict[Any, float], labels: list[Any]) -> np.ndarray:
        if self.pool.groups is None:
            raise ValueError(f"{where} name groups, but the pool has no group labels")
        code = {label: i for i, label in enumerate(labels)}
        unknown = [label for label in weights if label not in code]
        if unknown:
            raise ValueError(f"{where} name {unknown[0]!r}, not a group of the pool: {labels}")
        row = np.zeros(len(labels))
        for label, weight in weights.items():
            row[code[label]] = weight
        row[~self._nonempty] = 0.0
        if row.sum() <= 0:
            raise ValueError(f"{where} give no weight to a non-empty group")
        return row / row.sum()

    def shares(self) -> np.ndarray:
        """Each group's share of the next batch (pool group code order)."""
        if self._allocator is not None:
            p = np.where(self._nonempty, self._allocator.arm_probabilities(), 0.0)  # type: ignore[attr-defined]
            return p / p.sum()
        if len(self._table) == 1:
            return self._table[0]
        steps = self._steps
        j = int(np.searchsorted(steps, self._observed, side="right")) - 1
        if j < 0:
            return self._table[0]
        if j >= len(steps) - 1:
            return self._table[-1]
        t = (self._observed - steps[j]) / (steps[j + 1] - steps[j])
        return (1 - t) * self._table[j] + t * self._table[j + 1]

    def _counts(self, n: int, shares: np.ndarray) -> np.ndarray:
        """Whole counts summing to ``n``: largest remainder over shares plus carried credit."""
        target = self._credit + n * shares
        eligible = shares > 0
        weights = np.where(eligible, np.maximum(target, 0.0), 0.0)
        if weights.sum() <= 0:
            weights = shares
        quota = n * weights / weights.sum()
        counts = np.floor(quota).astype(np.int64)
        order = np.argsort(-(quota - counts), kind="stable")
        counts[order[: n - int(counts.sum())]] += 1
        self._credit = np.where(eligible, np.clip(target - counts, -1.0, 1.0), 0.0)
        return counts

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        counts = self._counts(n, self.shares())
        parts = [self._sources.propose(int(g), int(counts[g])) for g in np.flatnonzero(counts)]
        return _join(parts)

    def check_feedback(self, outcomes: Outcomes) -> None:
        for part in self._parts:
            part.check_feedback(outcomes)

    def observe(self, outcomes: Outcomes) -> None:
        if self._allocator is not None:
            self._allocator.observe(outcomes)
        self._sources.observe(outcomes, self._observed)
        self._observed += 1

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        if not self.filters:
            return super().keep(outcomes)
        return self._sources.keep(outcomes)

    def metrics(self) -> dict[str, float]:
        shares = self.shares()
        result = {
            f"share/{self._labels[g]}": float(shares[g]) for g in np.flatnonzero(self._nonempty)
        }
        if self._allocator is not None:
            result.update({f"allocator/{k}": v for k, v in self._allocator.metrics().items()})
        return result


class _Sources:
    """One ``inner`` strategy per non-empty pool group, bound to that group's sub-pool.

    Sub-pool item ``i`` of group ``g`` is ``members[g][i]`` (members in index order);
    ``position`` maps a pool index back to its sub-pool index (built at bind: a lookup costs
    one memory access, where a binary search over a large group missed the cache at every
    level). Each sub-pool has its own
    :class:`ItemStats`, the curriculum's restricted to the group (kept in step by
    :meth:`observe`, rebuilt from the curriculum's on load); all share the curriculum's
    generator.
    """

    def __init__(
        self,
        pool: ItemPool,
        stats: ItemStats,
        rng: np.random.Generator,
        name: str,
        params: dict[str, Any],
    ) -> None:
        self.pool, self.stats, self.rng, self.name, self.params = pool, stats, rng, name, params
        self.members = [pool.members(g) for g in range(pool.n_groups)]
        self.position: np.ndarray | None = None  # pool index -> sub-pool index (4 bytes/item)
        if pool.groups is not None:
            self.position = np.empty(pool.size, dtype=np.int32 if pool.size < 2**31 else np.int64)
            for members in self.members:
                self.position[members] = np.arange(len(members))
        self.strategies: list[Strategy | None] = [self._build(m) for m in self.members]

    def _build(self, members: np.ndarray) -> Strategy | None:
        if len(members) == 0:
            return None
        pool = self.pool
        sub_pool = ItemPool(
            size=len(members),
            features=None if pool.features is None else pool.features[members],
            difficulty=None if pool.difficulty is None else pool.difficulty[members],
        )
        sub_stats = ItemStats(len(members))
        seen = np.flatnonzero(self.stats.seen(members))
        if len(seen):  # a curriculum that has already observed: restrict its statistics
            rows = members[seen]
            sub_stats.load_state_dict({
                "size": len(members), "touched": seen, "attempts": self.stats.attempts[rows],
                "successes": self.stats.successes[rows], "seen_at": self.stats.last_step[rows] + 1,
            })  # fmt: skip
        strategy = create(self.name, **self.params)
        strategy.bind(sub_pool, sub_stats, self.rng)
        return strategy

    def _group_of(self, indices: np.ndarray) -> np.ndarray:
        if self.pool.groups is None:
            return np.zeros(len(indices), dtype=np.int64)
        return self.pool.groups[indices].astype(np.int64)

    def propose(self, group: int, count: int) -> Proposal:
        strategy = self.strategies[group]
        assert strategy is not None  # groups without members get no share
        proposal = strategy.propose(count)
        return Proposal(
            self.members[group][proposal.indices],
            rollouts=proposal.rollouts,
            weights=proposal.weights,
        )

    def _split(self, outcomes: Outcomes) -> list[tuple[int, np.ndarray, Outcomes]]:
        """Per group present in the batch: its rows and its sub-batch in sub-pool indices."""
        if len(outcomes) == 0:
            return []
        groups = self._group_of(outcomes.indices)
        order = np.argsort(groups, kind="stable")
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        parts = []
        for rows in np.split(order, bounds):
            group = int(groups[rows[0]])
            part = outcomes.select(rows)
            local = part.indices if self.position is None else self.position[part.indices]
            parts.append((group, rows, _reindexed(part, local)))
        return parts

    def observe(self, outcomes: Outcomes, step: int) -> None:
        """Each group's inner strategy observes its sub-batch (empty if it has none), so
        strategies that pace themselves by observed steps keep the curriculum's clock."""
        present = {group: part for group, _, part in self._split(outcomes)}
        for group, strategy in enumerate(self.strategies):
            if strategy is None:
                continue
            part = present.get(group, Outcomes.empty())
            strategy.stats.update(part, step)
            strategy.observe(part)

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        mask = np.zeros(len(outcomes), dtype=bool)
        for group, rows, part in self._split(outcomes):
            strategy = self.strategies[group]
            assert strategy is not None
            mask[rows] = np.asarray(strategy.keep(part), dtype=bool)
        return mask

    def state_dict(self) -> dict[str, Any]:
        return {str(g): s.state_dict() for g, s in enumerate(self.strategies) if s is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load into fresh strategies first (their statistics rebuilt from the curriculum's,
        which it restores before the strategy), then replace the current ones."""
        expected = {str(g) for g, s in enumerate(self.strategies) if s is not None}
        if set(state) != expected:
            raise ValueError(
                f"mixture state holds groups {sorted(state)}, expected {sorted(expected)}"
            )
        generator = self.rng.bit_generator.state  # binding fresh strategies may draw from it
        try:
            fresh = [self._build(m) for m in self.members]
            for group, strategy in enumerate(fresh):
                if strategy is not None:
                    strategy.load_state_dict(state[str(group)])
        finally:
            self.rng.bit_generator.state = generator
        self.strategies = fresh


def _reindexed(outcomes: Outcomes, indices: np.ndarray) -> Outcomes:
    return Outcomes(
        indices,
        outcomes.rewards,
        counts=outcomes.counts,
        advantages=outcomes.advantages,
        losses=outcomes.losses,
        signals=outcomes.signals,
        step=outcomes.step,
    )


def _join(parts: list[Proposal]) -> Proposal:
    """One proposal from the groups' proposals; rollouts only if every part has them, weights
    (1 where a part has none) if any part has them."""
    indices = np.concatenate([p.indices for p in parts]).astype(np.int64)
    rollouts = None
    if all(p.rollouts is not None for p in parts):
        rollouts = np.concatenate([p.rollouts for p in parts]).astype(np.int64)  # type: ignore[misc]
    weights = None
    if any(p.weights is not None for p in parts):
        weights = np.concatenate([np.ones(len(p)) if p.weights is None else p.weights
                                  for p in parts])  # fmt: skip
    return Proposal(indices, rollouts=rollouts, weights=weights)


def _weights(where: str, weights: Any) -> dict[Any, float]:
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"{where} must be a non-empty {{group: weight}} mapping, got {weights!r}")
    checked = {label: number(f"{where}[{label!r}]", w, low=0.0) for label, w in weights.items()}
    if sum(checked.values()) <= 0:
        raise ValueError(f"{where} must give some group a positive weight, got {weights!r}")
    return checked


def _breakpoints(schedule: Any) -> list[tuple[int, dict[Any, float]]]:
    if isinstance(schedule, str | bytes | Mapping) or not isinstance(schedule, Sequence):
        raise ValueError(f"schedule must be a list of (step, {{group: weight}}), got {schedule!r}")
    if not schedule:
        raise ValueError("schedule must hold at least one breakpoint")
    points = []
    for point in schedule:
        if not isinstance(point, Sequence) or len(point) != 2:
            raise ValueError(f"schedule breakpoints are (step, {{group: weight}}), got {point!r}")
        step = positive_int("schedule step", point[0], allow_zero=True)
        points.append((step, _weights(f"schedule at step {step}", point[1])))
    steps = [s for s, _ in points]
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(f"schedule steps must increase, got {steps}")
    return points
