import numpy as np

from stepladder import ItemStats, Outcomes


def test_repeated_items_in_one_batch_accumulate():
    stats = ItemStats(3)
    stats.update(Outcomes([2, 2], [[1, 1], [0, 1]]), step=4)
    assert stats.attempts.tolist() == [0, 0, 4]
    assert stats.successes.tolist() == [0, 0, 3]
    assert stats.last_step.tolist() == [-1, -1, 4]
    assert stats.seen().tolist() == [False, False, True]


def test_mean_reward_is_nan_until_rewarded():
    stats = ItemStats(2)
    stats.update(Outcomes([0], losses=[1.0]), step=0)
    assert stats.seen([0]).tolist() == [True]
    assert np.isnan(stats.mean_reward()).all()


def test_state_round_trip_stores_touched_items_only():
    stats = ItemStats(1_000)
    stats.update(Outcomes([5, 900], [0.5, 1.0]), step=2)
    state = stats.state_dict()
    assert state["touched"].tolist() == [5, 900]
    fresh = ItemStats(1_000)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.successes, stats.successes)
    np.testing.assert_array_equal(fresh.last_step, stats.last_step)
