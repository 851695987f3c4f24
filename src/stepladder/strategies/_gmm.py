"""Gaussian mixtures fitted by EM in NumPy: scikit-learn's ``GaussianMixture`` without its cost.

Why not scikit-learn: ALP-GMM refits a mixture for each of 9 component counts on 250 points
in 3 dimensions every 250 episodes. scikit-learn's ``GaussianMixture`` spends most of such a
fit on per-call and per-component Python overhead (validation, one Cholesky and triangular
solve per component per iteration, a ``KMeans`` estimator for the initialisation, and the
``threadpool_limits`` that keeps BLAS on one thread): 110-150 ms for the 9 fits, for a few
milliseconds of arithmetic. Here the 9 fits run side by side (:func:`fit_mixtures`): one
k-means for all counts, then EM steps of all candidates' components stacked, on the
responsibility-weighted sums of ``1, x, x x^T`` (one matrix product per step each way), a
candidate leaving the stack when it stops: about 10 ms of CPU for the 9 fits (22 ms fitted
one by one), and no scikit-learn needed. It reproduces
``GaussianMixture(k, covariance_type="full", random_state=seed)`` with its defaults
(``tol=1e-3``, ``reg_covar=1e-6``, ``max_iter=100``, ``n_init=1``, ``init_params="kmeans"``):
the same k-means++ seeding from ``RandomState(seed)``, the same Lloyd iterations, the same EM
updates and stopping rule, so fits agree with scikit-learn's to rounding (the tests compare,
to 1e-9; only exact distance ties in k-means, as on lattice data, may break differently).
Two rounding-level choices: the E step takes ``exp`` of ``log(weight x density)`` floored
at -700, without scikit-learn's log-sum-exp shift unless a point's total leaves ``[1e-280,
inf)`` (:func:`_e_step`), and the moments are taken about the data mean.

``warm_start`` (:func:`fit_mixtures`, :class:`WarmStarts`) is scikit-learn's
``GaussianMixture(warm_start=True)`` refitted on new data: EM starts from the previous fit of
the same count, without k-means, and stops by the same rule (the tests compare sequences of
refits with scikit-learn's, to 1e-9 and the same iterations).

With numba installed (``pip install 'stepladder[fast]'``), the fits run compiled
(:mod:`._gmm_numba`: one call per fit, about 1.3 ms for the 9 fits, 7x less than the NumPy
path; the first fit of an install compiles, about 8 s, then cached). ``engine`` (
:func:`compiled_fits`) chooses; both reproduce scikit-learn to rounding (the tests compare
both), so a run's proposals can differ between the two only where a decision rests on
rounding, as Covar-GMM's weights on near-zero covariances.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from stepladder.strategies._engines import compiled_module

__all__ = [
    "Mixture",
    "WarmStarts",
    "best_mixture",
    "compiled_fits",
    "fit_mixture",
    "fit_mixtures",
    "kmeans_labels",
]

_LOG_2PI = math.log(2 * math.pi)
_TINY = 10 * np.finfo(np.float64).eps  # scikit-learn's floor on a component's mass


@dataclass(frozen=True)
class Mixture:
    """A fitted Gaussian mixture with full covariances, and how well it fits its data."""

    weights: np.ndarray  #: (k,) mixing weights, summing to 1
    means: np.ndarray  #: (k, d)
    covariances: np.ndarray  #: (k, d, d)
    log_likelihood: float  #: mean log-likelihood of the fitted data (scikit-learn's score)
    samples: int  #: points fitted
    iterations: int  #: EM iterations run
    converged: bool  #: whether the lower bound settled within ``tol``
    #: EM's last lower bound (scikit-learn's ``lower_bound_``: the mean log-likelihood before
    #: the last M step), where a warm-started fit begins its convergence test
    lower_bound: float

    @property
    def parameters(self) -> int:
        """Free parameters: weights (k - 1), means (k d) and covariances (k d (d + 1) / 2)."""
        k, d = self.means.shape
        return k * d * (d + 1) // 2 + k * d + k - 1

    def aic(self) -> float:
        """Akaike information criterion on the fitted data (lower is better)."""
        return -2 * self.log_likelihood * self.samples + 2 * self.parameters

    def bic(self) -> float:
        """Bayesian information criterion on the fitted data (lower is better)."""
        return -2 * self.log_likelihood * self.samples + self.parameters * math.log(self.samples)


def kmeans_labels(
    x: np.ndarray, k: int, random_state: np.random.RandomState, *, max_iter: int = 300
) -> np.ndarray:
    """Cluster of each point by scikit-learn's ``KMeans(k, n_init=1)``: k-means++, then Lloyd.

    Example:
        >>> x = np.array([[0.0], [0.1], [5.0], [5.2]])
        >>> kmeans_labels(x, 2, np.random.RandomState(0)).tolist()
        [1, 1, 0, 0]
    """
    x = np.asarray(x, dtype=np.float64)
    draws = _seeding_draws(k, random_state)
    return _kmeans(x, np.array([k]), [draws], max_iter=max_iter)[0]


def _trials(k: int) -> int:
    """Candidates drawn per new centre by k-means++ (scikit-learn's ``2 + log k``)."""
    return 2 + int(np.log(k))


def _seeding_draws(k: int, random_state: np.random.RandomState) -> np.ndarray:
    """The uniform draws k-means++ takes from ``random_state``, in scikit-learn's order: one
    for the first centre (``RandomState.choice`` with uniform ``p``), then ``2 + log k``
    for each further centre (``RandomState.uniform``: the same doubles)."""
    return random_state.random_sample(1 + (k - 1) * _trials(k))


_LOCAL = threading.local()


def _seeded(seed: int) -> np.random.RandomState:
    """``RandomState(seed)``, reseeding one generator per thread (a new one costs ~0.1 ms)."""
    state = getattr(_LOCAL, "state", None)
    if state is None:
        state = _LOCAL.state = np.random.RandomState()
    state.seed(seed)
    return state


def _kmeans(
    x: np.ndarray, ks: np.ndarray, draws: list[np.ndarray], *, max_iter: int = 300
) -> np.ndarray:
    """Labels (len(ks), n) of ``KMeans(ks[c], n_init=1)`` with the seeding draws
    ``draws[c]`` (:func:`_seeding_draws`) for every ``c``, run side by side: candidate ``c``
    uses centroid slots ``0 .. ks[c] - 1`` of arrays of ``max(ks)`` slots, so each step is
    a few NumPy calls for all candidates."""
    x = x - x.mean(axis=0)  # as scikit-learn: centred data, for precision
    n, d = x.shape
    count, slots = len(ks), int(ks.max())
    squares = np.einsum("ij,ij->i", x, x)

    def squared_distances(rows: np.ndarray) -> np.ndarray:  # rows of any shape: (..., n)
        found = -2 * (x[rows] @ x.T) + squares[rows][..., None] + squares
        return np.maximum(found, 0.0)

    # k-means++ (greedy): each new centre is the best of 2 + log k candidates drawn with
    # probability proportional to the squared distance to the nearest centre so far
    trials = np.array([_trials(k) for k in ks])
    picks = np.full((count, slots - 1, trials.max()), np.nan)  # NaN: no draw
    for c, (k, u) in enumerate(zip(ks, draws, strict=True)):
        picks[c, : k - 1, : trials[c]] = u[1:].reshape(k - 1, trials[c])
    cdf = np.cumsum(np.full(n, 1 / n))
    centres = np.zeros((count, slots), dtype=np.int64)
    first = np.array([u[0] for u in draws])
    centres[:, 0] = np.minimum(np.searchsorted(cdf / cdf[-1], first, "right"), n - 1)
    closest = squared_distances(centres[:, 0])  # (count, n)
    potential = closest.sum(axis=1)
    for slot in range(1, slots):
        rows = np.flatnonzero(ks > slot)
        at = np.arange(len(rows))
        targets = picks[rows, slot - 1] * potential[rows, None]  # (rows, trials)
        cumulative = np.cumsum(closest[rows], axis=1)
        # np.searchsorted(cumulative, targets) row by row: how many sums lie below
        candidates = np.minimum((cumulative[:, None, :] < targets[:, :, None]).sum(axis=2), n - 1)
        distances = np.minimum(closest[rows, None, :], squared_distances(candidates))
        potentials = np.where(np.isnan(targets), np.inf, distances.sum(axis=2))
        best = np.argmin(potentials, axis=1)
        potential[rows], closest[rows] = potentials[at, best], distances[at, best]
        centres[rows, slot] = candidates[at, best]

    # Lloyd: assign, move the centres; stop when no label changes or the centres move less
    # than 1e-4 of the mean variance; an empty cluster takes the point farthest from its centre
    centroids = x[centres]  # (count, slots, d); slots past k are never chosen (infinitely far)
    used = np.arange(slots) < ks[:, None]
    far = np.where(used, 0.0, np.inf).reshape(-1)
    tolerance = np.var(x, axis=0).mean() * 1e-4
    flat_offsets = (slots * np.arange(count))[:, None]
    # each point's coordinates and a 1, once per candidate: summed per cluster by bincount
    weighted = np.tile(np.column_stack([x, np.ones(n)]), (count, 1)).reshape(-1)
    columns = np.arange(d + 1)
    work = np.empty((n, count * slots))  # reused: a fresh array this size costs page faults
    labels = np.full((count, n), -1)
    settled = np.zeros(count, dtype=bool)  # labels final
    stopped = np.zeros(count, dtype=bool)  # centres moved too little: labels from them next
    for _ in range(max_iter):
        fresh = _nearest(x, centroids, far, work)
        previous = labels.copy()
        labels[~settled] = fresh[~settled]
        settled |= stopped | (labels == previous).all(axis=1)
        if settled.all():
            return labels
        flat = (labels + flat_offsets).reshape(-1)
        bins = (flat[:, None] * (d + 1) + columns).reshape(-1)
        totals = np.bincount(bins, weighted, count * slots * (d + 1))
        totals = totals.reshape(count, slots, d + 1)
        sums, counts = totals[..., :d], totals[..., d]  # in point order, as scikit-learn
        for c in np.flatnonzero(~settled & ((counts == 0) & used).any(axis=1)):
            empty = np.flatnonzero(counts[c, : ks[c]] == 0)
            gaps = ((x - centroids[c, labels[c]]) ** 2).sum(axis=1)
            far_points = np.argsort(-gaps, kind="stable")
            for cluster, point in zip(empty, far_points[: len(empty)], strict=True):
                sums[c, labels[c, point]] -= x[point]
                counts[c, labels[c, point]] -= 1
                sums[c, cluster], counts[c, cluster] = x[point], 1
        moved = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None], 0.0)
        shift = ((moved - centroids) ** 2).sum(axis=(1, 2))
        centroids = np.where(settled[:, None, None], centroids, moved)
        stopped = ~settled & (shift <= tolerance)
    fresh = _nearest(x, centroids, far, work)
    labels[~settled] = fresh[~settled]
    return labels


