"""The Curriculum facade: a pool, a strategy, a seeded generator and shared statistics."""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from stepladder._checks import index_array, positive_int
from stepladder.journal import JournalWriter
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.safety import SafetyNet
from stepladder.stats import ItemStats
from stepladder.strategies import Proposal, Strategy, create

__all__ = ["Curriculum"]

#: Version of :meth:`Curriculum.state_dict`. 2 added ``params``, ``pool_fingerprint`` and
#: ``journal``; 3 added ``safety`` and ``safety_state`` (a format 2 state loads as one taken
#: without a safety net); version 1 states still load, with a warning, unchecked.
_FORMAT = 3
_KEYS = ("format", "strategy", "pool_size", "step", "rng", "stats", "strategy_state")
_SAFETY_KEYS = ("safety", "safety_state")


class Curriculum:
    """Decides which items to train on next and learns from what happened.

    Args:
        pool: an :class:`ItemPool`, a number of items, or a sequence of item ids.
        strategy: a registered strategy name (see ``stepladder.strategies.available()``) or a
            :class:`Strategy` instance.
        seed: seed of the generator that is the strategy's only source of randomness.
        journal: optional path of a new outcome journal: every call that changes the
            curriculum is appended to it before returning, so :func:`stepladder.recover`
            can rebuild a crashed run exactly (see :mod:`stepladder.journal`).
        journal_sync: ``"always"`` (fsync every record, the default), ``"every:N"`` or
            ``"never"`` (the OS flushes; survives a killed process, not a power cut).
        uniform_mix: share of every proposal drawn uniformly from the pool instead of by the
            strategy, in ``[0, 1)`` (the safety net); 0 is off; None, the default, takes the
            strategy's ``default_safety_net`` (0.1 for the strategies that choose prompts
            from rewards, see below; 0 for the others).
        cover_groups: ``W``: every group of the pool (it needs groups) is proposed at least once
            in every ``W`` consecutive proposals; 0 is off; None, the default, takes the
            strategy's default (4 for the strategies that choose prompts from rewards, when
            the pool has groups; off for the others).
        **params: parameters of the named strategy.

    The loop::

        batch = cur.propose(n)     # Proposal: indices (and rollouts per item, if allocated)
        cur.observe(outcomes)      # Outcomes for (some of) those items, or any others

    Same seed and same feedback give the same proposals; ``state_dict()`` taken at any point
    and loaded into a fresh Curriculum continues exactly.

    The safety net (:class:`~stepladder.safety.SafetyNet`) guards against a strategy that
    starves part of the pool. It rewrites the strategy's ``n``-item proposal by replacing the
    items at randomly chosen positions, each position keeping its rollouts and weight, so a
    budget allocator's total rollouts stay as it decided: ``uniform_mix=p`` replaces
    ``n * p`` items (rounded stochastically, so the expected share is exactly ``p``) by uniform
    draws from the pool, and ``cover_groups=W`` adds one uniformly drawn item of each group
    that has been absent from the last ``W - 1`` proposals (the longest absent first, when more
    groups are due than ``n``). Draws come from the curriculum's generator; a step costs
    O(batch + groups). The strategy observes the outcomes of every item, drawn by it or not.
    ``metrics()`` reports ``safety/mixed_share`` and ``safety/groups_covered`` of the last
    proposal (and ``safety/max_absence`` with coverage). With both off the proposals are
    exactly the strategy's. The settings are recorded in ``state_dict`` and checked like the
    strategy's parameters.

    The net is on by default (``uniform_mix=0.1``, ``cover_groups=4``) for the strategies that
    choose prompts from rewards and can starve part of the pool: ``mopps``, ``cures``,
    ``pcl``, ``adarft``, ``cdas``, ``gain``, ``dump`` and ``sec``. In the real GRPO benchmark
    (docs/benchmarks.md) it stopped ``pcl``'s collapse on the pool where most prompts are
    informative and kept these strategies' gains on the pool padded with never-solved
    prompts. ``uniform_mix=0, cover_groups=0`` runs the papers' methods unchanged.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(100, "uniform", seed=0)
        >>> batch = cur.propose(4)
        >>> cur.observe(Outcomes(batch.indices, rewards=[[1, 0], [0, 0], [1, 1], [0, 1]]))
        >>> cur.step, int(cur.stats.attempts.sum())
        (1, 8)
    """

    def __init__(
        self,
        pool: ItemPool | int | Sequence[Hashable],
        strategy: str | Strategy = "uniform",
        *,
        seed: int | None = 0,
        journal: str | os.PathLike[str] | None = None,
        journal_sync: str = "always",
        uniform_mix: float | None = None,
        cover_groups: int | None = None,
        **params: Any,
    ) -> None:
        SafetyNet(uniform_mix or 0.0, cover_groups)  # bad settings fail before any other work
        if isinstance(pool, str | bytes):
            raise ValueError(
                f"pool must be an ItemPool, a number of items or a list of ids, got the "
                f"{type(pool).__name__} {pool!r}: pass ItemPool(ids) or a list of ids"
            )
        if isinstance(pool, int | np.integer) and not isinstance(pool, bool):
            pool = ItemPool(size=int(pool))
        elif not isinstance(pool, ItemPool):
            pool = ItemPool(pool)
        if isinstance(strategy, str):
            strategy = create(strategy, **params)
        elif not isinstance(strategy, Strategy):
            raise ValueError(
                f"strategy must be a name or a Strategy, got {type(strategy).__name__}"
            )
        elif params:
            raise ValueError(f"parameters {sorted(params)} given with a Strategy instance")
        self.pool = pool
        self.strategy = strategy
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.stats = ItemStats(pool.size)
        self.step = 0
        #: Proposals journaled after the last observe, set by :func:`stepladder.recover`
        #: (what a crashed trainer asked for and never reported); cleared by ``observe``.
        self.pending: tuple[Proposal, ...] = ()
        self._journal: JournalWriter | None = None
        strategy.bind(pool, self.stats, self.rng)
        safety = SafetyNet.for_strategy(strategy, pool, uniform_mix, cover_groups)
        safety.bind(pool, self.rng)
        #: The safety net that rewrites every proposal (see ``uniform_mix``, ``cover_groups``).
        self.safety = safety
        if journal is not None:
            self._journal = JournalWriter.create(journal, journal_sync, self._portable_state())

    def __repr__(self) -> str:
        net = f", {self.safety!r}" if self.safety.enabled else ""
        return f"Curriculum({self.pool!r}, {self.strategy!r}{net}, step={self.step})"

    def propose(self, n: int) -> Proposal:
        """Choose ``n`` items (indices into the pool) for the next step: the strategy's, as the
        safety net rewrites them.

        Example:
            >>> pool = ItemPool(size=1000, groups=[i % 4 for i in range(1000)])
            >>> cur = Curriculum(pool, "uniform", seed=0, uniform_mix=0.25, cover_groups=2)
            >>> len(cur.propose(8)), cur.metrics()["safety/mixed_share"]
            (8, 0.25)
        """
        n = positive_int("n", n, allow_zero=True)
        proposal = self.strategy.propose(n)
        index_array("proposal indices", proposal.indices, self.pool.size)
        if len(proposal) != n:
            raise RuntimeError(
                f"strategy {self.strategy.name!r} proposed {len(proposal)} items, asked {n}"
            )
        proposal = self.safety.apply(proposal)
        if self._journal is not None:
            self._journal.write("propose", self.step, proposal=proposal)
        return proposal

    def observe(self, outcomes: Outcomes | None = None, /, **fields: Any) -> None:
        """Learn from feedback: an :class:`Outcomes`, or its fields as keywords.

        Example:
            >>> cur = Curriculum(10)
            >>> cur.observe(indices=[2, 5], rewards=[1.0, 0.0])
            >>> cur.stats.mean_reward([2, 5]).tolist()
            [1.0, 0.0]
        """
        if outcomes is None:
            outcomes = Outcomes(**fields)
        elif fields:
            raise ValueError("give either an Outcomes or its fields, not both")
        index_array("outcomes.indices", outcomes.indices, self.pool.size)
        self.strategy.check_feedback(outcomes)
        self.stats.update(outcomes, self.step)
        self.strategy.observe(outcomes)
        self.step += 1
        self.pending = ()
        if self._journal is not None:
            self._journal.write("observe", self.step - 1, outcomes=outcomes, metrics=self.metrics())

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        """Which generated groups to train on (bool per item), as the strategy decides.

        ``keep`` changes no state (the strategy contract), so it is not journaled.
        """
        mask = np.asarray(self.strategy.keep(outcomes), dtype=bool)
        if mask.shape != (len(outcomes),):
            raise RuntimeError(
                f"strategy {self.strategy.name!r} returned a keep mask of shape {mask.shape}"
            )
        return mask

    def metrics(self) -> dict[str, float]:
        """Scalars for logging: step, items seen, the strategy's own metrics and, when the
        safety net is on, its ``safety/`` metrics (O(groups))."""
        metrics = {
            "step": float(self.step),
            "items_seen": float(self.stats.items_seen),
            **{f"{self.strategy.name}/{k}": v for k, v in self.strategy.metrics().items()},
        }
        if self.safety.enabled:
            metrics.update({f"safety/{k}": v for k, v in self.safety.metrics().items()})
        return metrics

    def close(self) -> None:
        """Sync and close the journal, if any (further state changes then raise)."""
        if self._journal is not None:
            self._journal.close()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: step, generator, statistics, strategy.

        Also the strategy's parameters, the safety net's settings (``safety``) and the pool's
        fingerprint, which :meth:`load_state_dict` checks, the safety net's counters
        (``safety_state``) and the journal position (records reflected).
        """
        return {
            "format": _FORMAT,
            "strategy": self.strategy.name,
            "params": _plain(self.strategy.get_params()),
            "pool_size": self.pool.size,
            "pool_fingerprint": self.pool.fingerprint(),
            "step": self.step,
            "rng": self.rng.bit_generator.state,
            "stats": self.stats.state_dict(),
            "strategy_state": self.strategy.state_dict(),
            "safety": self.safety.get_params(),
            "safety_state": self.safety.state_dict(),
            "journal": None if self._journal is None else self._journal.position(),
        }

    def load_state_dict(self, state: dict[str, Any], *, strict: bool = True) -> None:
        """Restore a :meth:`state_dict`; all or nothing.

        The state must be for the same strategy and pool size. With ``strict`` (the default)
        the strategy's parameters, the safety net's settings and the pool's contents (ids,
        groups, difficulty, features) must match too; ``strict=False`` allows a deliberate
        change of them (the curriculum keeps its own settings).
        Any failure raises ``ValueError`` and leaves the curriculum exactly as it was.
        A journaled curriculum journals the load.

        Example:
            >>> state = Curriculum(10, "dump", temperature=0.1).state_dict()
            >>> Curriculum(10, "dump", temperature=0.5).load_state_dict(state)
            Traceback (most recent call last):
            ...
            ValueError: state is for strategy 'dump' with temperature=0.1, this curriculum has \
