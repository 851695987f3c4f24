"""What every offline grader provides: fit on a response log, tables of items and learners."""

from __future__ import annotations

import abc
from typing import Any, Self

import numpy as np
import pyarrow as pa

from stepladder.difficulty.responses import Responses

__all__ = ["Grader", "as_column", "item_basics", "learner_basics"]


class Grader(abc.ABC):
    """Base class of offline difficulty graders (IRT, ratings, pass rates).

    Contract:

    - ``__init__`` stores keyword-only configuration and validates it; no data.
    - ``fit(responses)`` estimates from a :class:`Responses` log and returns ``self``.
    - ``item_table()`` returns an Arrow table with at least ``item_id``, ``difficulty``
      (larger = harder), ``n_responses`` (attempts) and ``p_correct`` (mean score), one row
      per item in the order of ``responses.item_ids``; optional columns: ``discrimination``,
      ``guessing``, ``slipping``, ``se_difficulty`` and model-specific ones.
    - ``learner_table()`` returns ``learner_id``, ``ability``, ``se_ability`` (and
      ``n_responses``), one row per learner.
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
        "n_responses": pa.array(responses.item_attempts(), pa.float64()),
        "p_correct": pa.array(responses.item_p_correct(), pa.float64()),
    }


def learner_basics(responses: Responses) -> dict[str, Any]:
    """The columns every learner table starts with: learner_id, n_responses."""
    return {
        "learner_id": responses.learner_ids,
        "n_responses": pa.array(responses.learner_attempts(), pa.float64()),
    }


def as_column(values: np.ndarray) -> pa.Array:
    """A float64 Arrow column from a NumPy array."""
    return pa.array(np.asarray(values, dtype=np.float64), pa.float64())