def _nearest(x: np.ndarray, centroids: np.ndarray, far: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (count, slots, d) of each point (the first of ties), per
    candidate: (count, n). ``far`` (count slots) is +inf for unused slots, else 0."""
    count, slots, _ = centroids.shape
    flat = centroids.reshape(count * slots, -1)
    distances = np.matmul(x, flat.T, out=work)  # then (c^2 + far) - 2 x.c, as scikit-learn
    distances *= -2
    distances += (flat**2).sum(axis=1) + far
    return np.argmin(distances.reshape(len(x), count, slots), axis=2).T


@cache
def _upper(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns) of the upper triangle of a d x d matrix (``np.triu_indices``), and
    the d x d identity: built once per ``d`` (each costs more than an EM step's arithmetic)."""
    rows, columns = np.triu_indices(d)
    identity = np.eye(d)
    for array in (rows, columns, identity):
        array.flags.writeable = False
    return rows, columns, identity


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (f, n) of the points ``x`` (n, d): 1, x_i and x_i x_j for i <= j; the
    position of x_i x_j among the products, (d, d); -1/2 on the diagonal, else -1)."""
    n, d = x.shape
    rows, columns, _ = _upper(d)
    features = np.concatenate([np.ones((1, n)), x.T, x.T[rows] * x.T[columns]])
    product = np.zeros((d, d), dtype=np.int64)
    product[rows, columns] = product[columns, rows] = np.arange(len(rows))
    return features, product, np.where(rows == columns, -0.5, -1.0)


def _m_step(
    sums: np.ndarray, shift: np.ndarray, product: np.ndarray, reg_covar: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(masses, means, covariances) from each component's weighted sums (m, f) of the
    features of :func:`_moments` of the points less ``shift``: scikit-learn's M step, with
    ``mass = sum r + 10 eps``, ``mu = sum r x / mass`` and ``sum r (x - mu)(x - mu)^T /
    mass`` expanded in those sums. Means are returned less ``shift``."""
    d = len(shift)
    masses = sums[:, 0] + _TINY
    scaled = sums / masses[:, None]
    share = scaled[:, :1]  # sum r / mass: 1 but for (nearly) empty components
    means = scaled[:, 1 : d + 1] - shift * (1.0 - share)
    cross = means[:, :, None] * scaled[:, None, 1 : d + 1]
    covariances = scaled[:, d + 1 :][:, product] - cross - cross.swapaxes(1, 2)
    covariances += share[:, :, None] * means[:, :, None] * means[:, None, :]
    covariances += reg_covar * _upper(d)[2]
    return masses, means, covariances


