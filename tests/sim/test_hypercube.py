"""The hypercube toy learner: its rule, determinism, and the teacher comparison."""

from __future__ import annotations

import numpy as np

from stepladder.sim.hypercube import (
    HypercubeLearner,
    compare,
    format_table,
    hypercube_pool,
    run_teacher,
)


def test_learner_is_deterministic_given_seed() -> None:
    tasks = np.random.default_rng(0).random((300, 2))
    a, b = HypercubeLearner(seed=5), HypercubeLearner(seed=5)
    np.testing.assert_array_equal(a.train(tasks), b.train(tasks))
    np.testing.assert_array_equal(a.competence, b.competence)
    np.testing.assert_array_equal(a.learnable, b.learnable)
    assert a.mastered() == b.mastered()
    assert not np.array_equal(HypercubeLearner(seed=6).learnable, a.learnable)


def test_competence_grows_only_on_the_frontier() -> None:
    learner = HypercubeLearner(dim=2, cubes=3, unlearnable=0.0, noise=0.0, learning_rate=0.5)
    far = np.array([[0.9, 0.9]])
    learner.train(far)
    assert learner.competence.sum() == 0.0  # not reachable yet
    learner.train(np.array([[0.1, 0.1], [0.1, 0.1]]))  # start cell mastered
    assert learner.competence[0, 0] == 1.0
    assert learner.frontier()[1, 0] and learner.frontier()[0, 1] and not learner.frontier()[1, 1]
    rewards = learner.train(np.array([[0.1, 0.1], [0.5, 0.1]]))
    assert rewards.tolist() == [1.0, 0.0] and learner.competence[1, 0] == 0.5


def test_unlearnable_cells_are_never_learnt() -> None:
    learner = HypercubeLearner(dim=2, cubes=6, unlearnable=0.3, seed=1, learning_rate=1.0)
    for _ in range(40):
        learner.train(np.random.default_rng(0).random((200, 2)))
    assert (learner.competence[~learner.learnable] == 0).all()
    assert learner.mastered() <= learner.masterable + 1e-12
    assert learner.mastered() == learner.masterable  # everything reachable got learnt


def test_pool_groups_are_bands_in_order() -> None:
    pool = hypercube_pool(dim=2, cubes=4, n_candidates=256, seed=0)
    assert pool.group_names == sorted(pool.group_names)
    band = (pool.features * 4).astype(int).sum(axis=1)
    np.testing.assert_array_equal(np.asarray(pool.group_names)[pool.groups], band)


def test_run_teacher_is_deterministic() -> None:
    for name, params in [("plr", {}), ("alp_gmm", {"fit_every": 100})]:
        a = run_teacher(name, episodes=600, seed=2, eval_every=200, **params)
        b = run_teacher(name, episodes=600, seed=2, eval_every=200, **params)
        assert a == b
        assert [e for e, _ in a["curve"]] == [200, 400, 600]


def test_compare_makes_a_table() -> None:
    rows = compare([("domain_randomization", {}), ("sequential", {})], seeds=(0, 1), episodes=200)
    assert [r["teacher"] for r in rows] == ["domain_randomization", "sequential"]
    table = format_table(rows)
    assert table.count("\n") == 3 and "domain_randomization" in table
