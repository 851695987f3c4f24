"""Item response theory: 1PL, 2PL, 3PL and 4PL calibration from response logs.

    P(correct | theta, item) = c + (d - c) * sigmoid(a * (theta - b))

with discrimination ``a``, difficulty ``b``, guessing floor ``c`` and ceiling ``d``
(``slipping = 1 - d``). Difficulty is on the ability scale, abilities ~ N(0, 1).

Calibration follows Bock & Aitkin, "Marginal maximum likelihood estimation of item
parameters: application of an EM algorithm" (Psychometrika, 1981): abilities are integrated
over a fixed quadrature grid with N(0, 1) weights (log-sum-exp, so learners with thousands
of responses do not underflow); the M-step is independent per item, so it runs vectorised
over all items and standard errors come from per-item information blocks. 3PL/4PL M-steps
treat "knew it / guessed / slipped" as latent classes (an ECM step), which keeps them
stable. ``method="map"`` uses informative priors on the item parameters (Bayes modal
estimation, Mislevy 1986); ``method="jml"`` is joint maximum likelihood (abilities and items
alternately, with an N(0, 1) ability prior so perfect scores stay finite; 1PL/2PL only).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
import pyarrow as pa
from scipy.special import expit, log_expit
from tqdm.auto import tqdm

from stepladder.difficulty._design import ResponseMatrices
from stepladder.difficulty._quadrature import Quadrature
from stepladder.difficulty._standard_errors import cross_product_standard_errors
from stepladder.difficulty.base import Grader, as_column, item_basics, learner_basics
from stepladder.difficulty.responses import Responses

__all__ = ["IRT", "ItemParameters", "Priors"]

MODELS = ("1pl", "2pl", "3pl", "4pl")
METHODS = ("mml", "map", "jml")
_EPS = 1e-10
#: Relative noise of log-likelihoods summed from float32 matrix products.
_NOISE = 1e-6
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
    """Priors on item parameters (slope-intercept form, logit = a * theta + delta).

    Attributes:
        discrimination: (mean, sd) of a normal prior on ``a``.
        intercept_sd: sd of a normal prior N(0, sd^2) on the intercept ``delta = -a * b``;
            it keeps items that everyone (or no one) answered correctly finite.
        guessing: (alpha, beta) of a Beta prior on ``c`` (3PL, 4PL).
        slipping: (alpha, beta) of a Beta prior on ``1 - d`` (4PL).
    """

    discrimination: tuple[float, float] = (1.0, 3.0)
    intercept_sd: float = 6.0
    guessing: tuple[float, float] = (2.0, 12.0)
    slipping: tuple[float, float] = (2.0, 12.0)

    @classmethod
    def weak(cls) -> Priors:
        """Barely informative: they only keep every estimate finite (default for ``mml``)."""
        return cls()

    @classmethod
    def informative(cls) -> Priors:
        """Bayes modal defaults for ``map``: a ~ N(1, 1), delta ~ N(0, 3^2), c ~ Beta(5, 17)."""
        return cls(discrimination=(1.0, 1.0), intercept_sd=3.0, guessing=(5.0, 17.0),
                   slipping=(5.0, 17.0))  # fmt: skip


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
        return cls(a, delta, np.clip(c, 0.0, 0.5), np.clip(d, 0.5, 1.0))

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


class IRT(Grader):
    """Calibrate item parameters and learner abilities with an IRT model.

    Args:
        model: ``"1pl"`` (one discrimination shared by all items), ``"2pl"``, ``"3pl"``
            (guessing floor) or ``"4pl"`` (guessing floor and slipping).
        method: ``"mml"`` (marginal maximum likelihood by EM, the standard; weak priors only
            keep estimates finite), ``"map"`` (the same EM with informative priors) or
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
        progress: show a progress bar over iterations.

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
        self.progress = progress

    # ----------------------------------------------------------------------------- fitting

    def fit(self, responses: Responses) -> Self:
        """Calibrate on ``responses``; sets ``items_``, ``abilities_`` and ``report_``."""
        _check_fittable(responses)
        started = time.perf_counter()
        priors = self.priors or _default_priors(self.model, self.method)
        self.priors_ = priors
        matrices = ResponseMatrices.from_responses(responses, dense=self.dense)
        if self.refine is None:
            quadrature = Quadrature.for_responses(
                self.quadrature, self.theta_max, matrices.max_attempts_per_learner()
            )
        else:
            quadrature = Quadrature(self.quadrature, self.theta_max, refine=self.refine)
        self.quadrature_ = quadrature
        state = _initial_state(responses, self.model)
        report = FitReport()
        if self.method == "jml":
            state, abilities, report = _fit_jml(self, responses, state, priors, report)
            posterior = None
        else:
            state, report = _fit_em(self, matrices, state, priors, quadrature, report)
            posterior, marginal = _e_step(matrices, state, self.model, quadrature)
            report.loglik = float(marginal.sum())
            abilities = posterior @ quadrature.fine_nodes
        self.responses_ = responses
        self.state_ = state
        self.items_ = _to_parameters(state)
        self.abilities_ = abilities
        self.se_abilities_ = _ability_se(posterior, quadrature, abilities, state, responses)
        if not self.standard_errors:
            self.se_ = {name: np.full(len(self.items_), np.nan) for name in _PARAMETER_NAMES}
        elif posterior is None:
            self.se_ = _jml_standard_errors(self.model, state, responses, abilities, priors)
        else:
            self.se_ = cross_product_standard_errors(
                self.model, self.items_, priors, matrices, quadrature.fold(posterior),
                quadrature.nodes,
            )  # fmt: skip
        report.seconds = time.perf_counter() - started
        self.report_ = report
        return self

    # ----------------------------------------------------------------------------- outputs

    @property
    def n_parameters(self) -> int:
        """Free item parameters (for AIC/BIC)."""
        per_item = {"1pl": 1, "2pl": 2, "3pl": 3, "4pl": 4}[self.model]
        return per_item * len(self.items_) + (1 if self.model == "1pl" else 0)

    def item_fit(self) -> dict[str, np.ndarray]:
        """Infit and outfit mean squares per item at the estimated abilities.

        outfit = mean over responses of z^2 with z = (y - nP) / sqrt(nP(1 - P));
        infit = sum (y - nP)^2 / sum nP(1 - P) (information-weighted). Both ~1 under fit.
        """
        responses = self._require_fit()
        p = _response_probabilities(self.items_, self.abilities_, responses)
        expected = responses.trials * p
        variance = np.maximum(responses.trials * p * (1.0 - p), _EPS)
        squared = (responses.successes - expected) ** 2
        n_items = responses.n_items
        counts = np.bincount(responses.item, minlength=n_items)
        with np.errstate(invalid="ignore", divide="ignore"):
            outfit = np.bincount(responses.item, weights=squared / variance, minlength=n_items)
            outfit /= counts
            infit = np.bincount(responses.item, weights=squared, minlength=n_items) / np.bincount(
                responses.item, weights=variance, minlength=n_items
            )
        return {"infit": infit, "outfit": outfit}

    def item_table(self) -> pa.Table:
        """item_id, difficulty, se_difficulty, discrimination (+ se), guessing, slipping, fit."""
        responses = self._require_fit()
        items, se = self.items_, self.se_
        columns = item_basics(responses)
        columns["difficulty"] = as_column(items.difficulty)
        columns["se_difficulty"] = as_column(se["difficulty"])
        columns["discrimination"] = as_column(items.discrimination)
        columns["se_discrimination"] = as_column(se["discrimination"])
        if self.model in ("3pl", "4pl"):
            columns["guessing"] = as_column(items.guessing)
            columns["se_guessing"] = as_column(se["guessing"])
        if self.model == "4pl":
            columns["slipping"] = as_column(items.slipping)
            columns["se_slipping"] = as_column(se["slipping"])
        fit = self.item_fit()
        columns["infit"] = as_column(fit["infit"])
        columns["outfit"] = as_column(fit["outfit"])
        return pa.table(columns)

    def learner_table(self) -> pa.Table:
        """learner_id, ability (EAP for MML/MAP, MAP for JML), se_ability, n_responses."""
        responses = self._require_fit()
        columns = learner_basics(responses)
        columns["ability"] = as_column(self.abilities_)
        columns["se_ability"] = as_column(self.se_abilities_)
        return pa.table(columns)

    def summary(self) -> dict[str, Any]:
        """Model, method, sizes, iterations, convergence, log-likelihood, AIC, BIC, seconds."""
        responses = self._require_fit()
        report = self.report_
        k = self.n_parameters
        summary = {
            **self._summary_basics(),
            "method": self.method,
            "iterations": report.iterations,
            "converged": report.converged,
            "tolerance": self.tol,
            "loglik": report.loglik,
            "n_parameters": k,
            "aic": 2 * k - 2 * report.loglik,
            "bic": k * np.log(responses.n_learners) - 2 * report.loglik,
            "seconds": report.seconds,
            "priors": asdict(self.priors_),
        }
        if self.method == "jml":
            summary["note"] = "loglik is the joint log-likelihood at the estimated abilities"
        return summary