def _coefficients(
    weights: np.ndarray,
    used: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    halves: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients (count slots, f) with ``coefficients @ features`` the log of ``weight x
    density`` of each component at each point, -1e300 in unused slots; which candidates
    have a covariance that is not positive definite). The log density is expanded in the
    features of :func:`_moments`: ``-1/2 (d log 2 pi + log det S + (x - mu)^T S^-1 (x -
    mu))``. Unused slots hold no responsibility, so their covariance is ``reg_covar I``: they
    are factorised with the others (fewer calls than picking the used ones out)."""
    count, slots = weights.shape
    d = means.shape[1]
    try:
        lower = np.linalg.cholesky(covariances)
        failing = None
    except np.linalg.LinAlgError:  # rare: find the components that fail, one by one
        failing = np.zeros(len(covariances), dtype=bool)
        for row, matrix in enumerate(covariances):
            try:
                np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                failing[row] = True
        lower = np.linalg.cholesky(np.where(failing[:, None, None], np.eye(d), covariances))
    inverse = _lower_inverse(lower)
    precision = inverse.swapaxes(1, 2) @ inverse
    pulled = (precision @ means[:, :, None])[:, :, 0]  # S^-1 mu
    rows, columns, _ = _upper(d)
    coefficients = np.empty((count * slots, 1 + d + len(rows)))
    log_det = np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=1)
    log_weight = np.log(weights.reshape(-1)) - log_det
    log_weight -= 0.5 * (d * _LOG_2PI + (pulled * means).sum(axis=1))
    # exp(-1e300 - top) = 0: an unused slot adds nothing
    coefficients[:, 0] = np.where(used.reshape(-1), log_weight, -1e300)
    coefficients[:, 1 : d + 1] = pulled
    np.multiply(precision[:, rows, columns], halves, out=coefficients[:, d + 1 :])
    if failing is None:
        return coefficients, np.zeros(count, dtype=bool)
    return coefficients, (failing & used.reshape(-1)).reshape(count, slots).any(axis=1)


def _lower_inverse(lower: np.ndarray) -> np.ndarray:
    """Inverses of lower-triangular matrices (m, d, d) by forward substitution, one row of
    all m at a time (as ``solve_triangular(L, I)``; a few calls instead of a general
    ``inv`` of each matrix)."""
    d = lower.shape[1]
    inverse = np.zeros_like(lower)
    reciprocal = 1.0 / np.diagonal(lower, axis1=1, axis2=2)
    for i in range(d):
        inverse[:, i, i] = reciprocal[:, i]
        if i:
            found = (lower[:, i : i + 1, :i] @ inverse[:, :i, :i])[:, 0]
            inverse[:, i, :i] = found * -reciprocal[:, i : i + 1]
    return inverse


def _e_step(
    coefficients: np.ndarray, features: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """(log density of each point under each candidate (count, n), responsibilities
    (count, slots, n)): a sum of ``exp`` over each candidate's slots.

    No log-sum-exp shift: a log density is at most ``d/2 log(1 / (2 pi reg_covar))`` (about
    7 per dimension), so ``exp`` overflows for no point, and it is floored at -700
    (``e^-700 = 1e-304`` vanishes in every sum above ``1e-280``; NumPy's ``exp`` is 3 to 15
    times slower where it underflows). Where a point's total falls below ``1e-280`` (a point
    far from every component) or overflows, the step is redone with the shift by the
    largest term, as scikit-learn's ``logsumexp``: the two agree to rounding."""
    n = features.shape[1]
    joint = coefficients @ features
    resp = np.exp(np.maximum(joint, -700.0), out=joint).reshape(count, -1, n)
    total = resp.sum(axis=1)
    if not 1e-280 <= total.min() <= total.max() < np.inf:
        joint = (coefficients @ features).reshape(count, -1, n)
        top = joint.max(axis=1)
        joint -= top[:, None]
        resp = np.exp(np.maximum(joint, -700.0, out=joint), out=joint)
        total = resp.sum(axis=1)
        resp /= total[:, None]
        return np.log(total) + top, resp
    resp /= total[:, None]
    return np.log(total), resp


