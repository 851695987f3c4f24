"""Sequential stages: stopping conditions."""

from __future__ import annotations

import pytest

from stepladder import Curriculum, ItemPool, Outcomes


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
