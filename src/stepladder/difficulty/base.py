"""What every offline grader provides: fit on a response log, tables of items and learners."""

from __future__ import annotations

import abc
from typing import Any, Self

import numpy as np
import pyarrow as pa

from stepladder._arrow import from_numpy
from stepladder.difficulty.responses import Responses

__all__ = [
    "Grader",
    "as_column",
    "item_basics",
    "item_table",
    "learner_basics",
    "learner_table",
]


class Grader(abc.ABC):
    """Base class of offline difficulty graders (IRT, ratings, pass rates).

    Contract:

    - ``__init__`` stores keyword-only configuration and validates it; no data.
    - ``fit(responses)`` estimates from a :class:`Responses` log and returns ``self``.
    - ``item_table()`` returns an Arrow table starting ``item_id``, ``difficulty``
      (larger = harder), ``n_responses`` (attempts, int64) and ``p_correct`` (mean score),
      in that order, one row per item in the order of ``responses.item_ids``; then
      model-specific columns (``se_difficulty``, ``discrimination``, ...). Use
      :func:`item_table` to build it.
    - ``learner_table()`` returns ``learner_id``, ``ability``, ``n_responses`` (int64),
      then ``se_ability`` and others, one row per learner (:func:`learner_table`).
    - ``summary()`` returns JSON-ready facts about the fit: model, counts, iterations,
      convergence, log-likelihood where defined, seconds.
    """

    #: Short model name used by the CLI (``--model``).
    model: str = ""

    @abc.abstractmethod
    def fit(self, responses: Responses) -> Self:
        """Estimate from ``responses``; returns ``self``."""

    @abc.abstractmethod
    def item_table(self) -> pa.Table:
        """One row per item: item_id, difficulty, n_responses, p_correct, ..."""

    @abc.abstractmethod
    def learner_table(self) -> pa.Table:
        """One row per learner: learner_id, ability, se_ability, n_responses."""

    @abc.abstractmethod
    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the fit."""

    def _summary_basics(self) -> dict[str, Any]:
        """The summary entries every grader reports: model and the log's sizes."""
        responses = self._require_fit()
        return {
            "model": self.model,
            "n_learners": responses.n_learners,
            "n_items": responses.n_items,
            "n_responses": len(responses),
        }

    def _require_fit(self) -> Responses:
        responses = getattr(self, "responses_", None)
        if responses is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(responses)")
        return responses


def item_basics(responses: Responses) -> dict[str, Any]:
    """The columns every item table starts with: item_id, n_responses, p_correct."""
    return {
        "item_id": responses.item_ids,
        "n_responses": from_numpy(_counts(responses.item_attempts()), pa.int64()),
        "p_correct": as_column(responses.item_p_correct()),
    }


def learner_basics(responses: Responses) -> dict[str, Any]:
    """The columns every learner table starts with: learner_id, n_responses."""
    return {
        "learner_id": responses.learner_ids,
        "n_responses": from_numpy(_counts(responses.learner_attempts()), pa.int64()),
    }


def item_table(responses: Responses, difficulty: np.ndarray, **extra: Any) -> pa.Table:
    """An item table in the shared column order: item_id, difficulty, n_responses,
    p_correct, then ``extra`` (NumPy arrays become float64 columns).

    Example:
        >>> r = Responses.from_long(["ann", "bob"], ["q1", "q1"], [1, 0])
        >>> item_table(r, np.array([0.5]), se_difficulty=np.array([0.1])).column_names
        ['item_id', 'difficulty', 'n_responses', 'p_correct', 'se_difficulty']
    """
    basics = item_basics(responses)
    return _ordered(basics, "item_id", "difficulty", difficulty, extra)


def learner_table(responses: Responses, ability: np.ndarray, **extra: Any) -> pa.Table:
    """A learner table in the shared column order: learner_id, ability, n_responses, then
    ``extra``."""
    return _ordered(learner_basics(responses), "learner_id", "ability", ability, extra)


def _ordered(basics: dict[str, Any], id_name: str, value_name: str, value: np.ndarray,
             extra: dict[str, Any]) -> pa.Table:  # fmt: skip
    columns = {id_name: basics.pop(id_name), value_name: as_column(value), **basics}
    for name, column in extra.items():
        columns[name] = as_column(column) if isinstance(column, np.ndarray) else column
    return pa.table(columns)


def _counts(attempts: np.ndarray) -> np.ndarray:
    """Attempt totals as int64 (trials are counts; float sums are rounded)."""
    return np.rint(attempts).astype(np.int64)


def as_column(values: np.ndarray) -> pa.Array:
    """A float64 Arrow column from a NumPy array."""
    return from_numpy(np.asarray(values, dtype=np.float64), pa.float64())
