"""Difficulty targeting: keep each batch near a moving point on a difficulty or rank scale.

- :class:`AdaRFT`: a target difficulty in [0, 100] driven by the batch mean reward.
- :class:`CDAS`: learned item difficulties and a learner ability kept in alignment.
- :class:`GAINRL`: a Gaussian window over a fixed item ranking whose centre moves forward
  once per loop.

"Batch mean reward" is the mean of every reward in the batch (all rollouts pooled); a batch
without rewards leaves these strategies unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stepladder._checks import choice, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._ordered import FlagCounts, SortedKeys
from stepladder.strategies._registry import register
from stepladder.strategies._toolbox import empty_proposal
from stepladder.strategies.base import PROMPT_SELECTION_NET, Proposal, Strategy
from stepladder.strategies.baselines import Uniform

__all__ = ["CDAS", "GAINRL", "AdaRFT", "scale_difficulty"]

_TIES = ("random", "index")


def _batch_mean_reward(outcomes: Outcomes) -> float | None:
    """Mean of all rewards in the batch (rollouts pooled); None when there are none."""
    if len(outcomes) == 0 or outcomes.rewards is None:
        return None
    values = outcomes.rewards[~np.isnan(outcomes.rewards)]
    return float(values.mean()) if values.size else None


def scale_difficulty(difficulty: Any, *, method: str = "minmax") -> np.ndarray:
    """Map difficulties to [0, 100]: min-max scaling or percentile ranks; NaN -> 50.

    ``"minmax"``: 100 (x - min) / (max - min) over the known values (all 50 if they are
    equal). ``"rank"``: 100 (rank - 1) / (n_known - 1) with average ranks for ties (50 for a
    single known value). Unknown (NaN) difficulties sit at the middle, 50.

    Example:
        >>> scale_difficulty([2.0, 4.0, np.nan, 12.0]).tolist()
        [0.0, 20.0, 50.0, 100.0]
        >>> scale_difficulty([2.0, 4.0, np.nan, 12.0], method="rank").tolist()
        [0.0, 50.0, 50.0, 100.0]
    """
    choice("method", method, ("minmax", "rank"))
    values = np.asarray(difficulty, dtype=np.float64)
    known = ~np.isnan(values)
    scaled = np.full(values.shape, 50.0)
    if known.sum() < 2:
        return scaled
    if method == "minmax":
        low, high = values[known].min(), values[known].max()
        if high > low:
            scaled[known] = 100.0 * (values[known] - low) / (high - low)
    else:
        from scipy.stats import rankdata

        scaled[known] = 100.0 * (rankdata(values[known]) - 1.0) / (known.sum() - 1.0)
    return scaled


def _nearest_sorted(
    values: np.ndarray, target: float, k: int, rng: np.random.Generator, random_ties: bool
) -> np.ndarray:
    """Positions of the ``k`` entries of ascending ``values`` nearest ``target``.

    O(log N + k log k): the k nearest lie within k positions of ``target``'s insertion point.
    Entries tied at the cut distance form at most two runs of equal values (one each side);
    the places left are drawn from them uniformly at random (``random_ties``) or taken in
    position order (lower value first), without materialising the runs.
    """
    size = len(values)
    if k >= size:
        return np.lexsort((np.arange(size), np.abs(values - target))).astype(np.int64)
    middle = int(np.searchsorted(values, target))
    low, high = max(0, middle - k), min(size, middle + k)
    positions = np.arange(low, high)
    distance = np.abs(values[low:high] - target)
    ranked = np.lexsort((positions, distance))
    cut = distance[ranked[k - 1]]
    closer = positions[ranked[distance[ranked] < cut]]
    need = k - len(closer)
    runs = [
        (int(np.searchsorted(values, v, "left")), int(np.searchsorted(values, v, "right")))
        for v in np.unique(values[low:high][distance == cut])
    ]
    first_length = runs[0][1] - runs[0][0]
    total = sum(end - start for start, end in runs)
    offsets = rng.choice(total, need, replace=False) if random_ties else np.arange(need)
    tied = np.where(
        offsets < first_length, runs[0][0] + offsets, runs[-1][0] + offsets - first_length
    )
    return np.concatenate([closer, tied]).astype(np.int64)


@register("adarft")
class AdaRFT(Strategy):
    """Batches of the items whose difficulty is nearest a target that follows the reward.

    From "Efficient Reinforcement Finetuning via Adaptive Curriculum Learning" (AdaRFT, Shi
    et al., 2025). Difficulties are mapped to [0, 100] (:func:`scale_difficulty`); the
    target starts at ``start`` and after each step with batch mean reward R ::

        T <- clip(T + eta * tanh(alpha * (R - beta)), dmin, dmax)

    The next batch is the n items with the smallest |d_i - T|. Items with equal distance at
    the cut are drawn at random (``ties="random"``, so equal-difficulty items, e.g. MATH
    levels, take turns) or taken lower difficulty first, then in pool order
    (``ties="index"``). The paper's rule repeats the
    same batch while T stands still; ``candidates=k`` instead draws the batch uniformly from
    the k*n nearest items (1 = the paper). A batch larger than the pool repeats it.
    Selection costs O(log N + n log n) per step: the items are sorted by difficulty once.

    Args:
        start: initial target T (0).
        eta: step size (50); alpha: slope of tanh (2); beta: target reward (0.5).
        dmin, dmax: bounds of the target (0, 100).
        scale: ``"minmax"`` or ``"rank"``, how the pool's difficulty maps to [0, 100].
        ties: ``"random"`` or ``"index"``.
        candidates: draw the batch from the ``candidates * n`` nearest items (1).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> cur = Curriculum(ItemPool(size=11, difficulty=np.arange(11.0)), "adarft")
        >>> cur.propose(3).indices.tolist()  # difficulties 0, 10, ..., 100; T = 0
        [0, 1, 2]
        >>> cur.observe(Outcomes([0, 1, 2], rewards=np.ones((3, 4))))  # R = 1
        >>> round(cur.strategy.target, 2)  # 50 tanh(2 (1 - 0.5))
        38.08
        >>> cur.propose(2).indices.tolist()  # d = 40 and 30 are nearest
        [4, 3]
    """

    default_safety_net = PROMPT_SELECTION_NET

    needs_difficulty = True
    feedback = ("rewards",)
    #: ``target``: the current target difficulty T on the [0, 100] scale.
    learned = ("target",)

    def __init__(
        self,
        *,
        start: float = 0.0,
        eta: float = 50.0,
        alpha: float = 2.0,
        beta: float = 0.5,
        dmin: float = 0.0,
        dmax: float = 100.0,
        scale: str = "minmax",
        ties: str = "random",
        candidates: int = 1,
    ) -> None:
        self.dmin = number("dmin", dmin)
        self.dmax = number("dmax", dmax)
        if self.dmax <= self.dmin:
            raise ValueError(f"dmax must exceed dmin, got dmin={self.dmin}, dmax={self.dmax}")
        self.start = number("start", start)
        if not self.dmin <= self.start <= self.dmax:
            raise ValueError(f"start must lie in [dmin, dmax], got {self.start}")
        self.eta = number("eta", eta, low=0.0)
        self.alpha = number("alpha", alpha, low=0.0)
        self.beta = number("beta", beta, low=0.0, high=1.0)
        self.scale = choice("scale", scale, ("minmax", "rank"))
        self.ties = choice("ties", ties, _TIES)
        self.candidates = positive_int("candidates", candidates)

    def _setup(self) -> None:
        scaled = scale_difficulty(self.pool.difficulty, method=self.scale)
        self._order = np.argsort(scaled, kind="stable")
        self._sorted = scaled[self._order]
        self.target = self.start

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        size = self.pool.size
        batch = min(n, size)
        wanted = min(size, batch * self.candidates)
        positions = _nearest_sorted(
            self._sorted, self.target, wanted, self.rng, self.ties == "random"
        )
        if wanted > batch:
            positions = positions[self.rng.choice(wanted, batch, replace=False)]
        return Proposal(np.resize(self._order[positions], n).astype(np.int64))

    def observe(self, outcomes: Outcomes) -> None:
        reward = _batch_mean_reward(outcomes)
        if reward is None:
            return
        step = self.eta * math.tanh(self.alpha * (reward - self.beta))
        self.target = min(max(self.target + step, self.dmin), self.dmax)

    def metrics(self) -> dict[str, float]:
        return {"target": float(self.target)}


@register("cdas")
class CDAS(Strategy):
    """Competence-difficulty alignment: learned difficulties, ability, batches around it.

    Competence-Difficulty Alignment Sampling (CDAS) from "Rethinking the Sampling Criteria in
    Reinforcement Learning for LLM Reasoning: A Competence-Difficulty Alignment Perspective"
    (Kong et al., 2025; authors' code: DeyangKong/CDAS). Ability R and every item difficulty
    d_x start at 0. After a step, each sampled item x with pass rate pr_x is updated, k_x
    counting its updates including this one ::

        p_exp = sigmoid(R - d_x)
        d_x  <- ((w - 1) / w) d_x + (1 / w) (p_exp - pr_x)
        R    <- R - sum_x (d_x,new - d_x,old) / N_items

    with ``w = k_x + 1`` (``weighting="code"``, the default: the authors' ``CDAS_System``
    counts the initial 0 as an observation, so the first update moves d halfway) or
    ``w = k_x`` (``weighting="paper"``: the running mean of the gaps, as the paper writes it).

    so R stays minus the mean difficulty of the pool. The next batch is the ceil(n/2) items
    with d <= R nearest R plus the floor(n/2) with d > R nearest R, backfilled from the other
    side when one runs short. An item appearing several times in a batch is updated once,
    with its pooled pass rate. Equal distances (all unvisited items share d = 0) are broken
    at random (``ties="random"``) or by pool order.

    Selection costs O(batch log N): items never updated keep their initial difficulty, in an
    order sorted once at bind, with a Fenwick tree counting those not updated yet; updated
    items are kept sorted by difficulty and merged per step (a memory move over the updated
    items, not the pool). Random ties draw the same uniform subset of the tied items as
    before, though the same seed now gives a different one.

    Args:
        init: ``"zero"`` (the method) or ``"prior"``: unvisited items start at the pool's
            standardised difficulty (NaN -> 0), which the first update replaces.
        ties: ``"random"`` or ``"index"``.
        weighting: ``"code"`` (``w = k + 1``) or ``"paper"`` (``w = k``), see above.

        warmup: sample the first epoch uniformly before aligning (the paper's warm-up, the
            default; ``False`` aligns from the first batch).

    Warm-up: "for the duration of the first training epoch, we sample problems uniformly at
    random. This ensures every problem is sampled at least once" (the paper's training
    details; in the authors' code the first epoch uses the plain shuffled loader and CDAS
    batches start at the next epoch). Here the first ``N_items`` proposed items are the
    ``uniform`` strategy's random order without replacement (the last warm-up batch may take
    a few items of the next random order), and every warm-up batch is observed as usual, so
    alignment starts with a difficulty for every item. The authors' code also skips the
    update of its very first step; here it counts. Without the warm-up every unvisited item
    sits at d = 0, next to R, so about half of each batch is fresh items and the other half
    re-picks the few updated items just across R: in the GRPO benchmark's 6,050-item pool
    (batch 32) that concentrated 10% of all picks on 1% of the items. The warm-up lasts
    ``ceil(N_items / n)`` steps, which is long for a large pool. It does not change what
    alignment then does: with p_exp near 0.5, d is about a running mean of 0.5 - pr and R
    about the pool's mean pass rate minus 0.5, so batches centre on items whose pass rate is
    near one minus the pool's mean, the hardest ones once the learner is good, and mastered
    items are no longer drawn (in that benchmark it still lost to uniform after warming up).

    The authors select ``n // 2`` items per side (an odd ``n`` gives ``n - 1``); here the
    batch is always ``n`` items, the extra one from the side at or below R.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(4, "cdas", seed=0, warmup=False, uniform_mix=0)  # no safety net
        >>> cur.observe(Outcomes([0], rewards=[[1, 0, 0, 0]]))  # pr = 0.25, p_exp = 0.5
        >>> cur.strategy.item_difficulty().tolist(), cur.strategy.ability  # d_0 = 0.125
        ([0.125, 0.0, 0.0, 0.0], -0.03125)
        >>> 0 in cur.propose(2).indices  # items 1-3 (d = 0) are nearest R = -0.03125
        False
    """

    default_safety_net = PROMPT_SELECTION_NET

    feedback = ("rewards",)
    #: ``ability`` R; ``updates`` k_x per item; ``updated_difficulty`` d_x of updated items
    #: (0 for the others, which keep their initial difficulty); ``_warmup_left`` items still
    #: to propose uniformly, from ``_sampler``.
    learned = ("ability", "updates", "updated_difficulty", "_warmup_left", "_sampler")

    def __init__(
        self,
        *,
        init: str = "zero",
        ties: str = "random",
        weighting: str = "code",
        warmup: bool = True,
    ) -> None:
        self.init = choice("init", init, ("zero", "prior"))
        self.ties = choice("ties", ties, _TIES)
        self.weighting = choice("weighting", weighting, ("code", "paper"))
        if not isinstance(warmup, bool | np.bool_):
            raise ValueError(f"warmup must be True or False, got {warmup!r}")
        self.warmup = bool(warmup)

    def _setup(self) -> None:
        size = self.pool.size
        self._initial: np.ndarray | None = None  # None: every item starts at 0
        self._base_sorted: np.ndarray | None = None  # initial difficulties, ascending
        self._base_items: np.ndarray | None = None  # items by initial difficulty (None: 0..N-1)
        self._base_position: np.ndarray | None = None  # inverse of _base_items
        self.ability = 0.0
        if self.init == "prior":
            if self.pool.difficulty is None:
                raise ValueError(
                    "strategy 'cdas' with init='prior' needs a prior difficulty per item: "
                    "build the pool with ItemPool(..., difficulty=...)"
                )
            prior = np.asarray(self.pool.difficulty, dtype=np.float64)
            known = ~np.isnan(prior)
            initial = np.zeros(size)
            if known.any():
                spread = prior[known].std()
                centred = prior[known] - prior[known].mean()
                initial[known] = centred / spread if spread > 0 else 0.0
            self._initial = initial
            self._base_items = np.argsort(initial, kind="stable")
            self._base_position = np.empty(size, dtype=np.int64)
            self._base_position[self._base_items] = np.arange(size)
            self._base_sorted = initial[self._base_items]
            self.ability = -float(initial.mean()) if size else 0.0
        self.updates = np.zeros(size, dtype=np.int64)
        self.updated_difficulty = np.zeros(size)
        self._warmup_left = size if self.warmup else 0
        self._sampler = Uniform()
        self._sampler.bind(self.pool, self.stats, self.rng)
        self._index()

    def _index(self) -> None:
        """Rebuild the search structures from ``updates`` and ``updated_difficulty``."""
        size = self.pool.size
        updated = np.flatnonzero(self.updates)
        self._fresh = FlagCounts(size)  # items never updated, by base position
        self._fresh.clear(self._position(updated))
        self._moved = SortedKeys(size)  # updated items by current difficulty
        self._moved.update(updated, self.updated_difficulty[updated])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._index()

    # ------------------------------------------------------------ the base order (initial d)

    def _position(self, items: np.ndarray) -> np.ndarray:
        return items if self._base_position is None else self._base_position[items]

    def _base_item(self, positions: np.ndarray) -> np.ndarray:
        return positions if self._base_items is None else self._base_items[positions]

    def _base_value(self, positions: np.ndarray) -> np.ndarray:
        if self._base_sorted is None:
            return np.zeros(len(positions))
        return self._base_sorted[positions]

    def _base_bounds(self, value: float) -> tuple[int, int]:
        """Base positions ``[lo, hi)`` whose initial difficulty equals ``value``."""
        ordered = self._base_sorted
        if ordered is None:
            return (0, self.pool.size) if value == 0 else (0, 0)
        lo, hi = np.searchsorted(ordered, value, "left"), np.searchsorted(ordered, value, "right")
        return int(lo), int(hi)

    def _base_at_most(self, value: float) -> int:
        """Number of base positions whose initial difficulty is ``<= value``."""
        if self._base_sorted is None:
            return self.pool.size if value >= 0 else 0
        return int(np.searchsorted(self._base_sorted, value, "right"))

    # ------------------------------------------------------------ learning

    @property
    def items_updated(self) -> int:
        """Number of items updated at least once."""
        return len(self._moved)

    def item_difficulty(self) -> np.ndarray:
        """Current difficulty d_x of every item (a copy; O(pool))."""
        initial = np.zeros(self.pool.size) if self._initial is None else self._initial
        return np.where(self.updates > 0, self.updated_difficulty, initial)

    def _difficulty(self, items: np.ndarray) -> np.ndarray:
        initial = 0.0 if self._initial is None else self._initial[items]
        return np.where(self.updates[items] > 0, self.updated_difficulty[items], initial)

    def observe(self, outcomes: Outcomes) -> None:
        if len(outcomes) == 0 or outcomes.rewards is None:
            return
        rollouts = outcomes.rollouts
        present = rollouts > 0
        if not present.any():
            return
        items, slot = np.unique(outcomes.indices[present], return_inverse=True)
        successes = np.bincount(slot, weights=outcomes.reward_sum[present])
        pass_rate = successes / np.bincount(slot, weights=rollouts[present])
        old = self._difficulty(items)
        expected = 1.0 / (1.0 + np.exp(-(self.ability - old)))  # p_exp = sigmoid(R - d_x)
        k = self.updates[items] + 1
        w = k + 1 if self.weighting == "code" else k
        new = ((w - 1) / w) * old + (1.0 / w) * (expected - pass_rate)
        self._fresh.clear(self._position(items[k == 1]))
        self.updated_difficulty[items], self.updates[items] = new, k
        self._moved.update(items, new)
        self.ability -= float(np.sum(new - old)) / self.pool.size

    # ------------------------------------------------------------ selection

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        if self._warmup_left > 0:  # the first epoch: uniform, without replacement
            self._warmup_left = max(0, self._warmup_left - n)
            return self._sampler.propose(n)
        size = self.pool.size
        batch = min(n, size)
        ability = self.ability
        fresh_below = self._fresh.prefix(self._base_at_most(ability))
        fresh_total = size - len(self._moved)
        moved_below = int(np.searchsorted(self._moved.keys, ability, "right"))
        below = fresh_below + moved_below
        above = size - below
        want_below, want_above = batch - batch // 2, batch // 2
        take_below = min(below, want_below + max(0, want_above - above))
        take_above = batch - take_below
        low = self._nearest(
            take_below,
            below,
            np.arange(max(0, fresh_below - take_below), fresh_below),
            np.arange(max(0, moved_below - take_below), moved_below),
            -1.0,
        )
        high = self._nearest(
            take_above,
            above,
            np.arange(fresh_below, min(fresh_total, fresh_below + take_above)),
            np.arange(moved_below, min(len(self._moved), moved_below + take_above)),
            1.0,
        )
        return Proposal(np.resize(np.concatenate([low, high]), n).astype(np.int64))

    def _nearest(
        self, k: int, count: int, fresh_ranks: np.ndarray, moved_slots: np.ndarray, sign: float
    ) -> np.ndarray:
        """The ``k`` items of one side nearest R (``count`` on that side), nearest first.

        Candidates are the ``k`` nearest never-updated items (``fresh_ranks``, ranks among
        them in base order) and the ``k`` nearest updated ones (``moved_slots``); ties at the
        cut are drawn from every item of the tied difficulty.
        """
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        positions = self._fresh.find(fresh_ranks)
        items = np.concatenate([self._base_item(positions), self._moved.items[moved_slots]])
        values = np.concatenate([self._base_value(positions), self._moved.keys[moved_slots]])
        distance = sign * (values - self.ability)
        order = np.lexsort((items, distance))  # by distance, then pool order
        if k >= count:
            return items[order]
        cut = distance[order[k - 1]]
        closer = items[order][distance[order] < cut]
        need = k - len(closer)
        return np.concatenate([closer, self._tied(np.unique(values[distance == cut]), need)])

    def _tied(self, values: np.ndarray, need: int) -> np.ndarray:
        """``need`` of the items whose difficulty is one of ``values`` (at random or by index)."""
        moved, fresh_runs = [], []
        for value in values.tolist():
            keys = self._moved.keys
            lo, hi = np.searchsorted(keys, value, "left"), np.searchsorted(keys, value, "right")
            moved.append(self._moved.items[lo:hi])
            base_lo, base_hi = self._base_bounds(value)
            fresh_runs.append((self._fresh.prefix(base_lo), self._fresh.prefix(base_hi)))
        tied_moved = np.sort(np.concatenate(moved))
        sizes = np.array([len(tied_moved)] + [hi - lo for lo, hi in fresh_runs])
        ends = np.cumsum(sizes)
        if self.ties == "random":
            offsets = self.rng.choice(int(ends[-1]), need, replace=False)
        else:  # the lowest indices: among the updated ones and the first of each base run
            firsts = [
                start + np.arange(min(need, size))
                for start, size in zip(ends - sizes, sizes, strict=True)
            ]
            offsets = np.concatenate(firsts)
        part = np.searchsorted(ends, offsets, side="right")
        within = offsets - (ends - sizes)[part]
        chosen = np.empty(len(offsets), dtype=np.int64)
        in_moved = part == 0
        chosen[in_moved] = tied_moved[within[in_moved]]
        starts = np.array([0] + [lo for lo, _ in fresh_runs])
        ranks = starts[part[~in_moved]] + within[~in_moved]
        chosen[~in_moved] = self._base_item(self._fresh.find(ranks))
        return chosen if self.ties == "random" else np.sort(chosen)[:need]

    def metrics(self) -> dict[str, float]:
        return {
            "ability": float(self.ability),
            "items_updated": float(self.items_updated),
            "warmup_left": float(self._warmup_left),
        }


@register("gain")
class GAINRL(Strategy):
    """A Gaussian sampling window over a fixed item ranking, moved forward once per loop.

    From "Angles Don't Lie: Unlocking Training-Efficient RL Through the Model's Own Signals"
    (GAIN-RL, Wang et al., 2025), following the authors' code (github.com/wangqinsi1/GAINRL,
    commit 20279ca: ``trl_gainrl/gainrl_trainer.py``, ``gaussian_sample_list`` and
    ``update_dataset``). Items are ranked once by a score, descending (theirs: angle
    concentration, ``data_processor.py``; here ``score`` if given, else the pool's difficulty
    ascending, easiest first, as a proxy; NaN ranks last). Training runs in loops: each loop
    draws a subset of ``max(subset, n)`` items without replacement with weights ::

        w(rank) = exp(-((rank - mu) / sigma)^2 / 2)

    and proposes it in rank order (as theirs, which sorts the draw), ``n`` items at a time (a
    last short batch is completed from the start of the subset). Once the whole subset has
    been proposed, the next ``observe`` moves the centre, with acc the mean of every reward
    (their rewards are 2 or 0 and they halve the mean: a pass rate, as 0/1 rewards give here)
    and s the mean signal observed in the loop ::

        mu <- mu + clamp(gain * tanh(2 (acc - 0.5)) + gain * tanh(2 s), 0, max_shift)

    where s is 0 when the trainer reports no ``outcomes.signals``. The defaults are theirs,
    in ranks of a data set of tens of thousands (subset = 256, sigma = 1000, gain = 500,
    max_shift = 1000); scale them down for small pools.

    ``subset=None`` moves the centre after every step (one loop per batch), the cadence of
    their verl sampler (``verl_gainrl/verl/trainer/ppo/gainrl_sampler.py``, subset = batch);
    that one halves 0/1 rewards too, so its accuracy term is ``tanh(acc - 1) <= 0``, which
    is not reproduced.

    Differences from their trl code: they draw each loop's subset at the centre *before* the
    latest move (``update_dataset`` samples at the old mean and returns the new one), so the
    window lags one loop; here it does not. mu starts at ``start`` and is clamped to
    [0, N - 1] (theirs is unbounded). Weighted sampling without replacement uses Gumbel top-k
    (the law of their ``np.random.choice(..., replace=False, p=w)``) over ranks within
    mu +- 6 sigma (wider when the subset needs it; the ranks left out have weight < 2e-8):
    O(sigma + subset) per loop.

    Args:
        score: optional per-item score, higher = earlier in the order.
        sigma: width of the window in ranks (1000).
        gain: weight of each tanh term in ranks (500).
        max_shift: largest move of mu per loop in ranks (1000).
        start: initial mu (0).
        subset: items per loop (256), or None for a loop per batch.

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> cur = Curriculum(ItemPool(size=5000, difficulty=np.arange(5000.0)), "gain")
        >>> for _ in range(4):  # a loop of 256 items in batches of 64
        ...     batch = cur.propose(64)
        ...     cur.observe(Outcomes(batch.indices, rewards=np.ones((64, 8))))
        ...     print(round(cur.strategy.mu, 2), end=" ")  # moves once: 500 tanh(1)
        0.0 0.0 0.0 380.8
    """

    default_safety_net = PROMPT_SELECTION_NET

    feedback = ("rewards",)
    #: ``mu``: the window centre in ranks; the current loop's subset, how much of it was
    #: proposed, and the rewards and signals observed in it.
    learned = ("mu", "_subset", "_cursor", "_sums")
    #: Ranks farther than this many sigmas from mu carry weight < 2e-8 and are skipped.
    _reach = 6.0

    def __init__(
        self,
        *,
        score: Any = None,
        sigma: float = 1000.0,
        gain: float = 500.0,
        max_shift: float = 1000.0,
        start: float = 0.0,
        subset: int | None = 256,
    ) -> None:
        if score is not None:
            try:
                score = np.asarray(score, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise ValueError(f"score must be numeric: {error}") from None
            if score.ndim != 1 or np.isinf(score).any():
                raise ValueError("score must be a 1-D array of finite values (NaN = unknown)")
        self.score = score
        self.sigma = number("sigma", sigma, low=0.0, open_low=True)
        self.gain = number("gain", gain, low=0.0)
        self.max_shift = number("max_shift", max_shift, low=0.0)
        self.start = number("start", start, low=0.0)
        self.subset = None if subset is None else positive_int("subset", subset)

    def _setup(self) -> None:
        if self.score is not None:
            if len(self.score) != self.pool.size:
                raise ValueError(
                    f"score has {len(self.score)} values for a pool of {self.pool.size} items"
                )
            ascending_key = -self.score
        elif self.pool.difficulty is not None:
            ascending_key = self.pool.difficulty
        else:
            raise ValueError(
                "strategy 'gain' needs a per-item score or a prior difficulty: pass score=... "
                "or build the pool with ItemPool(..., difficulty=...)"
            )
        self._order = np.argsort(ascending_key, kind="stable")  # NaN sorts last
        self.mu = min(self.start, float(self.pool.size - 1))
        self._subset = np.zeros(0, dtype=np.int64)
        self._cursor = 0
        self._sums = np.zeros(4)  # rewards, their number, signals, their number (this loop)

    def _draw(self, k: int) -> np.ndarray:
        """``k <= pool`` items drawn without replacement by the Gaussian window."""
        size = self.pool.size
        centre = round(self.mu)
        half = max(math.ceil(self._reach * self.sigma), k)
        low, high = max(0, centre - half), min(size, centre + half + 1)
        ranks = np.arange(low, high)
        log_weight = -0.5 * ((ranks - self.mu) / self.sigma) ** 2
        keys = log_weight + self.rng.gumbel(size=len(ranks))
        top = np.arange(len(ranks))
        if k < len(ranks):
            top = np.argpartition(-keys, k - 1)[:k]
        return self._order[ranks[np.sort(top)]].astype(np.int64)  # in rank order

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        if self._cursor >= len(self._subset):  # a new loop
            self._subset = self._draw(min(max(self.subset or 0, n), self.pool.size))
            self._cursor = 0
        take = self._subset[self._cursor : self._cursor + n]
        self._cursor += len(take)
        if len(take) < n:  # complete the batch from the start of the subset
            take = np.concatenate([take, np.resize(self._subset, n - len(take))])
        return Proposal(take)

    def observe(self, outcomes: Outcomes) -> None:
        if len(outcomes) == 0 or outcomes.rewards is None:
            return
        values = outcomes.rewards[~np.isnan(outcomes.rewards)]
        if values.size == 0:
            return
        self._sums[:2] += (values.sum(), values.size)
        if outcomes.signals is not None:
            self._sums[2:] += (outcomes.signals.sum(), len(outcomes.signals))
        if self._cursor < len(self._subset):
            return  # the loop goes on
        accuracy = self._sums[0] / self._sums[1]
        signal = self._sums[2] / self._sums[3] if self._sums[3] else 0.0
        shift = self.gain * math.tanh(2.0 * (accuracy - 0.5)) + self.gain * math.tanh(2.0 * signal)
        shift = min(max(shift, 0.0), self.max_shift)
        self.mu = min(max(self.mu + shift, 0.0), float(self.pool.size - 1))
        self._sums = np.zeros(4)

    def probabilities(self) -> np.ndarray:
        """Each item's chance to be the first draw of a loop (O(pool): for inspection)."""
        ranks = np.arange(self.pool.size)
        weight = np.exp(-0.5 * ((ranks - self.mu) / self.sigma) ** 2)
        weight[np.abs(ranks - round(self.mu)) > math.ceil(self._reach * self.sigma)] = 0.0
        rho = np.zeros(self.pool.size)
        rho[self._order] = weight / weight.sum()
        return rho

    def metrics(self) -> dict[str, float]:
        return {"mu": float(self.mu), "progress": self.mu / max(self.pool.size - 1, 1)}
