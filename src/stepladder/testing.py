"""Conformance checks for curriculum strategies: the built-in ones and your own.

Every registered strategy passes these checks (``tests/strategies/test_conformance.py`` runs
them). Check your own strategy in one line with :func:`check_strategy`, which runs every
check that applies and raises ``AssertionError`` naming each failed check and what failed,
or subclass a test class and let pytest collect its ``test_*`` methods:

- :class:`StrategyTests`: every strategy;
- :class:`FilteringStrategyTests`: strategies that filter generated groups (``filters``);
- :class:`AllocatingStrategyTests`: strategies that allocate rollouts (``allocates_rollouts``);
- :class:`TeacherStrategyTests`: strategies that learn from rewards, used as task teachers
  (one task per episode, a return in ``[0, 1]`` per episode).

Set ``strategy`` (a registered name or a :class:`~stepladder.strategies.Strategy` subclass),
optionally ``params`` and ``pool`` (a method ``pool(self, size, seed)`` returning an
:class:`~stepladder.ItemPool`; the default has groups, 2-D features and a difficulty)::

    class TestMyStrategy(StrategyTests):
        strategy = "my_strategy"
        params = {"window": 8}

This module needs only the core dependencies: the test classes are plain classes, and a
check that does not apply is skipped through pytest only when pytest is running.
:func:`check_step_cost` (opt-in, timing-based) compares the CPU time of a step at two pool
sizes.

Example:
    >>> import numpy as np
    >>> from stepladder.strategies import Proposal, Strategy
    >>> from stepladder.testing import check_strategy
    >>> class FreshFirst(Strategy):
    ...     '''Random items, down-weighting those already tried often.'''
    ...     feedback = ("rewards",)  # learns through self.stats, which counts rewards
    ...     def propose(self, n):
    ...         indices = self.rng.integers(0, self.pool.size, size=n)
    ...         return Proposal(indices, weights=1.0 / (1.0 + self.stats.attempts[indices]))
    >>> check_strategy(FreshFirst)  # or check_strategy("name") once registered
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from stepladder import strategies
from stepladder.batching import fill_batch
from stepladder.curriculum import Curriculum
from stepladder.io import load_state, save_state
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.strategies import Proposal, Strategy
from stepladder.strategies.base import FEEDBACK_FIELDS

__all__ = [
    "CHECKS",
    "AllocatingStrategyTests",
    "FilteringStrategyTests",
    "StepCost",
    "StrategyTests",
    "Subject",
    "TeacherStrategyTests",
    "check_proposal",
    "check_step_cost",
    "check_strategy",
    "learns_from_rewards",
    "make_feedback",
    "make_pool",
    "play_script",
    "time_steps",
]

#: Checkpoint bound (see :func:`check_checkpoint_grows_with_items_touched`).
CHECKPOINT_CONSTANT_BYTES = 32 * 1024
CHECKPOINT_BYTES_PER_ITEM = 512

PoolFactory = Callable[[int, int], ItemPool]


def learns_from_rewards(strategy: Strategy | type[Strategy]) -> bool:
    """Whether the teacher checks apply: the strategy learns from rewards or from nothing.

    Example:
        >>> from stepladder import strategies
        >>> class LossesOnly(strategies.Strategy):
        ...     feedback = ("losses",)
        >>> learns_from_rewards(strategies.get("dump")), learns_from_rewards(LossesOnly)
        (True, False)
    """
    return not strategy.feedback or "rewards" in strategy.feedback


Target = str | type[Strategy] | Strategy


class NotApplicable(Exception):
    """Raised by a check that does not apply to the strategy (reported as skipped)."""


# ----------------------------------------------------------------------------- building blocks


def make_pool(size: int = 40, seed: int = 0) -> ItemPool:
    """A pool with every optional column: 3 groups, 2-D features and a difficulty per item.

    Example:
        >>> pool = make_pool(6)
        >>> len(pool), pool.features.shape, len(pool.group_names)
        (6, (6, 2), 3)
    """
    rng = np.random.default_rng(seed)
    return ItemPool(
        size=size,
        groups=np.arange(size) % 3,
        features=rng.normal(size=(size, 2)),
        difficulty=rng.normal(size=size),
    )


def make_feedback(
    proposal: Proposal | np.ndarray,
    rng: np.random.Generator,
    fields: Sequence[str] = FEEDBACK_FIELDS,
    group_size: int = 4,
) -> Outcomes:
    """Feedback for a proposal, as a trainer would report it, carrying only ``fields``.

    Rewards are 0/1 per rollout (``proposal.rollouts`` of them per item where the proposal
    allocates rollouts, else ``group_size``), advantages are group-centred rewards, losses are
    exponential and signals normal. Advantages need rewards, so they bring rewards along.

    Example:
        >>> out = make_feedback(np.array([3, 1]), np.random.default_rng(0), fields=("losses",))
        >>> out.rewards is None, out.losses.shape
        (True, (2,))
    """
    unknown = set(fields) - set(FEEDBACK_FIELDS)
    if unknown:
        raise ValueError(f"unknown feedback fields {sorted(unknown)}; known: {FEEDBACK_FIELDS}")
    indices = np.asarray(proposal, dtype=np.int64)
    rollouts = getattr(proposal, "rollouts", None)
    n = len(indices)
    if rollouts is not None:
        sizes = np.asarray(rollouts, dtype=np.int64)
    else:
        sizes = np.full(n, group_size, dtype=np.int64)
    width = int(sizes.max(initial=0))
    p = rng.random((n, 1))
    rewards = (rng.random((n, width)) < p).astype(float)
    rewards[np.arange(width) >= sizes[:, None]] = np.nan
    with np.errstate(invalid="ignore"):
        advantages = rewards - np.nanmean(rewards, axis=1, keepdims=True) if width else rewards
    losses, signals = rng.exponential(size=n), rng.normal(size=n)
    with_rewards = "rewards" in fields or "advantages" in fields
    return Outcomes(
        indices,
        rewards if with_rewards else None,
        counts=sizes if with_rewards else None,
        advantages=advantages if "advantages" in fields else None,
        losses=losses if "losses" in fields else None,
        signals=signals if "signals" in fields else None,
    )


def check_proposal(proposal: Any, n: int, size: int) -> None:
    """Assert that ``proposal`` is a :class:`Proposal` of ``n`` valid items of a pool of ``size``.

    Example:
        >>> check_proposal(Proposal(np.array([0, 2])), 2, 3)
        >>> check_proposal(Proposal(np.array([0, 3])), 2, 3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        AssertionError: proposed indices outside 0..2: [3]...
    """
    assert isinstance(proposal, Proposal), f"propose returned {type(proposal).__name__}"
    indices = proposal.indices
    assert isinstance(indices, np.ndarray) and indices.dtype == np.int64, (
        f"indices must be an int64 array, got {getattr(indices, 'dtype', type(indices))}"
    )
    assert indices.shape == (n,), f"asked for {n} items, got indices of shape {indices.shape}"
    bad = indices[(indices < 0) | (indices >= size)]
    assert not bad.size, f"proposed indices outside 0..{size - 1}: {bad[:5].tolist()}"
    if proposal.rollouts is not None:
        rollouts = np.asarray(proposal.rollouts)
        assert rollouts.shape == (n,), f"rollouts of shape {rollouts.shape}, expected ({n},)"
        assert np.issubdtype(rollouts.dtype, np.integer), f"rollouts of dtype {rollouts.dtype}"
        assert (rollouts >= 1).all(), f"rollouts below 1: {rollouts[rollouts < 1][:5].tolist()}"
    if proposal.weights is not None:
        weights = np.asarray(proposal.weights, dtype=float)
        assert weights.shape == (n,), f"weights of shape {weights.shape}, expected ({n},)"
        assert np.isfinite(weights).all() and (weights >= 0).all(), (
            f"weights must be finite and non-negative, got {weights[:5].tolist()}"
        )


def _check_metrics(cur: Curriculum) -> None:
    for key, value in cur.metrics().items():
        assert isinstance(value, float) and math.isfinite(value), (
            f"metric {key!r} is {value!r}, expected a finite float"
        )


def _key(proposal: Proposal) -> tuple:
    def as_tuple(array: Any) -> tuple | None:
        return None if array is None else tuple(np.asarray(array).tolist())

    return as_tuple(proposal.indices), as_tuple(proposal.rollouts), as_tuple(proposal.weights)


def _drive(
    cur: Curriculum,
    steps: int,
    batch: int,
    feedback_seed: int,
    fields: Sequence[str] = FEEDBACK_FIELDS,
) -> list[tuple]:
    """Run the loop; return each step's proposal as comparable tuples."""
    rng = np.random.default_rng(feedback_seed)
    history = []
    for _ in range(steps):
        proposal = cur.propose(batch)
        check_proposal(proposal, batch, cur.pool.size)
        history.append(_key(proposal))
        cur.observe(make_feedback(proposal, rng, fields))
    return history


def _first_difference(first: list[tuple], second: list[tuple]) -> str:
    for step, (a, b) in enumerate(zip(first, second, strict=True)):
        if a != b:
            return f"step {step}: {a[0][:8]}... != {b[0][:8]}..."
    return "no difference"


def _assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict), f"{where}: {type(a).__name__} instead of a dict"
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in b:
            _assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(b, list | tuple):
        assert isinstance(a, list | tuple) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(b, np.ndarray):
        a = np.asarray(a)
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        assert np.array_equal(a, b, equal_nan=b.dtype.kind in "fc"), f"{where}: values differ"
    else:
        same = a == b or (isinstance(b, float) and math.isnan(b) and math.isnan(a))
        assert same, f"{where}: {a!r} != {b!r}"


