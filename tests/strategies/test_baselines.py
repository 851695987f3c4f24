import numpy as np
import pytest

from stepladder import Curriculum, ItemPool


def test_uniform_without_replacement_covers_each_epoch_exactly_once():
    cur = Curriculum(10, "uniform", seed=3)
    first = np.concatenate([cur.propose(4).indices for _ in range(5)])  # 20 = two epochs
    assert sorted(first[:10]) == list(range(10)) and sorted(first[10:]) == list(range(10))
    assert first[:10].tolist() != first[10:].tolist()  # a fresh order each epoch


def test_uniform_batch_larger_than_pool_spans_epochs():
    batch = Curriculum(3, "uniform", seed=0).propose(7).indices
    assert sorted(batch[:3]) == [0, 1, 2] and sorted(batch[3:6]) == [0, 1, 2]


def test_uniform_with_replacement_is_roughly_uniform():
    cur = Curriculum(20, "uniform", seed=0, replace=True)
    counts = np.bincount(cur.propose(20_000).indices, minlength=20)
    assert counts.min() > 850 and counts.max() < 1150  # expected 1000, sd ~31


def test_seed_changes_uniform_order():
    assert (
        Curriculum(50, seed=1).propose(50).indices.tolist()
        != Curriculum(50, seed=2).propose(50).indices.tolist()
    )


def test_easy_to_hard_sweeps_in_order_with_unknown_last_and_wraps():
    pool = ItemPool(size=5, difficulty=[2.0, np.nan, 0.0, 1.0, 0.0])
    cur = Curriculum(pool, "easy_to_hard")
    assert cur.propose(3).indices.tolist() == [2, 4, 3]  # ties keep pool order
    assert cur.propose(4).indices.tolist() == [0, 1, 2, 4]


def test_hard_to_easy_is_the_reverse_order():
    pool = ItemPool(size=4, difficulty=[2.0, np.nan, 0.0, 1.0])
    assert Curriculum(pool, "hard_to_easy").propose(4).indices.tolist() == [0, 3, 2, 1]


def test_sweep_start_parameter():
    pool = ItemPool(size=4, difficulty=[3.0, 2.0, 1.0, 0.0])
    assert Curriculum(pool, "easy_to_hard", start=2).propose(2).indices.tolist() == [1, 0]
    with pytest.raises(ValueError, match="start must be non-negative"):
        Curriculum(pool, "easy_to_hard", start=-1)


def test_sorted_strategies_need_difficulty():
    with pytest.raises(ValueError, match="'easy_to_hard' needs a prior difficulty"):
        Curriculum(4, "easy_to_hard")
