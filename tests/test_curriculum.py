import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, strategies


def test_accepts_size_ids_or_pool():
    assert len(Curriculum(5).pool) == 5
    assert Curriculum(["a", "b"]).pool.ids() == ["a", "b"]
    pool = ItemPool(size=3)
    assert Curriculum(pool).pool is pool


def test_accepts_strategy_instance_and_rejects_extra_params():
    cur = Curriculum(4, strategies.create("uniform", replace=True))
    assert cur.strategy.replace
    with pytest.raises(
        ValueError, match=r"parameters \['replace'\] given with a Strategy instance"
    ):
        Curriculum(4, strategies.create("uniform"), replace=True)


def test_unknown_strategy_and_bad_params_are_named():
    with pytest.raises(ValueError, match="unknown strategy 'unifrom'; did you mean 'uniform'"):
        Curriculum(4, "unifrom")
    with pytest.raises(ValueError, match="bad parameters for strategy 'uniform'"):
        Curriculum(4, "uniform", temperature=2)


def test_observe_checks_indices_against_the_pool():
    cur = Curriculum(4)
    with pytest.raises(
        ValueError, match=r"outcomes.indices\[1\] = 4 is out of range for a pool of 4"
    ):
        cur.observe(Outcomes([0, 4], [1.0, 0.0]))
    assert cur.step == 0 and cur.stats.attempts.sum() == 0  # nothing half-applied


def test_propose_checks_n():
    cur = Curriculum(4)
    with pytest.raises(ValueError, match="n must be non-negative, got -1"):
        cur.propose(-1)
    with pytest.raises(ValueError, match="n must be an integer"):
        cur.propose(2.5)


def test_observe_with_fields_or_outcomes_not_both():
    cur = Curriculum(4)
    cur.observe(indices=[1], rewards=[[1, 0]])
    assert cur.stats.attempts[1] == 2
    with pytest.raises(ValueError, match="not both"):
        cur.observe(Outcomes([1]), rewards=[1.0])


def test_step_counts_observations_and_stats_record_it():
    cur = Curriculum(6, seed=0)
    for _ in range(3):
        cur.observe(Outcomes(cur.propose(2).indices, [1.0, 0.0]))
    assert cur.step == 3
    assert cur.stats.last_step.max() == 2


def test_load_state_dict_rejects_mismatches():
    state = Curriculum(5, "uniform").state_dict()
    with pytest.raises(ValueError, match="pool of 5 items, not 6"):
        Curriculum(6, "uniform").load_state_dict(state)
    with pytest.raises(ValueError, match="strategy 'uniform'"):
        Curriculum(ItemPool(size=5, difficulty=np.zeros(5)), "easy_to_hard").load_state_dict(state)
    with pytest.raises(ValueError, match="format"):
        Curriculum(5).load_state_dict({**state, "format": 99})


def test_metrics_are_prefixed_with_the_strategy_name():
    cur = Curriculum(3, "uniform")
    cur.propose(4)
    assert cur.metrics() == {"step": 0.0, "items_seen": 0.0, "uniform/epoch": 1.0}
