"""Conformance suite: every registered strategy must pass these checks.

New strategies are picked up automatically from ``stepladder.strategies.available()``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepladder import Curriculum, ItemPool, Outcomes, load_state, save_state, strategies
from stepladder.strategies import Proposal

NAMES = strategies.available()


def make_pool(size: int = 40, seed: int = 0) -> ItemPool:
    rng = np.random.default_rng(seed)
    return ItemPool(
        size=size,
        groups=[f"g{i % 3}" for i in range(size)],
        features=rng.normal(size=(size, 2)),
        difficulty=rng.normal(size=size),
    )


def rollout_feedback(proposal: Proposal, rng: np.random.Generator, group_size: int = 4) -> Outcomes:
    """Rewards, advantages, losses and signals for a proposal, as a trainer would report."""
    n = len(proposal)
    if proposal.rollouts is not None:
        groups = [(rng.random(int(k)) < 0.5).astype(float) for k in proposal.rollouts]
        return Outcomes.from_groups(
            proposal.indices, groups, losses=rng.random(n), signals=rng.random(n)
        )
    rewards = (rng.random((n, group_size)) < rng.random((n, 1))).astype(float)
    advantages = rewards - rewards.mean(axis=1, keepdims=True)
    return Outcomes(
        proposal.indices,
        rewards,
        advantages=advantages,
        losses=rng.exponential(size=n),
        signals=rng.normal(size=n),
    )


def drive(cur: Curriculum, steps: int, batch: int, feedback_seed: int) -> list[tuple]:
    """Run the loop; return each step's proposal as comparable tuples."""
    rng = np.random.default_rng(feedback_seed)
    history = []
    for _ in range(steps):
        proposal = cur.propose(batch)
        history.append(_key(proposal))
        cur.observe(rollout_feedback(proposal, rng))
    return history


def _key(proposal: Proposal) -> tuple:
    def as_tuple(a):
        return None if a is None else tuple(np.asarray(a).tolist())

    return as_tuple(proposal.indices), as_tuple(proposal.rollouts), as_tuple(proposal.weights)


def check_proposal(proposal: Proposal, n: int, size: int) -> None:
    assert isinstance(proposal, Proposal)
    assert proposal.indices.dtype == np.int64 and proposal.indices.shape == (n,)
    assert ((proposal.indices >= 0) & (proposal.indices < size)).all()
    if proposal.rollouts is not None:
        assert proposal.rollouts.shape == (n,)
        assert np.issubdtype(proposal.rollouts.dtype, np.integer) and (proposal.rollouts >= 1).all()
    if proposal.weights is not None:
        assert proposal.weights.shape == (n,)
        assert np.isfinite(proposal.weights).all() and (proposal.weights >= 0).all()


def check_metrics(cur: Curriculum) -> None:
    for key, value in cur.metrics().items():
        assert isinstance(value, float) and math.isfinite(value), (key, value)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [0, 1, 7, 40, 95])
def test_proposals_are_valid_indices(name: str, n: int) -> None:
    cur = Curriculum(make_pool(), name, seed=0)
    for _ in range(3):
        proposal = cur.propose(n)
        check_proposal(proposal, n, 40)
        cur.observe(rollout_feedback(proposal, np.random.default_rng(1)))
    check_metrics(cur)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_and_feedback_give_same_proposals(name: str) -> None:
    first = drive(Curriculum(make_pool(), name, seed=3), steps=12, batch=8, feedback_seed=5)
    second = drive(Curriculum(make_pool(), name, seed=3), steps=12, batch=8, feedback_seed=5)
    assert first == second


@pytest.mark.parametrize("name", NAMES)
def test_resume_from_state_dict_continues_identically(name: str, tmp_path) -> None:
    rng = np.random.default_rng(11)
    original = Curriculum(make_pool(), name, seed=7)
    for _ in range(5):
        original.observe(rollout_feedback(original.propose(6), rng))
    path = tmp_path / "state.npz"
    save_state(path, original.state_dict())
    resumed = Curriculum(make_pool(), name, seed=12345)  # a different seed must not matter
    resumed.load_state_dict(load_state(path))
    assert resumed.step == original.step
    np.testing.assert_array_equal(resumed.stats.attempts, original.stats.attempts)
    after_original = drive(original, steps=8, batch=6, feedback_seed=99)
    after_resumed = drive(resumed, steps=8, batch=6, feedback_seed=99)
    assert after_original == after_resumed


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trips_exactly(name: str, tmp_path) -> None:
    cur = Curriculum(make_pool(), name, seed=1)
    drive(cur, steps=4, batch=5, feedback_seed=2)
    state = cur.state_dict()
    save_state(tmp_path / "s.npz", state)
    _assert_equal_state(load_state(tmp_path / "s.npz"), state)
    fresh = Curriculum(make_pool(), name, seed=0)
    fresh.load_state_dict(state)
    _assert_equal_state(fresh.state_dict(), state)


