"""Prompt selection from a Beta posterior of each prompt's pass rate (RL post-training).

Both strategies keep a Beta posterior of every prompt's pass rate (prior ``(1, 1)``) from each
observed group's successes (sum of rewards) and trials (rollouts), and prefer prompts whose
pass rate is near 0.5, where GRPO's group-normalised gradient is largest. Without forgetting
(``mopps`` at ``decay=1``) the posterior is read from the curriculum's
:class:`~stepladder.stats.ItemStats`; with forgetting, and in ``cures`` (whose iterations
reset it), it is a :class:`~stepladder.difficulty.passrate.BetaPassRate` of their own:

- ``mopps``: Thompson-sample a pass rate for a uniformly drawn candidate pool and keep the
  candidates predicted closest to 0.5 (no rollouts spent on evaluation).
- ``cures``: per subset of prompts, a cold start (every prompt once), then sample prompts
  with probability ``exp(sqrt(p (1-p)) / t)`` and split the rollout budget in proportion
  to ``sqrt(a (1-a))``, ``a`` the observed success fraction (the authors' gradient spread
  when every response's gradient has the same norm).

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
from stepladder.strategies._toolbox import ShuffledPasses, SumTree, smallest
from stepladder.strategies.base import PROMPT_SELECTION_NET, Proposal

__all__ = ["CurES", "MoPPS"]


@register("mopps")
class MoPPS(PosteriorStrategy):
    """Model Predictive Prompt Selection: Thompson sampling of predicted pass rates.

    From "Can Prompt Difficulty be Online Predicted for Accelerating RL Finetuning of
    Reasoning Models?" (Qu et al., 2025). Each prompt's success rate has a Beta posterior,
    updated after every step with decay ``lambda`` (``decay``)::

        alpha <- lambda * alpha + (1 - lambda) * alpha0 + successes
        beta  <- lambda * beta  + (1 - lambda) * beta0  + failures

    At ``decay=1`` (no forgetting) that is ``Beta(alpha0 + successes, beta0 + failures)``
    over all history, read from the curriculum's statistics (``self.stats``) with nothing of
    its own to update or save; with ``decay < 1`` it is kept in ``posterior``.

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
        >>> cur = Curriculum(100, "mopps", seed=0, ratio=4, uniform_mix=0)  # no safety net
        >>> cur.observe(Outcomes(range(50), np.zeros((50, 64))))  # items 0-49: p ~ 0.015
        >>> batch = cur.propose(10)
        >>> len(batch), int((batch.indices < 50).sum())  # the unsolved ones are avoided
        (10, 0)
    """

    default_safety_net = PROMPT_SELECTION_NET

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
        alpha, beta = self.beta(candidates)
        draws = self.rng.beta(alpha, beta)  # r ~ Beta(alpha, beta)
        if self.band is None:
            order = smallest((draws - self.target) ** 2, n)  # a full sort took ~1.3 ms
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
    (Zeng et al., 2025), following the authors' code (github.com/ZexuSun/CurES, commit
    eccf298: ``epic/epic_sampler.py``, ``epic/stage_0_init_difficulty_sample_size.py``,
    ``runs/scripts/run_epic.sh``). Training runs in iterations over a *subset* of prompts (the
    next ``subset`` prompts of a shuffled pass over the pool; ``subset=None``: the whole pool;
    the authors take a fresh data chunk per iteration). Each iteration begins as theirs does:

    1. Reset: the subset's estimates return to the prior.
    2. Cold start: every prompt of the subset is proposed once, in shuffled order, with
       ``cold_rollouts`` rollouts each (their ``num_rollout_min = 4``; a last short batch is
       topped up with prompts of the subset drawn uniformly).
    3. Selection, for ``steps`` steps, over the subset prompts observed so far, with ``k`` and
       ``m`` a prompt's successes and rollouts in this iteration and ``p = (k + 1) / (m + 2)``
       (the Beta-posterior mean, prior ``(1, 1)``): prompts are drawn with probability ::

           rho(x) = exp(sqrt(p (1-p)) / t) / sum_x' exp(sqrt(p' (1-p')) / t')

       with the paper's one temperature ``t = tau`` for all prompts (default 0.1; the paper
       leaves it open), or with ``tau=None`` the authors' code: a per-prompt temperature
       ``t = (k + 1) / 0.01`` (``EpicSampler.__iter__``), which makes sampling close to
       uniform, with a slight lean to prompts with few successes.
       A batch is ``n`` distinct prompts drawn from ``rho`` without replacement (a batch
       larger than the subset takes several rounds). Its ``n * rollouts`` rollouts (their
       ``num_rollout_max = 8`` per prompt on average) are split in proportion to
       ``sqrt(a (1-a))``, ``a = k / m`` the observed success fraction, with at least
       ``min_rollouts`` each (:func:`~stepladder.strategies.budget.allocate_proportional`:
       the total is exact).

    Differences from the authors' code:

    - Rollout split. They split in proportion to a per-prompt gradient spread ``sigma_i``
      (``init_sample_size``) with ``sigma^2 = a b^2 E[g_c^2] + a^2 b E[g_w^2] -
      a^2 b^2 (E[g_c] - E[g_w])^2``, ``b = 1 - a`` and ``g_c``, ``g_w`` the gradient norms of
      the correct and wrong responses. When every response has the same norm ``g`` this is
      ``g sqrt(a (1-a))``, the weight used here: a curriculum sees rewards, not gradients.
      With unequal norms the splits differ.
    - They fix the split and the sampling weights from the cold start and, in their run
      scripts, never update them (the counter update sits in the filter-groups branch, which
      those runs disable); here both follow every observation of the iteration.
    - They give ``round(budget * sigma_i / sum sigma)`` over the whole chunk, so a prompt
      solved by all or none of its cold-start rollouts gets 0 rollouts and is dropped from
      its batch; here the split is over the batch (exact total), at least ``min_rollouts``.

    ``steps=16`` (they run 10 steps per iteration) and ``subset=None`` are this library's
    defaults. The weights live in a :class:`~stepladder.strategies._toolbox.SumTree` over the
    subset that starts at zero and changes for observed prompts only, so a step costs
    O(batch log subset) (plus the O(subset) reset, once per iteration, which spans at least
    ``subset / n`` steps). Successive draws are made as draws with replacement that skip
    repeats: the same law as their ``np.random.choice(..., replace=False, p=rho)``.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(3, "cures", seed=0, uniform_mix=0)  # the method alone: no net
        >>> cold = cur.propose(3)  # cold start: every prompt once, 4 rollouts each
        >>> sorted(cold.indices.tolist()), cold.rollouts.tolist()
        ([0, 1, 2], [4, 4, 4])
        >>> cur.observe(Outcomes.from_groups([0, 1, 2], [[1, 0, 0, 0], [1, 1, 0, 0], [0] * 4]))
        >>> cur.strategy.posterior.mean().round(3).tolist()
        [0.333, 0.5, 0.167]
        >>> cur.strategy.probabilities().round(3).tolist()  # exp(sqrt(p (1-p)) / 0.1)
        [0.37, 0.492, 0.138]
        >>> batch = cur.propose(3)  # 24 rollouts split by sqrt(a (1-a)): .433, .5, 0
        >>> sorted(zip(batch.indices.tolist(), batch.rollouts.tolist()))
        [(0, 10), (1, 12), (2, 2)]
    """

    default_safety_net = PROMPT_SELECTION_NET

    learned = ("posterior", *PosteriorStrategy.learned, "_subset", "_warm", "_selected")
    resets = True

    def __init__(
        self,
        *,
        tau: float | None = 0.1,
        rollouts: int = 8,
        cold_rollouts: int = 4,
        min_rollouts: int = 2,
        subset: int | None = None,
        steps: int = 16,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.tau = None if tau is None else number("tau", tau, low=0, open_low=True)
        self.rollouts = positive_int("rollouts", rollouts)
        self.cold_rollouts = positive_int("cold_rollouts", cold_rollouts)
        self.min_rollouts = positive_int("min_rollouts", min_rollouts)
        check_rollout_bounds(self.rollouts, self.min_rollouts, None)
        self.subset = None if subset is None else positive_int("subset", subset)
        self.steps = positive_int("steps", steps, allow_zero=True)
        self.prior = beta_prior(prior)

    def _setup(self) -> None:
        super()._setup()
        self._subset = np.zeros(0, dtype=np.int64)  # items of the iteration (subset given)
        self._warm = ShuffledPasses(0)  # cold-start pass over subset positions
        self._selected = 0  # selection steps made in this iteration
        self._derive()

    def _size(self) -> int:
        return self.pool.size if self.subset is None else min(self.subset, self.pool.size)

    def _derive(self) -> None:
        """The sum tree and item -> position lookup, from the subset and posterior."""
        size = self._warm.size
        self._order = np.argsort(self._subset, kind="stable")
        self._weights = SumTree(size)
        self._known = 0  # subset prompts with a weight (observed in this iteration)
        if size:
            seen = self.observed(self._items(np.arange(size)))
            self._set_weights(np.flatnonzero(seen))

    def _set_weights(self, positions: np.ndarray) -> None:
        self._known += int(np.count_nonzero(self._weights.weights(positions) == 0))
        self._weights.update(positions, self._weight(self._items(positions)))

    def _items(self, positions: np.ndarray) -> np.ndarray:
        return positions if self.subset is None else self._subset[positions]

    def _positions(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the subset of those ``items`` that belong to it, and which they are."""
        if self.subset is None:
            inside = items < self._warm.size
            return items[inside], inside
        at = np.searchsorted(self._subset, items, sorter=self._order)
        at = np.minimum(at, len(self._subset) - 1)
        positions = self._order[at]
        inside = self._subset[positions] == items
        return positions[inside], inside

    def _counts(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Successes ``k`` and rollouts ``m`` of ``items`` in this iteration."""
        alpha, beta = self.beta(items)
        successes = alpha - self.prior[0]
        return successes, successes + beta - self.prior[1]

    def _weight(self, items: np.ndarray) -> np.ndarray:
        """``rho`` up to a constant, in ``(0, 1]`` (``tau`` given) or ``[1, e^0.005]``."""
        p = self.pass_mean(items)
        spread = np.sqrt(p * (1.0 - p))  # in [0, 0.5]
        if self.tau is None:  # the authors' t = (k + 1) / 0.01 >= 100: no overflow
            weight = np.exp(spread * 0.01 / (self._counts(items)[0] + 1.0))
        else:
            weight = np.exp((spread - 0.5) / self.tau)
        return np.maximum(weight, np.finfo(np.float64).tiny)  # never exactly 0

    def split_weights(self, items: Any) -> np.ndarray:
        """``sqrt(a (1-a))`` with ``a = k / m`` each prompt's observed success fraction in
        this iteration (0 where unobserved): the rollout split's weights."""
        successes, trials = self._counts(np.asarray(items, dtype=np.int64))
        a = np.divide(successes, trials, out=np.zeros_like(successes), where=trials > 0)
        return np.sqrt(np.clip(a * (1.0 - a), 0.0, None))

    def _begin_iteration(self) -> None:
        size, post = self._size(), self.posterior
        assert post is not None  # resets: its own posterior
        if self.subset is None:
            post.alpha.fill(post.alpha0)
            post.beta.fill(post.beta0)
        else:
            self._subset = self._passes.draw(size, self.rng)
            post.alpha[self._subset], post.beta[self._subset] = post.alpha0, post.beta0
        self._warm.restart(size)
        self._selected = 0
        self._derive()

    def observe(self, outcomes: Outcomes) -> None:
        super().observe(outcomes)
        if len(outcomes) and outcomes.rewards is not None and self._warm.size:
            positions, _ = self._positions(np.unique(outcomes.indices))
            self._set_weights(positions)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._derive()

    def probabilities(self) -> np.ndarray:
        """``rho`` over the whole pool (0 outside the subset and for unobserved prompts)."""
        rho = np.zeros(self.pool.size)
        size = self._warm.size
        if size and self._weights.total > 0:
            positions = np.arange(size)
            rho[self._items(positions)] = self._weights.weights(positions) / self._weights.total
        return rho

    def _draw_distinct(self, k: int) -> np.ndarray:
        """``k <= subset`` distinct positions drawn from ``rho`` one after another."""
        tree, parts, found = self._weights, [], 0
        k = min(k, self._known)
        while found < k:
            draws = tree.sample(k - found, self.rng)
            first = np.sort(np.unique(draws, return_index=True)[1])
            fresh = draws[first]  # a repeat of an earlier draw is skipped
            parts.append((fresh, tree.weights(fresh)))
            tree.update(fresh, 0.0)  # drawn: out of the running until the batch is done
            found += len(fresh)
        for positions, weights in parts:
            tree.update(positions, weights)
        return np.concatenate([p for p, _ in parts]) if parts else np.zeros(0, dtype=np.int64)

    def propose(self, n: int) -> Proposal:
        if n == 0 or self.pool.size == 0:
            return Proposal(np.zeros(0, dtype=np.int64), rollouts=np.zeros(0, dtype=np.int64))
        warm = self._warm
        if warm.size == 0 or (warm.remaining == 0 and self._selected >= self.steps):
            self._begin_iteration()
        if warm.remaining > 0:  # cold start
            positions = warm.take(n, self.rng)
            extra = self.rng.integers(0, warm.size, n - len(positions))
            items = self._items(np.concatenate([positions, extra]))
            counts = np.full(n, self.cold_rollouts, dtype=np.int64)
            self._summarise(items, counts, self.pass_mean(items))
            return Proposal(items, rollouts=counts)
        rounds, left = [], n
        while left > 0:
            part = self._draw_distinct(min(warm.size, left))
            if len(part) == 0:  # nothing observed yet: uniform over the subset
                part = self.rng.integers(0, warm.size, min(warm.size, left))
            rounds.append(part)
            left -= len(part)
        items = self._items(np.concatenate(rounds))
        p = self.pass_mean(items)
        counts = allocate_proportional(
            self.split_weights(items), n * self.rollouts, low=self.min_rollouts
        )
        self._selected += 1
        self._summarise(items, counts, p)
        return Proposal(items.astype(np.int64, copy=False), rollouts=counts)