# --------------------------------------------------------------------------------- helpers


def _default_priors(model: str, method: str) -> Priors:
    """Weak priors for ``mml``; informative ones for ``map``.

    With a guessing floor the likelihood is nearly flat along (large a, larger c), so 3PL and
    4PL get a moderately informative N(1, 1.5^2) discrimination prior even under ``mml``.
    """
    if method == "map":
        return Priors.informative()
    if model in ("3pl", "4pl"):
        return Priors(discrimination=(1.0, 1.5))
    return Priors.weak()


def _check_fittable(responses: Responses) -> None:
    if responses.n_learners < 2:
        raise ValueError(
            f"IRT needs responses from at least 2 learners, got {responses.n_learners}"
        )
    if responses.n_items < 2:
        raise ValueError(f"IRT needs at least 2 items, got {responses.n_items}")


def _initial_state(responses: Responses, model: str) -> _State:
    """Start from the logit of each item's smoothed pass rate, a = 1."""
    n = responses.n_items
    attempts = responses.item_attempts()
    total = np.bincount(responses.item, weights=responses.successes, minlength=n)
    p = (total + 0.5) / (attempts + 1.0)
    delta = np.log(p / (1 - p)) * 1.2  # rough inflation for the ability spread
    c = np.full(n, 0.1 if model in ("3pl", "4pl") else 0.0)
    d = np.full(n, 0.95 if model == "4pl" else 1.0)
    return _State(np.ones(n), delta, c, d)


