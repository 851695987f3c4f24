"""Learner ability from responses to items with known IRT parameters.

Three estimators, vectorised over any number of learners:

- ``mle``: maximum likelihood by Fisher scoring; perfect and zero scores have no finite
  maximum, so estimates are bounded to ``[-bound, bound]`` (reported as such).
- ``map``: maximum a posteriori with a normal prior (finite for every learner).
- ``eap``: posterior mean over a fine ability grid (the default; finite and stable).

Standard errors: 1 / sqrt(test information (+ prior precision)) for MLE/MAP, the posterior
standard deviation for EAP. :class:`OnlineAbility` keeps the EAP posterior of one or more
learners up to date as responses stream in (used by curricula that follow the learner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, logsumexp

from stepladder.difficulty.irt import ItemParameters

__all__ = ["AbilityEstimate", "OnlineAbility", "estimate_ability"]

METHODS = ("eap", "map", "mle")
_EPS = 1e-10


@dataclass(frozen=True)
class AbilityEstimate:
    """Ability and standard error per learner."""

    ability: np.ndarray
    se: np.ndarray


def _curve(items: ItemParameters, idx: np.ndarray, theta: np.ndarray):
    """P and dP/dtheta of items ``idx`` at abilities ``theta`` (same shapes)."""
    a, b = items.discrimination[idx], items.difficulty[idx]
    c, d = items.guessing[idx], 1 - items.slipping[idx]
    f = expit(a * (theta - b))
    p = np.clip(c + (d - c) * f, _EPS, 1 - _EPS)
    return p, (d - c) * a * f * (1 - f)


def estimate_ability(
    items: ItemParameters,
    learner: Any,
    item: Any,
    successes: Any,
    trials: Any = None,
    *,
    method: str = "eap",
    prior: tuple[float, float] = (0.0, 1.0),
    bound: float = 6.0,
    n_learners: int | None = None,
    grid_points: int = 481,
) -> AbilityEstimate:
    """Estimate each learner's ability from (learner, item, successes[, trials]) rows.

    Args:
        items: fixed item parameters; ``item`` indexes into them.
        learner: learner index per row (0 .. n_learners-1).
        item: item index per row.
        successes: score per row in [0, 1] (or successes out of ``trials``).
        trials: attempts per row (default 1).
        method: ``"eap"``, ``"map"`` or ``"mle"``.
        prior: (mean, sd) of the normal ability prior (EAP and MAP).
        bound: abilities are kept within ``[-bound, bound]``.
        n_learners: number of learners (default: max index + 1).
        grid_points: EAP grid size over ``[-bound, bound]``.

    Example:
        >>> items = ItemParameters.two_pl(discrimination=1.0, difficulty=[-1.0, 0.0, 1.0])
        >>> est = estimate_ability(items, [0, 0, 0, 1, 1, 1], [0, 1, 2] * 2, [1, 1, 0, 1, 0, 0])
        >>> bool(est.ability[0] > est.ability[1]), bool((est.se > 0).all())
        (True, True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    learner = np.asarray(learner, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    y = np.asarray(successes, dtype=np.float64)
    n = np.ones_like(y) if trials is None else np.asarray(trials, dtype=np.float64)
    if not len(learner) == len(item) == len(y) == len(n):
        raise ValueError("learner, item, successes and trials must have the same length")
    if len(item) and (item.min() < 0 or item.max() >= len(items)):
        raise ValueError(f"item indices must lie in [0, {len(items)})")
    count = int(learner.max()) + 1 if n_learners is None and len(learner) else int(n_learners or 0)
    if method == "eap":
        grid = np.linspace(-bound, bound, grid_points)
        loglik = _grid_loglik(items, learner, item, y, n, grid, count)
        log_post = loglik - 0.5 * ((grid - prior[0]) / prior[1]) ** 2
        log_post -= logsumexp(log_post, axis=1, keepdims=True)
        post = np.exp(log_post)
        mean = post @ grid
        return AbilityEstimate(mean, np.sqrt(np.maximum(post @ grid**2 - mean**2, 0.0)))
    precision = 1.0 / prior[1] ** 2 if method == "map" else 0.0
    theta = np.full(count, prior[0] if method == "map" else 0.0)
    for _ in range(100):
        p, slope = _curve(items, item, theta[learner])
        score = _sum_by(learner, (y - n * p) * slope / (p * (1 - p)), count)
        info = _sum_by(learner, n * slope**2 / (p * (1 - p)), count)
        score -= precision * (theta - prior[0])
        step = np.clip(score / (info + precision + _EPS), -1.0, 1.0)
        theta = np.clip(theta + step, -bound, bound)
        if np.max(np.abs(step), initial=0.0) < 1e-8:
            break
    p, slope = _curve(items, item, theta[learner])
    info = _sum_by(learner, n * slope**2 / (p * (1 - p)), count)
    return AbilityEstimate(theta, 1.0 / np.sqrt(info + precision + _EPS))


def _sum_by(groups: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Float sums of ``values`` per group (``np.bincount`` returns ints for empty input)."""
    return np.bincount(groups, weights=values, minlength=count).astype(np.float64)


def _grid_loglik(items, learner, item, y, n, grid, count, chunk: int = 200_000) -> np.ndarray:
    """Log-likelihood of each learner at each grid point (learners x grid)."""
    out = np.zeros((count, len(grid)))
    for start in range(0, len(item), chunk):
        part = slice(start, start + chunk)
        idx = item[part]
        p, _ = _curve(items, idx[:, None], grid[None, :])
        rows = y[part, None] * np.log(p) + (n - y)[part, None] * np.log1p(-p)
        np.add.at(out, learner[part], rows)
    return out


class OnlineAbility:
    """EAP ability of learners kept current as responses arrive.

    Holds each learner's log posterior on a fixed grid; :meth:`update` adds the
    log-likelihood of new responses, :meth:`estimate` returns posterior means and sds.

    Example:
        >>> items = ItemParameters.two_pl(discrimination=1.0, difficulty=np.linspace(-2, 2, 9))
        >>> tracker = OnlineAbility(items)
        >>> tracker.update(item=[0, 1, 2], successes=[1, 1, 1])
        >>> tracker.update(item=[6, 7, 8], successes=[0, 0, 0])
        >>> round(float(tracker.estimate().ability[0]), 2)
        0.0
    """

    def __init__(
        self,
        items: ItemParameters,
        *,
        n_learners: int = 1,
        prior: tuple[float, float] = (0.0, 1.0),
        bound: float = 6.0,
        grid_points: int = 481,
    ) -> None:
        self.items = items
        self.grid = np.linspace(-bound, bound, grid_points)
        self.prior = prior
        log_prior = -0.5 * ((self.grid - prior[0]) / prior[1]) ** 2
        self.log_posterior = np.tile(log_prior - logsumexp(log_prior), (n_learners, 1))

    def update(self, *, item: Any, successes: Any, trials: Any = None, learner: Any = None) -> None:
        """Add responses (``learner`` defaults to 0 for every row)."""
        item = np.atleast_1d(np.asarray(item, dtype=np.int64))
        y = np.atleast_1d(np.asarray(successes, dtype=np.float64))
        n = np.ones_like(y) if trials is None else np.atleast_1d(np.asarray(trials, float))
        rows = np.zeros_like(item) if learner is None else np.atleast_1d(np.asarray(learner))
        count = self.log_posterior.shape[0]
        self.log_posterior += _grid_loglik(self.items, rows, item, y, n, self.grid, count)
        self.log_posterior -= logsumexp(self.log_posterior, axis=1, keepdims=True)

    def estimate(self) -> AbilityEstimate:
        """Posterior mean and standard deviation per learner."""
        post = np.exp(self.log_posterior)
        mean = post @ self.grid
        return AbilityEstimate(mean, np.sqrt(np.maximum(post @ self.grid**2 - mean**2, 0.0)))

    def state_dict(self) -> dict[str, Any]:
        return {"log_posterior": self.log_posterior.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_posterior = np.array(state["log_posterior"], dtype=np.float64)