def _largest_arrays(state: Any, where: str = "state") -> list[tuple[int, str]]:
    if isinstance(state, dict):
        return [x for k, v in state.items() for x in _largest_arrays(v, f"{where}.{k}")]
    if isinstance(state, list | tuple):
        return [x for i, v in enumerate(state) for x in _largest_arrays(v, f"{where}[{i}]")]
    if isinstance(state, np.ndarray):
        return [(state.nbytes, where)]
    return []


def _skip(reason: str) -> None:
    raise NotApplicable(reason)


# ---------------------------------------------------------------------------------- the subject


@dataclass
class Subject:
    """The strategy under test: how to build fresh instances and pools for it."""

    target: str | type[Strategy]
    params: dict[str, Any]
    pool: PoolFactory = make_pool

    @classmethod
    def of(cls, target: Target, params: Mapping[str, Any], pool: PoolFactory | None) -> Subject:
        if isinstance(target, Strategy):  # an instance: check fresh copies of it
            params = {**target.get_params(), **params}
            target = type(target)
        if not isinstance(target, str) and not (
            isinstance(target, type) and issubclass(target, Strategy)
        ):
            raise TypeError(
                f"expected a strategy name or Strategy subclass, got {type(target).__name__}"
            )
        return cls(target, dict(params), pool or make_pool)

    @property
    def label(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return self.target.name or self.target.__name__

    def create(self) -> Strategy:
        if isinstance(self.target, str):
            return strategies.create(self.target, **self.params)
        return self.target(**self.params)

    def curriculum(self, size: int = 40, seed: int = 0, pool_seed: int = 0) -> Curriculum:
        return Curriculum(self.pool(size, pool_seed), self.create(), seed=seed)

    @property
    def feedback(self) -> tuple[str, ...]:
        return tuple(self.create().feedback)

    def report_fields(self) -> tuple[str, ...]:
        """Rewards plus whatever else the strategy declares (each declared field present)."""
        return tuple(f for f in FEEDBACK_FIELDS if f == "rewards" or f in self.feedback)


# ------------------------------------------------------------------------ checks: every strategy


def check_valid_proposals(subject: Subject) -> None:
    """``propose(n)`` returns exactly ``n`` valid indices, for n = 0, 1, 7, 40 (= pool), 95."""
    for n in (0, 1, 7, 40, 95):
        cur = subject.curriculum(40)
        rng = np.random.default_rng(1)
        for step in range(3):
            proposal = cur.propose(n)
            try:
                check_proposal(proposal, n, 40)
            except AssertionError as error:
                raise AssertionError(f"propose({n}) at step {step}: {error}") from None
            cur.observe(make_feedback(proposal, rng))
        _check_metrics(cur)


def check_pool_of_one_item(subject: Subject) -> None:
    """A pool of one item: any ``n`` proposes that item ``n`` times."""
    cur = subject.curriculum(1)
    for n in (1, 3, 0):
        proposal = cur.propose(n)
        check_proposal(proposal, n, 1)
        cur.observe(make_feedback(proposal, np.random.default_rng(0)))
    _check_metrics(cur)


def check_missing_columns(subject: Subject) -> None:
    """A pool without groups, features or difficulty works, or fails with a clear ValueError."""
    try:
        cur = Curriculum(ItemPool(size=10), subject.create(), seed=0)
    except ValueError as error:
        assert any(word in str(error) for word in ("difficulty", "group", "feature")), (
            f"binding a pool without optional columns failed without naming one: {error}"
        )
        return
    assert not subject.create().needs_difficulty, (
        "needs_difficulty is set, yet a pool without difficulty was accepted"
    )
    _drive(cur, steps=3, batch=4, feedback_seed=0)


def check_params_round_trip(subject: Subject) -> None:
    """``get_params()`` rebuilds an equal strategy (scikit-learn's clone contract)."""
    strategy = subject.create()
    clone = type(strategy)(**strategy.get_params())
    assert clone.get_params() == strategy.get_params(), (
        f"get_params() {strategy.get_params()} rebuilt {clone.get_params()}"
    )
    assert clone.name == strategy.name, f"clone is named {clone.name!r}, not {strategy.name!r}"
    repr(clone)


def check_determinism(subject: Subject) -> None:
    """Same seed and same feedback give the same proposals (indices, rollouts, weights)."""
    first = _drive(subject.curriculum(seed=3), steps=12, batch=8, feedback_seed=5)
    second = _drive(subject.curriculum(seed=3), steps=12, batch=8, feedback_seed=5)
    assert first == second, f"two identical runs diverged at {_first_difference(first, second)}"


def check_resume(subject: Subject) -> None:
    """A run saved mid-way to a file (``save_state``) and loaded continues exactly."""
    rng = np.random.default_rng(11)
    original = subject.curriculum(seed=7)
    for _ in range(5):
        original.observe(make_feedback(original.propose(6), rng))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.npz"
        save_state(path, original.state_dict())
        resumed = subject.curriculum(seed=12345)  # a different seed must not matter
        resumed.load_state_dict(load_state(path))
    assert resumed.step == original.step, f"resumed at step {resumed.step}, not {original.step}"
    np.testing.assert_array_equal(resumed.stats.attempts, original.stats.attempts)
    after_original = _drive(original, steps=8, batch=6, feedback_seed=99)
    after_resumed = _drive(resumed, steps=8, batch=6, feedback_seed=99)
    assert after_original == after_resumed, (
        f"the resumed run diverged at {_first_difference(after_original, after_resumed)}"
    )


def check_state_round_trip(subject: Subject) -> None:
    """``state_dict`` survives a file unchanged, and loading it gives back the same state."""
    cur = subject.curriculum(seed=1)
    _drive(cur, steps=4, batch=5, feedback_seed=2)
    state = cur.state_dict()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.npz"
        save_state(path, state)
        _assert_same_state(load_state(path), state, "state read back from the file")
    fresh = subject.curriculum(seed=0)
    fresh.load_state_dict(state)
    _assert_same_state(fresh.state_dict(), state, "state after loading")


def _with_extras(subject: Subject, indices: Any, rewards: Any) -> Outcomes:
    """Outcomes with ``rewards`` and constant values for the other declared fields."""
    indices = np.asarray(indices, dtype=np.int64)
    rewards = np.asarray(rewards, dtype=float)
    feedback = subject.feedback
    counts = np.sum(~np.isnan(rewards), axis=1) if rewards.ndim == 2 else None
    return Outcomes(
        indices,
        rewards,
        counts=counts,
        advantages=np.where(np.isnan(rewards), np.nan, 0.0) if "advantages" in feedback else None,
        losses=np.zeros(len(indices)) if "losses" in feedback else None,
        signals=np.zeros(len(indices)) if "signals" in feedback else None,
    )


def _ragged(n: int) -> np.ndarray:
    rewards = np.full((n, 3), np.nan)
    for i in range(n):
        rewards[i, : 1 + i % 3] = 1.0
    return rewards


DEGENERATE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "all zero": lambda idx: np.zeros((len(idx), 4)),
    "all one": lambda idx: np.ones((len(idx), 4)),
    "scalar rewards": lambda idx: np.ones(len(idx)),
    "single rollout": lambda idx: np.zeros((len(idx), 1)),
    "ragged groups": lambda idx: _ragged(len(idx)),
}


