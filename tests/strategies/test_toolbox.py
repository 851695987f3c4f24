"""The strategies' shared toolbox (stepladder.strategies._toolbox)."""

import numpy as np
import pytest

from stepladder.strategies._toolbox import smallest


@pytest.mark.parametrize("n", [0, 1, 7, 100, 999, 1000, 1500])
def test_smallest_is_exactly_the_head_of_a_stable_argsort(n):
    rng = np.random.default_rng(n)
    for keys in (
        rng.random(1000),
        rng.integers(0, 5, 1000).astype(float),  # many ties, at the cut too
        np.where(rng.random(1000) < 0.995, rng.random(1000), np.nan),  # a few NaNs sort last
        np.full(1000, np.nan),
    ):
        expected = np.argsort(keys, kind="stable")[:n]
        assert smallest(keys, n).tolist() == expected.tolist()
