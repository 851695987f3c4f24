"""Teacher-Student Curriculum Learning: progress formulas, selections, sparse checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, save_state


def test_learning_progress_online_window_and_sampling() -> None:
    cur = Curriculum(3, "learning_progress", seed=0, alpha=0.5, epsilon=0.0)
    cur.observe(Outcomes([2, 2, 2], rewards=[0.2, 0.6, 0.5]))
    # Q = 0.5 * 0.4 = 0.2, then 0.5 * (0.5 - 0.6) + 0.5 * 0.2 = 0.05
    assert cur.strategy.progress[2] == pytest.approx(0.05)
    assert set(cur.propose(10).indices.tolist()) == {2}
    window = Curriculum(3, "learning_progress", seed=0, mode="window", window=3)
    window.observe(Outcomes([1, 1, 1, 1], rewards=[0.9, 0.0, 0.5, 1.0]))
    assert window.strategy.progress[1] == pytest.approx(0.5)  # slope of the last 3
    sampling = Curriculum(3, "learning_progress", seed=0, mode="sampling", epsilon=0.0)
    sampling.observe(Outcomes([0, 0], rewards=[0.1, 0.4]))
    assert set(sampling.propose(5).indices.tolist()) == {0}


def test_learning_progress_boltzmann_and_groups() -> None:
    pool = ItemPool(size=6, groups=["a", "a", "b", "b", "c", "c"])
    cur = Curriculum(
        pool, "learning_progress", seed=0, arms="groups", selection="boltzmann", temperature=0.05
    )
    # arm b (alpha = 0.1): Q = 0.1 * 0.5 = 0.05, then 0.1 * 0.5 + 0.9 * 0.05 = 0.095
    cur.observe(Outcomes([2, 3, 2], rewards=[0.0, 0.5, 1.0]))
    assert cur.strategy.progress[1] == pytest.approx(0.095)
    draws = cur.propose(4000).indices
    p_b = np.exp(0.095 / 0.05) / (2 + np.exp(0.095 / 0.05))
    assert np.mean(np.isin(draws, [2, 3])) == pytest.approx(p_b, abs=0.03)
    with pytest.raises(ValueError, match="group"):
        Curriculum(5, "learning_progress", arms="groups")


def test_learning_progress_greedy_draws_uniformly_among_tied_arms() -> None:
    cur = Curriculum(10**5, "learning_progress", seed=0, epsilon=0.0, alpha=0.5)
    # arms 7, 40 and 99_999 share the largest |Q| = 0.5 * 0.8 = 0.4; arm 3 has 0.2
    cur.observe(Outcomes([7, 40, 99_999, 3], rewards=[0.1, 0.9, 0.1, 0.5]))
    cur.observe(Outcomes([7, 40, 99_999, 3], rewards=[0.9, 0.1, 0.9, 0.1]))
    draws = cur.propose(30_000).indices
    assert set(draws.tolist()) == {7, 40, 99_999}
    np.testing.assert_allclose(np.bincount(draws)[[7, 40, 99_999]] / 30_000, 1 / 3, atol=0.015)


def test_learning_progress_boltzmann_survives_a_tiny_temperature() -> None:
    cur = Curriculum(
        50, "learning_progress", seed=0, selection="boltzmann", temperature=1e-4, alpha=1.0
    )
    cur.observe(Outcomes([4, 4, 9, 9], rewards=[0.0, 1.0, 0.0, 0.5]))  # |Q| = 1 and 0.5
    assert set(cur.propose(100).indices.tolist()) == {4}
    cur.observe(Outcomes([4], rewards=[1.0]))  # |Q_4| = 0: arm 9 now leads by far
    assert set(cur.propose(100).indices.tolist()) == {9}


def test_learning_progress_sampling_boltzmann_weights_unplayed_arms() -> None:
    cur = Curriculum(
        4, "learning_progress", seed=0, mode="sampling", selection="boltzmann", temperature=0.5
    )
    cur.observe(Outcomes([0, 0], rewards=[0.0, 1.0]))  # arm 0 draws |diff| = 1, others 0
    draws = cur.propose(40_000).indices
    p0 = np.exp(2.0) / (np.exp(2.0) + 3)
    assert np.mean(draws == 0) == pytest.approx(p0, abs=0.01)


def test_learning_progress_checkpoint_grows_with_arms_played(tmp_path) -> None:
    sizes = {}
    for size in (10**4, 10**6):
        cur = Curriculum(size, "learning_progress", seed=0, mode="window")
        rng = np.random.default_rng(0)
        for _ in range(3):
            batch = cur.propose(256)
            cur.observe(Outcomes(batch.indices, rewards=rng.random(256)))
        save_state(tmp_path / f"{size}.npz", cur.strategy.state_dict())
        sizes[size] = (tmp_path / f"{size}.npz").stat().st_size
    assert sizes[10**6] < 200_000  # one pool-sized float array alone would be 8 MB