def _kmeans_start(
    x: np.ndarray,
    ks: np.ndarray,
    seeds: list[int],
    features: np.ndarray,
    shift: np.ndarray,
    product: np.ndarray,
    reg_covar: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (count, slots), means (count slots, d) less ``shift``, covariances) of the
    k-means clusters of ``KMeans(ks[c], random_state=seeds[c])``: scikit-learn's start."""
    n = len(x)
    count, slots = len(ks), int(ks.max())
    draws = [_seeding_draws(k, _seeded(seed)) for k, seed in zip(ks, seeds, strict=True)]
    labels = _kmeans(x, ks, draws)
    resp = np.zeros((count, slots, n))  # the k-means clusters
    resp[np.arange(count)[:, None], labels, np.arange(n)] = 1.0
    masses, means, covariances = _m_step(
        resp.reshape(-1, n) @ features.T, shift, product, reg_covar
    )
    return masses.reshape(count, slots) / n, means, covariances


def _check_starts(
    warm_start: Sequence[Mixture | None] | None, ks: np.ndarray, d: int
) -> list[Mixture | None]:
    """The fit each candidate starts from (None: k-means), checked against its ``k`` and ``d``."""
    if warm_start is None:
        return [None] * len(ks)
    starts = list(warm_start)
    if len(starts) != len(ks):
        raise ValueError(f"warm_start has {len(starts)} fits for {len(ks)} component counts")
    for k, start in zip(ks, starts, strict=True):
        if start is not None and start.means.shape != (k, d):
            raise ValueError(
                f"warm_start: a fit with means of shape {start.means.shape} cannot start "
                f"the {k}-component fit of {d}-dimensional points"
            )
    return starts


