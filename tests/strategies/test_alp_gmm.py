"""ALP-GMM: ALP against a direct computation, fits, proposals and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, strategies
from stepladder.tasks import BoxTasks


def test_alp_is_distance_to_reward_of_nearest_previous_task() -> None:
    pool = ItemPool(size=4, features=[[0.0], [0.1], [0.9], [1.0]])
    cur = Curriculum(pool, "alp_gmm", seed=0)
    cur.observe(Outcomes([0, 3], rewards=[0.2, 0.9]))  # first: 0; then |0.9 - 0.2|
    cur.observe(Outcomes([1, 2], rewards=[0.5, 0.4]))  # |0.5 - 0.2|; nearest of 0.9 is 1.0
    np.testing.assert_allclose(cur.strategy.alps, [0.0, 0.7, 0.3, 0.5])


def test_alp_nearest_neighbour_is_exact_beyond_the_tree_rebuild() -> None:
    rng = np.random.default_rng(0)
    features = rng.random((300, 2))
    cur = Curriculum(ItemPool(size=300, features=features), "alp_gmm", seed=0, fit_every=10**6)
    tasks = rng.integers(0, 300, size=500)
    rewards = rng.random(500)
    for start in range(0, 500, 25):
        cur.observe(Outcomes(tasks[start : start + 25], rewards[start : start + 25]))
    unit = (features - features.min(0)) / (features.max(0) - features.min(0))
    expected, latest = [], {}
    for t in range(500):
        if tasks[t] in latest:  # replayed task: its own latest reward
            expected.append(abs(rewards[t] - latest[tasks[t]]))
        elif latest:
            played = np.array(list(latest))
            distances = np.linalg.norm(unit[played] - unit[tasks[t]], axis=1)
            expected.append(abs(rewards[t] - latest[played[int(np.argmin(distances))]]))
        else:
            expected.append(0.0)
        latest[tasks[t]] = rewards[t]
    np.testing.assert_allclose(cur.strategy.alps, expected)


def _alp_run(criterion: str = "aic", seed: int = 0, steps: int = 10, **params) -> Curriculum:
    pool = BoxTasks([0.0, 0.0], [1.0, 1.0]).pool(2000, seed=0)
    cur = Curriculum(
        pool,
        "alp_gmm",
        seed=seed,
        fit_every=100,
        random_fraction=0.0,
        criterion=criterion,
        **params,
    )
    rng = np.random.default_rng(1)
    for _ in range(steps):
        _alp_step(cur, rng)
    return cur


def _alp_step(cur: Curriculum, rng: np.random.Generator) -> np.ndarray:
    batch = cur.propose(30).indices
    x = cur.pool.features[batch, 0]
    # progress only left of 0.3: rewards there are noisy, elsewhere always 0
    cur.observe(Outcomes(batch, np.where(x < 0.3, rng.random(len(batch)), 0.0)))
    return batch


def test_alp_gmm_fits_and_samples_where_progress_is() -> None:
    cur = _alp_run()
    means = cur.strategy.means
    assert 2 <= len(means) <= 10 and means.shape[1] == 3
    assert cur.strategy.covariances.shape == (len(means), 3, 3)
    draws = cur.propose(500).indices
    assert np.mean(cur.pool.features[draws, 0] < 0.35) > 0.6  # uniform would give 0.35
    bic = _alp_run("bic")
    assert 2 <= len(bic.strategy.means) <= 10


def test_alp_gmm_is_deterministic_given_seed() -> None:
    a, b = _alp_run(seed=4), _alp_run(seed=4)
    np.testing.assert_array_equal(a.strategy.means, b.strategy.means)
    np.testing.assert_array_equal(a.propose(50).indices, b.propose(50).indices)


def test_alp_gmm_is_uniform_before_the_first_fit_and_needs_features() -> None:
    pool = BoxTasks([0.0], [1.0]).pool(100)
    cur = Curriculum(pool, "alp_gmm", seed=0)
    assert len(np.unique(cur.propose(400).indices)) > 90
    with pytest.raises(ValueError, match="feature"):
        Curriculum(10, "alp_gmm")
    with pytest.raises(ValueError, match="criterion"):
        strategies.create("alp_gmm", criterion="x")


def _direct_alps(features: np.ndarray, tasks: np.ndarray, rewards: np.ndarray) -> list[float]:
    unit = (features - features.min(0)) / (features.max(0) - features.min(0))
    expected, latest = [], {}
    for t in range(len(tasks)):
        if tasks[t] in latest:
            expected.append(abs(rewards[t] - latest[tasks[t]]))
        elif latest:
            played = np.array(list(latest))
            distances = np.linalg.norm(unit[played] - unit[tasks[t]], axis=1)
            expected.append(abs(rewards[t] - latest[played[int(np.argmin(distances))]]))
        else:
            expected.append(0.0)
        latest[tasks[t]] = rewards[t]
    return expected


def test_alp_of_one_large_batch_is_as_if_observed_one_by_one() -> None:
    # 600 episodes in one batch: nearest earlier tasks of the same batch, replays within it
    rng = np.random.default_rng(2)
    features = rng.random((5000, 3))
    cur = Curriculum(ItemPool(size=5000, features=features), "alp_gmm", seed=0, fit_every=10**6)
    warm = rng.integers(0, 5000, size=300)
    tasks = np.r_[rng.integers(0, 5000, size=500), warm[:100]]
    rewards = rng.random(900)
    cur.observe(Outcomes(warm, rewards[:300]))
    cur.observe(Outcomes(tasks, rewards[300:]))
    np.testing.assert_allclose(
        cur.strategy.alps, _direct_alps(features, np.r_[warm, tasks], rewards)
    )


def test_alp_gmm_fits_once_per_batch_on_the_last_complete_window(monkeypatch) -> None:
    pool = BoxTasks([0.0], [1.0]).pool(500, seed=0)
    cur = Curriculum(pool, "alp_gmm", seed=0, fit_every=100)
    windows = []
    monkeypatch.setattr(cur.strategy, "_fit", lambda tasks, alps: windows.append(tasks.copy()))
    batch = np.arange(350) % 500
    cur.observe(Outcomes(batch[:60], np.zeros(60)))  # no window complete yet
    cur.observe(Outcomes(batch[60:350], np.zeros(290)))  # completes windows 1, 2 and 3
    assert len(windows) == 1
    np.testing.assert_array_equal(windows[0], batch[200:300])
    np.testing.assert_array_equal(cur.strategy.tasks, batch[300:350])
    assert cur.strategy.episodes == 350


def test_alp_gmm_resumes_exactly_after_fits(tmp_path) -> None:
    from stepladder import load_state, save_state

    cur = _alp_run(seed=2)
    save_state(tmp_path / "s.npz", cur.state_dict())
    pool = BoxTasks([0.0, 0.0], [1.0, 1.0]).pool(2000, seed=0)
    resumed = Curriculum(pool, "alp_gmm", seed=9, fit_every=100, random_fraction=0.0)
    resumed.load_state_dict(load_state(tmp_path / "s.npz"))
    np.testing.assert_array_equal(cur.propose(64).indices, resumed.propose(64).indices)
    assert len(resumed.strategy.played) == len(cur.strategy.played)


def test_alp_gmm_needs_no_scikit_learn(monkeypatch) -> None:
    # the core install has no scikit-learn: the mixtures are fitted by stepladder's own EM
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now fails
    cur = _alp_run(seed=3)
    assert 2 <= len(cur.strategy.means) <= 10
    assert np.mean(cur.pool.features[cur.propose(500).indices, 0] < 0.35) > 0.6


def test_alp_gmm_warm_start_refits_from_the_last_fits_and_resumes_exactly(tmp_path) -> None:
    from stepladder import load_state, save_state

    # the first fit (after episode 100) is cold: the same as the default's until the second
    cold, warm = _alp_run(seed=2, steps=6), _alp_run(seed=2, steps=6, warm_start=True)
    np.testing.assert_array_equal(cold.strategy.means, warm.strategy.means)
    assert sorted(warm.strategy.previous_fits.fits) == list(range(2, 11))
    assert not cold.strategy.previous_fits.fits  # kept only with warm_start
    start = warm.strategy.previous_fits.fits[2]
    rng_cold, rng_warm = np.random.default_rng(5), np.random.default_rng(5)
    # episodes 180 .. 210: the same proposals, then the second fit, started from the first
    np.testing.assert_array_equal(_alp_step(cold, rng_cold), _alp_step(warm, rng_warm))
    fit = warm.strategy.previous_fits.fits[2]
    assert fit is not start and not np.array_equal(fit.means, start.means)
    assert not np.array_equal(cold.strategy.means, warm.strategy.means)
    # the last fits are learned state: a resumed run refits exactly as the original
    save_state(tmp_path / "s.npz", warm.state_dict())
    pool = BoxTasks([0.0, 0.0], [1.0, 1.0]).pool(2000, seed=0)
    resumed = Curriculum(
        pool, "alp_gmm", seed=9, fit_every=100, random_fraction=0.0, warm_start=True
    )
    resumed.load_state_dict(load_state(tmp_path / "s.npz"))
    rng_a, rng_b = np.random.default_rng(6), np.random.default_rng(6)
    for _ in range(8):  # two more fits
        np.testing.assert_array_equal(_alp_step(warm, rng_a), _alp_step(resumed, rng_b))
    np.testing.assert_array_equal(warm.strategy.means, resumed.strategy.means)
    with pytest.raises(ValueError, match="warm_start"):
        strategies.create("alp_gmm", warm_start=1)


def _brute_nearest_earlier(points: np.ndarray, bound: np.ndarray) -> tuple[list, list]:
    best, found = [], []
    for i in range(len(points)):
        distances = np.sqrt(((points[:i] - points[i]) ** 2).sum(axis=1))
        inside = np.flatnonzero(distances < bound[i])
        if not len(inside):
            best.append(np.inf)
            found.append(-1)
            continue
        j = inside[np.argmin(distances[inside])]  # the first of the nearest
        best.append(distances[j])
        found.append(j)
    return best, found


@pytest.mark.parametrize("lattice", [False, True])
def test_nearest_earlier_point_of_a_batch_against_brute_force(lattice: bool) -> None:
    from stepladder.strategies.alp_gmm import _nearest_earlier

    rng = np.random.default_rng(3)
    for trial in range(12):
        m = int(rng.integers(1, 400))
        points = rng.random((m, 2))
        if lattice:  # many exact ties, repeated points included
            points = np.round(points * 6) / 6
        bound = {
            0: np.full(m, np.inf),  # nothing played before the batch
            1: rng.random(m) * 0.05,  # many tasks played: small bounds
            2: rng.random(m) ** 4,  # mostly small, a few large
        }[trial % 3]
        if lattice:
            bound = np.where(np.isfinite(bound), np.round(bound * 12) / 12, bound)
        best, found = _nearest_earlier(points, bound)
        expected_best, expected_found = _brute_nearest_earlier(points, bound)
        np.testing.assert_array_equal(found, expected_found)
        np.testing.assert_array_equal(best, expected_best)


def _numba_engines() -> list:
    from stepladder.strategies._engines import numba_installed

    return ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
        not numba_installed(), reason="numba"))]  # fmt: skip


@pytest.mark.parametrize("engine", _numba_engines())
@pytest.mark.parametrize(("dimensions", "lattice"), [(2, False), (2, True), (1, True), (3, True)])
def test_first_plays_find_the_nearest_earlier_task_the_first_played_of_ties(
    dimensions: int, lattice: bool, engine: str
) -> None:
    from stepladder.strategies.alp_gmm import _PlayedTasks

    rng = np.random.default_rng(4)
    unit = rng.random((3000, dimensions))
    if lattice:  # exact ties between tasks, and repeated points
        unit = np.round(unit * 8) / 8
    played = _PlayedTasks(unit, engine)
    played.grid = engine == "numba"  # the grid even where its speed heuristic would not take it
    order = rng.permutation(3000)
    start = 0
    for _ in range(40):
        size = int(rng.integers(1, 120))
        tasks = order[start : start + size]
        found = played.first_plays(tasks, unit[tasks])
        earlier = order[: start + size]  # brute force: every task played before each
        gaps = np.sqrt(((unit[tasks][:, None] - unit[earlier][None]) ** 2).sum(axis=2))
        gaps[np.arange(size)[:, None] + start <= np.arange(start + size)[None]] = np.inf
        first = np.argmin(gaps, axis=1)  # the first played of the nearest
        expected = np.where(np.isfinite(gaps.min(axis=1)), earlier[first], -1)
        np.testing.assert_array_equal(found, expected)
        start += size
    assert len(played) == start and 1 < len(played.sizes) < 8
    for part, points in zip(played.parts, played.points, strict=True):  # kept through merges
        np.testing.assert_array_equal(points, unit[part])
    # the state loads into either structure and both go on with the same answers
    state = played.state_dict()
    np.testing.assert_array_equal(state["tasks"], order[:start])
    tasks = order[start : start + 100]
    expected = played.first_plays(tasks, unit[tasks])
    for other in ("numpy", engine):
        resumed = _PlayedTasks(unit, other)
        resumed.grid = other == "numba"
        resumed.load_state_dict(state)
        np.testing.assert_array_equal(resumed.first_plays(tasks, unit[tasks]), expected)
        assert resumed.sizes == played.sizes


def test_played_tasks_take_the_grid_where_tasks_are_spread_evenly() -> None:
    from stepladder.strategies._engines import numba_installed
    from stepladder.strategies.alp_gmm import _PlayedTasks, evenly_spread

    rng = np.random.default_rng(0)
    uniform, normal = rng.random((20_000, 2)), rng.normal(0.5, 0.1, (20_000, 2))
    lattice = np.round(rng.random((20_000, 2)) * 30) / 30  # repeated values: empty bins
    assert evenly_spread(uniform) and not evenly_spread(normal)
    assert not evenly_spread(lattice) and evenly_spread(rng.random((40, 2)))  # too few to tell
    assert _PlayedTasks(uniform, "auto").grid == numba_installed()
    assert not _PlayedTasks(normal, "auto").grid and not _PlayedTasks(uniform, "numpy").grid
    assert not _PlayedTasks(rng.random((1000, 4)), "auto").grid  # 4-D: kd-trees
