"""One call to grade a response log: the Python twin of ``stepladder grade``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from stepladder.difficulty.base import Grader
from stepladder.difficulty.logs import read_responses
from stepladder.difficulty.registry import GRADERS, make_grader
from stepladder.difficulty.responses import Responses

__all__ = ["GRADERS", "GradeResult", "grade", "make_grader", "to_responses"]


@dataclass(frozen=True)
class GradeResult:
    """Item and learner tables, the fit summary, and the fitted grader."""

    items: pa.Table
    learners: pa.Table
    summary: dict[str, Any]
    grader: Grader


def to_responses(data: Any, **columns: Any) -> Responses:
    """A :class:`Responses` from a path, a table-like object or a NumPy matrix.

    Accepts a :class:`Responses`; a file path (CSV, JSONL, Parquet or a shard directory); a
    pandas or polars DataFrame, an Arrow table or a Hugging Face ``datasets.Dataset`` in
    long format (``learner_id``, ``item_id``, ``correct`` unless ``columns`` name others);
    or a 2-D NumPy array with one row per item and one column per learner (NaN = missing).
    """
    if isinstance(data, Responses):
        return data
    renamed = {f"{key.removesuffix('_column')}_column": value for key, value in columns.items()}
    if isinstance(data, str | os.PathLike):
        return read_responses(data, **renamed)
    if isinstance(data, np.ndarray):
        return Responses.from_matrix(data)
    return Responses.from_table(data, **renamed)


def grade(data: Any, model: str = "2pl", *, columns: dict[str, str] | None = None,
          **options: Any) -> GradeResult:  # fmt: skip
    """Grade items (and learners) from a response log.

    Args:
        data: anything :func:`to_responses` accepts.
        model: ``1pl``, ``2pl``, ``3pl``, ``4pl``, ``auto`` (the IRT model with the lowest
            BIC), ``elo``, ``glicko2`` or ``passrate``.
        columns: column names for table input, e.g. ``{"score": "passed"}`` (keys: learner,
            item, score, trials).
        **options: passed to the grader (e.g. ``method="jml"`` for IRT).

    Example:
        >>> import pyarrow as pa
        >>> log = pa.table({"learner_id": [0, 0, 1, 1, 2, 2], "item_id": ["a", "b"] * 3,
        ...                 "correct": [1, 0, 1, 1, 0, 0]})
        >>> result = grade(log, "passrate")
        >>> result.items.column("item_id").to_pylist(), result.summary["model"]
        (['a', 'b'], 'passrate')
    """
    responses = to_responses(data, **(columns or {}))
    grader = make_grader(model, **options).fit(responses)
    return GradeResult(grader.item_table(), grader.learner_table(), grader.summary(), grader)
