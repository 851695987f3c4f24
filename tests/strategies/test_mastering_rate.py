"""Mastering rate: the authors' attention, checked against their code's numbers.

Reference: lcswillems/automatic-curriculum, auto_curri/att_computer.py
(``MrAttentionComputer``), auto_curri/lp_estimator.py (``LinregLpEstimator``) and
auto_curri/a2d_converter.py (``PropA2DConverter``), run with their defaults (K = 10,
power = 6, pot_prop = 0.5, att_pred = 0.2, att_succ = 0.05, Linreg K = 10, Prop). One
``DistributionComputer`` call per ``observe`` (plus the first, empty one at construction),
each with the mean episode score per task. The expected distributions below are what their
code printed, to the last digit.
"""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes

CALLS = [{0: 0.2}, {0: 0.6, 1: 0.1}, {0: 0.9, 1: 0.3}, {1: 0.5, 2: 0.0}]
CHAIN = [  # graph 0 -> 1 -> 2, init min 0, max 1
    [0.9499999537500035, 0.050000021249998416, 2.499999812500014e-08],
    [0.9499239494954782, 0.050072019641862545, 4.0308626592913344e-06],
    [0.9475746619704078, 0.05229704822080596, 0.00012828980878615336],
    [0.9140301001202736, 0.08402864455616303, 0.0019412553235632537],
    [0.9113268642521826, 0.0860138962605212, 0.00265923948729622],
]
DAG_CALLS = [{0: 0.4}, {0: 0.8, 1: 0.2}, {0: 0.7, 1: 0.1, 2: 0.3}]
DAG = [  # 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3; K = 2, init min 0, max 0.5
    [0.949999930000007, 0.025000022499997755, 0.025000022499997755, 2.499999750000025e-08],
    [0.3492929469452715, 0.3095454333297513, 0.3095454333297513, 0.031616186395225836],
    [0.42945204864890246, 0.20650685080455988, 0.33664383264918385, 0.027397267897353843],
    [0.3547470253900597, 0.4696202937601408, 0.14407033527296007, 0.03156234557683951],
]


def _play(cur: Curriculum, calls: list[dict[int, float]]) -> list[np.ndarray]:
    out = [cur.strategy.arm_probabilities()]
    for call in calls:  # item i is the only task of group i
        cur.observe(Outcomes(list(call), rewards=list(call.values())))
        out.append(cur.strategy.arm_probabilities())
    return out


def test_mastering_rate_matches_the_authors_code_on_a_chain() -> None:
    cur = Curriculum(ItemPool(size=3, groups=["a", "b", "c"]), "mastering_rate", seed=0)
    for got, expected in zip(_play(cur, CALLS), CHAIN, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # their state after the last call: lps (0.35, 0.2, 0), mrs (0.5667, 0.3, 0)
    np.testing.assert_allclose(cur.strategy.learning_progress(), [0.35, 0.2, 0.0], atol=1e-12)
    np.testing.assert_allclose(cur.strategy.mastery(), [1.7 / 3, 0.3, 0.0], atol=1e-12)


def test_mastering_rate_matches_the_authors_code_on_a_dag_with_widened_range() -> None:
    pool = ItemPool(size=4, groups=["a", "b", "c", "d"])
    dag = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}
    cur = Curriculum(pool, "mastering_rate", seed=0, prerequisites=dag, window=2, max_score=0.5)
    for got, expected in zip(_play(cur, DAG_CALLS), DAG, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # a's last two performances average 0.75 > 0.5: its max widened (theirs: max_perfs)
    np.testing.assert_allclose(cur.strategy.high, [0.75, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(cur.strategy.mastery(), [1.0, 0.3, 0.6, 0.0], atol=1e-12)


def test_mastering_rate_ancestors_are_transitive_and_successors_matter() -> None:
    pool = ItemPool(size=3, groups=["a", "b", "c"])
    cur = Curriculum(pool, "mastering_rate", seed=0, delta_pred=0.0, delta_succ=0.0)
    cur.observe(Outcomes([0, 1], rewards=[0.5, 1.0]))
    # M = (0.5, 1, 0), no progress yet. a: its successor b is mastered, factor 1 - 1 = 0.
    # b: mastered, potential 0. c: ancestors a and b (transitive), min mastery 0.5, not 1.
    pre = np.array([0.0, 0.0, 0.5**6 * (0.5 * (1 - 0.0))])
    p = (pre + 1e-8) / (pre + 1e-8).sum()
    np.testing.assert_allclose(cur.strategy.arm_probabilities(), p, rtol=1e-12)


def test_mastering_rate_checks_the_graph() -> None:
    pool = ItemPool(size=3, groups=["a", "b", "c"])
    with pytest.raises(ValueError, match="unknown group"):
        Curriculum(pool, "mastering_rate", prerequisites={"z": ["a"]})
    with pytest.raises(ValueError, match="cycle"):
        Curriculum(pool, "mastering_rate", prerequisites={"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="max_score"):
        Curriculum(pool, "mastering_rate", min_score=1.0, max_score=1.0)


def test_mastering_rate_epsilon_mixes_in_uniform() -> None:
    pool = ItemPool(size=3, groups=["a", "b", "c"])
    cur = Curriculum(pool, "mastering_rate", seed=0, epsilon=0.1)
    np.testing.assert_allclose(
        cur.strategy.arm_probabilities(), 0.9 * np.array(CHAIN[0]) + 0.1 / 3, rtol=1e-12
    )
    draws = cur.propose(20_000).indices
    assert np.mean(draws == 0) == pytest.approx(0.9 * CHAIN[0][0] + 0.1 / 3, abs=0.01)