def fit_mixtures(
    x: np.ndarray,
    ks: list[int] | range,
    seeds: list[int],
    *,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    warm_start: Sequence[Mixture | None] | None = None,
    engine: str = "auto",
) -> list[Mixture | None]:
    """:func:`fit_mixture` for each ``(ks[c], seeds[c])``, run side by side (None where a
    covariance is not positive definite).

    ``warm_start[c]``, where given and not None, is an earlier fit of ``ks[c]`` components
    that candidate ``c`` starts from, as scikit-learn's ``GaussianMixture(warm_start=True)``
    refitted: EM begins at its weights, means and covariances (no k-means, ``seeds[c]``
    unused), and the first step's convergence test compares with its ``lower_bound``.

    The components of all candidates are stacked, so one EM step of all of them is a few
    NumPy calls, and both steps work on the sums of ``1, x, x x^T`` weighted by the
    responsibilities (:func:`_moments`): one product of (components, points) by (points,
    1 + d + d (d + 1) / 2) per step, instead of the (components, d, points) arrays of the
    textbook form. The points are centred first, for precision. A candidate that stops
    leaves the stack, so the last steps run on the slow ones alone. Each candidate takes
    exactly the steps of its own fit. ``engine``: see :func:`compiled_fits` (compiled,
    the candidates are fitted one by one, each in one call).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))]
        >>> [len(fit.weights) for fit in fit_mixtures(x, [1, 2, 3], [0, 0, 0])]
        [1, 2, 3]
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    ks = np.array(ks, dtype=np.int64)
    count, slots = len(ks), int(ks.max())
    starts = _check_starts(warm_start, ks, d)
    compiled = compiled_fits(engine)
    if compiled is not None:
        return _fit_compiled(compiled, x, ks, seeds, starts, tol, reg_covar, max_iter)
    cold = np.array([start is None for start in starts], dtype=bool)
    shift = x.mean(axis=0)
    features, product, halves = _moments(x - shift)
    used = np.arange(slots) < ks[:, None]
    if cold.all():
        weights, means, covariances = _kmeans_start(
            x, ks, seeds, features, shift, product, reg_covar
        )
    else:  # scikit-learn's warm_start: the previous fit's parameters, no k-means
        weights = np.full((count, slots), _TINY / n)  # unused slots, as a k-means start's
        means = np.repeat(-shift[None], count * slots, axis=0).reshape(count, slots, d)
        covariances = np.tile(reg_covar * np.eye(d), (count, slots, 1, 1))
        rows = np.flatnonzero(cold)
        if len(rows):
            picked = [seeds[row] for row in rows]
            found = _kmeans_start(x, ks[rows], picked, features, shift, product, reg_covar)
            width = int(ks[rows].max())
            weights[rows, :width] = found[0]
            means[rows, :width] = found[1].reshape(len(rows), width, d)
            covariances[rows, :width] = found[2].reshape(len(rows), width, d, d)
        for row in np.flatnonzero(~cold):
            k, start = ks[row], starts[row]
            weights[row, :k] = start.weights
            means[row, :k] = start.means - shift
            covariances[row, :k] = start.covariances
        means, covariances = means.reshape(-1, d), covariances.reshape(-1, d, d)
    coefficients, failed = _coefficients(weights, used, means, covariances, halves)
    fits: list[Mixture | None] = [None] * count
    which = np.arange(count)  # the candidate of each row of the stack
    # EM's bound before the first step: -inf, or the warm start's last bound (scikit-learn's)
    bound = np.array([-np.inf if start is None else start.lower_bound for start in starts])
    iterations = np.zeros(count, dtype=np.int64)
    converged = np.zeros(count, dtype=bool)
    done = np.full(count, max_iter <= 0)
    while True:
        density, resp = _e_step(coefficients, features, count)
        if (done | failed).any():  # a failed fit leaves without a mixture
            means = means.reshape(count, slots, d)
            covariances = covariances.reshape(count, slots, d, d)
            for row in np.flatnonzero(done & ~failed):
                k = ks[row]
                fits[which[row]] = Mixture(
                    weights[row, :k],
                    means[row, :k] + shift,
                    covariances[row, :k],
                    float(density[row].mean()),  # the score of the final parameters
                    n,
                    int(iterations[row]),
                    bool(converged[row]),
                    float(bound[row]),
                )
            stay = ~(done | failed)
            if not stay.any():
                return fits
            ks, which, bound, iterations = ks[stay], which[stay], bound[stay], iterations[stay]
            count, slots = len(ks), int(ks.max())
            resp, density, used = resp[stay, :slots], density[stay], used[stay, :slots]
        sums = resp.reshape(-1, n) @ features.T
        masses, means, covariances = _m_step(sums, shift, product, reg_covar)
        masses = masses.reshape(count, slots)
        weights = masses / (masses * used).sum(axis=1, keepdims=True)
        coefficients, failed = _coefficients(weights, used, means, covariances, halves)
        previous, bound = bound, np.add.reduce(density, axis=1) / n  # the bound before this M step
        iterations += 1
        converged = np.abs(bound - previous) < tol
        done = converged | (iterations >= max_iter)


def compiled_fits(engine: str = "auto") -> Any:
    """The compiled fits (:mod:`._gmm_numba`) that ``engine`` asks for, or None for NumPy
    (:func:`~stepladder.strategies._engines.compiled_module`).

    Example:
        >>> compiled_fits("numpy") is None
        True
    """
    return compiled_module(engine, "_gmm_numba")


def _fit_compiled(
    compiled: Any,
    x: np.ndarray,
    ks: np.ndarray,
    seeds: list[int],
    starts: list[Mixture | None],
    tol: float,
    reg_covar: float,
    max_iter: int,
) -> list[Mixture | None]:
    """:func:`fit_mixtures` by the compiled fits, one call per candidate."""
    n, d = x.shape
    shift = x.mean(axis=0)
    centred = x - shift
    points = np.ascontiguousarray(centred.T)
    features = _moments(centred)[0]
    tolerance = float(np.var(centred, axis=0).mean() * 1e-4)  # k-means's, as scikit-learn
    no_labels = np.zeros(0, dtype=np.int64)
    fits: list[Mixture | None] = []
    for k, seed, start in zip(ks.tolist(), seeds, starts, strict=True):
        if start is None:
            draws = _seeding_draws(k, _seeded(seed))
            labels = compiled.kmeans(points, k, draws, tolerance, 300)
            weights, means, covariances = np.empty(k), np.empty((k, d)), np.empty((k, d, d))
            bound = -np.inf
        else:
            labels = no_labels
            weights, means = start.weights.copy(), start.means - shift
            covariances, bound = start.covariances.copy(), start.lower_bound
        fitted, density, iterations, converged, bound = compiled.fit(
            features, shift, labels, weights, means, covariances, bound, tol, reg_covar, max_iter
        )
        fits.append(
            Mixture(weights, means + shift, covariances, density, n, iterations, converged, bound)
            if fitted
            else None
        )
    return fits


def fit_mixture(
    x: np.ndarray,
    k: int,
    seed: int,
    *,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    engine: str = "auto",
) -> Mixture:
    """EM fit of a k-component full-covariance mixture, as scikit-learn's ``GaussianMixture``.

    Starts from the k-means clusters (:func:`kmeans_labels` with ``RandomState(seed)``) and
    alternates E and M steps until the mean log-likelihood lower bound changes by less than
    ``tol`` or ``max_iter`` steps ran (``engine``: :func:`compiled_fits`). Raises
    ``numpy.linalg.LinAlgError`` where a covariance is not positive definite (scikit-learn
    raises ``ValueError`` there).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))]
        >>> fit = fit_mixture(x, 2, seed=0)
        >>> np.round(fit.means, 2).tolist(), fit.converged
        ([[7.87, 7.95], [-0.07, 0.1]], True)
    """
    fit = fit_mixtures(
        x, [k], [seed], tol=tol, reg_covar=reg_covar, max_iter=max_iter, engine=engine
    )[0]
    if fit is None:
        raise np.linalg.LinAlgError(f"a covariance of the {k}-component fit is singular")
    return fit


class WarmStarts:
    """The last fit of each component count, for the next fits to start from.

    What scikit-learn's ``GaussianMixture(warm_start=True)`` keeps between calls to ``fit``
    (one estimator per count, as in the ALP-GMM authors' code): a count's first fit starts
    from k-means, each later one from its previous fit. A count whose fit failed (a
    singular covariance: scikit-learn raises there) starts from k-means again. The fits are
    learned state: :meth:`state_dict` saves them exactly.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))]
        >>> warm = WarmStarts(dimensions=2)
        >>> first = best_mixture(x, range(1, 4), rng, warm_start=warm)
        >>> sorted(warm.fits), best_mixture(x, range(1, 4), rng, warm_start=warm).iterations
        ([1, 2, 3], 1)
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.fits: dict[int, Mixture] = {}

    def starts(self, ks: Sequence[int]) -> list[Mixture | None]:
        """The fit each count starts from (None: k-means)."""
        return [self.fits.get(int(k)) for k in ks]

    def keep(self, ks: Sequence[int], fits: Sequence[Mixture | None]) -> None:
        """Remember the new fits (forget a count whose fit failed)."""
        for k, fit in zip(ks, fits, strict=True):
            if fit is None:
                self.fits.pop(int(k), None)
            else:
                self.fits[int(k)] = fit

    def state_dict(self) -> dict[str, Any]:
        d = self.dimensions
        fits = [self.fits[k] for k in sorted(self.fits)]
        return {
            "counts": np.array(sorted(self.fits), dtype=np.int64),
            "weights": np.concatenate([f.weights for f in fits] or [np.zeros(0)]),
            "means": np.concatenate([f.means for f in fits] or [np.zeros((0, d))]),
            "covariances": np.concatenate([f.covariances for f in fits] or [np.zeros((0, d, d))]),
            "log_likelihood": np.array([f.log_likelihood for f in fits], dtype=np.float64),
            "samples": np.array([f.samples for f in fits], dtype=np.int64),
            "iterations": np.array([f.iterations for f in fits], dtype=np.int64),
            "converged": np.array([f.converged for f in fits], dtype=bool),
            "lower_bound": np.array([f.lower_bound for f in fits], dtype=np.float64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        d = self.dimensions
        counts = np.asarray(state["counts"], dtype=np.int64).reshape(-1)
        total = int(counts.sum())
        weights = np.asarray(state["weights"], dtype=np.float64)
        means = np.asarray(state["means"], dtype=np.float64)
        covariances = np.asarray(state["covariances"], dtype=np.float64)
        rest = [np.asarray(state[key]).reshape(-1) for key in Mixture.__dataclass_fields__
                if key not in ("weights", "means", "covariances")]  # fmt: skip
        if (counts <= 0).any() or len(np.unique(counts)) != len(counts):
            raise ValueError("warm starts: component counts must be distinct and positive")
        shapes = (weights.shape, means.shape, covariances.shape)
        if shapes != ((total,), (total, d), (total, d, d)):
            raise ValueError(
                f"warm starts: weights, means and covariances of shapes {shapes} do not "
                f"hold {total} components of dimension {d}"
            )
        if any(len(column) != len(counts) for column in rest):
            raise ValueError("warm starts: one score, size and bound per fit needed")
        if not (np.isfinite(weights).all() and np.isfinite(means).all()):
            raise ValueError("warm starts: weights and means must be finite")
        ends = np.cumsum(counts)
        fits = {}
        for i, (k, end) in enumerate(zip(counts, ends, strict=True)):
            part = slice(end - k, end)
            log_likelihood, samples, iterations, converged, lower_bound = (c[i] for c in rest)
            fits[int(k)] = Mixture(
                weights[part].copy(),
                means[part].copy(),
                covariances[part].copy(),
                float(log_likelihood),
                int(samples),
                int(iterations),
                bool(converged),
                float(lower_bound),
            )
        self.fits = fits


def best_mixture(
    x: np.ndarray,
    components: range,
    rng: np.random.Generator,
    *,
    criterion: str = "aic",
    warm_start: WarmStarts | None = None,
    engine: str = "auto",
) -> Mixture | None:
    """The fit with the lowest AIC (or BIC) over the component counts in ``components``.

    As ALP-GMM and Covar-GMM do every ``fit_every`` episodes. Each count's fit is seeded by
    one draw from ``rng`` (drawn even when that fit fails), so runs are reproducible; counts
    whose fit meets a singular covariance are skipped. None if every fit failed. The fits
    run side by side (:func:`fit_mixtures`, by ``engine``). With ``warm_start``, each count
    starts from its last fit there (k-means for its first), and the new fits replace them.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))]
        >>> best_mixture(x, range(1, 5), np.random.default_rng(0)).means.shape
        (2, 2)
    """
    ks = list(components)
    if not ks:
        return None
    seeds = [int(rng.integers(0, 2**31 - 1)) for _ in ks]
    best, best_score = None, math.inf
    starts = None if warm_start is None else warm_start.starts(ks)
    fits = fit_mixtures(x, ks, seeds, warm_start=starts, engine=engine)
    if warm_start is not None:
        warm_start.keep(ks, fits)
    for fit in fits:
        if fit is None:  # a singular covariance: no fit with that many components
            continue
        score = fit.aic() if criterion == "aic" else fit.bic()
        if score < best_score:
            best, best_score = fit, score
    return best
