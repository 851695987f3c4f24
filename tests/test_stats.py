import numpy as np
import pytest

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


def test_items_seen_is_a_running_count():
    stats = ItemStats(10)
    stats.update(Outcomes([2, 2, 5], [1.0, 0.0, 1.0]), step=0)
    stats.update(Outcomes([5, 7], losses=[1.0, 2.0]), step=1)
    assert stats.items_seen == 3 == int(stats.seen().sum())
    fresh = ItemStats(10)
    fresh.load_state_dict(stats.state_dict())
    assert fresh.items_seen == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"touched": np.array([1, 12])}, "touched items outside 0..9"),
        ({"touched": np.array([1, 1])}, "touched items repeat"),
        ({"touched": np.array([0.5, 1.0])}, "touched must be a 1-D integer array"),
        ({"attempts": np.array([1])}, "attempts has shape"),
        ({"seen_at": np.array([0, 1])}, "seen_at must be positive"),
        ({"size": 11}, "saved for 11 items"),
    ],
)
def test_bad_state_is_refused_before_anything_changes(change, message):
    stats = ItemStats(10)
    stats.update(Outcomes([3], [1.0]), step=0)
    state = {**ItemStats(10).state_dict(), "touched": np.array([1, 2]), "attempts": np.ones(2)}
    state |= {"successes": np.ones(2), "seen_at": np.ones(2, dtype=np.int64)} | change
    with pytest.raises(ValueError, match=message):
        stats.load_state_dict(state)
    assert stats.attempts.tolist()[3] == 1 and stats.items_seen == 1


def test_beta_is_the_prior_plus_summed_successes_and_failures():
    stats = ItemStats(4)
    stats.update(Outcomes([1, 1, 2], rewards=[[1, 0, 0, 1], [0.5, 1, 0, 0], [1, 1, 1, 1]]), 0)
    stats.update(Outcomes([3], rewards=[0.25]), 1)  # one reward per item
    alpha, beta = stats.beta(prior=(1.0, 2.0))
    assert alpha.tolist() == [1.0, 4.5, 5.0, 1.25]
    assert beta.tolist() == [2.0, 6.5, 2.0, 2.75]  # item 1: 3.5 of 8
    alpha, beta = stats.beta([3, 0, 3])  # prior (1, 1) by default, indices may repeat
    assert alpha.tolist() == [1.25, 1.0, 1.25] and beta.tolist() == [1.75, 1.0, 1.75]
