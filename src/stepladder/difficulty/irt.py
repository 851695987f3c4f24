"""Item response theory: 1PL, 2PL, 3PL and 4PL calibration from response logs.

    P(correct | theta, item) = c + (d - c) * sigmoid(a * (theta - b))

with discrimination ``a``, difficulty ``b``, guessing floor ``c`` and ceiling ``d``
(``slipping = 1 - d``). Difficulty is on the ability scale, abilities ~ N(0, 1).

Calibration follows Bock & Aitkin, "Marginal maximum likelihood estimation of item
parameters: application of an EM algorithm" (Psychometrika, 1981): abilities are integrated
over a fixed quadrature grid with N(0, 1) weights (log-sum-exp, so learners with thousands
of responses do not underflow); the M-step is independent per item, so it runs vectorised
over all items and standard errors come from per-item information blocks. 3PL/4PL M-steps
maximise each item's expected log-likelihood in (a, delta, c[, d]) by Newton steps with a
line search, on the exact (fine-grid) expected counts. ``method="mml"`` maximises the
marginal likelihood times the default :class:`Priors` (a lognormal slope prior and, from
the 2PL on, a normal difficulty prior, as BILOG-MG does), which keep fits on few learners
sane; items everyone answered right (or wrong) are left out. ``method="map"`` uses
informative priors on the item parameters (Bayes modal estimation, Mislevy 1986);
``method="jml"`` is joint maximum likelihood (abilities and items alternately, with an
N(0, 1) ability prior so perfect scores stay finite; 1PL/2PL only).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
import pyarrow as pa

from stepladder._arrow import strings
from stepladder._progress import tqdm
from stepladder.difficulty._design import (
    PATTERN_SHARE,
    ResponseMatrices,
    blas_on_one_thread,
    blocks_in_turn,
    in_threads,
    sum_in_threads,
    usable_threads,
)
from stepladder.difficulty._logistic import expit, log_expit
from stepladder.difficulty._priors import location_prior, slope_prior
from stepladder.difficulty._quadrature import Quadrature, log_sum_exp
from stepladder.difficulty._standard_errors import cross_product_standard_errors
from stepladder.difficulty.base import Grader, item_table, learner_table
from stepladder.difficulty.responses import CHUNK_ROWS, Responses

__all__ = ["IRT", "ItemParameters", "Priors"]

MODELS = ("1pl", "2pl", "3pl", "4pl")
METHODS = ("mml", "map", "jml")
_EPS = 1e-10
#: Relative noise of log-likelihoods summed from float32 matrix products.
_NOISE = 1e-6
#: A fall of the EM objective larger than this (relative) means the fit is not an ascent;
#: the float32 products, the spline onto the fine grid and the folding leave ~3e-6.
_DECREASE_TOLERANCE = 1e-5
_PARAMETER_NAMES = ("discrimination", "difficulty", "guessing", "slipping")


@dataclass(frozen=True)
class ItemParameters:
    """IRT parameters of a set of items (arrays of equal length).

    Example:
        >>> items = ItemParameters.two_pl(discrimination=[1.0, 2.0], difficulty=[0.0, 1.0])
        >>> items.probability(np.array([0.0, 1.0])).round(3).tolist()
        [[0.5, 0.119], [0.731, 0.5]]
    """

    discrimination: np.ndarray
    difficulty: np.ndarray
    guessing: np.ndarray
    slipping: np.ndarray

    @classmethod
    def two_pl(cls, *, discrimination: Any, difficulty: Any) -> ItemParameters:
        """Items with no guessing floor and no slipping."""
        b = np.asarray(difficulty, dtype=np.float64)
        a = np.broadcast_to(np.asarray(discrimination, dtype=np.float64), b.shape).copy()
        return cls(a, b, np.zeros_like(b), np.zeros_like(b))

    def __len__(self) -> int:
        return len(self.difficulty)

    def probability(self, theta: np.ndarray) -> np.ndarray:
        """P(correct), shape (len(theta), n_items)."""
        theta = np.asarray(theta, dtype=np.float64)
        f = expit(self.discrimination * (theta[:, None] - self.difficulty))
        return self.guessing + (1.0 - self.slipping - self.guessing) * f


@dataclass(frozen=True)
class Priors:
    """Priors on item parameters (logit = a * theta + delta, difficulty b = -delta / a).

    The defaults keep a 2PL sane when learners are few (tens of LLMs on thousands of items)
    and are negligible when they are many, as BILOG-MG's defaults are:
    log a ~ N(0, 0.5^2) (median slope 1, 95% of the prior mass in [0.38, 2.7]) and
    b ~ N(0, 3^2) (95% in [-5.9, 5.9], three times the ability spread).

    Attributes:
        discrimination: (mean, sd) of a normal prior on ``a``, or None.
        log_discrimination: (mean, sd) of a normal prior on ``log a`` (a lognormal prior,
            which keeps every slope positive), or None.
        difficulty: (mean, sd) of a normal prior on ``b``, or None.
        intercept_sd: sd of a normal prior N(0, sd^2) on ``delta``, or None.
        guessing: (alpha, beta) of a Beta prior on ``c`` (3PL, 4PL).
        slipping: (alpha, beta) of a Beta prior on ``1 - d`` (4PL).

    Example:
        >>> Priors().log_discrimination, Priors().difficulty, Priors.weak().log_discrimination
        ((0.0, 0.5), (0.0, 3.0), None)
    """

    discrimination: tuple[float, float] | None = None
    log_discrimination: tuple[float, float] | None = (0.0, 0.5)
    difficulty: tuple[float, float] | None = (0.0, 3.0)
    intercept_sd: float | None = None
    guessing: tuple[float, float] = (2.0, 12.0)
    slipping: tuple[float, float] = (2.0, 12.0)

    def __post_init__(self) -> None:
        for name in ("discrimination", "log_discrimination", "difficulty"):
            value = getattr(self, name)
            if value is not None and not (len(value) == 2 and value[1] > 0):
                raise ValueError(f"priors: {name} must be (mean, sd) with sd > 0, got {value}")
        if self.intercept_sd is not None and not self.intercept_sd > 0:
            raise ValueError(f"priors: intercept_sd must be > 0, got {self.intercept_sd}")

    @classmethod
    def weak(cls) -> Priors:
        """Barely informative: a ~ N(1, 3^2), delta ~ N(0, 6^2); they only keep every
        estimate finite (close to plain marginal maximum likelihood, as in ltm or mirt)."""
        return cls(discrimination=(1.0, 3.0), log_discrimination=None, difficulty=None,
                   intercept_sd=6.0)  # fmt: skip

    @classmethod
    def informative(cls) -> Priors:
        """Bayes modal defaults for ``map``: a ~ N(1, 1), delta ~ N(0, 3^2), c ~ Beta(5, 17)."""
        return cls(discrimination=(1.0, 1.0), log_discrimination=None, difficulty=None,
                   intercept_sd=3.0, guessing=(5.0, 17.0), slipping=(5.0, 17.0))  # fmt: skip


@dataclass
class _State:
    """Item parameters during estimation: logit = a * theta + delta; P = c + (d - c) F."""

    a: np.ndarray
    delta: np.ndarray
    c: np.ndarray
    d: np.ndarray

    def vector(self) -> np.ndarray:
        return np.concatenate([self.a, self.delta, self.c, self.d])

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> _State:
        a, delta, c, d = np.split(vector, 4)
        d = np.clip(d, 0.5, 1.0)
        return cls(a, delta, np.clip(c, 0.0, _guessing_ceiling(d)), d)

    def logits(self, nodes: np.ndarray) -> np.ndarray:
        return self.a[:, None] * nodes[None, :] + self.delta[:, None]


@dataclass
class FitReport:
    """How a fit went."""

    iterations: int = 0
    converged: bool = False
    loglik: float = float("nan")
    loglik_history: list[float] = field(default_factory=list)
    seconds: float = 0.0
    expanded: bool = True
    #: Largest fall of the penalised log-likelihood between EM cycles (0 when none).
    largest_decrease: float = 0.0
    #: False when a fall exceeded the float32 noise: the fit was not an ascent.
    monotone: bool = True


class IRT(Grader):
    """Calibrate item parameters and learner abilities with an IRT model.

    Args:
        model: ``"1pl"`` (one discrimination shared by all items), ``"2pl"``, ``"3pl"``
            (guessing floor) or ``"4pl"`` (guessing floor and slipping).
        method: ``"mml"`` (marginal maximum likelihood by EM, the standard, with the default
            :class:`Priors`: a lognormal slope prior and, from the 2PL on, a normal
            difficulty prior, which keep few-learner fits sane; ``Priors.weak()`` for plain
            MML), ``"map"`` (the same EM with informative priors) or
            ``"jml"`` (joint maximum likelihood, 1PL/2PL).
        priors: override the method's default :class:`Priors`.
        quadrature: number of equally spaced ability nodes on ``[-theta_max, theta_max]``.
        theta_max: half-width of the ability grid.
        refine: fine-grid steps per node interval for the posterior (see
            ``stepladder.difficulty._quadrature``); by default enough to resolve the sharpest
            posterior in the data; 1 gives classical fixed-node quadrature.
        max_iter: EM iterations at most.
        tol: convergence when no parameter (a, intercept, c, d) moves more than this.
        dense: force dense (True) or sparse (False) matrices; by default chosen from the
            log's size and fill.
        standard_errors: compute item standard errors (cross-product of learner scores).
        constant_items: ``"exclude"`` (default) leaves items everyone answered right (or
            everyone wrong) out of the fit: they carry no information about the model's
            parameters but would be fitted at the prior's edge and pull the rest; their rows
            have NaN parameters and a ``flag``. ``"include"`` fits them (on the priors).
        progress: show a progress bar over iterations.

    When every learner answered every fitted item once (0/1) and learners share few
    response patterns (fewer than half as many patterns as learners, e.g. 20,000 learners x
    5 items), MML and MAP fit the distinct patterns weighted by their counts, as mirt
    does: the same likelihood, at a cost that grows with the patterns, not the learners.

    Example:
        >>> from stepladder.difficulty import Responses
        >>> rng = np.random.default_rng(0)
        >>> theta, b = rng.normal(size=300), np.linspace(-1.5, 1.5, 10)
        >>> correct = rng.random((10, 300)) < 1 / (1 + np.exp(-(theta - b[:, None])))
        >>> model = IRT("1pl").fit(Responses.from_matrix(correct.astype(float)))
        >>> bool(np.corrcoef(model.items_.difficulty, b)[0, 1] > 0.95)
        True
    """

    def __init__(
        self,
        model: str = "2pl",
        *,
        method: str = "mml",
        priors: Priors | None = None,
        quadrature: int = 41,
        theta_max: float = 6.0,
        refine: int | None = None,
        max_iter: int = 500,
        tol: float = 1e-4,
        dense: bool | None = None,
        standard_errors: bool = True,
        constant_items: str = "exclude",
        progress: bool = False,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if method == "jml" and model not in ("1pl", "2pl"):
            raise ValueError(f"method 'jml' supports 1pl and 2pl, not {model!r}")
        if quadrature < 5:
            raise ValueError(f"quadrature must be at least 5 nodes, got {quadrature}")
        if max_iter < 1 or tol <= 0:
            raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter} and {tol}")
        if constant_items not in ("exclude", "include"):
            raise ValueError(
                f"constant_items must be 'exclude' or 'include', got {constant_items!r}"
            )
        self.model = model
        self.method = method
        self.priors = priors
        self.quadrature = quadrature
        self.theta_max = theta_max
        self.refine = refine
        self.max_iter = max_iter
        self.tol = tol
        self.dense = dense
        self.standard_errors = standard_errors
        self.constant_items = constant_items
        self.progress = progress

    #: Fit on response patterns: None when they are few (see above), True/False to force.
    _collapse: bool | None = None

    # ----------------------------------------------------------------------------- fitting

    def fit(self, responses: Responses) -> Self:
        """Calibrate on ``responses``; sets ``items_``, ``abilities_`` and ``report_``.

        With ``constant_items="exclude"``, ``items_`` and ``se_`` still have one entry per
        item of ``responses`` (NaN for the excluded ones); ``fitted_`` marks the fitted items.
        BLAS runs on one thread per call
        (:func:`~stepladder.difficulty._design.blas_on_one_thread`); from
        ``THREADED_MIN_RESPONSES`` responses on, the blocks run side by side on the worker
        threads, below in turn (the same results: each block's are fixed).
        """
        with blocks_in_turn(len(responses) < THREADED_MIN_RESPONSES), blas_on_one_thread():
            return self._fit(responses)

    def _fit(self, responses: Responses) -> Self:
        _check_fittable(responses)
        started = time.perf_counter()
        self.responses_ = responses
        self._item_fit = None
        self.constant_ = _constant_items(responses)
        self.fitted_ = responses.item_attempts() > 0
        if self.constant_items == "exclude":
            self.fitted_ &= ~self.constant_
        fitted = _select_items(responses, self.fitted_)
        _check_fittable(fitted, excluded=int(np.count_nonzero(self.constant_ & ~self.fitted_)))
        include = self.constant_items == "include" and bool(self.constant_.any())
        priors = self.priors or _default_priors(self.model, self.method, include)
        self.priors_ = priors
        collapsed = None
        if self.method != "jml" and self._collapse is not False:
            share = np.inf if self._collapse else PATTERN_SHARE
            collapsed = ResponseMatrices.patterns(fitted, share=share)
        if collapsed is None:
            matrices = ResponseMatrices.from_responses(fitted, dense=self.dense)
        else:
            matrices = collapsed[0]
        learner_rows = matrices.learner_rows
        if self.refine is None:
            quadrature = Quadrature.for_responses(
                self.quadrature, self.theta_max, matrices.max_attempts_per_learner()
            )
        else:
            quadrature = Quadrature(self.quadrature, self.theta_max, refine=self.refine)
        self.quadrature_ = quadrature
        state = _initial_state(fitted, self.model)
        report = FitReport()
        if self.method == "jml":
            state, abilities, report = _fit_jml(self, fitted, state, priors, report)
            posterior = None
        else:
            state, report = _fit_em(self, matrices, state, priors, quadrature, report)
            report.loglik, posterior = _exact_loglik(matrices, state, self.model, quadrature,
                                                     with_posterior=True)  # fmt: skip
            if posterior is None:
                posterior, _ = _e_step(matrices, state, self.model, quadrature)
            abilities = posterior @ quadrature.fine_nodes
        se_abilities = _ability_se(posterior, quadrature, abilities, state, fitted)
        self.state_ = state
        self.items_ = _expand(_to_parameters(state), self.fitted_)
        if learner_rows is not None:  # rows are patterns or reordered: one per learner
            abilities, se_abilities = abilities[learner_rows], se_abilities[learner_rows]
        self.abilities_ = abilities
        self.se_abilities_ = se_abilities
        item_fit = None
        if self.standard_errors and usable_threads() > 1:
            # The item table needs infit/outfit: compute them beside the standard errors,
            # on a thread of their own (one chunk at a time), so that the two overlap.
            background = ThreadPoolExecutor(1, thread_name_prefix="stepladder-item-fit")
            item_fit = background.submit(_item_fit_in_turn, self.items_, abilities, responses)
            background.shutdown(wait=False)  # the thread ends with its one task
        if not self.standard_errors:
            se = {name: np.full(len(state.a), np.nan) for name in _PARAMETER_NAMES}
        elif posterior is None:
            se = _jml_standard_errors(self.model, state, fitted, abilities, priors)
        else:
            se = cross_product_standard_errors(
                self.model, _to_parameters(state), priors, matrices, quadrature.fold(posterior),
                quadrature.nodes,
            )  # fmt: skip
        self.se_ = {name: _expand_array(values, self.fitted_) for name, values in se.items()}
        if item_fit is not None:
            self._item_fit = item_fit.result()
        report.seconds = time.perf_counter() - started
        self.report_ = report
        return self

    # ----------------------------------------------------------------------------- outputs

    @property
    def n_parameters(self) -> int:
        """Free item parameters (for AIC/BIC)."""
        per_item = {"1pl": 1, "2pl": 2, "3pl": 3, "4pl": 4}[self.model]
        return per_item * int(np.count_nonzero(self.fitted_)) + (1 if self.model == "1pl" else 0)

    def item_fit(self) -> dict[str, np.ndarray]:
        """Infit and outfit mean squares per item at the estimated abilities.

        outfit = mean over responses of z^2 with z = (y - nP) / sqrt(nP(1 - P));
        infit = sum (y - nP)^2 / sum nP(1 - P) (information-weighted). Both ~1 under fit.
        Computed once per fit (the item table and the diagnostics both use them).
        """
        responses = self._require_fit()
        if getattr(self, "_item_fit", None) is None:
            self._item_fit = _item_fit_statistics(self.items_, self.abilities_, responses)
        return {name: values.copy() for name, values in self._item_fit.items()}

    def item_table(self) -> pa.Table:
        """item_id, difficulty, n_responses, p_correct, se_difficulty, discrimination (+ se),
        guessing, slipping (3PL/4PL), infit, outfit and ``flag``: ``no responses``,
        ``all correct`` or ``all wrong`` (not fitted unless ``constant_items="include"``,
        then resting on the priors), null otherwise."""
        responses = self._require_fit()
        items, se = self.items_, self.se_
        columns = {
            "se_difficulty": se["difficulty"],
            "discrimination": items.discrimination,
            "se_discrimination": se["discrimination"],
        }
        if self.model in ("3pl", "4pl"):
            columns.update(guessing=items.guessing, se_guessing=se["guessing"])
        if self.model == "4pl":
            columns.update(slipping=items.slipping, se_slipping=se["slipping"])
        columns.update(self.item_fit())
        columns["flag"] = strings(_flags(responses, self.constant_))
        return item_table(responses, items.difficulty, **columns)

    def learner_table(self) -> pa.Table:
        """learner_id, ability (EAP for MML/MAP, MAP for JML), n_responses, se_ability."""
        responses = self._require_fit()
        return learner_table(responses, self.abilities_, se_ability=self.se_abilities_)

    def summary(self) -> dict[str, Any]:
        """Model, method, sizes, iterations, convergence, log-likelihood, AIC, BIC, seconds,
        priors and :meth:`diagnostics`.

        ``converged`` is False when the penalised log-likelihood fell by more than float32
        noise between EM cycles (then ``monotone`` is False; ``largest_decrease`` is the
        largest fall), whatever the parameter changes.
        """
        responses = self._require_fit()
        report = self.report_
        k = self.n_parameters
        summary = {
            **self._summary_basics(),
            "method": self.method,
            "iterations": report.iterations,
            "converged": report.converged,
            "max_iter": self.max_iter,
            "tolerance": self.tol,
            "monotone": report.monotone,
            "largest_decrease": report.largest_decrease,
            "loglik": report.loglik,
            "n_parameters": k,
            "aic": 2 * k - 2 * report.loglik,
            "bic": k * np.log(responses.n_learners) - 2 * report.loglik,
            "seconds": report.seconds,
            "priors": asdict(self.priors_),
            "diagnostics": self.diagnostics(),
        }
        if self.method == "jml":
            summary["note"] = "loglik is the joint log-likelihood at the estimated abilities"
        return summary

    def diagnostics(self) -> dict[str, Any]:
        """Can the data support this model? Facts about the fit, and advice in one line.

        ``responses_per_parameter``: responses to fitted items per free item parameter.
        ``slope_prior_share``: per item, the share of the discrimination's precision that
        comes from its prior (SE^2 / prior variance, on the log scale for a lognormal
        prior); ``slopes_on_prior`` counts items where it exceeds one half, i.e. whose
        slope the prior rather than the data sets. ``advice`` names ``1pl`` when more than
        half the fitted items' slopes sit on the prior (None when nothing to say).
        """
        self._require_fit()
        fitted = int(np.count_nonzero(self.fitted_))
        attempts = self.responses_.item_attempts()[self.fitted_].sum()
        a, b = self.items_.discrimination, self.items_.difficulty
        fit = self.item_fit()
        share = _slope_prior_share(self.priors_, a, self.se_["discrimination"])
        on_prior = int(np.count_nonzero(share > 0.5))
        facts: dict[str, Any] = {
            "fitted_items": fitted,
            "constant_items": int(np.count_nonzero(self.constant_)),
            "excluded_items": int(np.count_nonzero(~self.fitted_)),
            "responses_per_parameter": float(attempts / self.n_parameters),
            "slopes_on_prior": on_prior if self.model != "1pl" else None,
            "negative_slopes": int(np.count_nonzero(a[self.fitted_] < 0)),
            "difficulties_beyond_6": int(np.count_nonzero(np.abs(b[self.fitted_]) > 6)),
            "misfitting_items": int(np.count_nonzero(np.fmax(fit["infit"], fit["outfit"]) > 2)),
            "advice": None,
        }
        if self.model != "1pl" and on_prior > fitted / 2:
            facts["advice"] = (
                f"the data cannot support a {self.model}: {on_prior:,} of {fitted:,} "
                f"discriminations rest mostly on their prior "
                f"({facts['responses_per_parameter']:.0f} responses per item parameter); "
                "use --model 1pl (or --model auto)"
            )
        return facts


# --------------------------------------------------------------------------------- helpers


def _default_priors(model: str, method: str, constant: bool = False) -> Priors:
    """The default :class:`Priors` for ``mml`` and ``jml``; informative ones for ``map``.

    The 1PL gets no difficulty prior: with one shared slope its difficulties cannot run
    away, and a prior on thousands of them would outweigh the N(0, 1) ability prior of a
    few learners and shrink the whole scale. Only when items everyone answered right (or
    wrong) are fitted (``constant``) does it get delta ~ N(0, 6^2), which keeps them finite.
    """
    if method == "map":
        return Priors.informative()
    if model == "1pl":
        return Priors(difficulty=None, intercept_sd=6.0 if constant else None)
    return Priors()


def _check_fittable(responses: Responses, excluded: int = 0) -> None:
    if responses.n_learners < 2:
        raise ValueError(
            f"IRT needs responses from at least 2 learners, got {responses.n_learners}"
        )
    if responses.n_items < 2:
        if excluded:
            raise ValueError(
                f"IRT needs at least 2 items whose responses vary, got {responses.n_items} "
                f"({excluded} answered all right or all wrong; constant_items='include' fits them)"
            )
        raise ValueError(f"IRT needs at least 2 items, got {responses.n_items}")


def _constant_items(responses: Responses) -> np.ndarray:
    """Answered items every learner answered right, or every learner wrong (per item)."""
    attempts, successes = responses.item_attempts(), responses.item_successes()
    constant = (successes <= 1e-9 * attempts) | (successes >= attempts * (1 - 1e-9))
    return constant & (attempts > 0)


def _flags(responses: Responses, constant: np.ndarray) -> list[str | None]:
    """Per item: ``no responses``, ``all correct``, ``all wrong`` or None."""
    names = np.where(responses.item_p_correct() > 0.5, "all correct", "all wrong")
    unanswered = responses.item_attempts() == 0
    return [
        "no responses" if empty else name if c else None
        for empty, c, name in zip(unanswered, constant, names.tolist(), strict=True)
    ]


def _select_items(responses: Responses, keep: np.ndarray) -> Responses:
    """The responses to the ``keep`` items, renumbered; every learner is kept."""
    if keep.all():
        return responses
    rows = keep[responses.item]
    renumber = np.cumsum(keep) - 1
    return Responses(responses.learner[rows], renumber[responses.item[rows]],
                     responses.successes[rows], responses.trials[rows], responses.learner_ids,
                     responses.item_ids.filter(pa.array(keep)))  # fmt: skip


def _expand_array(values: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    out = np.full(len(fitted), np.nan)
    out[fitted] = values
    return out


def _expand(items: ItemParameters, fitted: np.ndarray) -> ItemParameters:
    """One entry per item of the log, NaN for the items left out of the fit."""
    return ItemParameters(
        *(_expand_array(getattr(items, name), fitted) for name in _PARAMETER_NAMES)
    )


def _slope_prior_share(priors: Priors, a: np.ndarray, se: np.ndarray) -> np.ndarray:
    """SE^2 / prior variance of each discrimination (log scale for a lognormal prior)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if priors.log_discrimination is not None:
            return (se / np.abs(a)) ** 2 / priors.log_discrimination[1] ** 2
        if priors.discrimination is not None:
            return se**2 / priors.discrimination[1] ** 2
    return np.zeros_like(a)


def _exact_loglik(matrices: ResponseMatrices, state: _State, model: str,
                  quadrature: Quadrature, budget: float | None = None,
                  with_posterior: bool = False) -> Any:  # fmt: skip
    """Marginal log-likelihood at ``state`` in float64, summed over learners.

    Each learner's log-likelihood is computed in float64 (products of blocks of rows) at
    every fine quadrature node when cells x fine nodes stays within ``budget`` (by default
    1e10 for dense matrices, 1e9 for sparse ones: about a second or two); beyond that, at
    the coarse nodes and carried onto the fine grid by the fit's cubic spline (off by ~1
    in 10^6 on 1,000 learners x 4,000 items). ``with_posterior``: also return the
    posteriors over the fine grid that the latter computes on the way (None otherwise),
    ``(loglik, posterior)``.
    """
    successes, attempts = matrices.successes, matrices.attempts
    n_learners, n_items = attempts.shape
    cells = attempts.size if matrices.dense else attempts.nnz
    if budget is None:
        budget = 1e10 if matrices.dense else 1e9
    exact = cells * len(quadrature.fine_nodes) <= budget
    nodes = quadrature.fine_nodes if exact else quadrature.nodes
    node_step = max(1, 8_000_000 // n_items) if exact else len(nodes)
    row_step = max(1, EXACT_CELLS // n_items)
    total = np.full(n_learners, -np.inf)
    posterior = None
    if with_posterior and not exact:
        posterior = np.empty((n_learners, len(quadrature.fine_nodes)))
    for start in range(0, len(nodes), node_step):
        part = slice(start, start + node_step)
        log_p, log_q = _log_probabilities(state, nodes[part], model)

        def rows_block(first: int, part=part, log_p=log_p, log_q=log_q) -> None:
            # Blocks write their own rows: they run on the worker threads.
            rows = slice(first, first + row_step)
            block = successes[rows].astype(np.float64)
            if model in ("1pl", "2pl"):  # Y @ (log P - log Q) = (Y a) theta + Y delta
                loglik = np.outer(block @ state.a, nodes[part]) + (block @ state.delta)[:, None]
            else:
                loglik = block @ (log_p - log_q)
            loglik = np.asarray(loglik + attempts[rows].astype(np.float64) @ log_q)
            if exact:
                joint = log_sum_exp(loglik + quadrature.log_weights[part])
                total[rows] = np.logaddexp(total[rows], joint)
            elif posterior is None:
                total[rows] = quadrature.posterior(loglik)[1]
            else:
                posterior[rows], total[rows] = quadrature.posterior(loglik)

        in_threads(rows_block, range(0, n_learners, row_step))
    loglik = float(matrices.learner_total(total))
    return (loglik, posterior) if with_posterior else loglik


#: Responses from which a fit runs its blocks on the worker threads (below, the hand-offs
#: cost more than the threads save: a 20,000 x 5 fit took 2-3x the CPU on two threads).
THREADED_MIN_RESPONSES = 2_000_000

#: Learner x item cells per block of :func:`_exact_loglik` (16 MiB float64 copies; fewer,
#: larger BLAS calls than cache-sized blocks, which cost thread wake-ups on a busy machine).
EXACT_CELLS = 1 << 21


def _initial_state(responses: Responses, model: str) -> _State:
    """Start from the logit of each item's smoothed pass rate, a = 1."""
    n = responses.n_items
    attempts, total = responses.item_attempts(), responses.item_successes()
    p = (total + 0.5) / (attempts + 1.0)
    delta = np.log(p / (1 - p)) * 1.2  # rough inflation for the ability spread
    c = np.full(n, 0.1 if model in ("3pl", "4pl") else 0.0)
    d = np.full(n, 0.95 if model == "4pl" else 1.0)
    return _State(np.ones(n), delta, c, d)


def _log_probabilities(state: _State, nodes: np.ndarray, model: str):
    """log P and log(1 - P) at every (item, node)."""
    z = state.logits(nodes)
    if model in ("1pl", "2pl"):
        log_q = -_softplus(z)
        return z + log_q, log_q
    f = expit(z)
    p = np.clip(state.c[:, None] + (state.d - state.c)[:, None] * f, _EPS, 1 - _EPS)
    return np.log(p), np.log1p(-p)


def _e_step(matrices, state, model, quadrature: Quadrature) -> tuple[np.ndarray, np.ndarray]:
    """Posterior over the fine grid (learners x fine nodes) and marginal log-likelihoods."""
    nodes = quadrature.nodes
    log_p, log_q = _log_probabilities(state, nodes, model)
    if model in ("1pl", "2pl"):
        # Y @ (log P - log Q) = Y @ logits is rank two: (Y a) theta + Y delta.
        sums = matrices.learner_sums(np.column_stack([state.a, state.delta]), of="successes")
        loglik = np.outer(sums[:, 0], nodes)
        loglik += sums[:, 1:]
        loglik += matrices.learner_products(None, log_q)
    else:
        loglik = matrices.learner_products(log_p - log_q, log_q)
    return quadrature.posterior(loglik)


def _fit_em(irt: IRT, matrices, state, priors, quadrature, report) -> tuple[_State, FitReport]:
    """PX-EM accelerated by SQUAREM (Varadhan & Roland, "Simple and globally convergent
    methods for accelerating the convergence of any EM algorithm", 2008), scheme S3.

    Each cycle takes two EM steps x1 = F(x0), x2 = F(x1), extrapolates
    x' = x0 - 2 s r + s^2 v with r = x1 - x0, v = x2 - x1 - r, s = -|r| / |v| (s <= -1), and
    takes one EM step from x'. A cycle whose penalised log-likelihood falls below that of x2
    keeps x2. Parameter expansion is not guaranteed to be monotone once item priors matter
    (few learners per item): if a PX step lowers the penalised log-likelihood, the fit goes
    on with plain EM. The item priors act on the standardised items, so the ability mean and
    sd of the expansion are chosen with them (:func:`_expansion_with_priors`, a conditional
    maximisation step), which keeps PX-EM an ECM algorithm whose fixed point is the
    penalised optimum. Under ``Priors.weak()`` the plain moments are kept: the abilities
    are standardised to N(0, 1) as in plain MML, and the weak priors only keep estimates
    finite (with thousands of items their pull on the overall scale would otherwise rival
    the ability prior's). Converged when one EM step moves no parameter more than ``tol``.
    """
    success_totals = matrices.item_sums(np.ones(matrices.successes.shape[0]), of="successes")
    expand = True
    fine_m_step = _fine_m_step(irt.model, quadrature)
    exact_counts = fine_m_step or quadrature.refine == 1
    class_steps = LATENT_CLASS_STEPS if exact_counts else 1

    def em_step(current: _State) -> tuple[_State, float]:
        """One EM step, and the penalised log-likelihood at ``current``."""
        posterior, marginal = _e_step(matrices, current, irt.model, quadrature)
        # PX-EM: run the M-step on the abilities re-expressed as z = (theta - mean) / sd.
        mean, sd = 0.0, 1.0
        if expand:
            mean, sd = _ability_moments(posterior, quadrature.fine_nodes, matrices)
            if priors != Priors.weak():
                mean, sd = _expansion_with_priors(current, priors, irt.model, mean, sd,
                                                  matrices.n_learners)  # fmt: skip
        expanded = _State(current.a * sd, current.delta + current.a * mean, current.c, current.d)
        if fine_m_step:  # exact expected counts on the fine grid: no folding to correct
            folded, excess, nodes = posterior, np.zeros(len(posterior)), quadrature.fine_nodes
        else:
            folded, excess = quadrature.fold(posterior), quadrature.variance_added(posterior)
            nodes = quadrature.nodes
        updated = _m_step(irt.model, expanded, matrices, folded, excess / sd**2,
                          (nodes - mean) / sd, priors, success_totals, class_steps)  # fmt: skip
        objective = float(matrices.learner_total(marginal))
        return updated, objective + _log_prior(current, priors, irt.model)

    bar = tqdm(
        total=irt.max_iter, desc=f"IRT {irt.model}", unit="EM step", disable=not irt.progress
    )

    def count(steps: int = 1) -> None:
        report.iterations += steps
        bar.update(steps)

    try:
        while report.iterations < irt.max_iter:
            x0 = state.vector()
            first, objective0 = em_step(state)
            count()
            r = first.vector() - x0
            change = float(np.max(np.abs(r)))
            report.loglik_history.append(objective0)
            bar.set_postfix(objective=f"{objective0:.1f}", change=f"{change:.1e}")
            if change < irt.tol:
                state, report.converged = first, True
                break
            if report.iterations >= irt.max_iter:
                state = first
                break
            second, objective1 = em_step(first)
            count()
            if expand and objective1 < objective0 - _NOISE * abs(objective0):
                expand = False  # the expanded step went downhill: continue with plain EM
                continue
            if report.iterations >= irt.max_iter:
                state = second
                break
            v = second.vector() - first.vector() - r
            norm_v = float(np.sqrt(np.sum(v * v)))  # not BLAS: the same on any number of threads
            step = min(-float(np.sqrt(np.sum(r * r))) / norm_v, -1.0) if norm_v > 0 else -1.0
            jumped = _State.from_vector(x0 - 2 * step * r + step**2 * v)
            if not np.isfinite(_log_prior(jumped, priors, irt.model)):
                state = second  # outside the prior's support (a slope <= 0 under a lognormal)
                continue
            landed, objective_jump = em_step(jumped)
            count()
            tolerance = _NOISE * abs(objective1)
            if np.isfinite(objective_jump) and objective_jump >= objective1 - tolerance:
                state = landed
            else:
                state = second  # the extrapolation overshot: keep the plain EM step
    finally:
        bar.close()
    report.expanded = expand
    history = np.asarray(report.loglik_history)
    if len(history) > 1:
        falls = history[:-1] - history[1:] - _DECREASE_TOLERANCE * np.abs(history[:-1])
        report.largest_decrease = float(max(0.0, np.max(history[:-1] - history[1:])))
        if np.any(falls > 0):  # not an ascent: whatever the parameter changes say
            report.converged = report.monotone = False
    return state, report


def _expansion_with_priors(state, priors, model, mean, sd, n_learners) -> tuple[float, float]:
    """The PX-EM ability mean and sd: the maximiser of the expected N(mean, sd^2) log density
    of the abilities plus the log prior of the items re-expressed on the standardised scale
    (a sd, delta + a mean), searched from the posterior moments (the maximiser without
    priors). Taking the moments alone ignores the priors, and the fit then stops short of
    the penalised optimum (103 below it on the 22 x 2,854 LLM matrix).

    Newton's method in (m, log s) with the analytic gradient (:func:`_log_prior_gradient`)
    and its finite-difference Jacobian, each step halved until the objective does not fall:
    a few dozen passes over the items where Nelder-Mead needed about a thousand.
    """
    spread = sd**2

    def value(x: np.ndarray) -> float:
        m, s = x[0], np.exp(x[1])
        ability = -n_learners * (x[1] + (spread + (mean - m) ** 2) / (2 * s**2))
        moved = _State(state.a * s, state.delta + state.a * m, state.c, state.d)
        total = ability + _log_prior(moved, priors, model)
        return total if np.isfinite(total) else -np.inf

    def gradient(x: np.ndarray) -> np.ndarray:
        m, s = x[0], np.exp(x[1])
        moved = _State(state.a * s, state.delta + state.a * m, state.c, state.d)
        g_a, g_delta = _log_prior_gradient(moved, priors, model)
        spread_m = spread + (mean - m) ** 2
        # Elementwise sums, not BLAS dot products: the same result on any number of threads.
        d_mean = n_learners * (mean - m) / s**2 + np.sum(g_delta * state.a)
        d_log_sd = -n_learners * (1 - spread_m / s**2) + np.sum(g_a * state.a) * s
        return np.array([d_mean, d_log_sd])

    x = np.array([mean, np.log(sd)])
    current = value(x)
    for _ in range(100):
        g = gradient(x)
        h = 1e-6
        jacobian = np.column_stack([(gradient(x + h * e) - g) / h for e in np.eye(2)])
        hessian = 0.5 * (jacobian + jacobian.T)
        damping = 0.0
        while np.linalg.eigvalsh(hessian - damping * np.eye(2))[-1] >= 0:
            damping = max(2 * damping, 1.0)
        step = -np.linalg.solve(hessian - damping * np.eye(2), g)
        if np.max(np.abs(step)) < 1e-10:
            break  # converged: the objective is flat to rounding here
        for _ in range(30):
            trial = value(x + step)
            if trial >= current:
                break
            step /= 2
        else:
            break
        x, current = x + step, trial
    return float(x[0]), float(np.exp(x[1]))


def _log_prior_gradient(state: _State, priors: Priors, model: str) -> tuple[np.ndarray, ...]:
    """Gradient of :func:`_log_prior` in each item's (a, delta); the 1PL's shared slope
    carries the slope prior once (on the first item)."""
    _, g_slope, _ = slope_prior(priors, state.a)
    if model == "1pl":
        g_slope = np.where(np.arange(len(state.a)) == 0, g_slope, 0.0)
    _, g_a, g_delta, *_ = location_prior(priors, state.a, state.delta)
    return g_a + g_slope, g_delta


def _log_prior(state: _State, priors: Priors, model: str) -> float:
    """Log density (up to constants) of the item priors at ``state`` (-inf if impossible).

    The 1PL's shared discrimination carries its prior once, not once per item.
    """
    slope = slope_prior(priors, state.a[:1] if model == "1pl" else state.a)[0]
    value = float(np.sum(slope) + np.sum(location_prior(priors, state.a, state.delta)[0]))
    if model in ("3pl", "4pl"):
        ga, gb = priors.guessing
        c = np.clip(state.c, _EPS, 1 - _EPS)
        value += np.sum((ga - 1) * np.log(c) + (gb - 1) * np.log1p(-c))
    if model == "4pl":
        sa, sb = priors.slipping
        slip = np.clip(1 - state.d, _EPS, 1 - _EPS)
        value += np.sum((sa - 1) * np.log(slip) + (sb - 1) * np.log1p(-slip))
    return float(value)


def _ability_moments(posterior: np.ndarray, nodes: np.ndarray,
                     matrices: ResponseMatrices) -> tuple[float, float]:  # fmt: skip
    """Mean and sd of the ability distribution implied by the learners' posteriors.

    Parameter-expanded EM (Liu, Rubin & Wu, "Parameter expansion to accelerate EM: the PX-EM
    algorithm", 1998) treats them as free: the M-step fits the items to the standardised
    abilities z = (theta - mean) / sd, which is the same model with logit
    a (mean + sd z) + delta, so the items stay on the N(0, 1) scale while the priors still
    act on the parameters being estimated. With many responses per learner, posteriors
    barely feel the N(0, 1) prior, so plain EM moves the overall scale by a tiny fraction per
    iteration (and stops early, far from the optimum); this moves it all the way.
    """
    n_learners = matrices.n_learners
    mean = float(matrices.learner_total(posterior @ nodes)) / n_learners
    second = float(matrices.learner_total(posterior @ nodes**2)) / n_learners
    return mean, float(np.sqrt(max(second - mean**2, 1e-12)))


def _m_step(model, state, matrices, posterior, excess, nodes, priors, success_totals,
            class_steps: int = 1) -> _State:  # fmt: skip
    """One M-step on the expected complete-data log-likelihood, independently per item.

    ``posterior`` is on the coarse nodes; ``excess`` is the variance folding added per
    learner, used to correct the expected attempts to second order. For 1PL/2PL the
    expected successes enter only through their sum (a constant) and first moment over
    nodes, ``Y.T @ (posterior @ nodes)``: one matrix-vector product. The 3PL/4PL get exact
    counts (no folding, see :func:`_fine_m_step`), which :func:`_guessing_m_step` maximises
    in up to ``class_steps`` Newton steps; nodes where no learner has posterior mass add
    nothing to any item's sums and are dropped (half the fine grid of an LLM matrix).
    """
    c, d = state.c, state.d
    if model in ("1pl", "2pl"):
        both = matrices.item_products(
            np.concatenate([posterior, excess[:, None] * posterior], axis=1),
            of="attempts",
            groups=2,
        )
        attempts, curvature = np.split(both, 2, axis=1)
        first_moment = matrices.item_sums(posterior @ nodes, of="successes")
        held = attempts.any(axis=0)  # nodes beyond every learner's posterior add nothing
        if not held.all():
            attempts, curvature = attempts[:, held], curvature[:, held]
            nodes = nodes[held]
        a, delta = _logistic_newton(model, state.a, state.delta, success_totals, first_moment,
                                    attempts, nodes, priors, curvature)  # fmt: skip
        return _State(a, delta, c, d)
    held = posterior.any(axis=0)
    if not held.all():
        posterior, nodes = np.ascontiguousarray(posterior[:, held]), nodes[held]
    attempts = matrices.item_products(posterior, of="attempts")
    successes = matrices.item_products(posterior, of="successes")
    return _guessing_m_step(model, state, successes, attempts, nodes, priors, class_steps)


def _fine_m_step(model: str, quadrature: Quadrature) -> bool:
    """Whether the M-step runs on the fine grid: always for the 3PL/4PL (when the grid is
    refined). Their guessing/slipping step has no folding correction (the second-order one is
    for the logistic part only), and on the folded coarse counts EM drifts downhill, even one
    step per E-step: on ltm's Mobility data the penalised log-likelihood peaked at -23143.56
    and fell to -23159.90 (tests/difficulty/test_irt_reference.py). On the exact fine-grid
    counts the M-step (:func:`_guessing_m_step`) maximises the exact expected
    log-likelihood."""
    return model in ("3pl", "4pl") and quadrature.refine != 1


#: Newton steps of one 3PL/4PL M-step on the expected counts of one E-step, at most, and
#: the parameter change below which an item has converged.
LATENT_CLASS_STEPS = 50
LATENT_CLASS_TOL = 1e-7


def _guessing_m_step(model, state, successes, attempts, nodes, priors,
                     steps: int = LATENT_CLASS_STEPS) -> _State:  # fmt: skip
    """The 3PL/4PL M-step: per item, maximise the expected log-likelihood on fixed counts
    (expected successes and attempts per node) plus the log priors, by Newton's method in
    (a, delta, c[, d]) with a line search (:func:`_guessing_newton`), as the Bock-Aitkin
    M-step does. Stops when no parameter moves more than ``LATENT_CLASS_TOL``, or after
    ``steps`` steps.

    Items are independent: they run in blocks of ``NEWTON_CELLS`` (item, node) cells side
    by side on the worker threads, as the 2PL's Newton steps do, with the same result. The
    cost is (items x nodes with posterior mass) per Newton step, a handful of steps per
    E-step. (An earlier version alternated latent-class "knew it / guessed" steps for c with
    Newton steps for (a, delta): the same maximiser, but 50 passes per E-step still left
    items 1e-3 short of it.)
    """
    names = ("a", "delta", "c", "d") if model == "4pl" else ("a", "delta", "c")
    x = np.column_stack([getattr(state, name) for name in names])
    block = max(1, NEWTON_CELLS // len(nodes))

    def run(start: int) -> None:
        part = slice(start, start + block)
        rows = (np.ascontiguousarray(successes[part]), np.ascontiguousarray(attempts[part]))
        x[part] = _guessing_newton(model, x[part], *rows, nodes, priors, steps)

    in_threads(run, range(0, len(x), block))
    d = x[:, 3] if model == "4pl" else state.d
    return _State(x[:, 0].copy(), x[:, 1].copy(), x[:, 2].copy(), np.asarray(d).copy())


def _guessing_objective(model, x, successes, failures, nodes, priors):
    """Per item, the expected log-likelihood sum_q R_q log P_q + (N_q - R_q) log(1 - P_q)
    plus the log priors, at parameters ``x`` = (a, delta, c[, d]) per row; and the logistic
    part F and P at every (item, node)."""
    a, delta, c = x[:, 0], x[:, 1], x[:, 2]
    d = x[:, 3] if model == "4pl" else 1.0
    z = a[:, None] * nodes + delta[:, None]
    np.negative(z, out=z)
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += 1.0
    f = np.reciprocal(z, out=z)  # sigmoid: 0 where exp overflowed
    p = np.clip(c[:, None] + (d - c)[:, None] * f, _EPS, 1 - _EPS)
    value = _row_dots(successes, np.log(p)) + _row_dots(failures, np.log1p(-p))
    value += slope_prior(priors, a)[0] + location_prior(priors, a, delta)[0]
    ga, gb = priors.guessing
    safe = np.clip(c, _EPS, 1 - _EPS)
    value += (ga - 1) * np.log(safe) + (gb - 1) * np.log1p(-safe)
    if model == "4pl":
        sa, sb = priors.slipping
        slip = np.clip(1 - x[:, 3], _EPS, 1 - _EPS)
        value += (sa - 1) * np.log(slip) + (sb - 1) * np.log1p(-slip)
    return value, f, p


def _guessing_newton(model, x, successes, attempts, nodes, priors, steps) -> np.ndarray:
    """Newton ascent for one block of 3PL/4PL items (see :func:`_guessing_m_step`).

    P = c + (d - c) F(a theta + delta). The Newton matrix is minus the exact Hessian of the
    objective where that is positive definite, else the Gauss-Newton matrix sum_q
    (R_q / P_q^2 + (N_q - R_q) / (1 - P_q)^2) dP dP^T plus the priors' Fisher curvatures
    (positive definite): either way an ascent direction. Steps are scaled so that a and delta
    move at most 1 and a lognormal slope at most halves, c and d are projected onto their
    bounds (a bound that the gradient pushes against holds its parameter), and each item's
    step is halved until its objective does not fall.
    """
    k = x.shape[1]
    failures = attempts - successes
    powers = np.column_stack([np.ones_like(nodes), nodes, nodes**2])
    ceiling = GUESSING_CEILING_4PL if model == "4pl" else GUESSING_CEILING_3PL
    lower = np.array([-np.inf, -np.inf, 0.0, 0.5][:k])
    upper = np.array([np.inf, np.inf, ceiling, 1.0][:k])
    before, f, p = _guessing_objective(model, x, successes, failures, nodes, priors)
    ga, gb = priors.guessing
    sa, sb = priors.slipping
    for _ in range(steps):
        a, delta, c = x[:, 0], x[:, 1], x[:, 2]
        d = x[:, 3] if model == "4pl" else np.ones_like(c)
        u = f * (1 - f)
        h = (d - c)[:, None] * u  # dP / d delta
        w = successes / p - failures / (1 - p)  # d loglik / dP
        v = successes / p**2 + failures / (1 - p) ** 2  # -d2 loglik / dP2
        wh = (w * h) @ powers[:, :2]
        curve = (w * h * (1 - 2 * f)) @ powers  # second derivatives of P in (a, delta)
        cross = (w * u) @ powers[:, :2]  # d2 P / d(a, delta) dc = -u (theta, 1); dd: +u
        vh = v * h
        outer = (vh * h) @ powers
        outer_c = (vh * (1 - f)) @ powers[:, :2]
        gradient = np.zeros_like(x)
        exact = np.zeros((len(x), k, k))
        gauss = np.zeros((len(x), k, k))
        gradient[:, 0], gradient[:, 1] = wh[:, 1], wh[:, 0]
        gradient[:, 2] = _row_dots(w, 1 - f)
        for i, j, power in ((0, 0, 2), (0, 1, 1), (1, 1, 0)):
            gauss[:, i, j] = outer[:, power]
            exact[:, i, j] = outer[:, power] - curve[:, power]
        gauss[:, 0, 2], gauss[:, 1, 2] = outer_c[:, 1], outer_c[:, 0]
        exact[:, 0, 2], exact[:, 1, 2] = outer_c[:, 1] + cross[:, 1], outer_c[:, 0] + cross[:, 0]
        gauss[:, 2, 2] = exact[:, 2, 2] = _row_dots(v, (1 - f) ** 2)
        if model == "4pl":
            gradient[:, 3] = _row_dots(w, f)
            outer_d = (vh * f) @ powers[:, :2]
            gauss[:, 0, 3], gauss[:, 1, 3] = outer_d[:, 1], outer_d[:, 0]
            exact[:, 0, 3] = outer_d[:, 1] - cross[:, 1]
            exact[:, 1, 3] = outer_d[:, 0] - cross[:, 0]
            gauss[:, 2, 3] = exact[:, 2, 3] = _row_dots(v, f * (1 - f))
            gauss[:, 3, 3] = exact[:, 3, 3] = _row_dots(v, f * f)
        # Priors: gradients, Fisher curvatures (both matrices), exact corrections (exact only).
        _, g_slope, h_slope = slope_prior(priors, a)
        _, g_a, g_d, h_aa, h_ad, h_dd = location_prior(priors, a, delta)
        gradient[:, 0] += g_slope + g_a
        gradient[:, 1] += g_d
        for matrix in (gauss, exact):
            matrix[:, 0, 0] += h_slope + h_aa
            matrix[:, 0, 1] += h_ad
            matrix[:, 1, 1] += h_dd
        exact_aa, exact_ad = _prior_curvature_corrections(priors, a, delta)
        exact[:, 0, 0] += exact_aa
        exact[:, 0, 1] += exact_ad
        safe_c = np.clip(c, _EPS, 1 - _EPS)
        gradient[:, 2] += (ga - 1) / safe_c - (gb - 1) / (1 - safe_c)
        beta_c = (ga - 1) / safe_c**2 + (gb - 1) / (1 - safe_c) ** 2
        exact[:, 2, 2] += beta_c
        gauss[:, 2, 2] += np.maximum(beta_c, 0.0)
        if model == "4pl":
            slip = np.clip(1 - d, _EPS, 1 - _EPS)
            gradient[:, 3] -= (sa - 1) / slip - (sb - 1) / (1 - slip)
            beta_d = (sa - 1) / slip**2 + (sb - 1) / (1 - slip) ** 2
            exact[:, 3, 3] += beta_d
            gauss[:, 3, 3] += np.maximum(beta_d, 0.0)
        # A parameter on a bound that the gradient pushes against stays there.
        held = ((x <= lower) & (gradient < 0)) | ((x >= upper) & (gradient > 0))
        gradient[held] = 0.0
        matrix = np.where((np.linalg.eigvalsh(_symmetric(exact))[:, 0] > 0)[:, None, None],
                          exact, gauss)  # fmt: skip
        matrix = _symmetric(matrix)
        free = ~held
        matrix *= free[:, :, None] & free[:, None, :]
        matrix[held] += np.eye(k)[np.nonzero(held)[1]]  # unit rows for held parameters
        matrix += np.eye(k) * (1e-12 * np.abs(np.diagonal(matrix, axis1=1, axis2=2)).max(axis=1)
                               + 1e-300)[:, None, None]  # fmt: skip
        step = np.linalg.solve(matrix, gradient[:, :, None])[:, :, 0]
        step[~np.isfinite(step).all(axis=1)] = 0.0
        scale = _step_scale("3pl", priors, a, step[:, 0], step[:, 1])
        for _ in range(30):  # backtracking, vectorised over items
            trial = np.clip(x + scale[:, None] * step, lower, upper)
            after, f_after, p_after = _guessing_objective(model, trial, successes, failures,
                                                          nodes, priors)  # fmt: skip
            worse = ~(after >= before)
            # A step below the tolerance that does not gain (rounding) is not taken.
            tiny = np.max(np.abs(trial - x), axis=1) < LATENT_CLASS_TOL
            if not (worse & ~tiny).any():
                break
            scale = np.where(worse, scale / 2, scale)
        moved = np.where(worse[:, None], 0.0, trial - x)
        x = np.where(worse[:, None], x, trial)
        before = np.where(worse, before, after)
        f, p = np.where(worse[:, None], f, f_after), np.where(worse[:, None], p, p_after)
        if np.max(np.abs(moved), initial=0.0) < LATENT_CLASS_TOL:
            break
    return x


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    """The symmetric matrices whose upper triangles are those of ``matrix`` (stacked)."""
    upper = np.triu(matrix)
    return upper + np.swapaxes(np.triu(matrix, 1), 1, 2)


def _prior_curvature_corrections(priors: Priors, a: np.ndarray, delta: np.ndarray):
    """Minus the exact Hessian of the slope and location priors, less their Fisher
    curvatures (:mod:`~stepladder.difficulty._priors`), in (a, a) and (a, delta): the
    lognormal's -(log a - m) / (s a)^2, and the difficulty prior's (b - m) / s^2 times the
    Hessian of b = -delta / a."""
    aa, ad = np.zeros_like(a), np.zeros_like(a)
    if priors.log_discrimination is not None:
        mean, sd = priors.log_discrimination
        positive = a > 0
        safe = np.where(positive, a, 1.0)
        aa -= np.where(positive, (np.log(safe) - mean) / (sd * safe) ** 2, 0.0)
    if priors.difficulty is not None:
        mean, sd = priors.difficulty
        safe = np.where(np.abs(a) < 1e-6, np.copysign(1e-6, a), a)
        residual = (-delta / safe - mean) / sd**2
        aa += residual * (-2 * delta / safe**3)
        ad += residual / safe**2
    return aa, ad


def _guessing_ceiling(d: np.ndarray) -> np.ndarray:
    """Upper bound of the guessing floor c where the model is not known (an extrapolated
    state): 0.5 while a 4PL ceiling d is below 1, else 0.99. The M-step bounds c by the model:
    0.5 for the 4PL (c and d keep to their own halves, so the asymptotes cannot swap), 0.99
    for the 3PL. ML 3PL
    optima above 0.5 occur on real data: c = 0.54 on WIRS item 2 and 0.60 on deAyala item 1,
    where mirt finds them (tests/difficulty/test_irt_reference.py)."""
    return np.where(d < 1.0, GUESSING_CEILING_4PL, GUESSING_CEILING_3PL)


#: Upper bounds of the guessing floor c (see :func:`_guessing_ceiling`).
GUESSING_CEILING_3PL = 0.99
GUESSING_CEILING_4PL = 0.5


#: (item, node) cells per block of the M-step's Newton steps (512 KiB a float64 array).
NEWTON_CELLS = 1 << 16


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) = -log(1 - sigmoid(z)), to full relative precision for any z, from
    NumPy's vectorised exp and log1p (np.logaddexp and SciPy's log_expit and expit are
    scalar loops, 3-6x slower on the M-step's items x nodes arrays).

    Example:
        >>> _softplus(np.array([-800.0, -30.0, 0.0, 800.0])).round(15).tolist()
        [0.0, 0.0, 0.693147180559945, 800.0]
    """
    out = np.abs(z)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(z, 0.0)
    return out


def _row_dots(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row, the sum of x * y (no temporary the size of x)."""
    return np.einsum("ij,ij->i", x, y)


def _logistic_objective(model, a, delta, success_sum, success_moment, attempts, nodes, priors,
                        curvature) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Expected complete-data log-likelihood plus log prior, logit = a * theta + delta: one
    value per item, or (1PL, whose slope is shared) their sum as a 1-element array; and
    P = sigmoid(logit) at every (item, node), which the Newton step needs next.

    sum_q R_q z_q - N_q softplus(z_q) needs successes only through their sum and first moment;
    the folding correction adds E[excess * a^2 P (1 - P)] / 2 (the softplus curvature).
    """
    z = a[:, None] * nodes + delta[:, None]
    softplus = _softplus(z)
    p = np.exp(z - softplus)  # sigmoid(z), to the relative precision of its logarithm
    value = a * success_moment + delta * success_sum - _row_dots(attempts, softplus)
    value += 0.5 * a**2 * _row_dots(curvature, p * (1 - p))
    value += location_prior(priors, a, delta)[0]
    if model == "1pl":
        return np.array([value.sum() + slope_prior(priors, a[:1])[0][0]]), p
    return value + slope_prior(priors, a)[0], p


def _logistic_newton(model, a, delta, success_sum, success_moment, attempts, nodes, priors,
                     curvature, steps: int = 2):  # fmt: skip
    """Newton ascent steps of the per-item weighted logistic regression of successes on nodes.

    logit = a * theta + delta; the objective (:func:`_logistic_objective`) is concave in
    (a, delta) up to the small folding correction and the priors' non-concave parts, so the
    Newton matrix uses positive curvatures only (data weights without the folding
    correction, the priors' Fisher curvatures): it is positive definite, each step is an
    ascent direction, and each step is halved until the objective does not decrease (a
    generalised EM step, monotone even for items whose responses nearly separate). The 1PL
    step is the joint Newton step in (shared a, every delta), by the Schur complement of
    the arrow-shaped matrix, with one line search on the summed objective.
    The gradient's expected terms E[N P] and E[N theta P] are corrected by -E[excess * g''] / 2
    for the variance that folding added (``curvature`` = N.T @ (excess * posterior)).

    Items other than the 1PL's are independent: they run in blocks of ``NEWTON_CELLS``
    (item, node) cells, whose temporaries stay in cache, side by side on the worker threads
    (:func:`~stepladder.difficulty._design.in_threads`), with the same result.
    """
    block = max(1, NEWTON_CELLS // len(nodes))
    if model != "1pl" and len(a) > block:
        a, delta = a.copy(), delta.copy()

        def run(start: int) -> None:
            part = slice(start, start + block)
            a[part], delta[part] = _logistic_newton(
                model, a[part], delta[part], success_sum[part], success_moment[part],
                np.ascontiguousarray(attempts[part]), nodes, priors,
                np.ascontiguousarray(curvature[part]), steps,
            )  # fmt: skip

        in_threads(run, range(0, len(a), block))
        return a, delta
    args = (success_sum, success_moment, attempts, nodes, priors, curvature)
    before, p = _logistic_objective(model, a, delta, *args)
    powers = np.column_stack([np.ones_like(nodes), nodes, nodes**2])  # sums, moments
    for _ in range(steps):
        slope = p * (1 - p)
        # Sums over nodes as one small product each (a block has at most NEWTON_CELLS
        # cells: below OpenBLAS's threading threshold, so it runs on the calling thread).
        expected = (attempts * p) @ powers[:, :2]
        weight = (attempts * slope) @ powers
        # Second derivatives in theta of P and of theta * P, for the folding correction:
        # P'' = a^2 P (1 - P) (1 - 2P) and (theta P)'' = 2 a P (1 - P) + theta P''.
        p_second = curvature * slope
        corrections = (p_second * (1 - 2 * p)) @ powers[:, :2]
        corrections *= (a**2)[:, None]
        _, prior_a, prior_d, prior_aa, prior_ad, prior_dd = location_prior(priors, a, delta)
        g_delta = success_sum - expected[:, 0] + 0.5 * corrections[:, 0] + prior_d
        g_a = success_moment - expected[:, 1] + prior_a
        g_a += 0.5 * (2 * a * p_second.sum(axis=1) + corrections[:, 1])
        h_dd = weight[:, 0] + prior_dd
        h_aa = weight[:, 2] + prior_aa
        h_ad = weight[:, 1] + prior_ad
        g_a, h_aa = _add_slope_prior(model, priors, a, g_a, h_aa)
        step_a, step_d = _newton_direction(model, g_a, g_delta, h_aa, h_ad, h_dd)
        scale = _step_scale(model, priors, a, step_a, step_d)
        for _ in range(20):  # backtracking, vectorised over items
            after, p_after = _logistic_objective(model, a + scale * step_a,
                                                 delta + scale * step_d, *args)  # fmt: skip
            worse = ~(after >= before - 1e-9 * np.abs(before))
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        # Items whose step failed keep their parameters (also when the step is not finite).
        a, delta = (
            np.where(worse, a, a + scale * step_a),
            np.where(worse, delta, delta + scale * step_d),
        )
        before = np.where(worse, before, after)
        kept = np.broadcast_to(worse, a.shape)  # the 1PL's one flag stands for every item
        p_after[kept] = p[kept]
        p = p_after
    return a, delta


def _to_parameters(state: _State) -> ItemParameters:
    safe_a = np.where(np.abs(state.a) < 1e-6, 1e-6, state.a)
    return ItemParameters(
        discrimination=state.a.copy(),
        difficulty=-state.delta / safe_a,
        guessing=state.c.copy(),
        slipping=1.0 - state.d,
    )


def _response_probabilities(items: ItemParameters, theta: np.ndarray, responses: Responses):
    i, j = responses.item, responses.learner
    f = expit(items.discrimination[i] * (theta[j] - items.difficulty[i]))
    return items.guessing[i] + (1 - items.slipping[i] - items.guessing[i]) * f


def _item_fit_in_turn(items: ItemParameters, abilities: np.ndarray,
                     responses: Responses) -> dict[str, np.ndarray]:  # fmt: skip
    """:func:`_item_fit_statistics` with its chunks in turn on the calling thread."""
    with blocks_in_turn():
        return _item_fit_statistics(items, abilities, responses)


def _item_fit_statistics(items: ItemParameters, abilities: np.ndarray, responses: Responses,
                         chunk: int = CHUNK_ROWS) -> dict[str, np.ndarray]:  # fmt: skip
    """Infit and outfit (see :meth:`IRT.item_fit`), summed over blocks of ``chunk`` rows so
    that no float64 array the length of the log is ever made (the blocks on the worker
    threads; the sums are the same on any number). The sigmoid is 1 / (1 +
    exp(-z)) with NumPy's vectorised exp (SciPy's expit is a scalar loop, 5x slower)."""
    n_items = responses.n_items
    a, b = items.discrimination, items.difficulty
    floor, ceiling = items.guessing, 1 - items.slipping
    logistic = not (np.any(np.nan_to_num(items.guessing)) or np.any(np.nan_to_num(items.slipping)))

    def sums(start: int) -> np.ndarray:
        """Squared residuals, ratios, variances and counts per item over one chunk."""
        part = slice(start, start + chunk)
        item, trials = responses.item[part], responses.trials[part]
        p = abilities[responses.learner[part]] - b[item]
        p *= -a[item]
        with np.errstate(over="ignore"):
            np.exp(p, out=p)
        p += 1.0
        np.reciprocal(p, out=p)  # sigmoid(a (theta - b)): 0 where exp overflowed
        if not logistic:
            p = floor[item] + (ceiling[item] - floor[item]) * p
        expected = trials * p
        variance = np.maximum(expected * (1.0 - p), _EPS)
        squared = responses.successes[part] - expected
        squared *= squared
        out = np.empty((4, n_items))
        out[0] = np.bincount(item, weights=squared, minlength=n_items)
        out[1] = np.bincount(item, weights=variance, minlength=n_items)
        squared /= variance
        out[2] = np.bincount(item, weights=squared, minlength=n_items)
        out[3] = np.bincount(item, minlength=n_items)
        return out

    # Chunks side by side on the worker threads, their sums added in chunk order.
    totals = sum_in_threads(sums, range(0, len(responses), chunk), np.zeros((4, n_items)))
    squared_sum, variance_sum, ratio_sum, counts = totals
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"infit": squared_sum / variance_sum, "outfit": ratio_sum / counts}


def _ability_se(posterior, quadrature, abilities, state, responses) -> np.ndarray:
    if posterior is not None:  # EAP: posterior standard deviation
        second = posterior @ quadrature.fine_nodes**2
        return np.sqrt(np.maximum(second - abilities**2, 0.0))
    # JML/MAP: 1 / sqrt(test information + prior information)
    items = _to_parameters(state)
    p = _response_probabilities(items, abilities, responses)
    info = responses.trials * items.discrimination[responses.item] ** 2 * p * (1 - p)
    total = np.bincount(responses.learner, weights=info, minlength=responses.n_learners)
    return 1.0 / np.sqrt(total + 1.0)


# -------------------------------------------------------------------------------------- JML


def _fit_jml(irt: IRT, responses: Responses, state, priors, report):
    """Alternate Newton steps for abilities (N(0, 1) prior) and items, on the response rows."""
    theta = np.zeros(responses.n_learners)
    i, j = responses.item, responses.learner
    y, n = responses.successes, responses.trials
    bar = tqdm(total=irt.max_iter, desc=f"IRT {irt.model} jml", unit="it", disable=not irt.progress)
    try:
        for iteration in range(1, irt.max_iter + 1):
            previous = np.concatenate([state.a, state.delta, theta])
            # Abilities given items.
            p = expit(state.a[i] * theta[j] + state.delta[i])
            residual, weight = y - n * p, n * p * (1 - p)
            grad = np.bincount(j, weights=state.a[i] * residual, minlength=len(theta)) - theta
            hess = np.bincount(j, weights=state.a[i] ** 2 * weight, minlength=len(theta)) + 1.0
            theta = theta + np.clip(grad / hess, -1, 1)
            # Items given abilities: the M-step's Newton ascent step with its line search.
            g_a, g_d, h_aa, h_ad, h_dd = _jml_item_terms(irt.model, state, priors, responses, theta)
            step_a, step_d = _newton_direction(irt.model, g_a, g_d, h_aa, h_ad, h_dd)
            scale = _step_scale(irt.model, priors, state.a, step_a, step_d)
            before = _jml_item_objective(irt.model, state.a, state.delta, priors, responses, theta)
            for _ in range(20):  # backtracking, vectorised over items
                a, delta = state.a + scale * step_a, state.delta + scale * step_d
                after = _jml_item_objective(irt.model, a, delta, priors, responses, theta)
                worse = ~(after >= before - 1e-9 * np.abs(before))
                if not worse.any():
                    break
                scale = np.where(worse, scale / 2, scale)
            scale = np.where(worse, 0.0, scale)
            a, delta = state.a + scale * step_a, state.delta + scale * step_d
            state = _State(a, delta, state.c, state.d)
            objective = float(np.sum(np.where(worse, before, after)) - 0.5 * theta @ theta)
            report.loglik_history.append(objective)
            change = float(np.max(np.abs(np.concatenate([a, delta, theta]) - previous)))
            report.iterations = iteration
            bar.update()
            if change < irt.tol:
                report.converged = True
                break
    finally:
        bar.close()
    history = np.asarray(report.loglik_history)
    if len(history) > 1:
        report.largest_decrease = float(max(0.0, np.max(history[:-1] - history[1:])))
        falls = history[:-1] - history[1:] - _DECREASE_TOLERANCE * np.abs(history[:-1])
        if np.any(falls > 0):
            report.converged = report.monotone = False
    p = np.clip(expit(state.a[i] * theta[j] + state.delta[i]), _EPS, 1 - _EPS)
    report.loglik = float(np.sum(y * np.log(p) + (n - y) * np.log1p(-p)))
    return state, theta, report


def _jml_item_objective(model, a, delta, priors, responses, theta) -> np.ndarray:
    """Joint log-likelihood plus item log priors per item (1PL: their sum, 1 element); the
    slope prior counts once per item (see :func:`_jml_item_terms`)."""
    i, j, k = responses.item, responses.learner, responses.n_items
    z = a[i] * theta[j] + delta[i]
    failures = responses.trials - responses.successes
    rows = responses.successes * log_expit(z) + failures * log_expit(-z)
    value = np.bincount(i, weights=rows, minlength=k) + location_prior(priors, a, delta)[0]
    value += slope_prior(priors, a)[0]
    return np.array([value.sum()]) if model == "1pl" else value


def _jml_item_terms(model, state, priors, responses, theta) -> tuple[np.ndarray, ...]:
    """Gradient and positive curvatures of the joint log posterior in (a, delta) per item."""
    i, j, k = responses.item, responses.learner, responses.n_items
    p = expit(state.a[i] * theta[j] + state.delta[i])
    residual, weight = responses.successes - responses.trials * p, responses.trials * p * (1 - p)
    _, prior_a, prior_d, prior_aa, prior_ad, prior_dd = location_prior(priors, state.a, state.delta)
    g_d = np.bincount(i, weights=residual, minlength=k) + prior_d
    g_a = np.bincount(i, weights=theta[j] * residual, minlength=k) + prior_a
    h_dd = np.bincount(i, weights=weight, minlength=k) + prior_dd
    h_aa = np.bincount(i, weights=theta[j] ** 2 * weight, minlength=k) + prior_aa
    h_ad = np.bincount(i, weights=theta[j] * weight, minlength=k) + prior_ad
    # The slope prior counts once per item, also for the 1PL's shared slope: the joint
    # posterior is otherwise unbounded along the scale (slope up, abilities towards 0).
    _, slope_g, slope_h = slope_prior(priors, state.a)
    return g_a + slope_g, g_d, h_aa + slope_h, h_ad, h_dd


def _add_slope_prior(model, priors, a, g_a, h_aa) -> tuple[np.ndarray, np.ndarray]:
    """Add the slope prior's gradient and curvature: per item, or once (on the first item,
    as the 1PL step sums them) for the 1PL's shared slope."""
    _, gradient, curvature = slope_prior(priors, a)
    if model == "1pl":
        gradient, curvature = np.where(np.arange(len(a)) == 0, [gradient, curvature], 0.0)
    return g_a + gradient, h_aa + curvature


def _step_scale(model, priors, a, step_a, step_d) -> np.ndarray:
    """Step scale per item: no parameter moves more than 1, a lognormal slope at most halves;
    one scale for all items in the 1PL (whose step is joint)."""
    scale = 1.0 / np.maximum(1.0, np.maximum(np.abs(step_a), np.abs(step_d)))
    if priors.log_discrimination is not None:
        scale = np.minimum(scale, np.where(step_a < 0, 0.5 * a / np.maximum(-step_a, _EPS), 1.0))
    return np.full_like(scale, scale.min()) if model == "1pl" else scale


def _newton_direction(model, g_a, g_d, h_aa, h_ad, h_dd) -> tuple[np.ndarray, np.ndarray]:
    """The Newton step in (a, delta): per item, or joint in (shared a, deltas) for the 1PL."""
    if model == "1pl":
        schur = h_aa.sum() - np.sum(h_ad**2 / h_dd)
        step_a = np.full_like(g_a, (g_a.sum() - np.sum(h_ad * g_d / h_dd)) / schur)
        return step_a, (g_d - h_ad * step_a) / h_dd
    det = h_aa * h_dd - h_ad**2
    # No step where the matrix is singular: a slope so steep (an unpenalised 3PL item can
    # run to a step function) that every node's weight P (1 - P) underflows.
    safe = det > 0
    det = np.where(safe, det, 1.0)
    return (np.where(safe, (h_dd * g_a - h_ad * g_d) / det, 0.0),
            np.where(safe, (h_aa * g_d - h_ad * g_a) / det, 0.0))  # fmt: skip


def _jml_standard_errors(model, state, responses, theta, priors) -> dict[str, np.ndarray]:
    """Per-item (a, delta) information at the estimates (for the 1PL with the shared slope,
    by the Schur complement); b's SE by the delta method; NaN where it is singular."""
    _, _, h_aa, h_ad, h_dd = _jml_item_terms(model, state, priors, responses, theta)
    a = np.where(np.abs(state.a) < 1e-6, 1e-6, state.a)
    with np.errstate(divide="ignore", invalid="ignore"):
        if model == "1pl":
            schur = h_aa.sum() - np.sum(h_ad**2 / h_dd)
            var_a = np.full_like(a, 1 / schur)
            cov = -h_ad / h_dd * var_a
            var_d = 1 / h_dd + (h_ad / h_dd) ** 2 * var_a
        else:
            det = h_aa * h_dd - h_ad**2
            var_a, var_d, cov = h_dd / det, h_aa / det, -h_ad / det
        # b = -delta / a: gradient (delta / a^2, -1 / a) in (a, delta)
        g_a, g_d = state.delta / a**2, -1 / a
        var_b = g_a**2 * var_a + 2 * g_a * g_d * cov + g_d**2 * var_d
    nan = np.full(len(a), np.nan)
    return {"discrimination": _checked_sqrt(var_a), "difficulty": _checked_sqrt(var_b),
            "guessing": nan, "slipping": nan}  # fmt: skip


def _checked_sqrt(variance: np.ndarray) -> np.ndarray:
    """sqrt of the variances; NaN (never 0) where a variance is not positive and finite."""
    good = np.isfinite(variance) & (variance > 0)
    return np.where(good, np.sqrt(np.where(good, variance, 1.0)), np.nan)
