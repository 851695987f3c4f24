"""Covar-GMM: the (task, time, reward) windows against the authors' code, selection rule."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes

GRID = np.linspace(0, 1, 5)
TASKS = [0, 2, 1, 4, 3, 2, 0, 1, 3, 4, 2, 1]
REWARDS = [0.0, 1.0, 0.5, 0.25, 0.75, 1.0, 0.5, 0.0, 1.0, 0.25, 0.5, 0.75]
# flowersteam/teachDeepRL, teachDRL/teachers/algos/covar_gmm.py: CovarGMM([0], [1],
# params={"fit_rate": 5, "potential_ks": [2, 3]}) fed these tasks GRID[TASKS] and rewards:
# its tasks_times_rewards, and fits after episodes 5 and 10 (bk["episodes"] == [5, 10]).
THEIRS = [
    [0.0, 0.0, 0.0], [0.5, 0.2, 1.0], [0.25, 0.4, 0.5], [1.0, 0.6, 0.25], [0.75, 0.8, 0.75],
    [0.5, 0.0, 1.0], [0.0, 0.2, 0.5], [0.25, 0.4, 0.0], [0.75, 0.6, 1.0], [1.0, 0.8, 0.25],
    [0.5, 0.0, 0.5], [0.25, 0.2, 0.75],
]  # fmt: skip


def _covar(**params) -> Curriculum:
    pool = ItemPool(size=5, features=GRID[:, None])
    return Curriculum(pool, "covar_gmm", seed=0, fit_every=5, max_components=3, **params)


@pytest.mark.parametrize("batches", [[12], [3, 4, 5], [1] * 12])
def test_covar_gmm_fits_the_authors_windows(batches, monkeypatch) -> None:
    cur = _covar()
    fitted: list[list[list[float]]] = []
    monkeypatch.setattr(cur.strategy, "_fit", lambda data: fitted.append(data.tolist()))
    start = 0
    for size in batches:
        end = start + size
        cur.observe(Outcomes(TASKS[start:end], rewards=REWARDS[start:end]))
        start = end
    if batches == [12]:  # one batch completing two windows: fitted once, on the last
        assert fitted == [THEIRS[5:10]]
    else:
        assert fitted == [THEIRS[:5], THEIRS[5:10]]
    np.testing.assert_allclose(cur.strategy.window(), THEIRS[10:])


def test_covar_gmm_picks_gaussians_by_positive_time_reward_covariance() -> None:
    cur = _covar()
    cur.observe(Outcomes(TASKS[:10], rewards=REWARDS[:10]))  # a real fit first
    s = cur.strategy
    cov = np.zeros((3, 3, 3))
    cov[:] = np.eye(3) * 1e-4
    cov[:, 1, 2] = cov[:, 2, 1] = [0.3e-4, -0.5e-4, 0.1e-4]  # time-reward covariances
    s.means = np.array([[0.0, 0.5, 0.5], [0.5, 0.5, 0.5], [1.0, 0.5, 0.5]])
    s.covariances, s._factors = cov, np.linalg.cholesky(cov)
    np.testing.assert_allclose(s.component_weights(), [0.75, 0.0, 0.25])
    draws = cur.propose(20_000).indices
    expected = 0.8 * np.array([0.75, 0.0, 0.25]) + 0.2 / 5 * np.ones(3)  # + uniform
    np.testing.assert_allclose(np.bincount(draws, minlength=5)[[0, 2, 4]] / 20_000,
                               expected, atol=0.015)  # fmt: skip
    s.absolute_lp = True
    np.testing.assert_allclose(s.component_weights(), [1 / 3, 5 / 9, 1 / 9])


def test_covar_gmm_needs_features() -> None:
    with pytest.raises(ValueError, match="feature"):
        Curriculum(ItemPool(size=4), "covar_gmm")
    cur = _covar()
    assert len(set(cur.propose(200).indices.tolist())) == 5  # uniform before the first fit


def test_covar_gmm_warm_start_refits_from_the_last_fits_and_resumes_exactly(tmp_path) -> None:
    from stepladder import load_state, save_state
    from stepladder.tasks import BoxTasks

    pool = BoxTasks([0.0, 0.0], [1.0, 1.0]).pool(2000, seed=0)

    def make(**params) -> Curriculum:
        return Curriculum(pool, "covar_gmm", seed=3, fit_every=100, **params)

    def step(cur: Curriculum, rng: np.random.Generator) -> np.ndarray:
        batch = cur.propose(40).indices
        x = pool.features[batch, 0]
        rewards = (rng.random(len(batch)) < 0.2 + 0.6 * x * cur.strategy.episodes / 800) * 1.0
        cur.observe(Outcomes(batch, rewards))
        return batch

    cold, warm = make(), make(warm_start=True)
    rng_cold, rng_warm = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(3):  # one fit (at episode 100), cold in both
        np.testing.assert_array_equal(step(cold, rng_cold), step(warm, rng_warm))
    np.testing.assert_array_equal(cold.strategy.means, warm.strategy.means)
    for _ in range(2):  # the second (at 200): from the first fits
        np.testing.assert_array_equal(step(cold, rng_cold), step(warm, rng_warm))
    assert not np.array_equal(cold.strategy.covariances, warm.strategy.covariances)
    save_state(tmp_path / "s.npz", warm.state_dict())
    resumed = make(warm_start=True)
    resumed.load_state_dict(load_state(tmp_path / "s.npz"))
    rng_a, rng_b = np.random.default_rng(2), np.random.default_rng(2)
    for _ in range(6):
        np.testing.assert_array_equal(step(warm, rng_a), step(resumed, rng_b))
    np.testing.assert_array_equal(warm.strategy.covariances, resumed.strategy.covariances)
