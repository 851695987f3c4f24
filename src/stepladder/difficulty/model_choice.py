"""``--model auto``: fit several IRT models and keep the one the data support best.

The criterion is BIC = k log(n_learners) - 2 loglik, with k the free item parameters and
loglik the exact marginal log-likelihood at the (prior-regularised) estimates. With few
learners and many items, each extra item parameter costs log(n_learners) while the data
hold little about it, so BIC picks the 1PL; with many learners the 2PL's slopes pay for
themselves.
"""

from __future__ import annotations

from typing import Any, Self

import pyarrow as pa

from stepladder.difficulty.base import Grader
from stepladder.difficulty.irt import IRT, MODELS
from stepladder.difficulty.responses import Responses

__all__ = ["AutoIRT"]


class AutoIRT(Grader):
    """Fit each candidate IRT model and keep the one with the lowest BIC.

    Args:
        candidates: IRT model names to compare (default 1PL, 2PL and 3PL).
        **options: passed to every :class:`IRT` (e.g. ``method``, ``max_iter``).

    After ``fit``: ``chosen_`` (model name), ``bic_`` (name -> BIC), ``fits_`` (name ->
    fitted :class:`IRT`), ``reason_`` (one sentence); the tables and summary are the chosen
    model's, the summary with a ``selection`` entry.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> theta, b = rng.normal(size=300), np.linspace(-1.5, 1.5, 10)
        >>> correct = rng.random((10, 300)) < 1 / (1 + np.exp(-(theta - b[:, None])))
        >>> auto = AutoIRT(candidates=("1pl", "2pl")).fit(Responses.from_matrix(correct * 1.0))
        >>> auto.chosen_
        '1pl'
    """

    model = "auto"

    def __init__(self, *, candidates: tuple[str, ...] = ("1pl", "2pl", "3pl"), **options: Any):
        unknown = [name for name in candidates if name not in MODELS]
        if unknown or not candidates:
            raise ValueError(
                f"candidates must be IRT models ({', '.join(MODELS)}), got {candidates}"
            )
        self.candidates = tuple(candidates)
        self.options = options
        IRT(self.candidates[0], **options)  # validates the options now

    def fit(self, responses: Responses) -> Self:
        """Fit every candidate on ``responses`` and keep the lowest BIC."""
        self.fits_ = {name: IRT(name, **self.options).fit(responses) for name in self.candidates}
        self.bic_ = {name: float(fit.summary()["bic"]) for name, fit in self.fits_.items()}
        self.chosen_ = min(self.bic_, key=self.bic_.__getitem__)
        ranked = sorted(self.bic_, key=self.bic_.__getitem__)
        listing = ", ".join(f"{name} {self.bic_[name]:,.0f}" for name in ranked)
        self.reason_ = f"auto chose {self.chosen_}: lowest BIC ({listing})"
        unconverged = [name for name, fit in self.fits_.items() if not fit.report_.converged]
        if unconverged:
            self.reason_ += f"; {', '.join(unconverged)} did not converge"
        self.responses_ = responses
        return self

    @property
    def chosen(self) -> IRT:
        """The fitted IRT model that was kept."""
        self._require_fit()
        return self.fits_[self.chosen_]

    @property
    def items_(self) -> Any:
        return self.chosen.items_

    def item_table(self) -> pa.Table:
        """The chosen model's item table."""
        return self.chosen.item_table()

    def learner_table(self) -> pa.Table:
        """The chosen model's learner table."""
        return self.chosen.learner_table()

    def summary(self) -> dict[str, Any]:
        """The chosen model's summary, with ``selection``: criterion, BIC per model, reason."""
        summary = self.chosen.summary()
        summary["selection"] = {"criterion": "bic", "bic": dict(self.bic_), "reason": self.reason_}
        return summary
