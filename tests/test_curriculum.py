import numpy as np
import pytest

import stepladder
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


def test_a_string_is_not_a_pool():
    for bad in ("abc", b"abc"):
        with pytest.raises(ValueError, match=r"pass ItemPool\(ids\) or a list of ids"):
            Curriculum(bad)


def test_metrics_count_items_seen_without_scanning_the_pool():
    cur = Curriculum(100)
    cur.observe(Outcomes([3, 3, 9], [1.0, 0.0, 1.0]))
    cur.observe(Outcomes([9, 50], [1.0, 1.0]))
    assert cur.metrics()["items_seen"] == 3.0


def _played(strategy, pool, steps=4, **params):
    cur = Curriculum(pool, strategy, seed=3, **params)
    for step in range(steps):
        batch = cur.propose(5)
        rewards = (batch.indices[:, None] + step + np.arange(4)) % 3 == 0
        cur.observe(Outcomes(batch.indices, rewards, losses=batch.indices / 10.0))
    return cur


def _equal_states(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_states(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal_states(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a == b


POOL = ItemPool(size=40, groups=np.arange(40) % 4, difficulty=np.linspace(0, 1, 40))


@pytest.mark.parametrize("strategy", ["uniform", "dump", "knapsack", "plr", "spdcl", "sec"])
@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: {**s, "strategy_state": {"nonsense": 1}},
        lambda s: {**s, "strategy_state": "garbage"},
        lambda s: {**s, "rng": {"bit_generator": "PCG64", "state": "x"}},  # fails last
        lambda s: {**s, "stats": {**s["stats"], "touched": np.array([99])}},
        lambda s: {**s, "step": -1},
    ],
)
def test_a_failed_load_changes_nothing(strategy, corrupt):
    cur = _played(strategy, POOL, steps=6)
    good = _played(strategy, POOL, steps=2).state_dict()
    before = cur.state_dict()
    with pytest.raises(
        ValueError, match=r"state does not load: bad .*; the curriculum is unchanged"
    ):
        cur.load_state_dict(corrupt(good))
    assert _equal_states(cur.state_dict(), before)
    twin = _played(strategy, POOL, steps=6)
    assert cur.propose(7).indices.tolist() == twin.propose(7).indices.tolist()


def test_state_records_parameters_and_refuses_others_unless_not_strict():
    state = Curriculum(10, "dump", temperature=0.1).state_dict()
    assert state["params"]["temperature"] == 0.1 and state["format"] == 3
    other = Curriculum(10, "dump", temperature=0.5)
    with pytest.raises(
        ValueError,
        match=r"state is for strategy 'dump' with temperature=0.1, this curriculum has "
        r"temperature=0.5 \(load_state_dict\(state, strict=False\)",
    ):
        other.load_state_dict(state)
    other.load_state_dict(state, strict=False)  # a deliberate change of parameters
    assert other.strategy.temperature == 0.5
    with pytest.raises(ValueError, match="pool of 10 items, not 11"):
        Curriculum(11, "dump", temperature=0.1).load_state_dict(state, strict=False)


def test_parameters_survive_a_file_round_trip(tmp_path):
    cur = _played("knapsack", 30, steps=2)
    stepladder.save_state(tmp_path / "s.npz", cur.state_dict())
    state = stepladder.load_state(tmp_path / "s.npz")
    assert state["params"]["prior"] == [1.0, 1.0]  # a tuple, saved as a list
    fresh = Curriculum(30, "knapsack", seed=0)
    fresh.load_state_dict(state)
    assert fresh.propose(6).indices.tolist() == cur.propose(6).indices.tolist()


def test_state_for_another_pool_is_named():
    state = Curriculum(ItemPool(size=3, difficulty=[0.0, 1.0, 2.0]), "easy_to_hard").state_dict()
    other = Curriculum(ItemPool(size=3, difficulty=[0.0, 1.0, 3.0]), "easy_to_hard")
    with pytest.raises(ValueError, match="state is for a pool with other difficulty values"):
        other.load_state_dict(state)
    other.load_state_dict(state, strict=False)
    with pytest.raises(ValueError, match="state is for a pool with other item ids"):
        Curriculum(["a", "b", "c"]).load_state_dict(Curriculum(["a", "b", "d"]).state_dict())


def test_format_1_states_load_with_a_warning():
    cur = _played("uniform", 20, steps=2)
    state = cur.state_dict()
    old = {k: v for k, v in state.items() if k not in ("params", "pool_fingerprint", "journal")}
    fresh = Curriculum(20, "uniform", seed=1)
    with pytest.warns(UserWarning, match="format 1 curriculum state"):
        fresh.load_state_dict({**old, "format": 1})
    assert fresh.propose(5).indices.tolist() == cur.propose(5).indices.tolist()


def test_format_2_states_load_as_taken_without_a_safety_net():
    cur = _played("dump", 20, steps=2, uniform_mix=0)
    old = {k: v for k, v in cur.state_dict().items() if k not in ("safety", "safety_state")}
    fresh = Curriculum(20, "dump", seed=1, uniform_mix=0)
    fresh.load_state_dict({**old, "format": 2})
    assert fresh.propose(5).indices.tolist() == cur.propose(5).indices.tolist()
    with pytest.raises(ValueError, match=r"state is for a safety net with uniform_mix=0\.0, "):
        Curriculum(20, "dump").load_state_dict({**old, "format": 2})  # dump's default: 0.1
    with pytest.raises(ValueError, match="state lacks safety, safety_state"):
        fresh.load_state_dict({**old, "format": 3})


def test_not_a_state_is_named():
    with pytest.raises(ValueError, match="state must be a dict"):
        Curriculum(5).load_state_dict([1, 2])
    with pytest.raises(ValueError, match="state lacks rng, stats"):
        Curriculum(5).load_state_dict(
            {"format": 2, "strategy": "uniform", "pool_size": 5, "step": 0, "strategy_state": {}}
        )


def test_object_parameters_are_compared_by_type():
    class Model:
        def partial_fit(self, x, y):
            pass

        def predict(self, x):
            return np.zeros(len(x))

    pool = ItemPool(size=10, features=np.arange(10.0))
    state = Curriculum(pool, "pcl", model=Model()).state_dict()
    assert state["params"]["model"].endswith(
        "test_object_parameters_are_compared_by_type.<locals>.Model>"
    )
    Curriculum(pool, "pcl", model=Model()).load_state_dict(state)  # another instance: fine