def _assert_equal_state(a, b) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys()
        for key in b:
            _assert_equal_state(a[key], b[key])
    elif isinstance(b, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_equal_state(x, y)
    elif isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), b)
    else:
        assert a == b


DEGENERATE = {
    "all zero": lambda idx: Outcomes(idx, np.zeros((len(idx), 4))),
    "all one": lambda idx: Outcomes(idx, np.ones((len(idx), 4))),
    "scalar rewards": lambda idx: Outcomes(idx, np.ones(len(idx))),
    "single rollout": lambda idx: Outcomes(idx, np.zeros((len(idx), 1))),
    "losses only": lambda idx: Outcomes(idx, losses=np.zeros(len(idx))),
    "ragged groups": lambda idx: Outcomes.from_groups(
        idx, [[1.0] * (1 + i % 3) for i in range(len(idx))]
    ),
    "empty batch": lambda idx: Outcomes.empty(),
    "unseen items": lambda idx: Outcomes(
        [39, 38, 39], np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    ),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_feedback_is_handled(name: str, case: str) -> None:
    cur = Curriculum(make_pool(), name, seed=0)
    for _ in range(6):
        proposal = cur.propose(5)
        check_proposal(proposal, 5, 40)
        cur.observe(DEGENERATE[case](proposal.indices))
        check_metrics(cur)


@pytest.mark.parametrize("name", NAMES)
def test_pool_of_one_item(name: str) -> None:
    cur = Curriculum(
        ItemPool(["only"], groups=["g"], difficulty=[0.0], features=[[1.0]]), name, seed=0
    )
    for n in (1, 3, 0):
        proposal = cur.propose(n)
        check_proposal(proposal, n, 1)
        cur.observe(rollout_feedback(proposal, np.random.default_rng(0)))
    check_metrics(cur)


@pytest.mark.parametrize("name", NAMES)
def test_pool_without_optional_columns_works_or_fails_clearly(name: str) -> None:
    try:
        cur = Curriculum(ItemPool(size=10), name, seed=0)
    except ValueError as error:
        assert "difficulty" in str(error) or "group" in str(error) or "feature" in str(error)
        return
    drive(cur, steps=3, batch=4, feedback_seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_params_round_trip_through_create(name: str) -> None:
    strategy = strategies.create(name)
    clone = strategies.create(name, **strategy.get_params())
    assert clone.get_params() == strategy.get_params()
    assert clone.name == name


feedback_script = st.lists(
    st.tuples(
        st.integers(0, 12),  # batch size
        st.integers(1, 6),  # rollouts per item
        st.sampled_from(["binary", "fraction", "constant"]),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(1, 25), script=feedback_script, seed=st.integers(0, 2**32 - 1))
def test_random_feedback_sequences(name: str, size: int, script, seed: int) -> None:
    def play() -> list[tuple]:
        cur = Curriculum(make_pool(size, seed=seed % 7), name, seed=seed)
        rng = np.random.default_rng(seed)
        history = []
        for batch, group, kind in script:
            proposal = cur.propose(batch)
            check_proposal(proposal, batch, size)
            history.append(_key(proposal))
            shape = (batch, group)
            rewards = {
                "binary": (rng.random(shape) < 0.5).astype(float),
                "fraction": rng.random(shape),
                "constant": np.full(shape, float(rng.integers(0, 2))),
            }[kind]
            cur.observe(Outcomes(proposal.indices, rewards, losses=rng.random(batch)))
            check_metrics(cur)
        return history

    assert play() == play()


@pytest.mark.parametrize("name", NAMES)
def test_keep_returns_a_mask_per_group(name: str) -> None:
    cur = Curriculum(make_pool(), name, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        outcomes = rollout_feedback(cur.propose(6), rng)
        cur.observe(outcomes)
        mask = cur.keep(outcomes)
        assert mask.dtype == bool and mask.shape == (len(outcomes),)
    assert cur.keep(Outcomes.empty()).shape == (0,)