def _log_probabilities(state: _State, nodes: np.ndarray, model: str):
    """log P and log(1 - P) at every (item, node)."""
    z = state.logits(nodes)
    if model in ("1pl", "2pl"):
        return log_expit(z), log_expit(-z)
    f = expit(z)
    p = np.clip(state.c[:, None] + (state.d - state.c)[:, None] * f, _EPS, 1 - _EPS)
    return np.log(p), np.log1p(-p)


def _e_step(matrices, state, model, quadrature: Quadrature) -> tuple[np.ndarray, np.ndarray]:
    """Posterior over the fine grid (learners x fine nodes) and marginal log-likelihoods."""
    nodes = quadrature.nodes
    log_p, log_q = _log_probabilities(state, nodes, model)
    if model in ("1pl", "2pl"):
        # Y @ (log P - log Q) = Y @ logits is rank two: (Y a) theta + Y delta.
        loglik = np.outer(matrices.learner_sums(state.a, of="successes"), nodes)
        loglik += matrices.learner_sums(state.delta, of="successes")[:, None]
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
    on with plain EM. Converged when one EM step moves no parameter more than ``tol``.
    """
    success_totals = matrices.item_sums(np.ones(matrices.successes.shape[0]), of="successes")
    expand = True

    def em_step(current: _State) -> tuple[_State, float]:
        """One EM step, and the penalised log-likelihood at ``current``."""
        posterior, marginal = _e_step(matrices, current, irt.model, quadrature)
        # PX-EM: run the M-step on the abilities re-expressed as z = (theta - mean) / sd.
        mean, sd = _ability_moments(posterior, quadrature.fine_nodes) if expand else (0.0, 1.0)
        expanded = _State(current.a * sd, current.delta + current.a * mean, current.c, current.d)
        updated = _m_step(
            irt.model, expanded, matrices, quadrature.fold(posterior),
            quadrature.variance_added(posterior) / sd**2, (quadrature.nodes - mean) / sd,
            priors, success_totals,
        )  # fmt: skip
        return updated, float(marginal.sum()) + _log_prior(current, priors, irt.model)

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
            norm_v = float(np.linalg.norm(v))
            step = min(-float(np.linalg.norm(r)) / norm_v, -1.0) if norm_v > 0 else -1.0
            jumped = _State.from_vector(x0 - 2 * step * r + step**2 * v)
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
    return state, report


def _log_prior(state: _State, priors: Priors, model: str) -> float:
    """Log density (up to constants) of the item priors at ``state``."""
    mean_a, sd_a = priors.discrimination
    value = -0.5 * np.sum(((state.a - mean_a) / sd_a) ** 2)
    value -= 0.5 * np.sum((state.delta / priors.intercept_sd) ** 2)
    if model in ("3pl", "4pl"):
        ga, gb = priors.guessing
        c = np.clip(state.c, _EPS, 1 - _EPS)
        value += np.sum((ga - 1) * np.log(c) + (gb - 1) * np.log1p(-c))
    if model == "4pl":
        sa, sb = priors.slipping
        slip = np.clip(1 - state.d, _EPS, 1 - _EPS)
        value += np.sum((sa - 1) * np.log(slip) + (sb - 1) * np.log1p(-slip))
    return float(value)


def _ability_moments(posterior: np.ndarray, nodes: np.ndarray) -> tuple[float, float]:
    """Mean and sd of the ability distribution implied by the learners' posteriors.

    Parameter-expanded EM (Liu, Rubin & Wu, "Parameter expansion to accelerate EM: the PX-EM
    algorithm", 1998) treats them as free: the M-step fits the items to the standardised
    abilities z = (theta - mean) / sd, which is the same model with logit
    a (mean + sd z) + delta, so the items stay on the N(0, 1) scale while the priors still
    act on the parameters being estimated. With many responses per learner, posteriors
    barely feel the N(0, 1) prior, so plain EM moves the overall scale by a tiny fraction per
    iteration (and stops early, far from the optimum); this moves it all the way.
    """
    means = posterior @ nodes
    mean = float(means.mean())
    second = float((posterior @ nodes**2).mean())
    return mean, float(np.sqrt(max(second - mean**2, 1e-12)))


def _m_step(model, state, matrices, posterior, excess, nodes, priors, success_totals) -> _State:
    """One ECM step on the expected complete-data log-likelihood, independently per item.

    ``posterior`` is on the coarse nodes; ``excess`` is the variance folding added per
    learner, used to correct the expected attempts to second order. For 1PL/2PL the
    expected successes enter only through their sum (a constant) and first moment over
    nodes, ``Y.T @ (posterior @ nodes)``: one matrix-vector product.
    """
    both = matrices.item_products(
        np.concatenate([posterior, excess[:, None] * posterior], axis=1), of="attempts"
    )
    attempts, curvature = np.split(both, 2, axis=1)
    c, d = state.c, state.d
    if model in ("1pl", "2pl"):
        first_moment = matrices.item_sums(posterior @ nodes, of="successes")
        a, delta = _logistic_newton(model, state.a, state.delta, success_totals, first_moment,
                                    attempts, nodes, priors, curvature)  # fmt: skip
        return _State(a, delta, c, d)
    successes = matrices.item_products(posterior, of="successes")
    f = expit(state.logits(nodes))
    p = np.clip(c[:, None] + (d - c)[:, None] * f, _EPS, 1 - _EPS)
    knew_if_right = f * d[:, None] / p  # P(knew | correct)
    knew_if_wrong = f * (1 - d)[:, None] / (1 - p)  # P(knew | wrong): a slip
    knew = successes * knew_if_right + (attempts - successes) * knew_if_wrong
    guess_a, guess_b = priors.guessing
    right_by_guess = (successes * (1 - knew_if_right)).sum(axis=1)
    c = (right_by_guess + guess_a - 1) / ((attempts - knew).sum(axis=1) + guess_a + guess_b - 2)
    if model == "4pl":
        slip_a, slip_b = priors.slipping
        right_when_knew = (successes * knew_if_right).sum(axis=1)
        d = (right_when_knew + slip_b - 1) / (knew.sum(axis=1) + slip_a + slip_b - 2)
    a, delta = _logistic_newton(model, state.a, state.delta, knew.sum(axis=1), knew @ nodes,
                                attempts, nodes, priors, curvature)  # fmt: skip
    return _State(a, delta, np.clip(c, 0.0, 0.5), np.clip(d, 0.5, 1.0))


def _logistic_objective(a, delta, success_sum, success_moment, attempts, nodes, priors,
                        curvature) -> np.ndarray:  # fmt: skip
    """Per-item expected complete-data log-likelihood plus log prior, logit = a * theta + delta.

    sum_q R_q z_q - N_q softplus(z_q) needs successes only through their sum and first moment;
    the folding correction adds E[excess * a^2 P (1 - P)] / 2 (the softplus curvature).
    """
    z = a[:, None] * nodes + delta[:, None]
    p = expit(z)
    value = a * success_moment + delta * success_sum - (attempts * np.logaddexp(0.0, z)).sum(axis=1)
    value += 0.5 * (curvature * (a**2)[:, None] * p * (1 - p)).sum(axis=1)
    mean_a, sd_a = priors.discrimination
    return value - 0.5 * ((a - mean_a) / sd_a) ** 2 - 0.5 * (delta / priors.intercept_sd) ** 2


def _logistic_newton(model, a, delta, success_sum, success_moment, attempts, nodes, priors,
                     curvature, steps: int = 2):  # fmt: skip
    """Newton steps of the per-item weighted logistic regression of successes on the nodes.

    logit = a * theta + delta; the objective (:func:`_logistic_objective`) is concave in
    (a, delta) up to the small folding correction, so a few Newton steps per EM iteration
    suffice; each step is halved until the objective does not decrease (a generalised EM
    step, which keeps EM monotone even for items whose responses nearly separate).
    The gradient's expected terms E[N P] and E[N theta P] are corrected by -E[excess * g''] / 2
    for the variance that folding added (``curvature`` = N.T @ (excess * posterior)); the
    Hessian is not, which changes the path but not the fixed point.
    """
    mean_a, sd_a = priors.discrimination
    var_a, var_d = sd_a**2, priors.intercept_sd**2
    args = (success_sum, success_moment, attempts, nodes, priors, curvature)
    before = None if model == "1pl" else _logistic_objective(a, delta, *args)
    for _ in range(steps):
        p = expit(a[:, None] * nodes + delta[:, None])
        slope = p * (1 - p)
        expected = attempts * p
        weight = attempts * slope
        # Second derivatives in theta of P and of theta * P, for the folding correction.
        p_second = (a**2)[:, None] * slope * (1 - 2 * p)
        theta_p_second = 2 * a[:, None] * slope + nodes * p_second
        expected_sum = expected.sum(axis=1) - 0.5 * (curvature * p_second).sum(axis=1)
        expected_moment = expected @ nodes - 0.5 * (curvature * theta_p_second).sum(axis=1)
        g_delta = success_sum - expected_sum - delta / var_d
        g_a = success_moment - expected_moment - (a - mean_a) / var_a
        h_dd = weight.sum(axis=1) + 1 / var_d
        h_aa = weight @ nodes**2 + 1 / var_a
        h_ad = weight @ nodes
        if model == "1pl":
            # Shared slope: Newton on delta per item, then on the common a.
            delta = delta + np.clip(g_delta / h_dd, -1, 1)
            step_a = np.clip(g_a.sum() / (h_aa.sum() - (h_ad**2 / h_dd).sum()), -0.5, 0.5)
            a = np.full_like(a, a[0] + step_a)
            continue
        det = h_aa * h_dd - h_ad**2
        step_a = (h_dd * g_a - h_ad * g_delta) / det
        step_d = (h_aa * g_delta - h_ad * g_a) / det
        scale = np.minimum(1.0, 1.0 / np.maximum(np.abs(step_a), np.abs(step_d)))  # trust region
        for _ in range(20):  # backtracking, vectorised over items
            after = _logistic_objective(a + scale * step_a, delta + scale * step_d, *args)
            worse = ~(after >= before - 1e-9 * np.abs(before))
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        scale = np.where(worse, 0.0, scale)
        a, delta = a + scale * step_a, delta + scale * step_d
        before = np.where(worse, before, after)
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
    mean_a, sd_a = priors.discrimination
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
            # Items given abilities: the same concave Newton step as the M-step, per row.
            p = expit(state.a[i] * theta[j] + state.delta[i])
            residual, weight = y - n * p, n * p * (1 - p)
            k = responses.n_items
            g_d = (
                np.bincount(i, weights=residual, minlength=k) - state.delta / priors.intercept_sd**2
            )
            h_dd = np.bincount(i, weights=weight, minlength=k) + 1 / priors.intercept_sd**2
            g_a = (
                np.bincount(i, weights=theta[j] * residual, minlength=k)
                - (state.a - mean_a) / sd_a**2
            )
            h_aa = np.bincount(i, weights=theta[j] ** 2 * weight, minlength=k) + 1 / sd_a**2
            h_ad = np.bincount(i, weights=theta[j] * weight, minlength=k)
            if irt.model == "1pl":
                delta = state.delta + np.clip(g_d / h_dd, -1, 1)
                step = g_a.sum() / (h_aa.sum() - (h_ad**2 / h_dd).sum())
                a = np.full_like(state.a, state.a[0] + np.clip(step, -0.5, 0.5))
            else:
                det = h_aa * h_dd - h_ad**2
                step_a = (h_dd * g_a - h_ad * g_d) / det
                step_d = (h_aa * g_d - h_ad * g_a) / det
                scale = np.minimum(1.0, 1.0 / np.maximum(np.abs(step_a), np.abs(step_d)))
                a, delta = state.a + scale * step_a, state.delta + scale * step_d
            state = _State(a, delta, state.c, state.d)
            change = float(np.max(np.abs(np.concatenate([a, delta, theta]) - previous)))
            report.iterations = iteration
            bar.update()
            if change < irt.tol:
                report.converged = True
                break
    finally:
        bar.close()
    p = np.clip(expit(state.a[i] * theta[j] + state.delta[i]), _EPS, 1 - _EPS)
    report.loglik = float(np.sum(y * np.log(p) + (n - y) * np.log1p(-p)))
    return state, theta, report


def _jml_standard_errors(model, state, responses, theta, priors) -> dict[str, np.ndarray]:
    """Per-item (a, delta) information summed over response rows; b's SE by the delta method."""
    i, j, k = responses.item, responses.learner, responses.n_items
    p = expit(state.a[i] * theta[j] + state.delta[i])
    w = responses.trials * p * (1 - p)
    h_dd = np.bincount(i, weights=w, minlength=k) + 1 / priors.intercept_sd**2
    h_aa = (
        np.bincount(i, weights=theta[j] ** 2 * w, minlength=k) + 1 / priors.discrimination[1] ** 2
    )
    h_ad = np.bincount(i, weights=theta[j] * w, minlength=k)
    nan = np.full(k, np.nan)
    a = np.where(np.abs(state.a) < 1e-6, 1e-6, state.a)
    if model == "1pl":  # b = -delta / a with a shared: var(b) ~ var(delta) / a^2
        return {"discrimination": nan, "difficulty": 1 / np.sqrt(h_dd) / np.abs(a),
                "guessing": nan, "slipping": nan}  # fmt: skip
    det = h_aa * h_dd - h_ad**2
    var_a, var_d, cov = h_dd / det, h_aa / det, -h_ad / det
    # b = -delta / a: gradient (delta / a^2, -1 / a) in (a, delta)
    g_a, g_d = state.delta / a**2, -1 / a
    var_b = g_a**2 * var_a + 2 * g_a * g_d * cov + g_d**2 * var_d
    return {"discrimination": np.sqrt(var_a), "difficulty": np.sqrt(np.maximum(var_b, 0)),
            "guessing": nan, "slipping": nan}  # fmt: skip
