"""The fits of :mod:`stepladder.strategies._gmm`, compiled with numba (the ``fast`` extra).

NumPy runs an EM step of the stacked candidates in about 70 calls, and at 250 points the
calls, not the arithmetic, set the cost: about 9 ms of CPU for ALP-GMM's 9 fits. Compiled,
a fit is one call: its loops run over contiguous rows of points (vectorised by LLVM), the
two products of each EM step are BLAS calls, and the 9 fits take about 1.3 ms.

The arithmetic is the NumPy path's, step for step: the same k-means++ seeding from the same
draws, Lloyd iterations and empty-cluster moves; the same EM on the responsibility-weighted
sums of the features ``1, x, x x^T`` of the centred points (``_gmm._moments``), with the
same start, updates and stopping rule. Two rounding-level differences: the M step's sums
run in any order (``fastmath`` reassociation, for SIMD), and the E step's log-sum-exp is
shifted by each point's largest term and takes :func:`_shifted_exp`, a polynomial ``exp``
that LLVM vectorises, within 1 ulp of NumPy's (numba's scalar ``exp`` costs 4.5 ns a
value, NumPy's 0.8, this one about 1.1 in these loops).

Imported by ``_gmm`` only where numba is installed; compiled on first use and cached.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_LOG_2PI = math.log(2 * math.pi)
_TINY = 10 * np.finfo(np.float64).eps  # scikit-learn's floor on a component's mass
_REDUCE = {"reassoc", "contract"}  # sums in any order, fused multiply-adds: SIMD loops
_LOG2E = 1.4426950408889634
_LN2_HIGH = 6.93147180369123816490e-01  # ln 2 in two parts (Cody and Waite): k ln 2 exact
_LN2_LOW = 1.90821492927058770002e-10
_ROUNDING = 1.5 * 2.0**52  # x + this - this: x rounded to an integer
# 1 / j! for j = 0 .. 13: Taylor's series of exp on [-ln 2 / 2, ln 2 / 2], to 1e-17
_TAYLOR = tuple(1.0 / math.factorial(j) for j in range(14))


@njit(cache=True, error_model="numpy")
def _shifted_exp(values: np.ndarray, top: np.ndarray, total: np.ndarray, bits: np.ndarray) -> None:
    """``values <- exp(values - top)`` (below -708 taken as -708), and ``total += values``.

    ``exp(x) = 2^j exp(r)``, ``j = round(x / ln 2)`` (by adding and taking away 1.5 2^52),
    ``r = x - j ln 2`` in two parts, and ``exp(r)`` by 14 terms of its series (Horner);
    ``2^j`` is built in the exponent bits of ``bits`` (int64, as long as ``values``).
    Strict arithmetic (no ``fastmath``): the reduction's steps must not be merged.
    """
    c = _TAYLOR
    for i in range(values.size):
        x = max(values[i] - top[i], -708.0)
        j = (x * _LOG2E + _ROUNDING) - _ROUNDING
        r = (x - j * _LN2_HIGH) - j * _LN2_LOW
        p = c[13] * r + c[12]
        p = p * r + c[11]
        p = p * r + c[10]
        p = p * r + c[9]
        p = p * r + c[8]
        p = p * r + c[7]
        p = p * r + c[6]
        p = p * r + c[5]
        p = p * r + c[4]
        p = p * r + c[3]
        p = p * r + c[2]
        p = p * r + c[1]
        values[i] = p * r + c[0]
        bits[i] = (np.int64(j) + 1023) << 52
    scale = bits.view(np.float64)
    for i in range(values.size):
        values[i] *= scale[i]
        total[i] += values[i]


@njit(cache=True, error_model="numpy")
def _distances_to(points: np.ndarray, squares: np.ndarray, centre: int, out: np.ndarray) -> None:
    """Squared distance of every point to point ``centre``, as the NumPy path computes it:
    ``max(-2 x_c . x + |x_c|^2 + |x|^2, 0)``."""
    d, n = points.shape
    out[:] = 0.0
    for a in range(d):
        value = points[a, centre]
        for i in range(n):
            out[i] += value * points[a, i]
    for i in range(n):
        out[i] = max(-2.0 * out[i] + squares[centre] + squares[i], 0.0)


@njit(cache=True, error_model="numpy")
def _nearest_centroids(
    points: np.ndarray, centroids: np.ndarray, labels: np.ndarray, best: np.ndarray
) -> bool:
    """Label each point with its nearest centroid (``|c|^2 - 2 x . c``, the first of ties);
    whether any label changed. ``best`` (n) is work space."""
    d, n = points.shape
    best[:] = np.inf
    fresh = np.empty(n, dtype=np.int64)
    distance = np.empty(n)
    for j in range(centroids.shape[0]):
        square = 0.0
        for a in range(d):
            square += centroids[j, a] * centroids[j, a]
        distance[:] = 0.0
        for a in range(d):
            value = centroids[j, a]
            for i in range(n):
                distance[i] += points[a, i] * value
        for i in range(n):
            found = -2.0 * distance[i] + square
            if found < best[i]:
                best[i] = found
                fresh[i] = j
    changed = False
    for i in range(n):
        changed |= fresh[i] != labels[i]
        labels[i] = fresh[i]
    return changed


@njit(cache=True, error_model="numpy")
def kmeans(
    points: np.ndarray, k: int, draws: np.ndarray, tolerance: float, max_iter: int
) -> np.ndarray:
    """Labels of ``KMeans(k, n_init=1)`` of the centred ``points`` (d, n) with the seeding
    ``draws`` of ``_gmm._seeding_draws``; ``tolerance``: 1e-4 of the mean variance."""
    d, n = points.shape
    squares = np.zeros(n)
    for i in range(n):
        for a in range(d):
            squares[i] += points[a, i] * points[a, i]
    # the first centre: RandomState.choice with uniform p, by its cumulative sums
    cdf = np.cumsum(np.full(n, 1.0 / n))
    first = min(np.searchsorted(cdf / cdf[-1], draws[0], "right"), n - 1)
    centres = np.zeros(k, dtype=np.int64)
    centres[0] = first
    closest = np.empty(n)
    _distances_to(points, squares, first, closest)
    potential = closest.sum()
    trials = 2 + int(math.log(k))
    candidate_distances = np.empty(n)
    best_distances = np.empty(n)
    for slot in range(1, k):  # greedy k-means++: the best of `trials` candidates
        cumulative = np.cumsum(closest)
        best_potential = np.inf
        for t in range(trials):
            target = draws[1 + (slot - 1) * trials + t] * potential
            candidate = min(np.searchsorted(cumulative, target, "left"), n - 1)
            _distances_to(points, squares, candidate, candidate_distances)
            total = 0.0
            for i in range(n):
                candidate_distances[i] = min(closest[i], candidate_distances[i])
                total += candidate_distances[i]
            if total < best_potential:
                best_potential, centres[slot] = total, candidate
                best_distances[:] = candidate_distances
        closest[:] = best_distances
        potential = best_potential

    centroids = np.empty((k, d))
    for j in range(k):
        for a in range(d):
            centroids[j, a] = points[a, centres[j]]
    labels = np.full(n, -1, dtype=np.int64)
    work = np.empty(n)
    stopped = False
    sums = np.empty((k, d))
    counts = np.empty(k)
    for _ in range(max_iter):
        changed = _nearest_centroids(points, centroids, labels, work)
        if stopped or not changed:
            return labels
        sums[:] = 0.0
        counts[:] = 0.0
        for i in range(n):  # in point order, as the NumPy path's bincount
            for a in range(d):
                sums[labels[i], a] += points[a, i]
            counts[labels[i]] += 1.0
        taken = np.zeros(n, dtype=np.bool_)
        for cluster in range(k):  # an empty cluster takes the point farthest from its centre
            if counts[cluster] != 0:
                continue
            far, gap = -1, -1.0
            for i in range(n):
                if taken[i]:
                    continue
                g = 0.0
                for a in range(d):
                    g += (points[a, i] - centroids[labels[i], a]) ** 2
                if g > gap:
                    far, gap = i, g
            taken[far] = True
            for a in range(d):
                sums[labels[far], a] -= points[a, far]
                sums[cluster, a] = points[a, far]
            counts[labels[far]] -= 1.0
            counts[cluster] = 1.0
        shift = 0.0
        for j in range(k):
            for a in range(d):
                moved = sums[j, a] / counts[j] if counts[j] > 0 else 0.0
                shift += (moved - centroids[j, a]) ** 2
                centroids[j, a] = moved
        stopped = shift <= tolerance
    _nearest_centroids(points, centroids, labels, work)
    return labels


@njit(cache=True, error_model="numpy")
def _product_row(d: int, a: int, b: int) -> int:
    """Row of ``x_a x_b`` (``a <= b``) among the features: 1, ``x_0 .. x_d-1``, then the
    products in the order of ``np.triu_indices(d)`` (``_gmm._moments``)."""
    return 1 + d + a * d - a * (a - 1) // 2 + (b - a)


@njit(cache=True, error_model="numpy")
def _m_step(
    sums: np.ndarray,
    shift: np.ndarray,
    reg_covar: float,
    masses: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
) -> None:
    """scikit-learn's M step from each component's responsibility-weighted sums (k, f) of
    the features: ``mass = sum r + 10 eps``, ``mu = sum r x / mass`` and ``sum r (x -
    mu)(x - mu)^T / mass + reg_covar I`` expanded in those sums, as ``_gmm._m_step``. The
    points are centred by ``shift``; the means are returned less ``shift``."""
    k, d = means.shape
    for j in range(k):
        mass = sums[j, 0] + _TINY
        share = sums[j, 0] / mass  # 1 but for (nearly) empty components
        masses[j] = mass
        for a in range(d):
            means[j, a] = sums[j, 1 + a] / mass - shift[a] * (1.0 - share)
        for a in range(d):
            for b in range(a, d):
                value = sums[j, _product_row(d, a, b)] / mass
                value -= means[j, a] * (sums[j, 1 + b] / mass)
                value -= means[j, b] * (sums[j, 1 + a] / mass)
                value += share * means[j, a] * means[j, b]
                covariances[j, a, b] = covariances[j, b, a] = value
            covariances[j, a, a] += reg_covar


@njit(cache=True, error_model="numpy")
def _coefficients(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    coefficients: np.ndarray,
    lower: np.ndarray,
    inverse: np.ndarray,
) -> bool:
    """``log(weight x density)`` of each component as coefficients (k, f) of the
    features: ``-1/2 (d log 2 pi + log det S + (x - mu)^T S^-1 (x - mu))`` expanded,
    as ``_gmm._coefficients``. False where a covariance is not positive definite (LAPACK's
    Cholesky test: a pivot not above 0). ``lower`` and ``inverse`` (d, d) are work space."""
    k, d = means.shape
    for j in range(k):
        for a in range(d):  # Cholesky: S = L L^T
            for b in range(a + 1):
                s = covariances[j, a, b]
                for c in range(b):
                    s -= lower[a, c] * lower[b, c]
                if a == b:
                    if not s > 0.0:
                        return False
                    lower[a, a] = math.sqrt(s)
                else:
                    lower[a, b] = s / lower[b, b]
        half_log_det = 0.0
        for a in range(d):  # L^-1 by forward substitution
            half_log_det += math.log(lower[a, a])
            inverse[a, a] = 1.0 / lower[a, a]
            for b in range(a):
                s = 0.0
                for c in range(b, a):
                    s += lower[a, c] * inverse[c, b]
                inverse[a, b] = -s / lower[a, a]
        quadratic = 0.0  # mu^T S^-1 mu
        for a in range(d):
            pulled = 0.0  # (S^-1 mu)_a
            for b in range(d):
                precision = 0.0  # (L^-T L^-1)_ab
                for c in range(max(a, b), d):
                    precision += inverse[c, a] * inverse[c, b]
                pulled += precision * means[j, b]
                if b >= a:
                    half = -0.5 if a == b else -1.0
                    coefficients[j, _product_row(d, a, b)] = half * precision
            coefficients[j, 1 + a] = pulled
            quadratic += pulled * means[j, a]
        coefficients[j, 0] = math.log(weights[j]) - half_log_det - 0.5 * (d * _LOG_2PI + quadratic)
    return True


@njit(cache=True, error_model="numpy", fastmath=_REDUCE)
def _normalise(resp: np.ndarray, top: np.ndarray, total: np.ndarray, bits: np.ndarray) -> float:
    """Turn ``log(weight x density)`` (k, n) into responsibilities, in place; the mean
    log-likelihood of the points (log-sum-exp, shifted by each point's largest term)."""
    k, n = resp.shape
    top[:] = -np.inf
    for j in range(k):
        for i in range(n):
            top[i] = max(top[i], resp[j, i])
    total[:] = 0.0
    for j in range(k):
        _shifted_exp(resp[j], top, total, bits)
    # sum of log(total): each total lies in [1, k] (its largest term is 1), so the log of
    # the product of up to `run` totals (at most k^run < 1e261) replaces `run` logs
    density = 0.0
    run = max(1, int(600.0 / math.log(max(k, 2))))
    for start in range(0, n, run):
        product = 1.0
        for i in range(start, min(start + run, n)):
            product *= total[i]
        density += math.log(product)
    for i in range(n):
        density += top[i]
        total[i] = 1.0 / total[i]
    for j in range(k):
        for i in range(n):
            resp[j, i] *= total[i]
    return density / n


@njit(cache=True, error_model="numpy")
def fit(
    features: np.ndarray,
    shift: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    bound: float,
    tol: float,
    reg_covar: float,
    max_iter: int,
) -> tuple[bool, float, int, bool, float]:
    """EM of ``GaussianMixture`` on the points given by their features (f, n; centred by
    ``shift``), in place on ``weights`` (k), ``means`` (k, d; less ``shift``) and
    ``covariances`` (k, d, d).

    Starts from the k-means ``labels`` (n; scikit-learn's start) or, where ``labels`` is
    empty, from the parameters given with EM's earlier bound ``bound`` (a warm start).
    Returns (fitted: no covariance lost positive definiteness, mean log-likelihood of the
    final parameters, iterations, converged, the last lower bound).
    """
    f, n = features.shape
    k, d = means.shape
    resp = np.zeros((k, n))
    sums = np.empty((k, f))
    transposed = features.T
    if labels.size:
        for i in range(n):
            resp[labels[i], i] = 1.0
        np.dot(resp, transposed, sums)
        _m_step(sums, shift, reg_covar, weights, means, covariances)
        weights /= n
    coefficients = np.empty((k, f))
    lower, inverse = np.zeros((d, d)), np.zeros((d, d))
    top, total = np.empty(n), np.empty(n)
    bits = np.empty(n, dtype=np.int64)
    iterations, converged = 0, False
    if not _coefficients(weights, means, covariances, coefficients, lower, inverse):
        return False, 0.0, iterations, converged, bound
    while True:
        np.dot(coefficients, features, resp)
        density = _normalise(resp, top, total, bits)
        if converged or iterations >= max_iter:
            return True, density, iterations, converged, bound
        np.dot(resp, transposed, sums)
        _m_step(sums, shift, reg_covar, weights, means, covariances)
        weights /= weights.sum()
        if not _coefficients(weights, means, covariances, coefficients, lower, inverse):
            return False, 0.0, iterations, converged, bound
        previous, bound = bound, density  # the bound before this M step
        iterations += 1
        converged = abs(bound - previous) < tol
