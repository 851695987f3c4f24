"""RIAC: region ALP against the authors' code, splits, discards, batches."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes
from stepladder.strategies.riac import window_alp


@pytest.mark.parametrize(
    ("window", "rewards", "expected"),
    [  # flowersteam/teachDeepRL, teachDRL/teachers/algos/riac.py, RIAC.compute_alp, printed
        (200, [0.1, 0.5, 0.2, 0.9, 0.4], 0.38333333333333336),
        (4, [0.1, 0.5, 0.2, 0.9, 0.4], 0.30000000000000004),
        (200, [1.0, 0.0], 0.0),
        (3, [0.3, 0.0, 1.0, 0.25, 0.75, 0.5, 1.0], 0.375),
    ],
)
def test_region_alp_matches_the_authors_compute_alp(window, rewards, expected) -> None:
    rewards = np.array([rewards])
    got = window_alp(rewards, np.ones(rewards.shape, dtype=bool), window)
    assert got[0] == pytest.approx(expected, abs=1e-15)


def _line(size: int = 200) -> ItemPool:
    return ItemPool(size=size, features=np.linspace(0, 1, size)[:, None])


def test_riac_splits_a_full_leaf_between_different_progress() -> None:
    cur = Curriculum(_line(), "riac", seed=0, max_region_size=40)
    rng = np.random.default_rng(0)
    tasks = rng.integers(0, 200, size=41)
    # left half: scores rise over time (progress); right half: constant (none)
    scores = np.where(tasks < 100, np.linspace(0, 1, 41), 0.5)
    cur.observe(Outcomes(tasks, rewards=scores))
    riac = cur.strategy
    assert len(riac.low) == 3 and riac.child.tolist() == [1, -1, -1]
    threshold = riac.split_at[0]
    assert riac.high[1, 0] == riac.low[2, 0] == threshold
    assert 1 / 15 <= threshold <= 14 / 15
    lower = np.linspace(0, 1, 200)[tasks] <= threshold
    for child, side in ((1, lower), (2, ~lower)):
        held_tasks, held_scores = riac.pairs(child)
        assert held_tasks.tolist() == tasks[side].tolist()  # oldest first, as in the parent
        alp = window_alp(held_scores[None], np.ones((1, len(held_scores)), bool), 40)[0]
        assert riac.alps()[child] == pytest.approx(alp)
    assert riac.pairs(0)[0].tolist() == tasks.tolist()  # the parent keeps its pairs


def test_riac_without_a_valid_split_drops_the_oldest_quarter() -> None:
    cur = Curriculum(_line(), "riac", seed=0, max_region_size=40)
    cur.observe(Outcomes(np.full(41, 7), rewards=np.linspace(0, 1, 41)))  # one task only
    tasks, scores = cur.strategy.pairs(0)
    assert len(cur.strategy.low) == 1 and len(tasks) == 31  # 41 - int(40 / 4)
    np.testing.assert_allclose(scores, np.linspace(0, 1, 41)[10:])


def test_riac_batch_equals_episodes_one_by_one() -> None:
    rng = np.random.default_rng(1)
    tasks = rng.integers(0, 200, size=300)
    scores = np.clip(np.linspace(0, 1, 300) * (tasks < 120) + rng.normal(0, 0.1, 300), 0, 1)
    batched = Curriculum(_line(), "riac", seed=0, max_region_size=30)
    single = Curriculum(_line(), "riac", seed=0, max_region_size=30)
    batched.observe(Outcomes(tasks, rewards=scores))
    for task, score in zip(tasks, scores, strict=True):
        single.observe(Outcomes([task], rewards=[score]))
    a, b = batched.strategy, single.strategy
    assert len(a.low) > 3
    for name in a.learned:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_riac_proposals_follow_alp() -> None:
    cur = Curriculum(_line(), "riac", seed=0, max_region_size=40)
    rng = np.random.default_rng(0)
    tasks = rng.integers(0, 200, size=41)
    cur.observe(Outcomes(tasks, rewards=np.where(tasks < 100, np.linspace(0, 1, 41), 0.5)))
    alps = cur.strategy.alps()
    assert alps[1] > 0.3 and alps[2] == 0.0  # the right child shows no progress
    draws = cur.propose(20_000).indices
    inside = np.linspace(0, 1, 200)[draws] <= cur.strategy.split_at[0]
    # 0.7 by region (root: half its draws left) + 0.2 uniform + 0.1 around the worst task
    p = alps / alps.sum()
    share = 0.7 * (p[1] + p[0] * cur.strategy.split_at[0]) + 0.2 * np.mean(
        np.linspace(0, 1, 200) <= cur.strategy.split_at[0]
    )
    assert inside.mean() == pytest.approx(share + 0.1 * inside.mean(), abs=0.12)
    with pytest.raises(ValueError, match="feature"):
        Curriculum(ItemPool(size=4), "riac")


@pytest.mark.parametrize("window", [None, 7, 100])
def test_cached_alps_equal_window_alp_of_the_rings(window: int | None) -> None:
    """alps() (cached per region, from prefix sums) equals window_alp over every ring,
    after batches that split regions, fill narrow leaves and discard."""
    pool = ItemPool(size=2000, features=np.random.default_rng(0).random((2000, 2)))
    cur = Curriculum(pool, "riac", seed=1, max_region_size=12, alp_window=window)
    rng = np.random.default_rng(2)
    for _ in range(15):
        proposal = cur.propose(int(rng.integers(1, 600)))
        cur.observe(Outcomes(proposal.indices, rewards=rng.random((len(proposal.indices), 2))))
        s = cur.strategy
        _, scores, held = s._rings(np.arange(len(s.low)))
        expected = window_alp(scores, held, s._window)
        np.testing.assert_allclose(s.alps(), expected, rtol=0, atol=1e-12)
    assert len(cur.strategy.low) > 20
