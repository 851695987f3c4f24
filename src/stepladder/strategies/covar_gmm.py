"""Covar-GMM: Gaussian mixtures over (task, time, reward) (Moulin-Frier et al., 2014)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._engines import checked_engine
from stepladder.strategies._gmm import WarmStarts, best_mixture
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Snap, episode_scores, unit_features
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["CovarGMM"]


@register("covar_gmm")
class CovarGMM(Strategy):
    """Sample tasks from the Gaussians whose reward grows with time.

    Covar-GMM (after Moulin-Frier, Nguyen and Oudeyer, 2014), the baseline of the ALP-GMM
    paper (Portelas et al., CoRL 2019), as in flowersteam/teachDeepRL,
    ``teachers/algos/covar_gmm.py``, with its defaults. Task parameters are the pool's
    ``features`` rescaled to the unit box.

    - Episode ``j`` (counted from 0) gets the time ``(j mod fit_every) / fit_every``; the
      point ``(task, time, score)`` joins the window.
    - Every ``fit_every`` episodes, fit a Gaussian mixture of k components (full
      covariances) for ``k`` in ``min_components .. max_components`` on the last
      ``fit_every`` points and keep the lowest AIC. A batch completing several windows is
      fitted once, on the last complete one (as ``alp_gmm``).
    - Proposal: before the first fit, and with probability ``random_fraction``, a task
      uniform over the pool; otherwise Gaussian ``i`` with probability ∝ ``max(0,
      cov_i(time, score))`` (``absolute_lp=True``: ``|cov|``; uniform when all are 0), a
      draw from it, the task part clipped to the box and snapped to the nearest task.
    - ``warm_start=True`` (not in the authors' Covar-GMM, which builds new mixtures for every
      fit; borrowed from their ALP-GMM's ``warm_start``): each ``k``'s fit after its first
      starts EM from that ``k``'s previous fit instead of k-means, as scikit-learn's
      ``GaussianMixture(warm_start=True)``. The previous fits are learned state.
    - ``engine``: how the mixtures are fitted
      (:func:`~stepladder.strategies._gmm.compiled_fits`): ``"auto"`` compiles them with
      numba where it is installed (``pip install 'stepladder[fast]'``), else NumPy;
      ``"numba"`` or ``"numpy"`` insist.
      Both reproduce scikit-learn to rounding, but the weights rest on covariances that are
      often at rounding level (a component whose scores do not change), so the two can
      propose differently: a run resumes exactly on the engine it started with.

    Decisions: the mixture's ``random_state`` comes from the curriculum's generator; the
    uniform draws cover the pool's tasks (as ``alp_gmm``). Cost: O(batch) per step
    plus, every ``fit_every`` episodes, one fit (9 mixtures on 250 points: about 1.7 ms of
    CPU compiled, 11 ms in NumPy; no scikit-learn needed).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> from stepladder import ItemPool
        >>> pool = ItemPool(size=5, features=np.linspace(0, 1, 5)[:, None])
        >>> cur = Curriculum(pool, "covar_gmm", seed=0, fit_every=4)
        >>> cur.observe(Outcomes([0, 2, 1], rewards=[0.0, 1.0, 0.5]))
        >>> cur.strategy.window().round(2).tolist()  # (task, time, score) so far
        [[0.0, 0.0, 0.0], [0.5, 0.25, 1.0], [0.25, 0.5, 0.5]]
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = ("episodes", "tasks", "scores", "means", "covariances", "previous_fits")

    def __init__(
        self,
        *,
        fit_every: int = 250,
        min_components: int = 2,
        max_components: int = 10,
        random_fraction: float = 0.2,
        absolute_lp: bool = False,
        warm_start: bool = False,
        engine: str = "auto",
    ) -> None:
        self.fit_every = positive_int("fit_every", fit_every)
        self.min_components = positive_int("min_components", min_components)
        self.max_components = positive_int("max_components", max_components)
        if self.max_components < self.min_components:
            raise ValueError("max_components must be >= min_components")
        self.random_fraction = number("random_fraction", random_fraction, low=0.0, high=1.0)
        if not isinstance(warm_start, bool):
            raise ValueError(f"warm_start must be True or False, got {warm_start!r}")
        self.warm_start = warm_start
        self.engine = checked_engine(engine)
        if not isinstance(absolute_lp, bool):
            raise ValueError(f"absolute_lp must be True or False, got {absolute_lp!r}")
        self.absolute_lp = absolute_lp

    def _setup(self) -> None:
        self._unit = unit_features(self.pool, self.name)
        self._snap = Snap(self._unit)
        d = self._unit.shape[1] + 2
        self.episodes = 0
        self.tasks = np.zeros(0, dtype=np.int64)  # episodes of the current window
        self.scores = np.zeros(0)
        self.means = np.zeros((0, d))
        self.covariances = np.zeros((0, d, d))
        self._factors = np.zeros((0, d, d))
        self.previous_fits = WarmStarts(d)  # the last fit of each count (warm_start=True)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._factors = np.linalg.cholesky(self.covariances)  # derived: Cholesky factors

    def window(self) -> np.ndarray:
        """The current window's points ``(task parameters, time, score)``."""
        start = self.episodes - len(self.tasks)
        return self._points(self.tasks, self.scores, start)

    def _points(self, tasks: np.ndarray, scores: np.ndarray, start: int) -> np.ndarray:
        times = ((start + np.arange(len(tasks))) % self.fit_every) / self.fit_every
        return np.column_stack([self._unit[tasks], times, scores])

    def observe(self, outcomes: Outcomes) -> None:
        tasks, scores = episode_scores(outcomes)
        if not len(tasks):
            return
        pending_tasks = np.concatenate([self.tasks, tasks])  # since the last window
        pending_scores = np.concatenate([self.scores, scores])
        before, self.episodes = self.episodes, self.episodes + len(tasks)
        boundary = self.episodes - self.episodes % self.fit_every
        if boundary > before:  # one fit, on the last complete window (times 0 .. 1)
            end = len(pending_tasks) - (self.episodes - boundary)
            window = slice(end - self.fit_every, end)
            self._fit(self._points(pending_tasks[window], pending_scores[window], 0))
            pending_tasks, pending_scores = pending_tasks[end:], pending_scores[end:]
        self.tasks, self.scores = pending_tasks, pending_scores

    def _fit(self, data: np.ndarray) -> None:
        """Keep the AIC-best of the mixtures with min..max components (EM as scikit-learn's
        ``GaussianMixture``: see :mod:`stepladder.strategies._gmm`)."""
        counts = range(self.min_components, min(self.max_components, len(data)) + 1)
        warm = self.previous_fits if self.warm_start else None
        best = best_mixture(data, counts, self.rng, warm_start=warm, engine=self.engine)
        if best is not None:
            self.means = best.means
            self.covariances = best.covariances
            self._factors = np.linalg.cholesky(self.covariances)

    def component_weights(self) -> np.ndarray:
        """Selection probability of each Gaussian: ∝ its time-score covariance."""
        covariance = self.covariances[:, -2, -1]
        weights = np.abs(covariance) if self.absolute_lp else np.maximum(covariance, 0.0)
        if not weights.sum() > 0:
            return np.full(len(weights), 1.0 / max(len(weights), 1))
        return weights / weights.sum()

    def propose(self, n: int) -> Proposal:
        out = self.rng.integers(0, self.pool.size, size=n).astype(np.int64)
        if len(self.means) == 0 or n == 0:
            return Proposal(out)
        guided = np.flatnonzero(self.rng.random(n) >= self.random_fraction)
        p = self.component_weights()
        components = self.rng.choice(len(p), size=len(guided), p=p)
        z = self.rng.standard_normal((len(guided), self.means.shape[1]))
        samples = self.means[components] + np.einsum("kij,kj->ki", self._factors[components], z)
        points = np.clip(samples[:, : self._unit.shape[1]], 0.0, 1.0)
        out[guided] = self._snap(points)
        return Proposal(out)

    def metrics(self) -> dict[str, float]:
        return {"episodes": float(self.episodes), "components": float(len(self.means))}
