"""Mastering rate: attention formula and prerequisite DAGs."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes


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
