"""Small helpers shared by the pacing, self-paced and IRT-paced strategy modules.

- :func:`prefix_count`: how many items a fraction of the pool holds.
- :func:`last_per_item`: the last value reported for each item of a batch.
- :func:`feedback_loss`: a batch's per-item loss (losses, else the error rate).
"""

from __future__ import annotations

import math

import numpy as np

from stepladder.outcomes import Outcomes

__all__ = ["feedback_loss", "last_per_item", "prefix_count"]


def prefix_count(fraction: float, size: int) -> int:
    """Number of items in a fraction of a pool of ``size``: ceil(fraction * size), at least 1.

    Example:
        >>> prefix_count(0.25, 10), prefix_count(0.0, 10), prefix_count(1.0, 10)
        (3, 1, 10)
    """
    return max(1, min(size, math.ceil(fraction * size - 1e-9)))


def last_per_item(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct indices (sorted) and, for each, the value of its last occurrence.

    Example:
        >>> idx, val = last_per_item(np.array([4, 2, 4]), np.array([1.0, 2.0, 3.0]))
        >>> idx.tolist(), val.tolist()
        ([2, 4], [2.0, 3.0])
    """
    unique, first = np.unique(indices[::-1], return_index=True)
    return unique, values[::-1][first]


def feedback_loss(outcomes: Outcomes) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-item loss of a batch: ``losses`` where given, else 1 - pass rate (error rate).

    Returns the items and losses (one per row, repeats kept), or None when the batch carries
    neither.

    Example:
        >>> out = Outcomes([0, 1], rewards=[[1, 1, 0, 0], [1, 1, 1, 1]])
        >>> feedback_loss(out)[1].tolist()
        [0.5, 0.0]
    """
    if len(outcomes) == 0:
        return None
    if outcomes.losses is not None:
        return outcomes.indices, outcomes.losses
    if outcomes.rewards is None:
        return None
    rate = outcomes.pass_rate
    known = ~np.isnan(rate)
    if not known.any():
        return None
    return outcomes.indices[known], 1.0 - rate[known]
