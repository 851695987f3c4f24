"""NumPy's expit and log_expit against SciPy's and against 80-bit long-double references."""

import numpy as np
import pytest
from scipy import special

from stepladder.difficulty._logistic import expit, log_expit

#: Where both return exactly 0, 1/2, 1, -0.0 or x itself: the same bits.
EXTREMES = np.array([-1000.0, -745.2, -1e-300, -5e-324, -0.0, 0.0, 5e-324, 1e-300, 1e-20,
                     37.0, 746.0, 1000.0, np.inf, -np.inf, np.nan])  # fmt: skip
#: Where the two libraries' exp may round differently: an ulp or two apart.
EDGES = np.array([-709.8, -40.0, -1.0, 1.0, 36.7, 40.0, 709.8])


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.longdouble)
    if name == "expit":
        return 1 / (1 + np.exp(-x))
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _ulps(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    spacing = np.spacing(np.abs(reference.astype(np.float64))).astype(np.longdouble)
    return (np.abs(values.astype(np.longdouble) - reference) / spacing).astype(np.float64)


@pytest.mark.parametrize(("ours", "theirs"), [(expit, special.expit),
                                              (log_expit, special.log_expit)])  # fmt: skip
def test_same_values_as_scipy_at_the_edges(ours, theirs):
    np.testing.assert_array_equal(ours(EXTREMES), theirs(EXTREMES))
    np.testing.assert_array_equal(np.signbit(ours(EXTREMES)), np.signbit(theirs(EXTREMES)))
    np.testing.assert_array_max_ulp(ours(EDGES), theirs(EDGES), maxulp=2)


@pytest.mark.parametrize(("ours", "theirs"), [(expit, special.expit),
                                              (log_expit, special.log_expit)])  # fmt: skip
def test_as_accurate_as_scipy_over_the_real_line(ours, theirs):
    """Both compute the same formula; only their exp and log1p round differently."""
    for low, high in ((-709.0, 709.0), (-40.0, 40.0), (-1e-3, 1e-3)):
        x = np.linspace(low, high, 400_001)
        reference = _reference(ours.__name__, x)
        mine, scipy_error = _ulps(ours(x), reference), _ulps(theirs(x), reference)
        assert mine.max() <= scipy_error.max() + 0.25
        assert mine.mean() <= scipy_error.mean() * 1.05 + 1e-3
        assert mine.max() < 2.5  # expit's formula: ~2.4 ulp at worst; log_expit's ~1.5


@pytest.mark.parametrize(("ours", "theirs"), [(expit, special.expit),
                                              (log_expit, special.log_expit)])  # fmt: skip
@pytest.mark.parametrize("value", [0.5, 3, True, np.float32(2.0), [1, 2], np.array(0.3),
                                   np.array([[1.0, -2.0]], dtype=np.float32),
                                   np.arange(6, dtype=np.int32)[::2]])  # fmt: skip
def test_types_shapes_and_precision_follow_scipy(ours, theirs, value):
    mine, scipy_value = ours(value), theirs(value)
    assert type(mine) is type(scipy_value)
    assert np.shape(mine) == np.shape(scipy_value)
    assert np.asarray(mine).dtype == np.asarray(scipy_value).dtype
    tolerance = 1e-6 if np.asarray(mine).dtype == np.float32 else 1e-15
    np.testing.assert_allclose(mine, scipy_value, rtol=tolerance)


def test_inputs_are_left_alone():
    x = np.array([-3.0, 0.5, 800.0])
    before = x.copy()
    expit(x), log_expit(x)
    np.testing.assert_array_equal(x, before)
