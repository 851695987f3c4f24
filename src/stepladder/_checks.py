"""Argument checks shared by the public types: one-line errors naming the argument and value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    lowest = 0 if allow_zero else 1
    if value < lowest:
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    """``value`` if it is one of ``options``, else a ``ValueError`` listing them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return str(value)


def in_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` as a float if ``low <= value <= high``, else raise ``ValueError``."""
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return value


def first_bad(mask: np.ndarray) -> tuple[int, ...]:
    """Position of the first True entry of ``mask`` (as an index tuple)."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def float_array(name: str, values: Any) -> np.ndarray:
    """``values`` as a float64 array, or a ``ValueError`` naming ``name``."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric: {error}") from None


def finite_array(
    name: str, values: Any, *, ndim: tuple[int, ...], dtype: type = np.float64
) -> np.ndarray:
    """Convert to a float array of an allowed dimensionality with no NaN or infinity."""
    array = float_array(name, values).astype(dtype, copy=False)
    if array.ndim not in ndim:
        allowed = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {allowed}, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        where = first_bad(bad)
        raise ValueError(f"{name} must be finite, got {array[where]} at position {list(where)}")
    return array


def index_array(name: str, values: Any, size: int | None = None) -> np.ndarray:
    """Convert to a 1-D int64 array of indices, checked against ``[0, size)`` when given."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if size is not None:
        bad = (array < 0) | (array >= size)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}[{i}] = {array[i]} is out of range for a pool of {size} items")
    return array


def number(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``value`` as a finite float inside the given bounds, else ``ValueError`` naming it.

    The one numeric validator for strategy and estimator parameters.

    Example:
        >>> number("tau", 0.5, low=0, open_low=True)
        0.5
        >>> number("tau", 0, low=0, open_low=True)
        Traceback (most recent call last):
        ...
        ValueError: tau must lie in (0, inf], got 0
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    result = float(value)
    too_low = result <= low if open_low else result < low
    too_high = result >= high if open_high else result > high
    if not math.isfinite(result) or too_low or too_high:
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        raise ValueError(f"{name} must lie in {left}{low:g}, {high:g}{right}, got {value!r}")
    return result
