"""The safety net: a share of uniform draws and per-group coverage, for any strategy.

A :class:`SafetyNet` rewrites the :class:`~stepladder.strategies.Proposal` a strategy returns,
so that no strategy can starve part of the pool: ``uniform_mix`` replaces a share of each
proposal by items drawn uniformly from the pool, and ``cover_groups=W`` makes every group of
the pool appear at least once in every ``W`` consecutive proposals. The
:class:`~stepladder.Curriculum` owns one (``Curriculum(..., uniform_mix=, cover_groups=)``),
built by :meth:`SafetyNet.for_strategy` from the strategy's ``default_safety_net`` where a
setting is left unset. With no mix and no coverage it is off and touches nothing, not even the
generator.

Replacing items at positions of the strategy's own ``n``-item proposal (keeping each
position's rollouts and weight) leaves the proposal's size and, for strategies that allocate
rollouts, its total rollout budget unchanged. The strategy then observes the outcomes of
every item, drawn by it or not, as the strategy contract allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.pool import ItemPool
from stepladder.strategies import Proposal, Strategy

__all__ = ["SafetyNet"]


class SafetyNet:
    """Mixes uniform draws into proposals and guarantees that every group is proposed.

    Per proposal of ``n > 0`` items (empty proposals are left alone and do not count):

    1. Coverage (``cover_groups=W``, needs pool groups): a group whose last appearance is
       ``W`` or more proposals ago (never seen: counted from just before the first proposal)
       gets one item drawn uniformly from its members. If more than ``n`` groups are overdue,
       the longest overdue go first, ties by group order; the rest wait for the next
       proposal. A group that the strategy happens to propose at its deadline still gets its
       draw: simpler, and no coverage draw can ever displace another.
    2. Uniform mix (``uniform_mix=p``): ``n * p`` items, rounded stochastically (so the
       expected share is exactly ``p``), drawn uniformly from the pool, without replacement
       within the proposal while the pool has enough items. Coverage has priority when the
       two together would exceed ``n`` (then the mixed share falls below ``p``).
    3. The drawn items replace the strategy's items at distinct positions chosen uniformly at
       random; each position keeps its rollouts and weight, so budget allocators spend the
       same rollouts. Every group in the result counts as seen in this proposal.

    All draws come from the curriculum's generator (seeded, saved in its checkpoints). A step
    costs O(batch + groups): members of each group are located once, at :meth:`bind`.
    Groups without items (possible with an Arrow dictionary that lists unused labels) are
    never due.

    Args:
        uniform_mix: share of each proposal drawn uniformly, in ``[0, 1)``.
        cover_groups: window ``W`` (in proposals) within which every group appears; None or
            0: off.

    Example:
        >>> from stepladder import ItemPool
        >>> net = SafetyNet(cover_groups=2)
        >>> net.bind(ItemPool(size=6, groups=[0, 0, 0, 0, 1, 1]), np.random.default_rng(0))
        >>> starved = Proposal(np.array([0, 1, 2, 3]), rollouts=np.array([8, 8, 4, 4]))
        >>> [net.apply(starved).indices.tolist() for _ in range(4)]
        [[0, 1, 2, 3], [0, 1, 2, 5], [0, 1, 2, 3], [0, 1, 4, 3]]
        >>> net.apply(starved).rollouts.tolist(), net.metrics()
        ([8, 8, 4, 4], {'mixed_share': 0.0, 'groups_covered': 0.0, 'max_absence': 1.0})
    """

    def __init__(self, uniform_mix: float = 0.0, cover_groups: int | None = None) -> None:
        self.uniform_mix = _share(uniform_mix)
        self.cover_groups = _window(cover_groups)

    @property
    def enabled(self) -> bool:
        """Whether the net changes anything (off with the defaults)."""
        return self.uniform_mix > 0.0 or self.cover_groups is not None

    def get_params(self) -> dict[str, Any]:
        """The settings, as :meth:`Curriculum.state_dict <stepladder.Curriculum.state_dict>`
        records and checks them."""
        return {"uniform_mix": self.uniform_mix, "cover_groups": self.cover_groups}

    def __repr__(self) -> str:
        return f"SafetyNet(uniform_mix={self.uniform_mix!r}, cover_groups={self.cover_groups!r})"

    @classmethod
    def for_strategy(
        cls, strategy: Strategy, pool: ItemPool, uniform_mix: Any = None, cover_groups: Any = None
    ) -> SafetyNet:
        """The net a :class:`~stepladder.Curriculum` gives ``strategy`` over ``pool``: each
        setting left at None takes the strategy's ``default_safety_net`` (default coverage only
        when the pool has groups); 0 turns either off.

        Example:
            >>> from stepladder import ItemPool
            >>> from stepladder.strategies import create
            >>> pool = ItemPool(size=6, groups=[0, 0, 0, 1, 1, 1])
            >>> SafetyNet.for_strategy(create("pcl"), pool)
            SafetyNet(uniform_mix=0.1, cover_groups=4)
            >>> SafetyNet.for_strategy(create("pcl"), ItemPool(size=6), cover_groups=0)
            SafetyNet(uniform_mix=0.1, cover_groups=None)
            >>> SafetyNet.for_strategy(create("uniform"), pool)
            SafetyNet(uniform_mix=0.0, cover_groups=None)
        """
        default = strategy.default_safety_net
        if uniform_mix is None:
            uniform_mix = default.get("uniform_mix", 0.0)
        if cover_groups is None and pool.groups is not None:
            cover_groups = default.get("cover_groups")
        return cls(uniform_mix, cover_groups)

    def bind(self, pool: ItemPool, rng: np.random.Generator) -> None:
        """Attach the pool and the generator; locate each group's members (once)."""
        if self.cover_groups is not None and pool.groups is None:
            raise ValueError(
                f"cover_groups={self.cover_groups} needs a pool with groups: build it with "
                "ItemPool(..., groups=labels), or pass cover_groups=0 (off)"
            )
        self.pool, self.rng = pool, rng
        self._members: list[np.ndarray] = []
        self._sizes = np.zeros(0, dtype=np.int64)
        self.last_seen: np.ndarray | None = None
        if self.cover_groups is not None:
            self._members = [pool.members(g) for g in range(pool.n_groups)]
            self._sizes = np.array([len(m) for m in self._members], dtype=np.int64)
            self.last_seen = np.full(pool.n_groups, -1, dtype=np.int64)
        #: Non-empty proposals rewritten so far (the clock of the coverage windows).
        self.proposals = 0
        #: The last proposal's size, items mixed in and groups covered (for metrics).
        self.last = (0, 0, 0)

    def apply(self, proposal: Proposal) -> Proposal:
        """The proposal with coverage and uniform draws put in (the same object when off)."""
        n = len(proposal)
        if not self.enabled or n == 0 or self.pool.size == 0:
            return proposal
        due = self._due(n)
        mixed = 0
        if self.uniform_mix > 0.0:
            expected = n * self.uniform_mix
            mixed = int(expected)
            mixed += bool(self.rng.random() < expected - mixed)
            mixed = min(mixed, n - len(due))
        indices = proposal.indices
        if len(due) + mixed:
            indices = indices.copy()
            positions = self.rng.choice(n, size=len(due) + mixed, replace=False)
            if len(due):
                offsets = self.rng.integers(0, self._sizes[due])
                indices[positions[: len(due)]] = [
                    self._members[g][k] for g, k in zip(due.tolist(), offsets.tolist(), strict=True)
                ]
            if mixed:
                indices[positions[len(due) :]] = self._uniform(mixed)
        if self.last_seen is not None:
            self.last_seen[self.pool.groups[indices]] = self.proposals
        self.proposals += 1
        self.last = (n, mixed, len(due))
        if indices is proposal.indices:
            return proposal
        return Proposal(indices, rollouts=proposal.rollouts, weights=proposal.weights)

    def _due(self, n: int) -> np.ndarray:
        """Groups that must appear in this proposal, at most ``n``, longest overdue first."""
        if self.last_seen is None:
            return np.zeros(0, dtype=np.int64)
        late = np.flatnonzero(
            (self.proposals - self.last_seen >= self.cover_groups) & (self._sizes > 0)
        )
        if len(late) > n:
            late = late[np.lexsort((late, self.last_seen[late]))[:n]]
        return late

    def _uniform(self, m: int) -> np.ndarray:
        """``m`` uniform draws from the pool, distinct while the pool has ``m`` items."""
        size = self.pool.size
        distinct = self.rng.choice(size, size=min(m, size), replace=False)
        if m <= size:
            return distinct
        return np.concatenate([distinct, self.rng.integers(0, size, m - size)])

    def metrics(self) -> dict[str, float]:
        """Of the last proposal: the share mixed in and the groups covered; with coverage, also
        the most proposals in a row that any group has been absent (below ``W`` while the
        guarantee holds)."""
        n, mixed, covered = self.last
        out = {"mixed_share": mixed / n if n else 0.0, "groups_covered": float(covered)}
        if self.last_seen is not None:
            present = self._sizes > 0
            gaps = self.proposals - 1 - self.last_seen[present]
            out["max_absence"] = float(gaps.max(initial=0))
        return out

    def state_dict(self) -> dict[str, Any]:
        """The coverage clock, each group's last appearance and the last proposal's counts."""
        return {
            "proposals": self.proposals,
            "last_seen": None if self.last_seen is None else self.last_seen.copy(),
            "last": list(self.last),
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict`, checked before anything is assigned.

        ``None`` (a state saved before the safety net existed) restarts the counters. A state
        saved without coverage, loaded with it, starts every group's window at the load.
        """
        if state is None:
            state = {"proposals": 0, "last_seen": None, "last": [0, 0, 0]}
        if not isinstance(state, dict) or {"proposals", "last_seen", "last"} - state.keys():
            raise ValueError("safety state must be a dict with proposals, last_seen and last")
        proposals = _count("safety proposals", state["proposals"])
        last = [_count("safety last", v) for v in state["last"]]
        if len(last) != 3:
            raise ValueError(f"safety last must hold 3 counts, got {len(last)}")
        last_seen = None
        if self.cover_groups is not None:
            if state["last_seen"] is None:
                last_seen = np.full(len(self._sizes), proposals - 1, dtype=np.int64)
            else:
                last_seen = np.asarray(state["last_seen"])
                if last_seen.shape != self._sizes.shape or last_seen.dtype.kind not in "iu":
                    raise ValueError(
                        f"safety last_seen has shape {last_seen.shape} and dtype "
                        f"{last_seen.dtype}, expected {len(self._sizes)} integers (one per group)"
                    )
                if last_seen.size and (last_seen.min() < -1 or last_seen.max() >= proposals):
                    raise ValueError(f"safety last_seen outside -1..{proposals - 1}")
                last_seen = last_seen.astype(np.int64)
        self.proposals, self.last, self.last_seen = proposals, tuple(last), last_seen


def _share(value: Any) -> float:
    return number("uniform_mix", value, low=0.0, high=1.0, open_high=True)


def _window(value: Any) -> int | None:
    if value is None or (isinstance(value, int | np.integer) and not isinstance(value, bool)
                         and value == 0):  # fmt: skip
        return None  # 0: off, as an explicit choice (None in a Curriculum: the default)
    return positive_int("cover_groups", value)


def _count(name: str, value: Any) -> int:
    return positive_int(name, value, allow_zero=True)
