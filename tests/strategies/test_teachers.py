"""Teacher algorithms: formulas against hand-computed values, options and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, strategies
from stepladder.strategies.teachers import plr_distribution
from stepladder.tasks import BoxTasks

TEACHERS = [
    "alp_gmm",
    "domain_randomization",
    "learning_progress",
    "mastering_rate",
    "plr",
    "sequential",
]


def test_teachers_are_registered() -> None:
    assert set(TEACHERS) <= set(strategies.available())


# --- PLR -------------------------------------------------------------------------------


def test_plr_replay_distribution_matches_hand_computation() -> None:
    # Levels 0, 1, 2 played in that order with scores 0.5, 0.2, 0.9; level 3 never played.
    cur = Curriculum(4, "plr", seed=0)
    cur.observe(Outcomes([0, 1, 2], rewards=[0.0, 0.0, 0.0], signals=[0.5, 0.2, 0.9]))
    plr = cur.strategy
    assert plr.staleness()[:3].tolist() == [2.0, 1.0, 0.0]  # c = 3, C_i = 1, 2, 3
    # rank h = 1 / rank^(1/0.1): ranks (2, 3, 1) -> (2^-10, 3^-10, 1)
    h = np.array([2.0**-10, 3.0**-10, 1.0])
    p_score = h / h.sum()
    p_stale = np.array([2.0, 1.0, 0.0]) / 3.0
    expected = 0.9 * p_score + 0.1 * p_stale
    np.testing.assert_allclose(plr.replay_distribution(), [*expected, 0.0], rtol=1e-12)
    assert expected[0] == pytest.approx(0.9 * (1 / 1024) / (1 + 1 / 1024 + 1 / 59049) + 0.1 * 2 / 3)


def test_plr_power_and_softmax_transforms() -> None:
    scores, stale = np.array([0.5, 0.2, 0.9]), np.array([2.0, 0.0, 1.0])
    power = plr_distribution(scores, stale, rho=0.0, beta=0.5, transform="power")
    np.testing.assert_allclose(power, np.array([0.25, 0.04, 0.81]) / 1.1)
    soft = plr_distribution(scores, stale, rho=1.0, beta=1.0, transform="softmax")
    np.testing.assert_allclose(soft, [2 / 3, 0.0, 1 / 3])
    soft = plr_distribution(scores, stale, rho=0.0, beta=0.5, transform="softmax")
    e = np.exp(scores / 0.5)
    np.testing.assert_allclose(soft, e / e.sum())
    with pytest.raises(ValueError, match="transform"):
        plr_distribution(scores, stale, transform="nope")


def test_plr_score_update_and_default_scores() -> None:
    cur = Curriculum(3, "plr", seed=0, alpha=0.5)
    cur.observe(Outcomes([0], rewards=[1.0], signals=[0.4]))
    cur.observe(Outcomes([0], rewards=[1.0], signals=[-0.8]))
    assert cur.strategy.scores[0] == pytest.approx(0.5 * 0.4 + 0.5 * 0.8)
    # value_gap: |r - V_i|, V_i = running mean reward of the level (0.5 before any reward)
    cur = Curriculum(3, "plr", seed=0)
    cur.observe(Outcomes([0], rewards=[1.0]))
    assert cur.strategy.scores[0] == pytest.approx(0.5)
    cur.observe(Outcomes([0], rewards=[0.0]))
    assert cur.strategy.scores[0] == pytest.approx(1.0)  # V_0 = 1.0
    cur.observe(Outcomes([1], rewards=[[1.0, 0.0]]))  # unseen level: global mean 0.5
    assert cur.strategy.scores[1] == pytest.approx(0.5)
    cur = Curriculum(3, "plr", seed=0, score="failure")
    cur.observe(Outcomes([2], rewards=[[1.0, 0.0, 0.0, 0.0]]))
    assert cur.strategy.scores[2] == pytest.approx(0.75)


def test_plr_draws_new_levels_with_probability_of_unseen_fraction() -> None:
    cur = Curriculum(4, "plr", seed=0)
    cur.observe(Outcomes([0, 1, 2], rewards=[0.1, 0.5, 0.9]))
    draws = cur.propose(20_000).indices
    assert np.mean(draws == 3) == pytest.approx(0.25, abs=0.02)
    cur.observe(Outcomes([3], rewards=[0.3]))
    assert cur.metrics()["plr/seen_fraction"] == 1.0


# --- ALP-GMM ---------------------------------------------------------------------------


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


def _alp_run(criterion: str = "aic", seed: int = 0) -> Curriculum:
    pool = BoxTasks([0.0, 0.0], [1.0, 1.0]).pool(2000, seed=0)
    cur = Curriculum(
        pool, "alp_gmm", seed=seed, fit_every=100, random_fraction=0.0, criterion=criterion
    )
    rng = np.random.default_rng(1)
    for _ in range(10):
        batch = cur.propose(30).indices
        x = pool.features[batch, 0]
        # progress only left of 0.3: rewards there are noisy, elsewhere always 0
        rewards = np.where(x < 0.3, rng.random(len(batch)), 0.0)
        cur.observe(Outcomes(batch, rewards))
    return cur


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


# --- learning progress -----------------------------------------------------------------


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


# --- mastering rate --------------------------------------------------------------------


def test_mastering_rate_with_a_prerequisite_dag() -> None:
    pool = ItemPool(size=3, groups=["a", "b", "c"])
    dag = {"b": ["a"], "c": ["a"]}
    cur = Curriculum(pool, "mastering_rate", seed=0, prerequisites=dag, epsilon=0.0)
    np.testing.assert_allclose(cur.strategy.arm_probabilities(), [1.0, 0.0, 0.0])
    cur.observe(Outcomes([0, 0], rewards=[1.0, 1.0]))
    np.testing.assert_allclose(cur.strategy.arm_probabilities(), [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="unknown group"):
        Curriculum(pool, "mastering_rate", prerequisites={"z": ["a"]})


def test_mastering_rate_attention_formula() -> None:
    pool = ItemPool(size=2, groups=["a", "b"])
    cur = Curriculum(pool, "mastering_rate", seed=0, epsilon=0.1, power=2.0, delta=0.5)
    cur.observe(Outcomes([0, 0], rewards=[0.4, 0.8]))  # M_a = 0.6, |LP_a| = 0.4 = max
    a = 1.0 * (0.5 + 0.5 * 1.0) * (1 - 0.6)
    b = 0.6**2 * (0.5 + 0.5 * 0.0) * (1 - 0.0)
    expected = 0.9 * np.array([a, b]) / (a + b) + 0.05
    np.testing.assert_allclose(cur.strategy.arm_probabilities(), expected)


# --- sequential ------------------------------------------------------------------------


def test_sequential_stopping_conditions() -> None:
    pool = ItemPool(size=8, difficulty=[0, 1, 2, 3, 4, 5, 6, 7])
    cur = Curriculum(pool, "sequential", seed=0, n_stages=4, until="steps", threshold=2)
    assert set(cur.propose(20).indices.tolist()) == {0, 1}
    cur.observe(Outcomes.empty())
    cur.observe(Outcomes.empty())
    assert set(cur.propose(20).indices.tolist()) == {2, 3}
    cur = Curriculum(pool, "sequential", seed=0, n_stages=2, threshold=0.5, window=3)
    cur.observe(Outcomes([0, 1], rewards=[1.0, 1.0]))  # fewer than `window` episodes
    assert cur.strategy.stage == 0
    cur.observe(Outcomes([0], rewards=[0.0]))  # mean of last 3 = 2/3 >= 0.5
    assert cur.strategy.stage == 1
    assert set(cur.propose(20).indices.tolist()) == {4, 5, 6, 7}
    cur.observe(Outcomes([4, 5, 6], rewards=[1.0, 1.0, 1.0]))  # the last stage stays
    assert cur.strategy.stage == 1
    with pytest.raises(ValueError, match="group"):
        Curriculum(5, "sequential", stages="groups")


def test_domain_randomization_is_uniform() -> None:
    draws = Curriculum(5, "domain_randomization", seed=0).propose(50_000).indices
    np.testing.assert_allclose(np.bincount(draws) / 50_000, 0.2, atol=0.01)
