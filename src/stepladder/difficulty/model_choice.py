"""``--model auto``: fit several IRT models and keep the one the data support best.

Two criteria:

- ``"bic"`` (the default): BIC = k log(n_learners) - 2 loglik, with k the free item
  parameters and loglik the exact marginal log-likelihood at the (prior-regularised)
  estimates. With few learners and many items, each extra item parameter costs
  log(n_learners) while the data hold little about it, so BIC picks the 1PL; with many
  learners the 2PL's slopes pay for themselves.
- ``"heldout"``: a seeded share of each learner's responses is held out, every candidate is
  refitted on the rest, and each scores the held-out responses by their posterior
  predictive log-likelihood: for learner j, log p(held_j | train_j) = log of the integral
  of P(held_j | theta) p(theta | train_j) d theta, with the refitted item parameters and
  theta ~ N(0, 1) a priori. The model that predicts unseen responses best wins; no
  parameter count enters. The chosen model is then fitted on all the responses.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pyarrow as pa
from scipy.special import log_expit, logsumexp

from stepladder.difficulty.base import Grader
from stepladder.difficulty.irt import IRT, MODELS, ItemParameters
from stepladder.difficulty.responses import Responses

__all__ = ["CRITERIA", "AutoIRT", "heldout_split", "predictive_loglik"]

CRITERIA = ("bic", "heldout")
#: Standardised ability nodes of each learner's grid for the predictive integral: the
#: learner's training posterior mean +- 8 posterior sds, 0.1 sd apart.
_Z = np.linspace(-8.0, 8.0, 161)
#: Cells (rows x nodes) evaluated at a time in :func:`predictive_loglik`.
_CHUNK_CELLS = 1 << 22


class AutoIRT(Grader):
    """Fit each candidate IRT model and keep the one the data support best.

    Args:
        candidates: IRT model names to compare (default 1PL, 2PL and 3PL).
        criterion: ``"bic"`` (lowest BIC on all responses) or ``"heldout"`` (highest
            posterior predictive log-likelihood of held-out responses, see the module).
        holdout: ``"heldout"`` only: the share of each learner's responses held out
            (rounded, at least one and never all of them; learners with one response
            keep it for training).
        seed: ``"heldout"`` only: seed of the choice of held-out responses.
        **options: passed to every :class:`IRT` (e.g. ``method``, ``max_iter``, ``priors``).

    After ``fit``: ``chosen_`` (model name), ``fits_`` (name -> :class:`IRT` fitted on all
    responses: every candidate for BIC, the chosen one for held-out), ``reason_`` (one
    sentence); for BIC ``bic_`` (name -> BIC); for held-out ``heldout_`` (name -> held-out
    log-likelihood), ``heldout_fits_`` (name -> :class:`IRT` fitted without the held-out
    responses) and ``n_heldout_`` (responses scored). The tables and summary are the chosen
    model's, the summary with a ``selection`` entry.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> theta, b = rng.normal(size=300), np.linspace(-1.5, 1.5, 10)
        >>> correct = rng.random((10, 300)) < 1 / (1 + np.exp(-(theta - b[:, None])))
        >>> log = Responses.from_matrix(correct * 1.0)
        >>> AutoIRT(candidates=("1pl", "2pl")).fit(log).chosen_
        '1pl'
        >>> AutoIRT(candidates=("1pl", "2pl"), criterion="heldout").fit(log).chosen_
        '1pl'
    """

    model = "auto"

    def __init__(
        self,
        *,
        candidates: tuple[str, ...] = ("1pl", "2pl", "3pl"),
        criterion: str = "bic",
        holdout: float = 0.2,
        seed: int = 0,
        **options: Any,
    ) -> None:
        unknown = [name for name in candidates if name not in MODELS]
        if unknown or not candidates:
            raise ValueError(
                f"candidates must be IRT models ({', '.join(MODELS)}), got {candidates}"
            )
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"holdout must be a share in (0, 1), got {holdout}")
        self.candidates = tuple(candidates)
        self.criterion = criterion
        self.holdout = holdout
        self.seed = seed
        self.options = options
        IRT(self.candidates[0], **options)  # validates the options now

    def fit(self, responses: Responses) -> Self:
        """Fit the candidates on ``responses`` and keep the best by the criterion."""
        if self.criterion == "bic":
            self._fit_bic(responses)
        else:
            self._fit_heldout(responses)
        unconverged = [name for name, fit in self._compared().items() if not fit.report_.converged]
        if unconverged:
            self.reason_ += f"; {', '.join(unconverged)} did not converge"
        self.responses_ = responses
        return self

    def _fit_bic(self, responses: Responses) -> None:
        self.fits_ = {name: IRT(name, **self.options).fit(responses) for name in self.candidates}
        self.bic_ = {name: float(fit.summary()["bic"]) for name, fit in self.fits_.items()}
        self.chosen_ = min(self.bic_, key=self.bic_.__getitem__)
        ranked = sorted(self.bic_, key=self.bic_.__getitem__)
        listing = ", ".join(f"{name} {self.bic_[name]:,.0f}" for name in ranked)
        self.reason_ = f"auto chose {self.chosen_}: lowest BIC ({listing})"

    def _fit_heldout(self, responses: Responses) -> None:
        held = heldout_split(responses, self.holdout, self.seed)
        if not held.any():
            raise ValueError(
                "criterion 'heldout' needs learners with at least 2 responses, to hold one out"
            )
        train = _rows(responses, ~held)
        self.heldout_fits_ = {
            name: IRT(name, **self.options).fit(train) for name in self.candidates
        }
        # Score only responses to items every candidate fitted (an item whose responses
        # were all held out, or that is constant in training, has no estimate).
        scored = held.copy()
        for fit in self.heldout_fits_.values():
            scored &= np.isfinite(fit.items_.difficulty)[responses.item]
        if not scored.any():
            raise ValueError("criterion 'heldout': no held-out response is on a fitted item")
        self.n_heldout_ = int(np.count_nonzero(scored))
        self.heldout_ = {
            name: predictive_loglik(fit, responses, ~held, scored)
            for name, fit in self.heldout_fits_.items()
        }
        self.chosen_ = max(self.heldout_, key=self.heldout_.__getitem__)  # ties: simplest
        self.fits_ = {self.chosen_: IRT(self.chosen_, **self.options).fit(responses)}
        ranked = sorted(self.heldout_, key=self.heldout_.__getitem__, reverse=True)
        listing = ", ".join(
            f"{name} {self.heldout_[name]:,.1f} ({self.heldout_[name] / self.n_heldout_:.4f} "
            "per response)"
            for name in ranked
        )
        self.reason_ = (
            f"auto chose {self.chosen_}: it predicts held-out responses best "
            f"({self.n_heldout_:,} responses, {self.holdout:.0%} of each learner's, seed "
            f"{self.seed}, scored by their log-likelihood after refitting without them: "
            f"{listing})"
        )

    def _compared(self) -> dict[str, IRT]:
        return self.fits_ if self.criterion == "bic" else self.heldout_fits_

    @property
    def chosen(self) -> IRT:
        """The fitted IRT model that was kept (fitted on all responses)."""
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
        """The chosen model's summary, with ``selection``: the criterion, its value per
        model and the reason."""
        summary = self.chosen.summary()
        if self.criterion == "bic":
            selection = {"criterion": "bic", "bic": dict(self.bic_)}
        else:
            selection = {
                "criterion": "heldout",
                "heldout_loglik": dict(self.heldout_),
                "heldout_responses": self.n_heldout_,
                "holdout": self.holdout,
                "seed": self.seed,
            }
        summary["selection"] = {**selection, "reason": self.reason_}
        return summary


def heldout_split(responses: Responses, share: float, seed: int) -> np.ndarray:
    """Which rows to hold out: ``round(share * n)`` of each learner's ``n`` rows, at least
    one and at most ``n - 1`` (none when ``n = 1``), drawn with ``seed``.

    Example:
        >>> log = Responses.from_matrix(np.ones((10, 3)))  # 3 learners x 10 items
        >>> held = heldout_split(log, 0.2, seed=0)
        >>> np.bincount(log.learner[held], minlength=3).tolist()
        [2, 2, 2]
    """
    learner = np.asarray(responses.learner, dtype=np.int64)
    counts = np.bincount(learner, minlength=responses.n_learners)
    keep_out = np.clip(np.rint(share * counts), np.minimum(counts - 1, 1), counts - 1)
    key = np.random.default_rng(seed).random(len(learner))
    order = np.lexsort((key, learner))
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(learner)) - starts[learner[order]]
    held = np.zeros(len(learner), dtype=bool)
    held[order] = rank < keep_out[learner[order]]
    return held


def predictive_loglik(
    fit: IRT, responses: Responses, train: np.ndarray, scored: np.ndarray
) -> float:
    """Sum over learners of log p(scored responses | training responses), by ``fit``.

    For learner j: log of the integral of P(scored_j | theta) p(theta | train_j) d theta,
    with ``fit``'s item parameters, theta ~ N(0, 1) a priori, on a grid of 161 nodes
    spanning the learner's training posterior mean +- 8 sds (``fit.abilities_`` and
    ``fit.se_abilities_``; a trapezoid rule this fine is exact to many digits for a
    unimodal posterior). Rows contribute successes log P + failures log(1 - P) (the
    binomial coefficient of a k-of-n row is left out: it is the same for every model).
    Training rows on items ``fit`` did not estimate carry no information and are skipped.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> log = Responses.from_matrix((rng.random((8, 50)) < 0.5) * 1.0)
        >>> held = heldout_split(log, 0.25, seed=0)
        >>> fit = IRT("1pl").fit(Responses(log.learner[~held], log.item[~held],
        ...     log.successes[~held], log.trials[~held], log.learner_ids, log.item_ids))
        >>> value = predictive_loglik(fit, log, ~held, held)
        >>> bool(-np.log(2) * held.sum() - 5 < value < -np.log(2) * held.sum() + 5)
        True
    """
    items: ItemParameters = fit.items_
    known = np.isfinite(items.difficulty)[responses.item]
    train, scored = train & known, scored & known
    centre = np.nan_to_num(np.asarray(fit.abilities_, dtype=np.float64))
    spread = np.asarray(fit.se_abilities_, dtype=np.float64)
    spread = np.clip(np.where(np.isfinite(spread) & (spread > 0), spread, 1.0), 1e-4, 2.0)
    theta = centre[:, None] + spread[:, None] * _Z  # learners x nodes
    log_prior = -0.5 * theta**2  # the N(0, 1) density; constants and node widths cancel
    train_ll = _learner_logliks(items, responses, train, theta)
    scored_ll = _learner_logliks(items, responses, scored, theta)
    has_scored = np.bincount(responses.learner[scored], minlength=responses.n_learners) > 0
    joint = logsumexp(log_prior + train_ll + scored_ll, axis=1)
    alone = logsumexp(log_prior + train_ll, axis=1)
    return float(np.sum((joint - alone)[has_scored]))


def _learner_logliks(
    items: ItemParameters, responses: Responses, rows: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """Per learner and node: the log-likelihood of the ``rows`` responses at ``theta``."""
    index = np.flatnonzero(rows)
    index = index[np.argsort(responses.learner[index], kind="stable")]
    total = np.zeros_like(theta)
    step = max(1, _CHUNK_CELLS // theta.shape[1])
    for start in range(0, len(index), step):
        part = index[start : start + step]
        learner, item = responses.learner[part], responses.item[part]
        a, b = items.discrimination[item][:, None], items.difficulty[item][:, None]
        c, d = items.guessing[item][:, None], 1.0 - items.slipping[item][:, None]
        z = a * (theta[learner] - b)
        with np.errstate(divide="ignore"):
            log_p = np.logaddexp(np.log(c), np.log(d - c) + log_expit(z))
            log_q = np.logaddexp(np.log1p(-d), np.log(d - c) + log_expit(-z))
        successes = responses.successes[part][:, None]
        failures = responses.trials[part][:, None] - successes
        cells = successes * log_p + failures * log_q
        firsts = np.flatnonzero(np.r_[True, learner[1:] != learner[:-1]])
        total[learner[firsts]] += np.add.reduceat(cells, firsts, axis=0)
    return total


def _rows(responses: Responses, keep: np.ndarray) -> Responses:
    """The ``keep`` rows of ``responses``, with every learner and item id kept."""
    return Responses(
        responses.learner[keep],
        responses.item[keep],
        responses.successes[keep],
        responses.trials[keep],
        responses.learner_ids,
        responses.item_ids,
    )