def check_degenerate_feedback(subject: Subject) -> None:
    """Constant, scalar, single-rollout and ragged rewards; empty batches; repeated items;
    items never proposed: all are valid feedback."""
    size = 40
    for case, rewards_for in DEGENERATE.items():
        cur = subject.curriculum(size)
        try:
            for _ in range(6):
                proposal = cur.propose(5)
                check_proposal(proposal, 5, size)
                cur.observe(_with_extras(subject, proposal.indices, rewards_for(proposal.indices)))
                _check_metrics(cur)
        except AssertionError as error:
            raise AssertionError(f"{case} rewards: {error}") from None
    cur = subject.curriculum(size)
    never = np.array([size - 1, size - 2, size - 1, 0])  # before any proposal, one repeated
    cur.observe(_with_extras(subject, never, [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    cur.observe(Outcomes.empty())
    for _ in range(4):
        proposal = cur.propose(5)
        check_proposal(proposal, 5, size)
        repeated = np.repeat(proposal.indices[:1], 6)
        cur.observe(_with_extras(subject, repeated, np.eye(6, 4)))
        cur.observe(Outcomes.empty())
        _check_metrics(cur)


def _script_rewards(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    if kind == "binary":
        return (rng.random(shape) < 0.5).astype(float)
    if kind == "fraction":
        return rng.random(shape)
    if kind == "constant":
        return np.full(shape, float(rng.integers(0, 2)))
    raise ValueError(f"unknown reward kind {kind!r}: binary, fraction or constant")


def play_script(
    subject: Subject, size: int, script: Sequence[tuple[int, int, str]], seed: int
) -> list[tuple]:
    """Play ``(batch, rollouts, kind)`` steps, kind in binary/fraction/constant; the proposals.

    Every proposal is checked, and metrics after every step. Used with random scripts by
    :func:`check_random_feedback_scripts` (and with hypothesis by the project's own tests).
    """
    cur = subject.curriculum(size, seed=seed, pool_seed=seed % 7)
    rng = np.random.default_rng(seed)
    fields = subject.report_fields()
    history = []
    for batch, group, kind in script:
        proposal = cur.propose(batch)
        check_proposal(proposal, batch, size)
        history.append(_key(proposal))
        rewards = _script_rewards(rng, (batch, group), kind)
        cur.observe(
            Outcomes(
                proposal.indices,
                rewards,
                advantages=rewards - rewards.mean(axis=1, keepdims=True)
                if "advantages" in fields
                else None,
                losses=rng.random(batch),
                signals=rng.normal(size=batch) if "signals" in fields else None,
            )
        )
        _check_metrics(cur)
    return history


def check_random_feedback_scripts(subject: Subject) -> None:
    """Seeded random sequences of batch sizes, group sizes and reward kinds replay exactly."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        size = int(rng.integers(1, 26))
        script = [
            (int(rng.integers(0, 13)), int(rng.integers(1, 7)), str(kind))
            for kind in rng.choice(["binary", "fraction", "constant"], size=rng.integers(1, 7))
        ]
        try:
            first, second = (play_script(subject, size, script, seed) for _ in range(2))
        except AssertionError as error:
            raise AssertionError(f"pool of {size}, script {script}: {error}") from None
        assert first == second, f"script {script} on a pool of {size} did not replay exactly"


def check_declared_feedback(subject: Subject) -> None:
    """``observe`` accepts a batch carrying the declared ``feedback`` fields (all, or any one
    alone); ``Curriculum.observe`` rejects with ValueError a batch carrying none of them, and
    the rejected batch changes nothing."""
    declared = subject.feedback
    if not declared:
        _skip("the strategy declares no feedback, so no batch can be rejected")
    unknown = set(declared) - set(FEEDBACK_FIELDS)
    assert not unknown, f"feedback names unknown fields {sorted(unknown)}"
    for fields in (declared, *((f,) for f in declared)):
        cur = subject.curriculum()
        try:
            _drive(cur, steps=4, batch=6, feedback_seed=0, fields=fields)
        except ValueError as error:
            raise AssertionError(f"feedback carrying only {fields} was refused: {error}") from None
        _check_metrics(cur)
    undeclared = [f for f in FEEDBACK_FIELDS if f not in declared]
    if "rewards" not in undeclared and "advantages" in undeclared:
        undeclared.remove("advantages")  # advantages cannot come without rewards
    for fields in ([], undeclared) if undeclared else ([],):
        cur, twin = subject.curriculum(), subject.curriculum()
        _drive(cur, steps=2, batch=6, feedback_seed=1)
        _drive(twin, steps=2, batch=6, feedback_seed=1)
        bad = make_feedback(cur.propose(6), np.random.default_rng(2), fields)
        twin.propose(6)
        try:
            cur.observe(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(
                f"a batch carrying {', '.join(fields) or 'no feedback'} was accepted, "
                f"though the strategy learns only from {', '.join(declared)}"
            )
        assert cur.step == twin.step, "the rejected batch advanced the step"
        np.testing.assert_array_equal(cur.stats.attempts, twin.stats.attempts)
        np.testing.assert_array_equal(cur.stats.last_step, twin.stats.last_step)
        first = _drive(cur, steps=3, batch=6, feedback_seed=3)
        second = _drive(twin, steps=3, batch=6, feedback_seed=3)
        assert first == second, "a rejected batch changed later proposals"


def check_checkpoint_grows_with_items_touched(subject: Subject) -> None:
    """After 4 steps of 8 items on a pool of 100,000 the saved state is small.

    The file (``save_state`` of ``Curriculum.state_dict()``) must fit in 32 KiB plus 512 bytes
    per item touched (proposed or observed). 512 bytes is 64 float64 numbers per item: room
    for several per-item arrays with their row indices, or a window of rewards. 32 KiB covers
    the ``.npz`` overhead (about 300 bytes per array: room for a hundred arrays) and fixed-size
    state (a model's coefficients, a bandit's arms, a bounded history). With at most 32 items
    touched the bound is 48 KiB, under half of what one pool-sized array of a single byte per
    item costs (100,000 bytes), so any state that grows with the pool fails.
    """
    size, steps, batch = 100_000, 4, 8
    cur = subject.curriculum(size)
    rng = np.random.default_rng(0)
    touched: set[int] = set()
    for _ in range(steps):
        proposal = cur.propose(batch)
        touched.update(proposal.indices.tolist())
        feedback = make_feedback(proposal, rng)
        touched.update(feedback.indices.tolist())
        cur.observe(feedback)
    state = cur.state_dict()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.npz"
        save_state(path, state)
        nbytes = path.stat().st_size
    bound = CHECKPOINT_CONSTANT_BYTES + CHECKPOINT_BYTES_PER_ITEM * len(touched)
    if nbytes > bound:
        largest = sorted(_largest_arrays(state), reverse=True)[:3]
        raise AssertionError(
            f"after {steps} steps touching {len(touched)} of {size:,} items the checkpoint "
            f"takes {nbytes:,} bytes, over {bound:,} (32 KiB + 512 B per item touched); "
            "largest arrays: " + ", ".join(f"{where} ({n:,} B)" for n, where in largest)
        )


def _corruptions(strategy_state: Any) -> list[tuple[str, Any]]:
    if not isinstance(strategy_state, dict) or not strategy_state:
        return []
    keys = sorted(strategy_state, key=str)
    picked = keys if len(keys) <= 6 else [*keys[:3], *keys[-3:]]
    return [
        (f"without {key!r}", {k: v for k, v in strategy_state.items() if k != key})
        for key in picked
    ]


def check_failed_load_changes_nothing(subject: Subject) -> None:
    """Loading a state whose strategy part is corrupt (an entry missing) raises, and leaves
    the curriculum exactly as it was: step, statistics, strategy state, later proposals.

    The corrupt state is another run's (different feedback, more steps), so anything loaded
    before the error shows.
    """
    other = subject.curriculum(seed=1)
    _drive(other, steps=6, batch=6, feedback_seed=8)
    state = other.state_dict()
    assert "strategy_state" in state, "Curriculum.state_dict() has no 'strategy_state' entry"
    corruptions = _corruptions(state["strategy_state"])
    if not corruptions:
        _skip("the strategy keeps no state of its own to corrupt")
    for label, corrupt in corruptions:
        cur, twin = subject.curriculum(), subject.curriculum()
        _drive(cur, steps=3, batch=6, feedback_seed=4)
        _drive(twin, steps=3, batch=6, feedback_seed=4)
        try:
            cur.load_state_dict({**state, "strategy_state": corrupt})
        except Exception:  # any error is a refused load
            pass
        else:
            raise AssertionError(f"a strategy state {label} was loaded without an error")
        where = f"after a refused load of a state {label}"
        assert cur.step == twin.step, f"{where}, the step is {cur.step}, not {twin.step}"
        for name in ("attempts", "successes", "last_step"):
            assert np.array_equal(getattr(cur.stats, name), getattr(twin.stats, name)), (
                f"{where}, stats.{name} changed"
            )
        _assert_same_state(cur.strategy.state_dict(), twin.strategy.state_dict(), where)
        first = _drive(cur, steps=4, batch=6, feedback_seed=5)
        second = _drive(twin, steps=4, batch=6, feedback_seed=5)
        assert first == second, f"{where}, proposals differ at {_first_difference(first, second)}"


def check_keep_mask(subject: Subject) -> None:
    """``keep`` returns one bool per group (also for empty and degenerate batches)."""
    cur = subject.curriculum()
    rng = np.random.default_rng(0)
    for step in range(4):
        outcomes = make_feedback(cur.propose(6), rng)
        cur.observe(outcomes)
        batches = [outcomes, *(_with_extras(subject, outcomes.indices, r(outcomes.indices))
                               for r in DEGENERATE.values())]  # fmt: skip
        for batch in batches:
            mask = cur.keep(batch)
            assert mask.dtype == bool and mask.shape == (len(batch),), (
                f"step {step}: keep returned {mask.dtype} of shape {mask.shape} for "
                f"{len(batch)} groups"
            )
    assert cur.keep(Outcomes.empty()).shape == (0,), "keep of an empty batch is not empty"


# --------------------------------------------------------------------- checks: by capability


def _alternating(proposal: Proposal, default: int = 8) -> np.ndarray:
    """Rewards 1, 0, 1, 0, ... per group: half the rollouts right, the most informative groups."""
    n = len(proposal)
    sizes = np.full(n, default) if proposal.rollouts is None else np.asarray(proposal.rollouts)
    width = int(sizes.max(initial=0))
    rewards = np.tile((np.arange(width) % 2 == 0).astype(float), (n, 1))
    rewards[np.arange(width) >= sizes[:, None]] = np.nan
    return rewards


def check_fill_batch(subject: Subject) -> None:
    """:func:`~stepladder.batching.fill_batch` fills a batch of groups with half their rollouts
    right (groups every filter should keep), observes every generated group and returns
    only as many as asked."""
    cur = subject.curriculum()
    rollouts_seen = 0

    def generate(proposal: Proposal) -> Outcomes:
        return _with_extras(subject, proposal.indices, _alternating(proposal))

    for step in range(3):
        filled = fill_batch(cur, generate, 6, max_rounds=4)
        assert len(filled.kept) == 6, (
            f"step {step}: fill_batch kept {len(filled.kept)} of 6 groups with half their "
            f"rollouts right after {filled.rounds} rounds"
        )
        check_proposal(Proposal(filled.kept.indices), 6, cur.pool.size)
        rollouts_seen += filled.rollouts
        assert int(cur.stats.attempts.sum()) == rollouts_seen, (
            f"step {step}: {rollouts_seen} rollouts were generated but the curriculum "
            f"observed {int(cur.stats.attempts.sum())}"
        )
    _check_metrics(cur)


def _rollout_cap(strategy: Strategy) -> int:
    """The strategy's own per-item cap (``max_rollouts`` or ``max_trials``), else 1024."""
    params = strategy.get_params()
    caps = [
        int(params[k]) for k in ("max_rollouts", "max_trials") if isinstance(params.get(k), int)
    ]
    return min(caps, default=1024)


def check_rollouts(subject: Subject) -> None:
    """Every proposal carries rollouts: positive ints, each within the strategy's own cap
    (``max_rollouts``/``max_trials``, else 1024), and at most the mean budget per item on
    average where the strategy has one (a ``rollouts`` parameter)."""
    strategy = subject.create()
    cap = _rollout_cap(strategy)
    budget = strategy.get_params().get("rollouts")
    cur = subject.curriculum()
    rng = np.random.default_rng(0)
    for step in range(6):
        for n in (1, 7, 40):
            proposal = cur.propose(n)
            check_proposal(proposal, n, 40)
            assert proposal.rollouts is not None, (
                f"step {step}: propose({n}) carries no rollouts, but allocates_rollouts is set"
            )
            rollouts = np.asarray(proposal.rollouts)
            assert rollouts.max() <= cap, (
                f"step {step}: {int(rollouts.max())} rollouts for one item, over the cap {cap}"
            )
            if isinstance(budget, int) and not isinstance(budget, bool):
                assert rollouts.sum() <= n * budget, (
                    f"step {step}: {int(rollouts.sum())} rollouts for {n} items, over the "
                    f"budget of {budget} per item"
                )
            cur.observe(make_feedback(proposal, rng))
    _check_metrics(cur)


def _episodes(
    subject: Subject, cur: Curriculum, episodes: int, rng: np.random.Generator, report_every: int
) -> list[int]:
    """One task per episode (``propose(1)``), a return in [0, 1] per episode, reported in
    batches of ``report_every`` episodes as a gymnasium wrapper does; the tasks played."""
    size = cur.pool.size
    difficulty = cur.pool.difficulty
    if difficulty is None or np.isnan(difficulty).any():
        difficulty = -np.arange(size, dtype=float)  # later tasks are easier
    success = 1.0 - (np.argsort(np.argsort(difficulty)) + 0.5) / size  # harder: lower returns
    tasks: list[int] = []
    pending: list[tuple[int, float]] = []
    for _ in range(episodes):
        proposal = cur.propose(1)
        check_proposal(proposal, 1, size)
        task = int(proposal.indices[0])
        tasks.append(task)
        pending.append((task, float(np.clip(rng.normal(success[task], 0.2), 0.0, 1.0))))
        if len(pending) == report_every:
            indices, scores = zip(*pending, strict=True)
            cur.observe(_with_extras(subject, indices, scores))
            pending.clear()
    return tasks


def check_episode_loop(subject: Subject) -> None:
    """As a task teacher: one task per episode, returns reported in small batches; the same
    seed and returns give the same tasks, and more than one task gets played."""
    runs = []
    for _ in range(2):
        cur = subject.curriculum(30)
        runs.append(_episodes(subject, cur, 120, np.random.default_rng(0), report_every=4))
        _check_metrics(cur)
    assert runs[0] == runs[1], "two identical episode loops chose different tasks"
    assert len(set(runs[0])) > 1, f"120 episodes all played task {runs[0][0]}"


def check_episode_loop_resumes(subject: Subject) -> None:
    """A teacher saved between episodes and loaded continues with the same tasks."""
    original = subject.curriculum(30, seed=2)
    rng = np.random.default_rng(1)
    _episodes(subject, original, 60, rng, report_every=3)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "teacher.npz"
        save_state(path, original.state_dict())
        resumed = subject.curriculum(30, seed=99)
        resumed.load_state_dict(load_state(path))
    state = rng.bit_generator.state
    first = _episodes(subject, original, 60, rng, report_every=3)
    rng.bit_generator.state = state
    second = _episodes(subject, resumed, 60, rng, report_every=3)
    assert first == second, "the resumed teacher chose different tasks"


# -------------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Check:
    """A named check, and which strategies it applies to."""

    name: str
    run: Callable[[Subject], None]
    kind: str  # "strategy", "filtering", "allocating" or "teacher"

    def applies(self, strategy: Strategy) -> bool:
        if self.kind == "filtering":
            return bool(strategy.filters)
        if self.kind == "allocating":
            return bool(strategy.allocates_rollouts)
        if self.kind == "teacher":
            return learns_from_rewards(strategy)
        return True


#: Every check, by name, in the order :func:`check_strategy` runs them.
CHECKS: dict[str, Check] = {
    check.name: check
    for check in (
        Check("valid_proposals", check_valid_proposals, "strategy"),
        Check("pool_of_one_item", check_pool_of_one_item, "strategy"),
        Check("missing_columns", check_missing_columns, "strategy"),
        Check("params_round_trip", check_params_round_trip, "strategy"),
        Check("determinism", check_determinism, "strategy"),
        Check("resume", check_resume, "strategy"),
        Check("state_round_trip", check_state_round_trip, "strategy"),
        Check("degenerate_feedback", check_degenerate_feedback, "strategy"),
        Check("random_feedback_scripts", check_random_feedback_scripts, "strategy"),
        Check("declared_feedback", check_declared_feedback, "strategy"),
        Check("checkpoint_size", check_checkpoint_grows_with_items_touched, "strategy"),
        Check("failed_load_changes_nothing", check_failed_load_changes_nothing, "strategy"),
        Check("keep_mask", check_keep_mask, "strategy"),
        Check("fill_batch", check_fill_batch, "filtering"),
        Check("rollouts", check_rollouts, "allocating"),
        Check("episode_loop", check_episode_loop, "teacher"),
        Check("episode_loop_resumes", check_episode_loop_resumes, "teacher"),
    )
}


def check_strategy(
    strategy: Target,
    /,
    *,
    pool: PoolFactory | None = None,
    checks: Sequence[str] | None = None,
    **params: Any,
) -> None:
    """Run every check that applies to a strategy; ``AssertionError`` lists what failed.

    Args:
        strategy: a registered name, a :class:`~stepladder.strategies.Strategy` subclass, or
            an instance (fresh copies are built from its parameters).
        pool: ``pool(size, seed) -> ItemPool`` for pools your strategy needs (default:
            :func:`make_pool`, with groups, 2-D features and a difficulty per item).
        checks: names from :data:`CHECKS` to run (default: all that apply by capability).
        **params: the strategy's parameters.

    Example:
        >>> check_strategy("uniform", replace=True, checks=["determinism", "resume"])
        >>> check_strategy("uniform", checks=["rollouts"])  # does not apply: nothing runs
    """
    subject = Subject.of(strategy, params, pool)
    unknown = sorted(set(checks or ()) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {', '.join(CHECKS)}")
    probe = subject.create()
    failures = []
    for check in CHECKS.values():
        if (checks is not None and check.name not in checks) or not check.applies(probe):
            continue
        try:
            check.run(subject)
        except NotApplicable:
            continue
        except AssertionError as error:
            failures.append((check.name, str(error) or "assertion failed", error))
        except Exception as error:  # report every check's failure, then raise
            failures.append((check.name, f"{type(error).__name__}: {error}", error))
    if failures:
        lines = [f"- {name}: {message}" for name, message, _ in failures]
        raise AssertionError(
            f"strategy {subject.label!r} failed {len(failures)} check(s):\n" + "\n".join(lines)
        ) from failures[0][2]


# ------------------------------------------------------------------------- pytest-style classes


class StrategyTests:
    """Checks for every strategy; subclass as ``Test...`` and set ``strategy``.

    Attributes:
        strategy: a registered name or a :class:`~stepladder.strategies.Strategy` subclass.
        params: the strategy's parameters.

    Override ``pool(self, size, seed)`` to check on pools of your own (``pool =
    staticmethod(build)`` works too).
    """

    strategy: ClassVar[str | type[Strategy] | None] = None
    params: ClassVar[Mapping[str, Any]] = {}

    def pool(self, size: int, seed: int) -> ItemPool:
        """The pool of ``size`` items the checks run on."""
        return make_pool(size, seed)

    def run_check(self, name: str) -> None:
        """Run the check ``name`` of :data:`CHECKS`; a check that does not apply is skipped."""
        if self.strategy is None:
            raise TypeError(f"{type(self).__name__}: set `strategy` to a name or a Strategy class")
        subject = Subject.of(self.strategy, self.params, self.pool)
        try:
            CHECKS[name].run(subject)
        except NotApplicable as reason:
            pytest = sys.modules.get("pytest")  # skip through pytest only when it is running
            if pytest is not None:
                pytest.skip(str(reason))

    def test_valid_proposals(self) -> None:
        self.run_check("valid_proposals")

    def test_pool_of_one_item(self) -> None:
        self.run_check("pool_of_one_item")

    def test_missing_columns(self) -> None:
        self.run_check("missing_columns")

    def test_params_round_trip(self) -> None:
        self.run_check("params_round_trip")

    def test_determinism(self) -> None:
        self.run_check("determinism")

    def test_resume(self) -> None:
        self.run_check("resume")

    def test_state_round_trip(self) -> None:
        self.run_check("state_round_trip")

    def test_degenerate_feedback(self) -> None:
        self.run_check("degenerate_feedback")

    def test_random_feedback_scripts(self) -> None:
        self.run_check("random_feedback_scripts")

    def test_declared_feedback(self) -> None:
        self.run_check("declared_feedback")

    def test_checkpoint_size(self) -> None:
        self.run_check("checkpoint_size")

    def test_failed_load_changes_nothing(self) -> None:
        self.run_check("failed_load_changes_nothing")

    def test_keep_mask(self) -> None:
        self.run_check("keep_mask")


class FilteringStrategyTests(StrategyTests):
    """:class:`StrategyTests` plus checks for strategies that filter groups (``filters``)."""

    def test_fill_batch(self) -> None:
        self.run_check("fill_batch")


class AllocatingStrategyTests(StrategyTests):
    """:class:`StrategyTests` plus checks for strategies that allocate rollouts."""

    def test_rollouts(self) -> None:
        self.run_check("rollouts")


class TeacherStrategyTests(StrategyTests):
    """:class:`StrategyTests` plus checks for task teachers: one task per episode, pool
    features as task parameters, a return in ``[0, 1]`` per episode."""

    def test_episode_loop(self) -> None:
        self.run_check("episode_loop")

    def test_episode_loop_resumes(self) -> None:
        self.run_check("episode_loop_resumes")


# --------------------------------------------------------------------------------- step cost


def time_steps(
    cur: Curriculum,
    *,
    batch: int = 1024,
    rollouts: int = 8,
    steps: int = 20,
    warmup: int = 3,
    budget_s: float = math.inf,
    seed: int = 0,
) -> np.ndarray:
    """CPU seconds (``time.process_time``) of each timed step.

    A step is ``propose(batch)`` and ``observe`` of ``batch x rollouts`` 0/1 rewards, with
    advantages, losses and signals where the strategy declares them (generated before the
    timed region; building the ``Outcomes`` is timed). After ``warmup`` untimed steps, up to
    ``steps`` are timed; both stop early once the run has used ``budget_s`` CPU seconds (a
    third of it for the warm-up), but at least one step is always timed.

    Example:
        >>> times = time_steps(Curriculum(1000, "uniform"), batch=16, steps=5, warmup=1)
        >>> times.shape
        (5,)
    """
    declared = tuple(cur.strategy.feedback)
    rng = np.random.default_rng(seed)
    reports = []
    for _ in range(min(8, steps + warmup)):
        rewards = (rng.random((batch, rollouts)) < rng.random((batch, 1))).astype(float)
        reports.append(
            {
                "advantages": rewards - rewards.mean(axis=1, keepdims=True)
                if "advantages" in declared
                else None,
                "losses": rng.exponential(size=batch) if "losses" in declared else None,
                "signals": rng.normal(size=batch) if "signals" in declared else None,
                "rewards": rewards,
            }
        )
    clock = time.process_time
    start = clock()

    def step(i: int) -> float:
        began = clock()
        proposal = cur.propose(batch)
        report = reports[i % len(reports)]
        cur.observe(Outcomes(proposal.indices, **report))
        return clock() - began

    done = 0
    while done < warmup and clock() - start < budget_s / 3:
        step(done)
        done += 1
    times = [step(done)]
    while len(times) < steps and clock() - start < budget_s:
        times.append(step(done + len(times)))
    return np.array(times)


@dataclass(frozen=True)
class StepCost:
    """Median CPU milliseconds per step at a small and a large pool."""

    small: int
    large: int
    small_ms: float
    large_ms: float

    @property
    def ratio(self) -> float:
        """Large-pool time over small-pool time."""
        return self.large_ms / self.small_ms if self.small_ms > 0 else math.inf


def check_step_cost(
    strategy: Target,
    /,
    small: int = 10**4,
    large: int = 10**6,
    *,
    batch: int = 1024,
    rollouts: int = 8,
    steps: int = 20,
    factor: float = 3.0,
    slack_ms: float = 0.5,
    pool: PoolFactory | None = None,
    **params: Any,
) -> StepCost:
    """Check that a step costs no more on a large pool than on a small one (opt-in: timing).

    The median CPU time of a step (see :func:`time_steps`) at ``large`` items must stay within
    ``factor`` times that at ``small`` items plus ``slack_ms``. The tolerance is generous on
    purpose: a step that costs O(batch) measures 0.8 to 1.5 times as much on the larger pool
    (random access to bigger arrays misses the cache more), and CPU time on a busy machine
    varies by tens of percent; a step that scans a pool of 10^6 items even once (a
    ``flatnonzero``, a ``cumsum``) adds about a millisecond or more, and a sort tens of
    milliseconds. Returns the measured :class:`StepCost`.

    Example:
        >>> cost = check_step_cost("uniform", 10**3, 10**5, batch=64, steps=10)
        >>> cost.large
        100000
    """
    subject = Subject.of(strategy, params, pool)
    medians = []
    for size in (small, large):
        cur = Curriculum(subject.pool(size, 0), subject.create(), seed=0)
        times = time_steps(cur, batch=batch, rollouts=rollouts, steps=steps)
        medians.append(float(np.median(times)) * 1e3)
        del cur
    cost = StepCost(small, large, medians[0], medians[1])
    limit = factor * cost.small_ms + slack_ms
    assert cost.large_ms <= limit, (
        f"strategy {subject.label!r}: a step takes {cost.large_ms:.2f} ms CPU at {large:,} items "
        f"but {cost.small_ms:.2f} ms at {small:,} ({cost.ratio:.1f}x; allowed: {factor:g}x + "
        f"{slack_ms:g} ms): the step cost grows with the pool"
    )
    return cost
