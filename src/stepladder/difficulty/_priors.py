"""Log densities of the IRT item priors, with gradients and curvatures for Newton steps.

Item parameters are estimated in slope-intercept form, logit = a * theta + delta, with
difficulty b = -delta / a. Each prior returns its log density (up to a constant), its
gradient and a positive semi-definite curvature (minus the Hessian where that is positive,
the Gauss-Newton / Fisher curvature where the exact one can be indefinite), so that a
Newton direction built from it is always an ascent direction for a line search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from stepladder.difficulty.irt import Priors

__all__ = ["location_prior", "slope_prior"]


def slope_prior(priors: Priors, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log density, gradient, curvature) of the priors on the discrimination, elementwise.

    A normal N(m, s^2) on ``a`` and/or a normal N(m, s^2) on ``log a`` (a lognormal prior,
    taken as a density of ``log a`` so that its mode is the median slope exp(m); minus
    infinity for a <= 0); its curvature is the Fisher information 1 / (s a)^2.

    Example:
        >>> from stepladder.difficulty.irt import Priors
        >>> value, gradient, curvature = slope_prior(Priors(), np.array([1.0, -1.0]))
        >>> value.tolist(), gradient.tolist(), curvature.tolist()
        ([-0.0, -inf], [-0.0, 0.0], [4.0, 0.0])
    """
    a = np.asarray(a, dtype=np.float64)
    value, gradient, curvature = np.zeros_like(a), np.zeros_like(a), np.zeros_like(a)
    if priors.discrimination is not None:
        mean, sd = priors.discrimination
        value -= 0.5 * ((a - mean) / sd) ** 2
        gradient -= (a - mean) / sd**2
        curvature += 1.0 / sd**2
    if priors.log_discrimination is not None:
        mean, sd = priors.log_discrimination
        positive = a > 0
        safe = np.where(positive, a, 1.0)
        log_a = np.log(safe)
        value += np.where(positive, -0.5 * ((log_a - mean) / sd) ** 2, -np.inf)
        gradient += np.where(positive, -(log_a - mean) / (sd**2 * safe), 0.0)
        curvature += np.where(positive, 1.0 / (sd * safe) ** 2, 0.0)
    return value, gradient, curvature


def location_prior(priors: Priors, a: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, ...]:
    """(log density, g_a, g_delta, h_aa, h_ad, h_dd) of the intercept and difficulty priors.

    ``intercept_sd``: delta ~ N(0, sd^2). ``difficulty`` (m, s): b = -delta / a ~ N(m, s^2),
    with the Gauss-Newton curvature J J^T / s^2, J = d(b) / d(a, delta) = (delta / a^2,
    -1 / a).

    Example:
        >>> from stepladder.difficulty.irt import Priors
        >>> terms = location_prior(Priors(), np.array([1.0]), np.array([-3.0]))  # b = 3
        >>> [round(float(t[0]), 3) for t in terms]
        [-0.5, 1.0, 0.333, 1.0, 0.333, 0.111]
    """
    a, delta = np.asarray(a, dtype=np.float64), np.asarray(delta, dtype=np.float64)
    value, g_a, g_d = np.zeros_like(a), np.zeros_like(a), np.zeros_like(a)
    h_aa, h_ad, h_dd = np.zeros_like(a), np.zeros_like(a), np.zeros_like(a)
    if priors.intercept_sd is not None:
        var = priors.intercept_sd**2
        value -= 0.5 * delta**2 / var
        g_d -= delta / var
        h_dd += 1.0 / var
    if priors.difficulty is not None:
        mean, sd = priors.difficulty
        safe = np.where(np.abs(a) < 1e-6, np.copysign(1e-6, a), a)
        residual = -delta / safe - mean  # b - m
        value -= 0.5 * (residual / sd) ** 2
        db_da, db_dd = delta / safe**2, -1.0 / safe
        g_a -= residual * db_da / sd**2
        g_d -= residual * db_dd / sd**2
        h_aa += db_da**2 / sd**2
        h_ad += db_da * db_dd / sd**2
        h_dd += db_dd**2 / sd**2
    return value, g_a, g_d, h_aa, h_ad, h_dd
