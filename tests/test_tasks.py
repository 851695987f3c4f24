"""Task spaces: encoding round trips and the pools they build."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, Outcomes
from stepladder.tasks import BoxTasks, DiscreteTasks, MultiDiscreteTasks


def test_discrete_tasks_encode_decode_and_pool() -> None:
    space = DiscreteTasks(3)
    assert [space.decode(space.encode(t)) for t in range(3)] == [0, 1, 2]
    named = DiscreteTasks(2, names=["a", "b"], groups=["easy", "hard"], features=[[0.0], [1.0]])
    assert named.encode("b") == 1 and named.decode(0) == "a"
    pool = named.pool()
    assert pool.ids() == ["a", "b"] and pool.group_names == ["easy", "hard"]
    with pytest.raises(ValueError, match="out of range"):
        space.decode(3)
    with pytest.raises(ValueError, match="names"):
        DiscreteTasks(2, names=["a"])


def test_box_tasks_round_trip_and_candidates() -> None:
    box = BoxTasks([-1.0, 0.0, 5.0], [1.0, 10.0, 6.0])
    rng = np.random.default_rng(0)
    params = box.sample(rng, 100)
    assert box.contains(params).all()
    np.testing.assert_allclose(box.decode(box.encode(params)), params)
    unit = box.encode(params)
    assert (unit >= 0).all() and (unit <= 1).all()
    for method in ("sobol", "uniform"):
        a = box.pool(n_candidates=1000, seed=3, method=method)
        b = box.pool(n_candidates=1000, seed=3, method=method)
        np.testing.assert_array_equal(a.features, b.features)
        assert a.features.shape == (1000, 3) and box.contains(a.features).all()
    assert not np.array_equal(box.candidates(64, seed=0), box.candidates(64, seed=1))
    with pytest.raises(ValueError, match="high > low"):
        BoxTasks([0.0], [0.0])
    with pytest.raises(ValueError, match="method"):
        box.candidates(8, method="grid")


def test_box_nearest_snaps_to_candidates() -> None:
    box = BoxTasks([0.0, 0.0], [2.0, 1.0])
    pool = box.pool(n_candidates=500, seed=0)
    query = box.sample(np.random.default_rng(1), 20)
    found = box.nearest(pool, query)
    distances = np.linalg.norm(box.encode(pool.features)[None] - box.encode(query)[:, None], axis=2)
    np.testing.assert_array_equal(found, distances.argmin(axis=1))


def test_multi_discrete_grid() -> None:
    grid = MultiDiscreteTasks([2, 3, 4])
    cells = grid.decode(np.arange(grid.size))
    assert cells.shape == (24, 3)
    np.testing.assert_array_equal(grid.encode(cells), np.arange(24))
    full = grid.pool()
    assert len(full) == 24 and full.features.tolist() == cells.tolist()
    sample = grid.pool(n_candidates=10, seed=0)
    ids = np.array(sample.ids())
    assert len(set(ids.tolist())) == 10
    np.testing.assert_array_equal(grid.encode(sample.features.astype(np.int64)), ids)
    big = MultiDiscreteTasks([1000, 1000, 1000]).pool(n_candidates=100, seed=0)
    assert len(big) == 100
    with pytest.raises(ValueError):
        MultiDiscreteTasks([])


def test_a_teacher_runs_on_a_box_pool() -> None:
    box = BoxTasks([0.0, 0.0], [1.0, 1.0])
    pool = box.pool(n_candidates=256, seed=0)
    cur = Curriculum(pool, "alp_gmm", seed=0, fit_every=40)
    for _ in range(5):
        batch = cur.propose(16).indices
        cur.observe(Outcomes(batch, pool.features[batch, 0]))
    assert len(cur.strategy.means) >= 2
