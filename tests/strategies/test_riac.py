"""RIAC: region ALP against the authors' code, splits, discards, batches."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, load_state, save_state
from stepladder.strategies.riac import RIAC, _at_most, _group, window_alp


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
        scores, held = np.zeros((len(s.low), 13)), np.zeros((len(s.low), 13), dtype=bool)
        for region in range(len(s.low)):
            ring = s.pairs(region)[1]
            scores[region, : len(ring)], held[region, : len(ring)] = ring, True
        expected = window_alp(scores, held, s._window)
        np.testing.assert_allclose(s.alps(), expected, rtol=0, atol=1e-12)
    assert len(cur.strategy.low) > 20


class _PlainRIAC(RIAC):
    """RIAC read plainly: episodes one at a time, each pushed to every region on its path,
    a full leaf split at once with both children of every attempt scored by
    :func:`window_alp` over masks. The batched ``observe`` must give exactly this."""

    def observe(self, outcomes: Outcomes) -> None:
        width = self.max_region_size + 1
        keep = ~np.isnan(outcomes.pass_rate)
        for task, score in zip(outcomes.indices[keep], outcomes.pass_rate[keep], strict=True):
            point, region, path = self._unit[task], 0, [0]
            while self.child[region] >= 0:
                upper = point[self.split_dim[region]] > self.split_at[region]
                region = int(self.child[region] + upper)
                path.append(region)
            for r in path:
                slot = self.count[r] % width
                self.tasks[r, slot], self.scores[r, slot] = task, score
                self.count[r] += 1
                self.held[r] = min(self.held[r] + 1, width)
            if self.held[region] == width:
                self._plain_split(region)

    def _plain_split(self, region: int) -> None:
        low, high, ratio = self.low[region], self.high[region], self.min_dims_range_ratio
        drop = int(self.max_region_size * self.discard_ratio)
        if (high - low < 2 * ratio).all():
            self.held[region] -= drop
            return
        tasks, scores = self.pairs(region)
        points, attempts = self._unit[tasks], self.nb_split_attempts
        dims, at = np.zeros(attempts, dtype=np.int64), np.zeros(attempts)
        lower = np.zeros((attempts, len(tasks)), dtype=bool)
        drawn = np.zeros(attempts, dtype=bool)
        for _ in range(100):
            todo = np.flatnonzero(~drawn)
            if not len(todo):
                break
            dims[todo] = self.rng.integers(0, points.shape[1], size=len(todo))
            span = high[dims[todo]] - low[dims[todo]]
            at[todo] = low[dims[todo]] + self.rng.random(len(todo)) * span
            lower[todo] = at[todo, None] >= points[:, dims[todo]].T
            below = lower[todo].sum(axis=1)
            drawn[todo] = (below >= self._minlen) & (len(tasks) - below >= self._minlen)
        valid = drawn & (at - low[dims] >= ratio) & (high[dims] - at >= ratio)
        if not valid.any():
            self.held[region] -= drop
            return
        halves = np.concatenate([lower, ~lower])
        alps = window_alp(np.broadcast_to(scores, halves.shape), halves, self._window)
        gap = np.where(valid, np.abs(alps[:attempts] - alps[attempts:]), -np.inf)
        best = np.flatnonzero(gap == gap.max())[-1]
        first, dim, threshold = len(self.low), int(dims[best]), float(at[best])
        self.child[region], self.split_dim[region], self.split_at[region] = first, dim, threshold
        lows, highs = np.repeat(low[None], 2, axis=0), np.repeat(high[None], 2, axis=0)
        highs[0, dim] = lows[1, dim] = threshold
        rings = np.zeros((2, self.tasks.shape[1]), dtype=np.int64)
        ring_scores = np.zeros((2, self.tasks.shape[1]))
        sizes = []
        for k, side in enumerate((lower[best], ~lower[best])):
            rings[k, : side.sum()], ring_scores[k, : side.sum()] = tasks[side], scores[side]
            sizes.append(int(side.sum()))
        grown = {
            "low": lows,
            "high": highs,
            "child": [-1, -1],
            "split_dim": [0, 0],
            "split_at": [0.0, 0.0],
            "tasks": rings,
            "scores": ring_scores,
            "count": sizes,
            "held": sizes,
        }
        for name, rows in grown.items():
            setattr(self, name, np.concatenate([getattr(self, name), np.asarray(rows)]))


@pytest.mark.parametrize(
    ("d", "params", "batch", "steps", "binary"),
    [
        (2, {}, 512, 40, True),  # the defaults, as hot_path runs them
        (2, {"max_region_size": 30}, 64, 200, True),  # many splits, then narrow leaves
        (2, {"max_region_size": 24, "alp_window": 7}, 100, 120, False),  # window < child
        (3, {"max_region_size": 40, "nb_split_attempts": 9, "min_region_size": 3}, 80, 100, False),
        (1, {"max_region_size": 10, "discard_ratio": 0.0}, 50, 80, True),  # full leaves stay full
        (2, {"max_region_size": 20, "min_dims_range_ratio": 0.3}, 200, 60, True),  # few splits
    ],
)
def test_batched_observe_matches_the_plain_method(d, params, batch, steps, binary) -> None:
    """Same seed, same feedback: the same proposals and regions as :class:`_PlainRIAC`."""
    rng = np.random.default_rng(d + batch)
    pool = ItemPool(size=3000, features=rng.random((3000, d)))
    fast = Curriculum(pool, "riac", seed=5, **params)
    plain = Curriculum(pool, _PlainRIAC(**params), seed=5)
    for step in range(steps):
        proposed = fast.propose(batch).indices
        np.testing.assert_array_equal(plain.propose(batch).indices, proposed, err_msg=str(step))
        x = pool.features[proposed].mean(axis=1)
        if binary:  # 8 rollouts of 0/1, progress on the left of the space only
            p = np.clip((x < 0.5) * step / steps + 0.2 * np.sin(9 * x), 0, 1)
            rewards = (rng.random((batch, 8)) < p[:, None]).astype(float)
        else:
            rewards = np.clip(x[:, None] * step / steps + rng.normal(0, 0.2, (batch, 2)), 0, 1)
        fast.observe(Outcomes(proposed, rewards=rewards))
        plain.observe(Outcomes(proposed, rewards=rewards))
    a, b = fast.strategy, plain.strategy
    for name in a.learned:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert len(a.low) > 2


@pytest.mark.parametrize("window", [200, 40, 3])
def test_child_gaps_equal_window_alp_of_both_children(window: int) -> None:
    rng = np.random.default_rng(window)
    strategy = Curriculum(_line(), "riac", seed=0, max_region_size=200, alp_window=window)
    scores = rng.random(201)
    lower = rng.random((30, 201)) < rng.random((30, 1))
    lower[:, 0], lower[:, 1] = True, False  # each child holds a pair
    lower[7], lower[19] = lower[3], lower[3]  # equal attempts at other rows
    got = strategy.strategy._child_gaps(lower, lower.sum(axis=1), scores)
    halves = np.concatenate([lower, ~lower])
    alps = window_alp(np.broadcast_to(scores, halves.shape), halves, window)
    np.testing.assert_allclose(got, np.abs(alps[:30] - alps[30:]), rtol=0, atol=1e-12)
    assert got[7] == got[19] == got[3]  # bit for bit: ties are broken as the authors do


def test_split_helpers_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    columns = rng.integers(0, 5, size=(3, 40)) / 4  # repeated coordinates
    ordered = np.sort(columns, axis=1)
    dims, values = rng.integers(0, 3, size=100), rng.integers(-1, 6, size=100) / 4
    expected = (values[:, None] >= columns[dims]).sum(axis=1)
    np.testing.assert_array_equal(_at_most(ordered, dims, values), expected)
    np.testing.assert_array_equal(
        _at_most(ordered[:1], np.zeros(100, dtype=np.int64), values),
        (values[:, None] >= columns[0]).sum(axis=1),
    )
    for bound in (50, 2**17):
        keys = rng.integers(0, bound, size=500)
        order, distinct, lengths = _group(keys, bound)
        np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
        np.testing.assert_array_equal(distinct, np.unique(keys))
        np.testing.assert_array_equal(lengths, np.unique(keys, return_counts=True)[1])


def test_riac_resumes_exactly_across_splits(tmp_path) -> None:
    """A state saved after splits (spare rows in use) loads into a fresh curriculum, which
    then splits further exactly as the original does."""
    pool = ItemPool(size=4000, features=np.random.default_rng(0).random((4000, 2)))
    cur = Curriculum(pool, "riac", seed=3, max_region_size=25)
    rng = np.random.default_rng(1)

    def step(c: Curriculum, rewards: np.ndarray) -> np.ndarray:
        proposed = c.propose(len(rewards)).indices
        c.observe(Outcomes(proposed, rewards=rewards))
        return proposed

    for _ in range(10):
        step(cur, rng.random((90, 4)))
    regions = len(cur.strategy.low)
    save_state(tmp_path / "riac.npz", cur.state_dict())
    resumed = Curriculum(pool, "riac", seed=99, max_region_size=25)
    resumed.load_state_dict(load_state(tmp_path / "riac.npz"))
    for _ in range(10):
        rewards = rng.random((90, 4))
        np.testing.assert_array_equal(step(resumed, rewards), step(cur, rewards))
    assert regions > 3 and len(cur.strategy.low) > regions
    for name in cur.strategy.learned:
        np.testing.assert_array_equal(getattr(resumed.strategy, name), getattr(cur.strategy, name))


def test_worst_task_is_the_oldest_of_the_lowest() -> None:
    """Mode 3 starts from each region's lowest-scoring held task, the oldest on ties
    (``argmin`` over the pairs oldest first), whatever the ring's rotation."""
    cur = Curriculum(_line(), "riac", seed=0, max_region_size=10)
    rng = np.random.default_rng(4)
    for _ in range(6):
        proposed = cur.propose(37).indices
        cur.observe(Outcomes(proposed, rewards=rng.integers(0, 3, size=(37, 1)) / 2))  # ties
    s = cur.strategy
    regions = np.flatnonzero(s.held > 0)
    expected = [s.pairs(r)[0][np.argmin(s.pairs(r)[1])] for r in regions]
    assert len(regions) > 3 and (s.count[regions] > s.held[regions]).any()  # rings wrapped
    np.testing.assert_array_equal(s._worst(regions), expected)
