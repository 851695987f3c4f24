"""ADR: bound updates against the authors' code, boundary sampling, stale probes.

Reference: flowersteam/TeachMyAgent, TeachMyAgent/teachers/algos/adr.py (``ADR``), run on
the same 1-D task space ([0, 1], start 0.5, step_size 0.125, queue_len 2, thresholds
0.3 / 0.66, boundary_sampling_p 1): each (task, reward) below was fed to their
``episodic_update`` in order and the expected bounds are their ``cur_mins``/``cur_maxs``.
Multiples of 0.125 keep their float32 bounds exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes

GRID = np.linspace(0, 1, 9)  # task k has parameter k / 8


def _adr(seed: int) -> Curriculum:
    pool = ItemPool(size=9, features=GRID[:, None])
    params = {"start": 4, "step_size": 0.125, "queue_len": 2, "boundary_p": 1.0}
    return Curriculum(pool, "adr", seed=seed, **params)


def _reward(tasks: np.ndarray) -> np.ndarray:
    return (GRID[tasks] <= 0.625).astype(float)  # tasks beyond 0.625 fail


def test_adr_bounds_match_the_authors_code_episode_by_episode() -> None:
    cur = _adr(seed=0)
    played, bounds = [], []
    for _ in range(24):
        task = cur.propose(1).indices
        cur.observe(Outcomes(task, rewards=_reward(task)))
        played.append(int(task[0]))
        bounds.append((float(cur.strategy.lo[0]), float(cur.strategy.hi[0])))
    assert played == [4, 4, 5, 3, 5, 6, 3, 6, 5, 5, 2, 2, 6, 1, 1, 6, 5, 5, 6, 6, 5, 5, 6, 6]
    expected = [  # the authors' (cur_mins, cur_maxs) after each of these episodes
        (0.5, 0.5), (0.375, 0.625), (0.375, 0.625), (0.375, 0.625), (0.375, 0.75),
        (0.375, 0.75), (0.25, 0.75), (0.25, 0.625), (0.25, 0.625), (0.25, 0.75),
        (0.25, 0.75), (0.125, 0.75), (0.125, 0.75), (0.125, 0.75), (0.0, 0.75),
        (0.0, 0.625), (0.0, 0.625), (0.0, 0.75), (0.0, 0.75), (0.0, 0.625), (0.0, 0.625),
        (0.0, 0.75), (0.0, 0.75), (0.0, 0.625),
    ]  # fmt: skip
    assert bounds == expected


def test_adr_batches_match_the_authors_code_fed_in_order() -> None:
    # a batch of 6 whose probes turn stale when their bound moves mid-batch
    cur = _adr(seed=3)
    played, bounds = [], []
    for _ in range(5):
        tasks = cur.propose(6).indices
        cur.observe(Outcomes(tasks, rewards=_reward(tasks)))
        played += tasks.tolist()
        bounds.append((float(cur.strategy.lo[0]), float(cur.strategy.hi[0])))
    assert played == [4, 4, 4, 4, 4, 4, 3, 3, 5, 5, 3, 5, 6, 2, 2, 2, 6, 2, 5, 1, 5, 5, 5, 5,
                      6, 6, 1, 6, 6, 1]  # fmt: skip
    # theirs after episodes 6, 12, ..., 30 of the same sequence
    assert bounds == [(0.375, 0.625), (0.25, 0.75), (0.125, 0.625), (0.125, 0.75), (0.0, 0.625)]


def test_adr_boundary_sampling_and_thresholds() -> None:
    pool = ItemPool(size=101, features=np.linspace(0, 1, 101)[:, None])
    cur = Curriculum(pool, "adr", seed=0, start=0, boundary_p=1.0, queue_len=1)
    # lo sits at the edge of the box: every probe goes to hi
    assert set(cur.propose(50).indices.tolist()) == {0}
    cur.observe(Outcomes([0], rewards=[0.5]))  # between the thresholds: nothing moves
    assert (cur.strategy.lo[0], cur.strategy.hi[0]) == (0.0, 0.0)
    cur = Curriculum(pool, "adr", seed=0, start=0, boundary_p=1.0, queue_len=1)
    cur.observe(Outcomes([0], rewards=[1.0]))  # a task never proposed: no probe, no update
    assert cur.strategy.hi[0] == 0.0
    cur.propose(1)
    cur.observe(Outcomes([0], rewards=[1.0]))
    assert cur.strategy.hi[0] == pytest.approx(0.05)
    assert set(cur.propose(200).indices.tolist()) == {5}  # lo capped at 0: always hi
    cur = Curriculum(pool, "adr", seed=0, start=50, boundary_p=0.0, queue_len=1)
    cur.propose(1)
    cur.observe(Outcomes([50], rewards=[0.0]))  # a point box: every task is on both bounds
    assert (cur.strategy.lo[0], cur.strategy.hi[0]) == (0.5, 0.5)  # narrowing stops there
    with pytest.raises(ValueError, match="feature"):
        Curriculum(ItemPool(size=4), "adr")
    with pytest.raises(ValueError, match="threshold"):
        Curriculum(pool, "adr", low_threshold=0.8, high_threshold=0.5)


def test_adr_starts_at_the_easiest_task() -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.normal(size=50)
    pool = ItemPool(size=50, features=rng.random((50, 2)), difficulty=difficulty)
    cur = Curriculum(pool, "adr", seed=0)
    assert set(cur.propose(20).indices.tolist()) == {int(np.argmin(difficulty))}