temperature=0.5 (load_state_dict(state, strict=False) allows a deliberate change)
        """
        step = self.step
        self._load(state, strict)
        if self._journal is not None:
            self._journal.write("load", step, state=self._portable_state())

    def _load(self, state: dict[str, Any], strict: bool) -> None:
        """Check, then assign; on any failure restore the previous state and raise."""
        self._check_compatible(state, strict)
        with warnings.catch_warnings():  # the snapshot is internal: no warnings about it
            warnings.simplefilter("ignore")
            snapshot = copy.deepcopy(self._portable_state())
        part = "statistics"
        try:
            self.stats.load_state_dict(state["stats"])
            part = "strategy state"
            self.strategy.load_state_dict(state["strategy_state"])
            part = "safety state"
            self.safety.load_state_dict(state.get("safety_state"))
            part = "generator state"
            self.rng.bit_generator.state = state["rng"]
            part = "step"
            step = positive_int("step", state["step"], allow_zero=True)
        except Exception as error:
            self._assign(snapshot)
            raise ValueError(
                f"state does not load: bad {part} ({type(error).__name__}: {error}); "
                "the curriculum is unchanged"
            ) from error
        self.step = step
        self.pending = ()

    def _assign(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])
        self.strategy.load_state_dict(state["strategy_state"])
        self.safety.load_state_dict(state["safety_state"])
        self.rng.bit_generator.state = state["rng"]
        self.step = int(state["step"])

    def _portable_state(self) -> dict[str, Any]:
        """The state without the journal position (for the journal's own start/load records)."""
        return {**self.state_dict(), "journal": None}

    def _check_compatible(self, state: Any, strict: bool) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        version = state.get("format")
        if version not in (1, 2, _FORMAT):
            raise ValueError(f"unsupported curriculum state format {version!r}")
        keys = _KEYS + _SAFETY_KEYS if version == _FORMAT else _KEYS
        missing = [key for key in keys if key not in state]
        if missing:
            raise ValueError(f"state lacks {', '.join(missing)}: not a curriculum state_dict")
        if state["strategy"] != self.strategy.name:
            raise ValueError(
                f"state is for strategy {state['strategy']!r}, "
                f"this curriculum uses {self.strategy.name!r}"
            )
        if state["pool_size"] != self.pool.size:
            raise ValueError(
                f"state is for a pool of {state['pool_size']} items, not {self.pool.size}"
            )
        if version == 1:
            warnings.warn(
                "loading a format 1 curriculum state: its strategy parameters and pool "
                "contents cannot be checked",
                stacklevel=3,
            )
            return
        if not strict:
            return
        ours = _plain(self.strategy.get_params())
        theirs = state.get("params", {})
        changed = sorted(
            k for k in set(ours) | set(theirs) if not _equal(ours.get(k), theirs.get(k))
        )
        if changed:
            raise ValueError(
                f"state is for strategy {self.strategy.name!r} with "
                + ", ".join(f"{k}={theirs.get(k)!r}" for k in changed)
                + ", this curriculum has "
                + ", ".join(f"{k}={ours.get(k)!r}" for k in changed)
                + " (load_state_dict(state, strict=False) allows a deliberate change)"
            )
        ours = self.safety.get_params()
        theirs = state.get("safety") or SafetyNet().get_params()  # format 2: no safety net
        changed = [k for k in ours if not _equal(ours[k], _plain(theirs.get(k)))]
        if changed:
            raise ValueError(
                "state is for a safety net with "
                + ", ".join(f"{k}={theirs.get(k)!r}" for k in changed)
                + ", this curriculum has "
                + ", ".join(f"{k}={ours[k]!r}" for k in changed)
                + " (load_state_dict(state, strict=False) allows a deliberate change)"
            )
        mine = self.pool.fingerprint()
        saved = state.get("pool_fingerprint", {})
        for column in ("ids", "groups", "difficulty", "features"):
            if saved.get(column) != mine[column]:
                raise ValueError(
                    f"state is for a pool with other {_COLUMN_WORDS[column]} (fingerprint "
                    f"{saved.get(column)}, this pool {mine[column]}); "
                    "load_state_dict(state, strict=False) allows a deliberate change"
                )


_COLUMN_WORDS = {
    "ids": "item ids",
    "groups": "groups",
    "difficulty": "difficulty values",
    "features": "features",
}


def _plain(value: Any) -> Any:
    """Parameters as JSON-able values: NumPy scalars and arrays, tuples become plain lists;
    other objects (a model, a callable) are recorded, and compared, by their type only."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _equal(a: Any, b: Any) -> bool:
    """Equality of plain values, with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b
