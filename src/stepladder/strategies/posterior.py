"""Prompt selection from a Beta posterior of each prompt's pass rate (RL post-training).

Both strategies keep :class:`~stepladder.difficulty.passrate.BetaPassRate` per prompt (prior
``(1, 1)``), add each observed group's successes (sum of rewards) and trials (rollouts), and
prefer prompts whose pass rate is near 0.5, where GRPO's group-normalised gradient is largest:

- ``mopps``: Thompson-sample a pass rate for a uniformly drawn candidate pool and keep the
  candidates predicted closest to 0.5 (no rollouts spent on evaluation).
- ``cures``: sample prompts with probability ``exp(sqrt(p (1-p)) / tau)`` and split the rollout
  budget in proportion to ``sqrt(p (1-p))``.

Both cost O(batch) per step whatever the pool size (``cures`` up to a log factor) and
checkpoint only the prompts observed so far.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._allocation import (
    PosteriorStrategy,
    allocate_proportional,
    beta_prior,
    check_rollout_bounds,
)
from stepladder.strategies._registry import register
from stepladder.strategies._toolbox import SumTree, softmax
from stepladder.strategies.base import Proposal

__all__ = ["CurES", "MoPPS"]


@register("mopps")
class MoPPS(PosteriorStrategy):
    """Model Predictive Prompt Selection: Thompson sampling of predicted pass rates.

    From "Can Prompt Difficulty be Online Predicted for Accelerating RL Finetuning of
    Reasoning Models?" (Qu et al., 2025). Each prompt's success rate has a Beta posterior,
    updated after every step with decay ``lambda`` (``decay``)::

        alpha <- lambda * alpha + (1 - lambda) * alpha0 + successes
        beta  <- lambda * beta  + (1 - lambda) * beta0  + failures

    To propose ``n`` prompts: draw ``m = ratio * n`` candidates uniformly (without
    replacement, epoch by epoch; at most the pool size unless ``n`` exceeds it), sample
    ``r_i ~ Beta(alpha_i, beta_i)`` for each, and keep the ``n`` with the smallest
    ``(r_i - target)^2`` (``target = 0.5``), in that order. With ``band=(lo, hi)`` the paper's
    alternative rule applies instead: keep ``n`` candidates with ``r`` in ``[lo, hi]``, chosen
    at random when more qualify, else all of them plus those closest to the band.

    Defaults follow the authors' MATH configuration: ``ratio=16``, ``decay=1.0`` (no
    forgetting); their Countdown and Geometry3k runs used ``ratio=8`` and ``decay=0.5``. The
    prior is ``(1, 1)``. MoPPS does not change the group size (``rollouts`` stays None).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(100, "mopps", seed=0, ratio=4)
        >>> cur.observe(Outcomes(range(50), np.zeros((50, 64))))  # items 0-49: p ~ 0.015
        >>> batch = cur.propose(10)
        >>> len(batch), int((batch.indices < 50).sum())  # the unsolved ones are avoided
        (10, 0)
    """

    allocates_rollouts = False

    def __init__(
        self,
        *,
        ratio: int = 16,
        decay: float = 1.0,
        target: float = 0.5,
        band: tuple[float, float] | None = None,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.ratio = positive_int("ratio", ratio)
        self.decay = number("decay", decay, low=0.5, high=1.0)
        self.target = number("target", target, low=0.0, high=1.0)
        if band is not None:
            if isinstance(band, str) or len(band) != 2:
                raise ValueError(f"band must be None or a pair (lo, hi), got {band!r}")
            low = number("band[0]", band[0], low=0.0, high=1.0)
            high = number("band[1]", band[1], low=0.0, high=1.0)
            if low > high:
                raise ValueError(f"band must have lo <= hi, got {band!r}")
            band = (low, high)
        self.band = band
        self.prior = beta_prior(prior)

    def propose(self, n: int) -> Proposal:
        m = min(self.ratio * n, max(n, self.pool.size))
        candidates = self._choose(m)
        if n == 0:
            return Proposal(candidates)
        draws = self.posterior.sample(self.rng, candidates)  # r ~ Beta(alpha, beta)
        if self.band is None:
            order = np.argsort((draws - self.target) ** 2, kind="stable")[:n]
        else:
            order = self._in_band(draws, n)
        chosen = draws[order]
        low, high = self.band or (0.3, 0.7)
        self._last = {
            "candidates": float(m),
            "mean_sampled_rate": float(chosen.mean()),
            "share_in_band": float(np.mean((chosen >= low) & (chosen <= high))),
        }
        return Proposal(candidates[order])

    def _in_band(self, draws: np.ndarray, n: int) -> np.ndarray:
        low, high = self.band  # type: ignore[misc]
        inside = np.flatnonzero((draws >= low) & (draws <= high))
        if len(inside) >= n:
            return self.rng.choice(inside, size=n, replace=False)
        gap = np.maximum(np.maximum(low - draws, draws - high), 0.0)  # distance to the band
        return np.argsort(gap, kind="stable")[:n]


@register("cures")
class CurES(PosteriorStrategy):
    """CurES: sample prompts by gradient informativeness and split rollouts to match.

    From "CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning LLMs"
    (Zeng et al., 2025). With ``p`` the Beta-posterior mean pass rate (prior ``(1, 1)``), the
    paper's prompt distribution is::

        rho(x) = exp(sqrt(p (1-p)) / tau) / sum_x' exp(sqrt(p' (1-p')) / tau)

    and the rollout budget of a batch, ``n * rollouts``, is split in proportion to the
    first-order standard deviation of each prompt's gradient estimate, ``n_i ~ sqrt(p_i
    (1-p_i))``, with at least ``min_rollouts`` each (:func:`~stepladder.strategies.budget.
    allocate_proportional`: water-filling, then the largest remainder method, so the total is
    exact). A batch is ``n`` distinct prompts drawn from ``rho`` without replacement
    (successive draws); a batch larger than the pool takes several such rounds.

    The weights ``exp((sqrt(p (1-p)) - 0.5) / tau)`` (``rho`` up to a constant) live in a
    :class:`~stepladder.strategies._toolbox.SumTree` and only the observed items' weights
    change, so a step costs O(batch log pool). Successive draws are made as draws with
    replacement that skip repeats (repeats are set aside by zeroing their weight until the
    batch is complete): the same law as the Gumbel top-k race used before, with a different
    random sequence for the same seed.

    ``tau = 0.1`` by default (the paper leaves it open; the authors' sampler carries an unused
    0.1 default). ``sqrt(p (1-p))`` lies in [0, 0.5], so with ``tau = 0.1`` a prompt at
    ``p = 0.5`` is ``e^2 ~ 7.4`` times as likely as one at ``p = 0.1`` and ``e^5 ~ 148`` times
    as likely as a settled one, while ``tau = 1`` would be close to uniform. The authors' code
    divides by a per-item temperature ``(successes + 1) / 0.01`` instead, which makes sampling
    almost uniform; that is not reproduced here.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(3, "cures", seed=0)
        >>> cur.observe(Outcomes.from_groups([0, 1, 2], [[1, 0], [0, 0], [0] * 8]))
        >>> cur.strategy.posterior.mean().tolist()
        [0.5, 0.25, 0.1]
        >>> cur.strategy.probabilities().round(3).tolist()
        [0.607, 0.311, 0.082]
        >>> batch = cur.propose(3)
        >>> sorted(zip(batch.indices.tolist(), batch.rollouts.tolist()))
        [(0, 10), (1, 8), (2, 6)]
    """

    learned = ("posterior", "_last")  # the sum tree is derived from the posterior

    def __init__(
        self,
        *,
        tau: float = 0.1,
        rollouts: int = 8,
        min_rollouts: int = 2,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.tau = number("tau", tau, low=0, open_low=True)
        self.rollouts = positive_int("rollouts", rollouts)
        self.min_rollouts = positive_int("min_rollouts", min_rollouts)
        check_rollout_bounds(self.rollouts, self.min_rollouts, None)
        self.prior = beta_prior(prior)

    def _setup(self) -> None:
        super()._setup()
        alpha0, beta0 = self.prior
        self._weights = SumTree(self.pool.size, initial=self._weight(alpha0 / (alpha0 + beta0)))

    def _weight(self, p: Any) -> np.ndarray:
        """``exp((sqrt(p (1-p)) - 0.5) / tau)``: ``rho`` up to a constant, in ``(0, 1]``."""
        weight = np.exp((np.sqrt(p * (1.0 - p)) - 0.5) / self.tau)
        return np.maximum(weight, np.finfo(np.float64).tiny)  # never exactly 0

    def observe(self, outcomes: Outcomes) -> None:
        super().observe(outcomes)
        if len(outcomes) and outcomes.rewards is not None:
            items = np.unique(outcomes.indices)
            self._weights.update(items, self._weight(self.posterior.mean(items)))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        post = self.posterior
        alpha0, beta0 = self.prior
        touched = np.flatnonzero((post.alpha != post.alpha0) | (post.beta != post.beta0))
        self._weights = SumTree(self.pool.size, initial=self._weight(alpha0 / (alpha0 + beta0)))
        self._weights.update(touched, self._weight(post.mean(touched)))

    def probabilities(self) -> np.ndarray:
        """``rho`` over the whole pool: a softmax of ``sqrt(p (1-p)) / tau`` (O(pool))."""
        p = self.posterior.mean()
        return softmax(np.sqrt(p * (1.0 - p)), self.tau)

    def _draw_distinct(self, k: int) -> np.ndarray:
        """``k <= pool`` distinct items drawn from ``rho`` one after another, in draw order."""
        tree, parts, found = self._weights, [], 0
        while found < k:
            draws = tree.sample(k - found, self.rng)
            first = np.sort(np.unique(draws, return_index=True)[1])
            fresh = draws[first]  # a repeat of an earlier draw is skipped
            parts.append((fresh, tree.weights(fresh)))
            tree.update(fresh, 0.0)  # drawn: out of the running until the batch is done
            found += len(fresh)
        for items, weights in parts:
            tree.update(items, weights)
        return np.concatenate([items for items, _ in parts])

    def propose(self, n: int) -> Proposal:
        size = self.pool.size
        rounds, left = [], n
        while left > 0:
            rounds.append(self._draw_distinct(min(size, left)))
            left -= len(rounds[-1])
        items = np.concatenate(rounds) if rounds else np.zeros(0, dtype=np.int64)
        p = self.posterior.mean(items)
        counts = allocate_proportional(
            np.sqrt(p * (1.0 - p)), n * self.rollouts, low=self.min_rollouts
        )
        self._summarise(items, counts, p)
        return Proposal(items.astype(np.int64, copy=False), rollouts=counts)
