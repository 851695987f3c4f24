"""Rollout budgets: how many rollouts (or sampling trials) each chosen prompt gets.

The strategies here choose *which* prompts to train on uniformly at random (shuffled passes
over the pool, the order of the ``uniform`` strategy) and decide *how many* rollouts each
one gets from a Beta posterior of its pass rate (prior ``(1, 1)`` unless ``prior`` says
otherwise, with every observed group's ``successes = sum of rewards`` and
``trials = rollouts``), read from the curriculum's :class:`~stepladder.stats.ItemStats`
(:meth:`~stepladder.stats.ItemStats.beta`). Their proposals carry ``rollouts``: positive
ints, one per prompt.

- ``knapsack``: Knapsack RL's exact budget allocation (value of a prompt's exploration
  budget = chance of a non-zero GRPO gradient x an information-gain proxy).
- ``gfpo``: GFPO's adaptive difficulty: larger groups for harder prompts, by difficulty
  quartiles of the running pass rates, at the same mean budget.
- ``dart``: DART-Math's trial allocation for rejection sampling: enough trials to collect
  ``k`` correct responses (``uniform``) or a number proportional to difficulty
  (``prop2diff``).

The building blocks are public: :func:`knapsack_value`, :func:`knapsack_gain`,
:func:`knapsack_greedy` and :func:`knapsack_dp` (two exact solvers of the same problem) and
:func:`allocate_proportional` (a total split in proportion to weights, within bounds, rounded
so that the total is met exactly). Every strategy here costs O(batch) per step whatever the
pool size, and checkpoints only the prompts observed so far.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import choice, finite_array, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._allocation import (
    SLACK,
    PosteriorStrategy,
    RecentRewards,
    allocate_proportional,
    beta_prior,
    check_rollout_bounds,
)
from stepladder.strategies._ordered import BlockMax, SortedKeys
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal

__all__ = [
    "DART",
    "GFPOAdaptive",
    "KnapsackRL",
    "allocate_proportional",
    "knapsack_dp",
    "knapsack_gain",
    "knapsack_allocate",
    "knapsack_greedy",
    "knapsack_value",
]

# --------------------------------------------------------------------------- Knapsack RL


def knapsack_value(p: Any, n: Any) -> np.ndarray:
    """Knapsack RL's value of giving a prompt with pass rate ``p`` a budget of ``n`` rollouts.

    ``value(N) = (1 - p^N - (1-p)^N) * p * (1-p)^2``: the probability that the N rewards are
    not all equal (a non-zero GRPO gradient) times ``p (1-p)^2``, the paper's approximation of
    the information gain (expected increase of the success probability) of one update.

    Example:
        >>> knapsack_value([0.5, 0.5, 0.1, 0.0, 1.0], [2, 8, 8, 8, 8]).round(6).tolist()
        [0.0625, 0.124023, 0.046132, 0.0, 0.0]
    """
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    q = 1.0 - p
    return (1.0 - p**n - q**n) * p * q**2


def knapsack_gain(p: Any, n: Any) -> np.ndarray:
    """Marginal value of one more rollout: ``value(N+1) - value(N)``, in closed form.

    ``1 - p^N - (1-p)^N`` grows by ``p^N (1-p) + (1-p)^N p`` from N to N+1, so the gain is
    ``p (1-p)^2 * (p^N (1-p) + (1-p)^N p)`` (no cancellation).

    Example:
        >>> float(knapsack_gain(0.5, 2)), float(knapsack_value(0.5, 3) - knapsack_value(0.5, 2))
        (0.03125, 0.03125)
    """
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    q = 1.0 - p
    return p * q**2 * (p**n * q + q**n * p)


def _knapsack_inputs(p: Any, budget: int, low: int, high: int) -> tuple[np.ndarray, int]:
    rates = finite_array("p", p, ndim=(1,))
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError("pass rates p must lie in [0, 1]")
    budget = positive_int("budget", budget, allow_zero=True)
    low = positive_int("min_rollouts", low, allow_zero=True)
    high = positive_int("max_rollouts", high, allow_zero=True)
    if high < low:
        raise ValueError(f"max_rollouts={high} is below min_rollouts={low}")
    spare = budget - len(rates) * low
    if spare < 0:
        raise ValueError(f"budget={budget} is below {len(rates)} x min_rollouts={low}")
    return rates, min(spare, len(rates) * (high - low))


def knapsack_greedy(
    p: Any, budget: int, *, min_rollouts: int = 2, max_rollouts: int = 128
) -> np.ndarray:
    """Exact Knapsack RL allocation by taking the largest marginal gains (the default solver).

    Maximises ``sum_i value(p_i, N_i)`` subject to ``sum_i N_i <= budget`` and
    ``min_rollouts <= N_i <= max_rollouts`` (each rollout costs 1). Every prompt starts at
    ``min_rollouts``; the spare budget buys the largest positive gains
    ``knapsack_gain(p_i, N)`` over all pairs ``(i, N)``, found with one partition
    (``O(k (max - min))``). Ties at the cut go to lower ``(i, N)`` first. Prompts with
    ``p`` in {0, 1} have gain 0 and stay at ``min_rollouts``, so the budget may be left
    partly unspent (see :class:`KnapsackRL` for where it goes).

    Why greedy is exact: ``value`` is concave in ``N``. With ``c = p (1-p)^2 >= 0``,
    ``gain(N) = c (p^N (1-p) + (1-p)^N p)``, and both ``p^N`` and ``(1-p)^N`` are
    non-increasing in N for ``p`` in [0, 1], so every prompt's gains are non-increasing. The
    value of any feasible allocation is ``sum_i value(min) + the gains it buys``, at most
    ``sum_i value(min) +`` the ``spare`` largest positive gains; taking those gains is feasible
    because, with non-increasing gains per prompt, the chosen pairs of each prompt are its
    first ones (for tied gains any subset of equal values has the same sum). Powers are built
    by cumulative products, which keeps the computed gains non-increasing in floating point.

    Example:
        >>> knapsack_greedy([0.5, 0.05, 0.95, 0.0], 32, max_rollouts=16).tolist()
        [11, 16, 3, 2]
    """
    rates, spare = _knapsack_inputs(p, budget, min_rollouts, max_rollouts)
    counts = np.full(len(rates), min_rollouts, dtype=np.int64)
    steps = max_rollouts - min_rollouts
    if spare == 0 or steps == 0:
        return counts
    gains = _gain_table(rates, min_rollouts, steps).ravel()
    if spare >= gains.size:
        take = gains > 0
    else:
        cut = gains.size - spare
        threshold = np.partition(gains, cut)[cut]  # the spare-th largest gain
        take = gains > threshold
        if threshold > 0:
            ties = np.flatnonzero(gains == threshold)[: spare - int(np.count_nonzero(take))]
            take[ties] = True
    return counts + take.reshape(len(rates), steps).sum(axis=1)


def _gain_table(rates: np.ndarray, low: int, steps: int) -> np.ndarray:
    """``gains[i, j] = knapsack_gain(p_i, low + j)`` for ``j < steps``, monotone per row."""
    q = 1.0 - rates
    factors_p = np.repeat(rates[:, None], steps, axis=1)
    factors_q = np.repeat(q[:, None], steps, axis=1)
    factors_p[:, 0] = rates**low
    factors_q[:, 0] = q**low
    p_pow = np.cumprod(factors_p, axis=1)  # p^N, N = low, ..., low + steps - 1
    q_pow = np.cumprod(factors_q, axis=1)
    weight = (rates * q**2)[:, None]
    return weight * (p_pow * q[:, None] + q_pow * rates[:, None])


def knapsack_dp(
    p: Any, budget: int, *, min_rollouts: int = 2, max_rollouts: int = 128
) -> np.ndarray:
    """Exact Knapsack RL allocation by dynamic programming over (prompt, spare budget).

    ``best_i[b] = max over extra rollouts j of best_{i-1}[b - j] + value(p_i, min + j)``
    (``j = 0 .. max - min``, ``best_0 = 0``: budget may stay unspent); then backtrack from the
    full spare budget. Ties prefer fewer rollouts. Vectorised over ``b``; ``O(k S (max - min))``
    for ``S`` spare rollouts, so it is the reference that :func:`knapsack_greedy` is checked
    against rather than the default.

    Example:
        >>> knapsack_dp([0.5, 0.05, 0.95, 0.0], 32, max_rollouts=16).tolist()
        [11, 16, 3, 2]
    """
    rates, spare = _knapsack_inputs(p, budget, min_rollouts, max_rollouts)
    k = len(rates)
    steps = min(max_rollouts - min_rollouts, spare)
    extra = np.arange(steps + 1)
    # value of j extra rollouts relative to min_rollouts, per prompt: (k, steps + 1)
    table = knapsack_value(rates[:, None], min_rollouts + extra[None, :])
    table = table - table[:, :1]
    best = np.zeros(spare + 1)
    choice = np.zeros((k, spare + 1), dtype=np.int32)
    for i in range(k):
        new = best.copy()
        pick = choice[i]
        for j in range(1, steps + 1):
            candidate = best[:-j] + table[i, j]  # spend j more on prompt i: b - j -> b
            better = candidate > new[j:]
            new[j:][better] = candidate[better]
            pick[j:][better] = j
        best = new
    counts = np.full(k, min_rollouts, dtype=np.int64)
    b = spare
    for i in range(k - 1, -1, -1):
        counts[i] += choice[i, b]
        b -= int(choice[i, b])
    return counts


_SOLVERS = {"greedy": knapsack_greedy, "dp": knapsack_dp}


def _spread(amount: int, slots: int) -> np.ndarray:
    """``amount`` split into ``slots`` near-equal parts, the first ones one larger."""
    shares = np.full(slots, amount // slots, dtype=np.int64)
    shares[: amount % slots] += 1
    return shares


def knapsack_allocate(
    p: Any,
    total: int,
    *,
    default: int = 8,
    min_rollouts: int = 2,
    max_rollouts: int = 128,
    confidence: float = 0.9,
    solver: str = "greedy",
) -> np.ndarray:
    """Knapsack RL's full allocation of ``total`` rollouts, surplus rule included.

    The authors' ``sampling_budget_by_knapsack`` (liziniu/KnapsackRL,
    ``verl/trainer/ppo/exploration_utils.py``), step by step. ``p`` is NaN for prompts
    without an estimate yet; those get ``default`` rollouts. The others start at
    ``min_rollouts``; those with ``0 < p < 1`` are *effective* (the solver works on them).

    1. Nothing effective: the rest goes in equal shares (first prompts one more) to the
       *zero* prompts (``p = 0``, or no estimate: the authors' success-rate array holds 0 for
       them too); with no zero prompt either, every prompt gets an equal share of ``total``.
    2. Otherwise the budget an effective prompt needs for a non-zero gradient with
       probability ``confidence`` is ``floor(min(max_rollouts, ln(1-confidence) /
       ln max(p, 1-p)))``. Whatever the rest exceeds their sum by is handed out *before* the
       solver, in equal shares to the zero prompts (none: to the prompts at ``p = 1``; none
       of those either: kept for the solver, where the authors' code fails its budget check).
    3. The solver (``knapsack_greedy`` or ``knapsack_dp``, exact) splits what is left among
       the effective prompts within ``[min_rollouts, max_rollouts]``; budget it cannot place
       (every effective prompt at the cap) goes to them in equal shares, as the authors do.

    Only the solver respects ``max_rollouts``; the equal shares are not capped (as in the
    authors' code). The result always sums to ``total``. One difference from the authors'
    dynamic program: theirs scores a prompt given no extra rollout as 0 rather than
    ``value(min_rollouts)``; with the step-2 budget every effective prompt can get at least
    ``floor(ln 0.1 / ln 0.5) = 3`` extra, so this rarely changes the optimum.

    Example (the numbers the authors' function returns for these pass rates, ``n=8``):
        >>> nan = float("nan")
        >>> p = [0.5, 0.0, 0.25, 1.0, nan, 0.0, 0.875, nan]
        >>> knapsack_allocate(p, 64).tolist()
        [9, 4, 15, 2, 10, 4, 10, 10]
        >>> knapsack_allocate([0.0, 1.0, nan, 0.0], 32).tolist()
        [8, 2, 14, 8]
    """
    rates = np.asarray(p, dtype=np.float64)
    if rates.ndim != 1 or ((rates < 0) | (rates > 1)).any() or np.isinf(rates).any():
        raise ValueError("pass rates p must be a 1-D array of values in [0, 1] or NaN")
    total = positive_int("total", total, allow_zero=True)
    default = positive_int("default", default)
    low = positive_int("min_rollouts", min_rollouts, allow_zero=True)
    high = positive_int("max_rollouts", max_rollouts)
    confidence = number("confidence", confidence, low=0, high=1, open_low=True, open_high=True)
    solve = _SOLVERS[choice("solver", solver, tuple(_SOLVERS))]
    known = ~np.isnan(rates)
    counts = np.where(known, low, default).astype(np.int64)
    left = total - int(counts.sum())
    if left < 0:
        raise ValueError(f"total={total} is below the {int(counts.sum())} rollouts of the floor")
    effective = known & (rates > 0) & (rates < 1)
    zero = ~known | (rates == 0)
    if not effective.any():
        if left > 0 and zero.any():
            counts[zero] += _spread(left, int(zero.sum()))
        elif left > 0:
            counts = _spread(total, len(counts))
        return counts
    q = rates[effective]
    needed = np.floor(np.minimum(high, np.log(1 - confidence) / np.log(np.maximum(q, 1 - q))))
    for_solver = left
    if needed.sum() < left:
        takers = zero if zero.any() else known & (rates == 1)
        if takers.any():
            for_solver = int(needed.sum())
            counts[takers] += _spread(left - for_solver, int(takers.sum()))
    k = len(q)
    solved = solve(q, for_solver + k * low, min_rollouts=low, max_rollouts=max(high, low))
    unplaced = for_solver + k * low - int(solved.sum())
    if unplaced > 0:
        solved += _spread(unplaced, k)
    counts[effective] = solved
    return counts


@register("knapsack")
class KnapsackRL(PosteriorStrategy):
    """Knapsack RL budget allocation across uniformly chosen prompts.

    From "Knapsack RL: Unlocking Exploration of LLMs via Optimizing Budget Allocation"
    (Li et al., 2025; authors' code: liziniu/KnapsackRL). Each step chooses ``n`` prompts
    uniformly (without replacement, epoch by epoch) and splits ``n * rollouts`` rollouts among
    them with :func:`knapsack_allocate`: prompts without an estimate get ``rollouts``, prompts
    at ``p = 0`` or ``1`` get ``min_rollouts``, budget beyond what the others need (the
    ``confidence`` rule) goes first to the zero-success prompts, and the rest maximises
    ``sum_i value(p_i, N_i)`` (:func:`knapsack_value`: probability of a non-zero gradient
    times the InfoGain proxy ``p (1-p)^2``) with ``N_i`` in ``[min_rollouts, max_rollouts]``.
    ``solver="greedy"`` (:func:`knapsack_greedy`, exact because ``value`` is concave in N) is
    the default; ``solver="dp"`` runs the dynamic program (:func:`knapsack_dp`).

    The pass rate ``p_i`` (``estimate``):

    - ``"recent"`` (default, the authors' rule): the mean of the prompt's latest group when it
      holds at least ``window`` rollouts, else of its last ``window`` rewards; prompts with
      fewer than ``min_observed`` rewards in all have no estimate and get ``rollouts``.
    - ``"posterior"``: the Beta-posterior mean ``(s + 1) / (t + 2)`` of all past rollouts
      (``prior``); never-seen prompts get 0.5, and no prompt is ever at exactly 0 or 1.
    - ``"observed"``: the raw all-time pass rate ``s / t`` (prior mean for never-seen prompts).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(4, "knapsack", seed=0)
        >>> cur.observe(Outcomes([0, 1, 2], [[1, 0] * 4, [0] * 8, [1, 0, 0, 0] * 2]))
        >>> batch = cur.propose(4)  # p = .5, 0, .25; item 3 has no estimate: 8, plus surplus
        >>> sorted(zip(batch.indices.tolist(), batch.rollouts.tolist()))
        [(0, 6), (1, 5), (2, 9), (3, 12)]
    """

    learned = (*PosteriorStrategy.learned, "_recent")

    def __init__(
        self,
        *,
        rollouts: int = 8,
        min_rollouts: int = 2,
        max_rollouts: int = 128,
        solver: str = "greedy",
        estimate: str = "recent",
        window: int = 16,
        min_observed: int = 8,
        confidence: float = 0.9,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.rollouts = positive_int("rollouts", rollouts)
        self.min_rollouts = positive_int("min_rollouts", min_rollouts)
        self.max_rollouts = positive_int("max_rollouts", max_rollouts)
        check_rollout_bounds(self.rollouts, self.min_rollouts, self.max_rollouts)
        self.solver = choice("solver", solver, tuple(_SOLVERS))
        self.estimate = choice("estimate", estimate, ("recent", "posterior", "observed"))
        self.window = positive_int("window", window)
        self.min_observed = positive_int("min_observed", min_observed, allow_zero=True)
        self.confidence = number(
            "confidence", confidence, low=0, high=1, open_low=True, open_high=True
        )
        self.prior = beta_prior(prior)

    def _setup(self) -> None:
        super()._setup()
        self._recent = RecentRewards(self.pool.size, self.window)

    def observe(self, outcomes: Outcomes) -> None:
        super().observe(outcomes)
        if self.estimate == "recent" and len(outcomes) and outcomes.rewards is not None:
            self._recent.push(outcomes.indices, outcomes.rewards)

    def pass_estimates(self, items: Any) -> np.ndarray:
        """The ``p`` the allocation uses for ``items`` (see ``estimate``; NaN: none yet)."""
        idx = np.asarray(items, dtype=np.int64)
        if self.estimate == "recent":
            p = self._recent.estimate(idx)
            return np.where(self.stats.attempts[idx] >= self.min_observed, p, np.nan)
        mean = self.pass_mean(idx)
        if self.estimate == "posterior":
            return mean
        observed = self.stats.mean_reward(idx)  # NaN where never rewarded
        return np.where(np.isnan(observed), mean, observed)

    def propose(self, n: int) -> Proposal:
        items = self._choose(n)
        p = self.pass_estimates(items)
        counts = knapsack_allocate(
            p,
            n * self.rollouts,
            default=self.rollouts,
            min_rollouts=self.min_rollouts,
            max_rollouts=self.max_rollouts,
            confidence=self.confidence,
            solver=self.solver,
        )
        self._summarise(items, counts, np.nan_to_num(p, nan=0.5))
        return Proposal(items, rollouts=counts)


# --------------------------------------------------------------------------- GFPO


@register("gfpo")
class GFPOAdaptive(PosteriorStrategy):
    """GFPO's adaptive difficulty: larger rollout groups for harder prompts.

    Simplified: sets group sizes before sampling instead of sampling G and keeping the k
    shortest responses per prompt (no length or token-efficiency filtering).

    From "Sample More to Think Less: Group Filtered Policy Optimization for Concise
    Reasoning" (Shrivastava et al., 2025). Adaptive Difficulty GFPO tracks a running
    difficulty estimate (the mean reward of each prompt's rollouts, bucketed by quartiles kept
    in a streaming digest) and gives harder prompts more of the group: in the paper every
    prompt samples the same G and the number of responses *retained* after length filtering
    grows with difficulty (easy 4, medium 6, hard and very hard 8; the default
    ``group_weights`` mirror these). Here the strategy decides before sampling, so it turns
    that profile into group sizes: with ``p_i`` the Beta-posterior mean pass rate and
    ``q25 <= q50 <= q75`` the quartiles of the posterior means of every item observed so far
    (kept sorted as items are observed: a step moves memory over the observed items, never
    the pool), a prompt is very hard if ``p <= q25``, hard if ``p <= q50``, medium
    if ``p <= q75`` and easy otherwise; its weight is ``group_weights[bucket]`` (ordered easy,
    medium, hard, very hard; never-seen prompts get the mean weight), and
    :func:`allocate_proportional` splits ``n * rollouts`` in proportion to the weights within
    ``[min_rollouts, max_rollouts]``, so the mean budget stays ``rollouts`` per prompt.
    Prompts are chosen uniformly.

    GFPO's response-level filtering (keep the shortest, or highest reward-per-token, responses
    of a group) needs the responses themselves and is the trainer's job.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(8, "gfpo", seed=0)
        >>> cur.observe(Outcomes(range(8), [[1] * k + [0] * (8 - k) for k in range(8)]))
        >>> batch = cur.propose(8)
        >>> sorted(zip(batch.indices.tolist(), batch.rollouts.tolist()))
        [(0, 10), (1, 10), (2, 10), (3, 10), (4, 7), (5, 7), (6, 5), (7, 5)]
    """

    def __init__(
        self,
        *,
        rollouts: int = 8,
        min_rollouts: int = 2,
        max_rollouts: int = 32,
        group_weights: tuple[float, float, float, float] = (4.0, 6.0, 8.0, 8.0),
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.rollouts = positive_int("rollouts", rollouts)
        self.min_rollouts = positive_int("min_rollouts", min_rollouts)
        self.max_rollouts = positive_int("max_rollouts", max_rollouts)
        check_rollout_bounds(self.rollouts, self.min_rollouts, self.max_rollouts)
        if isinstance(group_weights, str) or len(group_weights) != 4:
            raise ValueError(
                "group_weights must be four numbers (easy, medium, hard, very hard), "
                f"got {group_weights!r}"
            )
        self.group_weights = tuple(
            number(f"group_weights[{i}]", w, low=0, open_low=True)
            for i, w in enumerate(group_weights)
        )
        self.prior = beta_prior(prior)

    def _setup(self) -> None:
        super()._setup()
        self._derive()

    def _derive(self) -> None:
        """The sorted posterior means of the observed items, from the shared statistics."""
        self._means = SortedKeys(self.pool.size)
        if self.stats.items_seen:
            observed = np.flatnonzero(self.stats.attempts)
            self._means.update(observed, self.pass_mean(observed))

    def observe(self, outcomes: Outcomes) -> None:
        super().observe(outcomes)
        if len(outcomes) and outcomes.rewards is not None:
            items = np.unique(outcomes.indices)
            items = items[self.observed(items)]
            self._means.update(items, self.pass_mean(items))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._derive()

    def quartiles(self) -> np.ndarray:
        """Quartiles (25, 50, 75%) of the posterior mean pass rates of observed items.

        The same values as ``np.quantile`` (linear interpolation), read from the means kept
        sorted. Empty when nothing has been observed yet.
        """
        means = self._means.keys
        if len(means) == 0:
            return np.zeros(0)
        position = np.array([0.25, 0.5, 0.75]) * (len(means) - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, len(means) - 1)
        return np.array(
            [
                np.quantile(means[[lo, hi]], fraction)  # numpy's interpolation of the pair
                for lo, hi, fraction in zip(low, high, position - low, strict=True)
            ]
        )

    def buckets(self, items: Any) -> np.ndarray:
        """Difficulty bucket per item: 0 easy, 1 medium, 2 hard, 3 very hard, -1 never seen."""
        idx = np.asarray(items, dtype=np.int64)
        edges = self.quartiles()
        if len(edges) == 0:
            return np.full(len(idx), -1, dtype=np.int64)
        below = np.searchsorted(edges, self.pass_mean(idx), side="left")  # edges < p
        return np.where(self.observed(idx), 3 - below, -1).astype(np.int64)

    def propose(self, n: int) -> Proposal:
        items = self._choose(n)
        weights = np.asarray(self.group_weights)
        bucket = self.buckets(items)
        w = np.where(bucket >= 0, weights[np.maximum(bucket, 0)], weights.mean())
        counts = allocate_proportional(
            w, n * self.rollouts, low=self.min_rollouts, high=self.max_rollouts
        )
        self._summarise(items, counts, self.pass_mean(items))
        return Proposal(items, rollouts=counts)


# --------------------------------------------------------------------------- DART


@register("dart")
class DART(PosteriorStrategy):
    """DART's difficulty-aware trial allocation for rejection-sampling data synthesis.

    Simplified: an online, one-batch-at-a-time version with capped trials and a Beta-posterior
    difficulty, not the paper's offline sampling until every query has its correct responses.

    From "DART-Math: Difficulty-Aware Rejection Tuning for Mathematical Problem-Solving"
    (Tong et al., 2024). Vanilla rejection sampling draws the same number of responses per
    query and keeps the correct ones, which starves hard queries. DART allocates trials by
    difficulty, here from the Beta-posterior mean pass rate ``p_i`` (prior ``(1, 1)``, so
    ``p_i > 0`` and never-seen queries get 0.5):

    - ``mode="uniform"``: every query should reach ``k`` correct responses, which takes
      ``k / p_i`` trials in expectation: ``trials_i = ceil(k / p_i)``.
    - ``mode="prop2diff"``: the number of correct responses kept is proportional to the fail
      rate ``1 - p_i``, with the hardest query of the pool (largest ``1 - p``) getting ``k``:
      ``k_i = max(1, ceil(k (1 - p_i) / max_j (1 - p_j)))``, ``trials_i = ceil(k_i / p_i)``.

    Trials are capped at ``max_trials`` (the paper caps raw samples too). The hardest fail
    rate of the pool is kept up to date for the observed items only (a tree of block maxima),
    so a step costs O(batch) in both modes. Queries are chosen
    uniformly (DART walks the whole query set). The paper collects tens to hundreds of
    correct responses per query offline; the defaults here (``k=4``, ``max_trials=64``) suit
    online use, where a query at ``p = 0.5`` gets the usual 8 rollouts.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(3, "dart", seed=0)
        >>> cur.observe(Outcomes([0, 1], [[0] * 8, [1] * 8]))  # p = 0.1 and 0.9; item 2: 0.5
        >>> batch = cur.propose(3)
        >>> sorted(zip(batch.indices.tolist(), batch.rollouts.tolist()))
        [(0, 40), (1, 5), (2, 8)]
    """

    def __init__(
        self,
        *,
        mode: str = "uniform",
        k: int = 4,
        max_trials: int = 64,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.mode = choice("mode", mode, ("uniform", "prop2diff"))
        self.k = positive_int("k", k)
        self.max_trials = positive_int("max_trials", max_trials)
        self.prior = beta_prior(prior)

    def _setup(self) -> None:
        super()._setup()
        self._fail: BlockMax | None = None  # fail rates 1 - p, for the hardest of the pool
        if self.mode == "prop2diff":
            self._fail = BlockMax(1.0 - self.pass_mean())

    def observe(self, outcomes: Outcomes) -> None:
        super().observe(outcomes)
        if self._fail is not None and len(outcomes) and outcomes.rewards is not None:
            items = np.unique(outcomes.indices)
            self._fail.update(items, 1.0 - self.pass_mean(items))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self._fail is not None:
            self._fail = BlockMax(1.0 - self.pass_mean())

    def targets(self, items: Any) -> np.ndarray:
        """Correct responses wanted per item: ``k``, or ``k_i`` proportional to difficulty."""
        idx = np.asarray(items, dtype=np.int64)
        if self.mode == "uniform":
            return np.full(len(idx), float(self.k))
        fail = 1.0 - self.pass_mean(idx)
        hardest = self._fail.max  # type: ignore[union-attr]
        return np.maximum(1.0, np.ceil(self.k * fail / hardest - SLACK))

    def trials(self, items: Any) -> np.ndarray:
        """``min(max_trials, ceil(k_i / p_i))`` per item (at least 1)."""
        p = self.pass_mean(items)
        wanted = np.ceil(self.targets(items) / p - SLACK)
        return np.clip(wanted, 1, self.max_trials).astype(np.int64)

    def propose(self, n: int) -> Proposal:
        items = self._choose(n)
        counts = self.trials(items)
        self._summarise(items, counts, self.pass_mean(items))
        return Proposal(items, rollouts=counts)
