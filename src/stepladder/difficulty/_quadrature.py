"""Ability quadrature that stays accurate when learners answer thousands of items.

Marginal likelihood integrates each learner's likelihood over the N(0, 1) ability prior.
Classical EM evaluates it at a fixed grid of nodes (41-61 across [-6, 6]). That suits tests
of tens of items, whose likelihoods are broad. A learner with 10,000 responses (an LLM on a
benchmark) has a posterior with sd ~0.02, far narrower than the node spacing; the grid then
misplaces the posterior mass, and the discretised likelihood rewards flatter item curves,
which biases discriminations down and stretches the difficulty scale.

The log-likelihood of one learner is a smooth function of ability (a sum of log-sigmoids),
so we compute it exactly at the coarse nodes with one matrix product and interpolate it
with a cubic spline onto a fine grid whose spacing resolves the sharpest posterior; the
posterior, the marginal likelihood and the abilities (EAP) come from the fine grid. The
M-step needs expected counts at nodes; the fine posterior is folded back onto the coarse
nodes with linear (hat) weights, which preserves every learner's posterior mean but adds
variance: a fine node at t between coarse nodes x_k < x_k+1 adds (t - x_k)(x_k+1 - t). EM
amplifies any M-step bias by 1 / (1 - its convergence rate), so the M-step corrects for
that added variance to second order (see ``variance_added``).
"""

from __future__ import annotations

import math

import numpy as np

from stepladder.difficulty._design import in_threads

__all__ = ["Quadrature", "log_sum_exp"]

#: Fine-grid steps per coarse interval, at most.
MAX_REFINE = 64
#: Learners per block of :meth:`Quadrature.posterior`.
POSTERIOR_ROWS = 128
#: Log of the smallest posterior mass kept (float32's smallest normal number is 1.2e-38).
_LOG_TINY = math.log(1e-30)


