import numpy as np
import pytest

from stepladder import Outcomes


def test_group_statistics():
    out = Outcomes([0, 1, 2], [[1, 1, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(out.pass_rate, [1, 1 / 3, 0])
    np.testing.assert_array_equal(out.mixed, [False, True, False])
    np.testing.assert_array_equal(out.rollouts, [3, 3, 3])
    np.testing.assert_array_equal(out.reward_sum, [3, 1, 0])


def test_scalar_rewards_count_one_rollout_and_are_never_mixed():
    out = Outcomes([4, 5], [0.25, 1.0])
    np.testing.assert_array_equal(out.rollouts, [1, 1])
    np.testing.assert_array_equal(out.mixed, [False, False])


def test_ragged_groups_are_padded_and_counted():
    out = Outcomes.from_groups([0, 1], [[1, 0, 1], [1]], advantages=[[0.5, -1, 0.5], [0.0]])
    np.testing.assert_array_equal(out.rollouts, [3, 1])
    np.testing.assert_allclose(out.pass_rate, [2 / 3, 1.0])
    np.testing.assert_array_equal(out.mixed, [True, False])
    assert np.isnan(out.advantages[1, 1])


def test_outcomes_without_rewards():
    out = Outcomes([1], losses=[0.3])
    assert np.isnan(out.pass_rate[0]) and out.rollouts.tolist() == [0]


def test_select_keeps_all_fields():
    out = Outcomes([1, 2], [[1, 0], [0, 0]], losses=[0.1, 0.2], signals=[3, 4], step=9)
    sub = out.select(out.mixed)
    assert sub.indices.tolist() == [1] and sub.losses.tolist() == [0.1] and sub.step == 9


def test_empty():
    out = Outcomes.empty()
    assert len(out) == 0 and out.mixed.shape == (0,)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1], [[1, 2], [0, 0]]), {}, r"rewards must lie in \[0, 1\], got 2.0 at \[0, 1\]"),
        (([0, 1], [0.5, np.nan]), {}, "rewards contains NaN at position 1"),
        (([0, 1], [[np.nan, 1], [0, 0]]), {}, r"NaN at \[0, 0\]"),
        (([0, 1], [1.0]), {}, r"shape \(n,\) or \(n, G\) with n=2"),
        (([0.5, 1],), {}, "indices must hold integers"),
        (([[0, 1]],), {}, "indices must be 1-D"),
        (([0, 1],), {"losses": [1.0]}, "losses has 1 values for 2 items"),
        (([0, 1],), {"losses": [1.0, np.inf]}, "losses must be finite"),
        (([0],), {"advantages": [1.0]}, "advantages given without rewards"),
        (([0], [[1, 0]]), {"advantages": [[1.0]]}, "advantages must have the shape"),
        (([0], ["a"]), {}, "rewards must be numeric"),
    ],
)
def test_bad_input_is_named(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Outcomes(*args, **kwargs)


def test_counts_mark_padding_which_is_ignored_and_stored_as_nan():
    out = Outcomes([3, 4], [[1, 0, 7], [1, 0, 0]], counts=[2, 3], advantages=[[1, -1, 5]] * 2)
    np.testing.assert_array_equal(out.rollouts, [2, 3])
    np.testing.assert_allclose(out.pass_rate, [0.5, 1 / 3])
    assert np.isnan(out.rewards[0, 2]) and np.isnan(out.advantages[0, 2])
    assert out.advantages[1, 2] == 5.0
    sub = out.select([1])
    assert sub.counts.tolist() == [3] and sub.rollouts.tolist() == [3]


def test_from_groups_sets_counts_and_full_rows_need_none():
    out = Outcomes.from_groups([0, 1, 2], [[1, 0], [1], []])
    assert out.counts.tolist() == [2, 1, 0] and out.rollouts.tolist() == [2, 1, 0]
    assert Outcomes([0], [[1, 0]]).counts is None
    assert Outcomes([0], [[1, 0]]).rollouts.tolist() == [2]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1], [[1, np.nan], [0, 0]]), {}, r"NaN at \[0, 1\]; for groups of different sizes"),
        (([0, 1], [[np.nan, 1], [0, 0]]), {"counts": [2, 2]}, r"NaN at \[0, 0\], within"),
        (([0, 1], [[1, 0], [0, 0]]), {"counts": [2, 3]}, r"counts\[1\] = 3 is outside 0..2"),
        (([0, 1], [[1, 0], [0, 0]]), {"counts": [2]}, "counts must have one entry per item"),
        (([0, 1], [[1, 0], [0, 0]]), {"counts": [2.0, 1.0]}, "counts must hold integers"),
        (([0, 1], [1.0, 0.0]), {"counts": [1, 1]}, "counts given without 2-D rewards"),
        (([0],), {"counts": [1]}, "counts given without 2-D rewards"),
        (([0], [[1, 0]]), {"counts": [1], "advantages": [[np.nan, 0]]}, "advantages must be"),
        (([np.uint64(2**63 + 5)], [1.0]), {}, r"indices\[0\] = 9223372036854775813 is too large"),
        ((np.array([3, 2**64 - 1], dtype=np.uint64), [1.0, 0.0]), {}, r"indices\[1\] = 1844"),
        (([2, -1], [1.0, 0.0]), {}, r"indices\[1\] = -1 is negative"),
        (([2**70], [1.0]), {}, "indices must hold integers"),
    ],
)
def test_padding_and_index_errors_are_named(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Outcomes(*args, **kwargs)
