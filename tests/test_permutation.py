import numpy as np
import pytest

from stepladder._permutation import FeistelPermutation


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 16, 17, 1000, 65_537])
def test_is_a_bijection(n):
    for key in (0, 1, 2**63 - 1):
        values = FeistelPermutation(n, key)(np.arange(n))
        assert np.array_equal(np.sort(values), np.arange(n))


def test_keys_give_different_orders_and_no_trend():
    n = 5_000
    a = FeistelPermutation(n, 1)(np.arange(n))
    b = FeistelPermutation(n, 2)(np.arange(n))
    assert (a != b).mean() > 0.99
    assert abs(np.corrcoef(np.arange(n), a)[0, 1]) < 0.05
    # Consecutive positions should not map to neighbouring items more often than chance.
    assert np.mean(np.abs(np.diff(a)) == 1) < 0.01


def test_position_distribution_is_roughly_uniform():
    # Where item 0 lands, over many keys, should be spread across positions.
    n = 50
    landing = [
        int(np.flatnonzero(FeistelPermutation(n, k)(np.arange(n)) == 0)[0]) for k in range(2000)
    ]
    counts = np.bincount(landing, minlength=n)
    assert counts.min() > 15 and counts.max() < 75  # expected 40 each
