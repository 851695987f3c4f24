"""Teacher machinery: the max tree, score histories and batch segments against direct code."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder.strategies._teacher_tools import MaxTree, ScoreHistory, Snap, segments


@pytest.mark.parametrize("size", [1, 2, 15, 16, 17, 256, 257, 5000])
def test_max_tree_matches_flatnonzero_of_the_maximum(size: int) -> None:
    rng = np.random.default_rng(size)
    values = rng.integers(0, 4, size).astype(float)
    values[rng.random(size) < 0.1] = -np.inf
    tree = MaxTree(values)
    for _ in range(30):
        slots = rng.choice(size, min(size, 5), replace=False)
        values[slots] = rng.integers(0, 5, len(slots))
        tree.update(slots, values[slots])
        best = np.flatnonzero(values == values.max())
        assert (tree.max, tree.count) == (values.max(), len(best))
        ranks = rng.integers(0, len(best), 50)
        np.testing.assert_array_equal(tree.select(ranks), best[ranks])


def test_score_history_keeps_the_last_window_in_order() -> None:
    rng = np.random.default_rng(0)
    history, direct = ScoreHistory(arms=50, window=4), {}
    for _ in range(40):
        arms = rng.integers(0, 6, rng.integers(0, 12))
        scores = rng.random(len(arms))
        history.push(arms, scores)
        for arm, score in zip(arms.tolist(), scores.tolist(), strict=True):
            direct.setdefault(arm, []).append(score)
    for arm in range(8):
        y = np.array(direct.get(arm, []))[-4:]
        np.testing.assert_allclose(history.recent(arm), y)
        slope = 0.0
        if len(y) >= 2:
            t = np.arange(len(y)) - (len(y) - 1) / 2
            slope = t @ (y - y.mean()) / (t @ t)
        assert history.slopes(np.array([arm]))[0] == pytest.approx(slope)
        assert history.means(np.array([arm]))[0] == pytest.approx(y.mean() if len(y) else 0.0)
    restored = ScoreHistory(arms=50, window=4)
    restored.load_state_dict(history.state_dict())
    np.testing.assert_array_equal(restored.means(np.arange(50)), history.means(np.arange(50)))
    assert len(history.state_dict()["arms"]) == len(direct)  # rows only for arms played


def test_segments_group_by_key_in_batch_order() -> None:
    s = segments(np.array([4, 1, 4, 1, 9]))
    assert s.keys.tolist() == [1, 4, 9] and s.lengths.tolist() == [2, 2, 1]
    assert s.order.tolist() == [1, 3, 0, 2, 4] and s.within.tolist() == [0, 1, 0, 1, 0]
    assert segments(np.zeros(0, dtype=np.int64)).keys.tolist() == []


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("lattice", [False, True])
def test_snap_finds_the_nearest_task_lowest_index_on_ties(d: int, lattice: bool) -> None:
    rng = np.random.default_rng(d)
    unit = rng.random((3000, d)) ** 3  # skewed: most tasks near the origin
    if lattice:  # many tasks at equal distance, repeated tasks
        unit = np.round(unit * 4) / 4
    points = np.r_[rng.random((400, d)), unit[:50], np.zeros((1, d)), np.ones((1, d))]
    gaps = ((points[:, None, :] - unit[None, :, :]) ** 2).sum(axis=2)
    # the lowest index among the nearest: on the grid, from the kd-tree (after MAX_ROUNDS
    # rounds, or in 4-D) and with the kd-tree answering after the first round
    np.testing.assert_array_equal(Snap(unit)(points), gaps.argmin(axis=1))
    hurried = Snap(unit)
    hurried.MAX_ROUNDS = 1
    np.testing.assert_array_equal(hurried(points), gaps.argmin(axis=1))


def test_snap_on_skewed_tasks_sends_far_points_to_the_kd_tree() -> None:
    rng = np.random.default_rng(7)
    unit = np.clip(rng.normal(0.5, 0.08, (20_000, 2)), 0, 1)  # dense centre, empty edges
    points = rng.random((300, 2))
    snap = Snap(unit)
    found = snap(points)
    gaps = ((points[:, None, :] - unit[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(found, gaps.argmin(axis=1))
    assert snap.tree is not None  # the points in the empty edges went there
    uniform = Snap(rng.random((20_000, 2)))
    uniform(points)
    assert uniform.tree is None  # no point needed it


def test_snap_on_a_few_tasks_and_points_outside_the_box() -> None:
    snap = Snap(np.array([[0.5, 0.5]]))
    assert snap(np.array([[2.0, -1.0], [0.0, 0.0]])).tolist() == [0, 0]
    assert snap(np.zeros((0, 2))).tolist() == []


@pytest.mark.parametrize("d", [1, 2, 3])
def test_snap_rounds_visit_each_ring_of_cells_once(d: int) -> None:
    snap = Snap(np.random.default_rng(0).random((4**d * 8, d)))
    assert snap.side >= 4
    seen = set()
    for round_ in range(3):
        radius, runs = snap._round(round_)
        cells = [
            (*run[: d - 1], last) for run in runs.tolist() for last in range(run[-2], run[-1] + 1)
        ]
        assert len(cells) == len(set(cells)) and not seen & set(cells)
        seen |= set(cells)
        k = 1 if round_ == 0 else round_ + 1  # the whole 3^d block first, then one ring
        ring = np.stack(np.meshgrid(*[np.arange(-k, k + 1)] * d, indexing="ij"), -1)
        ring = ring.reshape(-1, d)
        ring = ring if round_ == 0 else ring[np.abs(ring).max(axis=1) == k]
        assert set(cells) == set(map(tuple, ring.tolist())) and radius == k


@pytest.mark.parametrize("d", [1, 2, 3])
def test_snap_on_grids_of_one_and_two_cells_per_side(d: int) -> None:
    rng = np.random.default_rng(10 + d)
    for size in [1, 2, 3, 5, 9, 17, 40]:
        unit = np.round(rng.random((size, d)) * 3) / 3  # ties and repeated tasks
        points = np.r_[rng.random((60, d)) * 1.4 - 0.2, unit]  # outside the box too
        gaps = ((np.clip(points, 0, 1)[:, None] - unit[None]) ** 2).sum(axis=2)
        np.testing.assert_array_equal(Snap(unit)(points), gaps.argmin(axis=1))