class Quadrature:
    """Coarse nodes for the products, a fine grid for the posterior.

    Args:
        n_nodes: coarse nodes, equally spaced on ``[-theta_max, theta_max]``.
        theta_max: half-width of the grid.
        refine: fine-grid steps per coarse interval (1 = classical fixed quadrature).

    Example:
        >>> coarse, fine = Quadrature(11, 5.0), Quadrature(11, 5.0, refine=8)
        >>> len(fine.nodes), len(fine.fine_nodes)
        (11, 81)
        >>> def eap(q):  # likelihood N(1, 0.3^2) x prior N(0, 1): exact mean 1 / 1.09 = 0.917
        ...     post, _ = q.posterior(-0.5 * ((q.nodes[None, :] - 1.0) / 0.3) ** 2)
        ...     return round(float((post @ q.fine_nodes)[0]), 3)
        >>> eap(coarse), eap(fine)
        (0.995, 0.917)
    """

    def __init__(self, n_nodes: int, theta_max: float, *, refine: int = 1) -> None:
        self.nodes = np.linspace(-theta_max, theta_max, n_nodes)
        self.refine = int(refine)
        self.fine_nodes = np.linspace(-theta_max, theta_max, (n_nodes - 1) * self.refine + 1)
        log_prior = -0.5 * self.fine_nodes**2
        self.log_weights = log_prior - log_sum_exp(log_prior[None, :])[0]
        if self.refine == 1:
            self._interpolate = self._fold = None
        else:
            # Linear maps as matrices: coarse values -> fine values (spline through them), and
            # fine masses -> coarse masses (hat weights).
            self._interpolate = _spline_matrix(self.nodes, self.fine_nodes)
            spacing = self.nodes[1] - self.nodes[0]
            distance = np.abs(self.fine_nodes[:, None] - self.nodes[None, :]) / spacing
            self._fold = np.maximum(0.0, 1.0 - distance)
        below = self.nodes[np.minimum(np.searchsorted(self.nodes, self.fine_nodes, "right") - 1,
                                      n_nodes - 2)]  # fmt: skip
        spacing = self.nodes[1] - self.nodes[0]
        self._added_variance = (self.fine_nodes - below) * (below + spacing - self.fine_nodes)

    @classmethod
    def for_responses(cls, n_nodes: int, theta_max: float, max_responses: float) -> Quadrature:
        """Refine enough to resolve the sharpest posterior a learner can have.

        A learner with n responses has posterior sd of roughly 1 / sqrt(0.2 n) (information
        a^2 P(1-P) ~ 0.2 per response); the fine spacing is a third of that.
        """
        spacing = 2 * theta_max / (n_nodes - 1)
        sharpest_sd = 1.0 / math.sqrt(0.2 * max(max_responses, 1.0) + 1.0)
        refine = min(MAX_REFINE, max(1, math.ceil(spacing / (sharpest_sd / 3))))
        return cls(n_nodes, theta_max, refine=refine)

    def posterior(self, loglik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior over the fine grid per learner, and each learner's marginal log-likelihood.

        ``loglik`` holds each learner's log-likelihood at the coarse nodes. Blocks of
        ``POSTERIOR_ROWS`` learners run side by side on the worker threads (rows are
        independent: the result is the same on any number of threads).
        """
        n_rows = loglik.shape[0]
        posterior = np.empty((n_rows, len(self.fine_nodes)))
        marginal = np.empty(n_rows)

        def block(start: int) -> None:
            rows = slice(start, start + POSTERIOR_ROWS)
            posterior[rows], marginal[rows] = self._posterior_block(loglik[rows])

        in_threads(block, range(0, n_rows, POSTERIOR_ROWS))
        return posterior, marginal

    def _posterior_block(self, loglik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`posterior` of a block of rows. Only the fine nodes between the first and
        the last where some row keeps mass are exponentiated and normalised: rows ordered
        by ability share a narrow window (a tenth of the grid on 1,000 learners x 10,000
        responses each), and every node outside it is zero anyway."""
        if self._interpolate is None:
            log_joint = loglik + self.log_weights
        else:
            log_joint = loglik @ self._interpolate
            log_joint += self.log_weights
        peak = log_joint.max(axis=1, keepdims=True)
        # Masses below float32's normal range would be subnormal in the float32 products
        # (slow on most CPUs) and are far below any tolerance: flush them to zero (any
        # that the normalisation below pushes under it are of the same order).
        kept = np.flatnonzero(np.any(log_joint >= peak + _LOG_TINY, axis=0))
        window = slice(kept[0], kept[-1] + 1) if len(kept) else slice(None)  # (NaN rows)
        posterior = np.zeros_like(log_joint)
        mass = log_joint[:, window]
        mass -= peak
        mass[mass < _LOG_TINY] = -np.inf
        np.exp(mass, out=mass)
        total = mass.sum(axis=1)
        mass /= total[:, None]
        posterior[:, window] = mass
        return posterior, np.log(total) + peak[:, 0]

    def fold(self, posterior: np.ndarray) -> np.ndarray:
        """Fine posterior masses moved onto the coarse nodes (posterior means preserved)."""
        return posterior if self._fold is None else posterior @ self._fold

    def variance_added(self, posterior: np.ndarray) -> np.ndarray:
        """Variance that folding adds to each learner's posterior (zero without refinement).

        For a smooth g, E_fine[g] ~ E_folded[g] - variance_added / 2 * g'' near the learner.
        """
        return posterior @ self._added_variance


def log_sum_exp(values: np.ndarray) -> np.ndarray:
    """log(sum(exp(values), axis=1)) for finite values, computed from each row's maximum
    (SciPy's ``logsumexp`` costs several times more on the posterior's arrays).

    Example:
        >>> log_sum_exp(np.array([[0.0, 0.0], [-1000.0, -1000.0]])).round(6).tolist()
        [0.693147, -999.306853]
    """
    peak = values.max(axis=1)
    return np.log(np.exp(values - peak[:, None]).sum(axis=1)) + peak


def _spline_matrix(nodes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The (nodes x points) matrix taking values at equally spaced ``nodes`` to the values
    at ``points`` of the cubic spline through them with not-a-knot ends (SciPy's
    ``CubicSpline`` default; written out here because importing SciPy's interpolation
    costs more than a fit's E-steps on 10^7 responses).

    The second derivatives M solve M[k-1] + 4 M[k] + M[k+1] = 6 (y[k-1] - 2 y[k] + y[k+1])
    / h^2 inside and M[0] - 2 M[1] + M[2] = 0 (and the mirror image) at the ends: a
    continuous third derivative at the second and the second-last node.

    Example:
        >>> x = np.linspace(-2.0, 2.0, 5)
        >>> t = np.array([-1.5, 0.25, 2.0])
        >>> (x**3 @ _spline_matrix(x, t)).round(10).tolist()  # exact for cubics
        [-3.375, 0.015625, 8.0]
    """
    n, h = len(nodes), nodes[1] - nodes[0]
    system = np.zeros((n, n))
    right = np.zeros((n, n))  # second derivatives = solve(system, right @ y)
    for k in range(1, n - 1):
        system[k, k - 1 : k + 2] = 1.0, 4.0, 1.0
        right[k, k - 1 : k + 2] = np.array([1.0, -2.0, 1.0]) * 6.0 / h**2
    if n > 3:
        system[0, :3] = system[-1, -3:] = 1.0, -2.0, 1.0
    else:  # a single cubic: no interior condition beyond the curvature's
        system[0, 0] = system[-1, -1] = 1.0
        system[0, 1] = system[-1, -2] = -1.0
    second = np.linalg.solve(system, right)  # (n x n): node values -> second derivatives
    k = np.clip(np.searchsorted(nodes, points, side="right") - 1, 0, n - 2)
    upper = (points - nodes[k]) / h
    lower = 1.0 - upper
    out = np.zeros((len(points), n))
    rows = np.arange(len(points))
    out[rows, k] += lower
    out[rows, k + 1] += upper
    out += ((lower**3 - lower) * h**2 / 6)[:, None] * second[k]
    out += ((upper**3 - upper) * h**2 / 6)[:, None] * second[k + 1]
    return out.T
