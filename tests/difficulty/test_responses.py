"""chunked_bincount: np.bincount's totals, a block at a time."""

import numpy as np
import pytest

from stepladder.difficulty.responses import chunked_bincount


@pytest.mark.parametrize("weights", ["ones", "scores", "twos", "nan", "empty"])
@pytest.mark.parametrize("chunk", [7, 64, 1 << 18])
def test_equals_numpy_bincount(weights, chunk):
    rng = np.random.default_rng(3)
    n = 0 if weights == "empty" else 1000
    index = rng.integers(0, 13, n).astype(np.int32)
    values = {
        "ones": np.ones(n, np.float32),
        "scores": rng.random(n).astype(np.float32),
        "twos": np.full(n, 2.0, np.float32),
        "nan": np.r_[np.ones(n - 1, np.float32), np.float32(np.nan)] if n else None,
        "empty": np.ones(0, np.float32),
    }[weights]
    expected = np.bincount(index, values.astype(np.float64), 15)
    total = chunked_bincount(index, values, 15, chunk=chunk)
    assert total.dtype == np.float64
    if weights in ("ones", "twos", "empty"):  # sums of small integers: exact in any order
        np.testing.assert_array_equal(total, expected)
    else:  # blocks change the order of the float64 additions
        np.testing.assert_allclose(total, expected, rtol=1e-12)
