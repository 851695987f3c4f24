"""Pacing curricula: train on an easy part of the pool that grows (or cycles) over time.

Every strategy here orders the pool once by its prior difficulty (``pool.difficulty``, larger
= harder; unknown (NaN) counts as hardest) and decides at each step which part of that order
to draw from:

- :class:`Competence`: the easiest fraction g(t) of the pool, g a pacing function.
- :class:`BabySteps`: equal-count difficulty buckets, unlocked one at a time.
- :class:`Cyclical`: a subset whose size cycles between a small easy part and the whole pool.
- :class:`Mixed`: difficulty stages; each batch mixes the current stage with earlier ones.
- :class:`Reweight`: uniform sampling with per-item loss weights that ramp hard items to 1.

The clock: step t counts the non-empty proposals made so far (``propose(0)`` is not a step),
so schedules advance whether or not the trainer reports feedback; the first batch is drawn
at t = 0. A horizon ``total_steps`` (the T of g(t)) counts the same proposals. Past its
horizon a schedule stays at the whole pool (Reweight: every weight 1); Cyclical keeps
cycling. Inside the allowed part, items are drawn uniformly without replacement: shuffled
passes over the part (keyed permutations, O(batch) per step) that restart when the part
changes; a batch larger than the part repeats items.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stepladder._checks import choice, number, positive_int
from stepladder.strategies._pacing_tools import prefix_count
from stepladder.strategies._registry import register
from stepladder.strategies._toolbox import ShuffledPasses, empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = [
    "PACING_SHAPES",
    "BabySteps",
    "Competence",
    "Cyclical",
    "Mixed",
    "Reweight",
    "difficulty_rank",
    "easy_order",
    "pacing_fraction",
]

PACING_SHAPES = ("linear", "root", "geometric", "exponential", "logarithmic", "step")
_ORDERS = ("easy_first", "hard_first")


# --------------------------------------------------------------------------- shared tools


def easy_order(difficulty: Any, *, hard_first: bool = False) -> np.ndarray:
    """Item indices from easiest to hardest (``hard_first``: hardest first); NaN = hardest.

    The sort is stable: items of equal difficulty keep pool order.

    Example:
        >>> easy_order([2.0, np.nan, 0.5, 2.0]).tolist()
        [2, 0, 3, 1]
        >>> easy_order([2.0, np.nan, 0.5, 2.0], hard_first=True).tolist()
        [1, 0, 3, 2]
    """
    values = np.asarray(difficulty, dtype=np.float64)
    if hard_first:
        key = np.where(np.isnan(values), -np.inf, -values)
        return np.argsort(key, kind="stable").astype(np.int64)
    return np.argsort(values, kind="stable").astype(np.int64)  # NaN sorts last


def difficulty_rank(difficulty: Any) -> np.ndarray:
    """Normalised difficulty rank in [0, 1]: (rank - 1) / (n_known - 1), NaN -> 1 (hardest).

    Ties share their average rank; a single known value gets 0.

    Example:
        >>> difficulty_rank([3.0, 1.0, np.nan, 2.0, 2.0]).tolist()
        [1.0, 0.0, 1.0, 0.5, 0.5]
    """
    from scipy.stats import rankdata

    values = np.asarray(difficulty, dtype=np.float64)
    known = ~np.isnan(values)
    rank = np.ones(values.shape)
    count = int(known.sum())
    if count == 1:
        rank[known] = 0.0
    elif count > 1:
        rank[known] = (rankdata(values[known]) - 1.0) / (count - 1.0)
    return rank


def pacing_fraction(
    shape: str,
    t: float,
    total_steps: float,
    *,
    start: float = 0.1,
    power: float = 2.0,
    stages: int = 1,
) -> float:
    """The pacing function g(t): the fraction of the pool in use at step ``t``.

    With c0 = ``start``, x = min(t / T, 1) and T = ``total_steps``::

        linear       g = c0 + (1 - c0) x
        root         g = (c0^p + (1 - c0^p) x)^(1/p)                 (p = power; Platanios)
        geometric    g = c0^(1 - x) = c0 (1 / c0)^x                  (constant growth factor)
        exponential  g = c0 + (1 - c0) (e^(10 x) - 1) / (e^10 - 1)   (Wu et al. 2021)
        logarithmic  g = c0 + (1 - c0) (1 + 0.1 ln(x + e^-10))       (Wu et al. 2021)
        step         g = c0 + (1 - c0) floor(K x) / K                (K = stages; 1 = single
                                                                      step, Hacohen)

    so g(0) = c0 and g(t) = 1 for t >= T; results are clipped to [c0, 1].

    Example:
        >>> round(pacing_fraction("root", 50, 100, start=0.1), 4)  # sqrt(0.01 + 0.99 / 2)
        0.7106
        >>> pacing_fraction("linear", 0, 100), pacing_fraction("linear", 100, 100)
        (0.1, 1.0)
    """
    choice("pacing", shape, PACING_SHAPES)
    if t >= total_steps:
        return 1.0
    x = max(0.0, t / total_steps)
    c0 = start
    if shape == "linear":
        g = c0 + (1.0 - c0) * x
    elif shape == "root":
        g = (c0**power + (1.0 - c0**power) * x) ** (1.0 / power)
    elif shape == "geometric":
        g = c0 ** (1.0 - x)
    elif shape == "exponential":
        g = c0 + (1.0 - c0) * math.expm1(10.0 * x) / math.expm1(10.0)
    elif shape == "logarithmic":
        g = c0 + (1.0 - c0) * (1.0 + 0.1 * math.log(x + math.exp(-10.0)))
    else:  # step
        g = c0 + (1.0 - c0) * math.floor(stages * x) / stages
    return min(1.0, max(c0, g))


# --------------------------------------------------------------------------- prefix pacing


class _PrefixPacing(Strategy):
    """Draw uniformly from the first ``_prefix(t)`` items of a fixed difficulty order."""

    needs_difficulty = True
    feedback = ()  # the schedule follows the proposal clock, not feedback
    learned = ("_steps", "_passes")
    _hard_first = False

    def _setup(self) -> None:
        self._order = easy_order(self.pool.difficulty, hard_first=self._hard_first)
        self._steps = 0
        self._passes = ShuffledPasses()

    def _prefix(self, t: int) -> int:
        raise NotImplementedError

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        size = self._prefix(self._steps)
        if size != self._passes.size:
            self._passes.restart(size)
        positions = self._passes.draw(n, self.rng)
        self._steps += 1
        return Proposal(self._order[positions])

    def metrics(self) -> dict[str, float]:
        return {
            "step": float(self._steps),
            "fraction": self._prefix(self._steps) / self.pool.size,
        }


@register("competence")
class Competence(_PrefixPacing):
    """Sample uniformly from the easiest fraction g(t) of the pool, g a pacing function.

    From "Competence-based Curriculum Learning for Neural Machine Translation" (Platanios et
    al., 2019), whose competence c(t) is the fraction of the data (items ordered by
    difficulty) a model may train on at step t, and "On the Power of Curriculum Learning in
    Training Deep Networks" (Hacohen & Weinshall, 2019), whose pacing functions grow the data
    size in steps. The batch at step t is drawn from the easiest ceil(g(t) N) items (see
    :func:`pacing_fraction` for the shapes); g(0) = ``start`` and g(t) = 1 for t >= T.

    ``start`` defaults to 0.1: Platanios et al. used c0 = 0.01 on corpora of millions of
    sentences, where 1% is still thousands of examples; "When Do Curricula Work?" (Wu et al.,
    2021) and the reference card use 0.1-0.33 for datasets of 10^4-10^5 items. ``pacing``
    defaults to ``"root"`` (p = 2), Platanios et al.'s best shape. ``order="hard_first"``
    is the anti-curriculum (hardest first; unknown difficulty counts as hardest).

    Args:
        pacing: one of ``linear``, ``root``, ``geometric``, ``exponential``,
            ``logarithmic``, ``step``.
        start: g(0), in (0, 1].
        total_steps: horizon T in proposals; full pool from then on.
        power: p of the root shape (2).
        stages: K of the step shape (1: one jump from ``start`` to 1 at T).
        order: ``"easy_first"`` or ``"hard_first"``.

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=10, difficulty=np.arange(10.0))
        >>> cur = Curriculum(pool, "competence", pacing="linear", start=0.3, total_steps=4)
        >>> sorted(cur.propose(3).indices.tolist())  # g(0) = 0.3: the 3 easiest
        [0, 1, 2]
        >>> cur.metrics()["competence/competence"]  # g(1) = 0.3 + 0.7 / 4
        0.475
    """

    def __init__(
        self,
        *,
        pacing: str = "root",
        start: float = 0.1,
        total_steps: int = 1000,
        power: float = 2.0,
        stages: int = 1,
        order: str = "easy_first",
    ) -> None:
        self.pacing = choice("pacing", pacing, PACING_SHAPES)
        self.start = number("start", start, low=0.0, high=1.0, open_low=True)
        self.total_steps = positive_int("total_steps", total_steps)
        self.power = number("power", power, low=0.0, open_low=True)
        self.stages = positive_int("stages", stages)
        self.order = choice("order", order, _ORDERS)

    def _setup(self) -> None:
        self._hard_first = self.order == "hard_first"
        super()._setup()

    def competence(self, t: int | None = None) -> float:
        """g(t) at step ``t`` (default: the step of the next proposal)."""
        step = self._steps if t is None else t
        return pacing_fraction(
            self.pacing,
            step,
            self.total_steps,
            start=self.start,
            power=self.power,
            stages=self.stages,
        )

    def _prefix(self, t: int) -> int:
        return prefix_count(self.competence(t), self.pool.size)

    def metrics(self) -> dict[str, float]:
        return {**super().metrics(), "competence": self.competence()}


@register("baby_steps")
class BabySteps(_PrefixPacing):
    """Split the difficulty order into buckets and unlock one more every few steps.

    "Baby Steps" from "From Baby Steps to Leapfrog: How 'Less is More' in Unsupervised
    Dependency Parsing" (Spitkovsky et al., 2010) and "Visualizing and Understanding
    Curriculum Learning for Long Short-Term Memory Networks" (Cirik et al., 2016): the items
    sorted by difficulty (NaN last) are cut into ``n_buckets`` buckets of equal count; at step t
    the first u(t) = min(K, 1 + floor(t / steps_per_bucket)) buckets are unlocked and each batch
    is drawn uniformly from all unlocked items (earlier buckets stay in the mix). After
    ``(n_buckets - 1) * steps_per_bucket`` steps the whole pool is in use, for good.

    Args:
        n_buckets: number of buckets K (10).
        steps_per_bucket: proposals before the next bucket unlocks (100).

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=8, difficulty=np.arange(8.0))
        >>> cur = Curriculum(pool, "baby_steps", n_buckets=4, steps_per_bucket=1)
        >>> sorted(cur.propose(2).indices.tolist()), sorted(cur.propose(4).indices.tolist())
        ([0, 1], [0, 1, 2, 3])
    """

    def __init__(self, *, n_buckets: int = 10, steps_per_bucket: int = 100) -> None:
        self.n_buckets = positive_int("n_buckets", n_buckets)
        self.steps_per_bucket = positive_int("steps_per_bucket", steps_per_bucket)

    def unlocked(self, t: int | None = None) -> int:
        """Buckets unlocked at step ``t`` (default: the step of the next proposal)."""
        step = self._steps if t is None else t
        return min(self.n_buckets, 1 + step // self.steps_per_bucket)

    def _prefix(self, t: int) -> int:
        return max(1, self.unlocked(t) * self.pool.size // self.n_buckets)

    def metrics(self) -> dict[str, float]:
        return {**super().metrics(), "buckets": float(self.unlocked())}


# --------------------------------------------------------------------------- cyclical


def cycle_fractions(start: float, end: float, multiplier: float) -> list[float]:
    """One period of cyclical curriculum subset sizes (fractions of the pool).

    Up from ``start`` by dividing by ``multiplier`` (capped at ``end``), then down from
    ``end`` by multiplying (floored at ``start``); the next period begins at ``start``.

    Example:
        >>> cycle_fractions(0.25, 1.0, 0.5)
        [0.25, 0.5, 1.0, 0.5]
        >>> cycle_fractions(0.3, 1.0, 0.5)
        [0.3, 0.6, 1.0, 0.5]
    """
    sizes = [start]
    while sizes[-1] < end:
        sizes.append(min(sizes[-1] / multiplier, end))
    size = sizes[-1]
    while True:
        size = max(size * multiplier, start)
        if size <= start:
            return sizes
        sizes.append(size)


@register("cyclical")
class Cyclical(Strategy):
    """The training subset's size cycles between a small easy part and the whole pool.

    Simplified: each stage takes the exact easiest prefix of the difficulty order, where the
    authors draw the subset at random in proportion to an easiness score.

    From "Cyclical Curriculum Learning" (Kesgin & Amasyali, IEEE TNNLS 2023; code at
    github.com/CyclicalCurriculum). Training runs in stages; stage k uses the easiest
    fraction f_k of the pool, where f grows from ``start`` by a factor 1 / ``multiplier`` up
    to ``end`` and shrinks back by ``multiplier`` (:func:`cycle_fractions`): with the
    authors' defaults 0.25, 0.5, 1, 0.5, 0.25, ... So curriculum stages (small easy subsets)
    alternate with vanilla ones (the whole pool). As in the paper, a stage is one epoch over
    its subset (ceil(f_k N) items, drawn without replacement), so small stages are short;
    ``stage_steps=s`` instead gives every stage s proposals. The authors draw each stage's
    subset at random with probability proportional to an easiness score (1 / loss of a
    vanilla model); here the subset is the exact easiest prefix of the pool's difficulty order.

    MCCL option: ``augmented_group`` names the pool group that holds augmented copies. Then
    real items are in every stage and the cycle applies to the augmented items only: stage k
    trains on all real items plus the easiest fraction f_k of the augmented ones, so
    augmented data enter and leave with the cycle. This follows the reference card's one-line
    description ("cycles how real and augmented examples are introduced"); the original MCCL
    paper could not be checked here, so treat this as our reading of it.

    Args:
        start: smallest subset fraction (0.25); end: largest (1.0).
        multiplier: size factor between stages, in (0, 1) (0.5).
        stage_steps: proposals per stage; None (default) = one pass over the stage's subset.
        augmented_group: label of the augmented items' group (MCCL), or None.

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=8, difficulty=np.arange(8.0))
        >>> cur = Curriculum(pool, "cyclical")  # fractions 0.25, 0.5, 1, 0.5, 0.25, ...
        >>> sorted(cur.propose(2).indices.tolist())  # stage 0: one pass over the 2 easiest
        [0, 1]
        >>> cur.metrics()["cyclical/fraction"], sorted(cur.propose(4).indices.tolist())
        (0.5, [0, 1, 2, 3])
    """

    needs_difficulty = True
    feedback = ()  # the schedule follows the proposal clock, not feedback
    learned = ("_stage", "_in_stage", "_passes")

    def __init__(
        self,
        *,
        start: float = 0.25,
        end: float = 1.0,
        multiplier: float = 0.5,
        stage_steps: int | None = None,
        augmented_group: Any = None,
    ) -> None:
        self.start = number("start", start, low=0.0, high=1.0, open_low=True)
        self.end = number("end", end, low=self.start, high=1.0)
        self.multiplier = number(
            "multiplier", multiplier, low=0.0, high=1.0, open_low=True, open_high=True
        )
        self.stage_steps = None if stage_steps is None else positive_int("stage_steps", stage_steps)
        self.augmented_group = augmented_group

    def _setup(self) -> None:
        self._fractions = cycle_fractions(self.start, self.end, self.multiplier)
        order = easy_order(self.pool.difficulty)
        self._real = 0  # items present in every stage (MCCL: the real ones)
        if self.augmented_group is not None:
            if self.augmented_group not in self.pool.group_names:
                raise ValueError(
                    f"augmented_group {self.augmented_group!r} is not a group of the pool "
                    f"(groups: {self.pool.group_names})"
                )
            code = self.pool.group_names.index(self.augmented_group)
            augmented = self.pool.groups[order] == code
            order = np.concatenate([order[~augmented], order[augmented]])
            self._real = int((~augmented).sum())
        self._order = order
        self._stage = 0
        self._in_stage = 0  # proposals in the current stage (stage_steps mode)
        self._passes = ShuffledPasses(self._stage_size(0))

    def fraction(self, stage: int | None = None) -> float:
        """Subset fraction f_k of stage ``stage`` (default: the current stage)."""
        k = self._stage if stage is None else stage
        return self._fractions[k % len(self._fractions)]

    def _stage_size(self, stage: int) -> int:
        augmented = self.pool.size - self._real
        if augmented == 0:
            return prefix_count(self.fraction(stage), self.pool.size)
        return self._real + prefix_count(self.fraction(stage), augmented)

    def _next_stage(self) -> None:
        self._stage += 1
        self._in_stage = 0
        self._passes.restart(self._stage_size(self._stage))

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        if self.stage_steps is not None:
            positions = self._passes.draw(n, self.rng)
            self._in_stage += 1
            if self._in_stage >= self.stage_steps:
                self._next_stage()
            return Proposal(self._order[positions])
        parts, found = [], 0
        while found < n:
            part = self._passes.take(n - found, self.rng)
            parts.append(part)
            found += len(part)
            if self._passes.remaining == 0:  # one pass over the stage's subset = one stage
                self._next_stage()
        return Proposal(self._order[np.concatenate(parts)])

    def metrics(self) -> dict[str, float]:
        return {
            "stage": float(self._stage),
            "cycle": float(self._stage // len(self._fractions)),
            "fraction": self._stage_size(self._stage) / self.pool.size,
        }


# --------------------------------------------------------------------------- mixed


@register("mixed")
class Mixed(Strategy):
    """Difficulty stages in turn, each batch mixing in items from the earlier stages.

    The "mixed curriculum" of "How does Multi-Task Training Affect Transformer In-Context
    Capabilities? Investigations with Function Classes" (Bhasin et al., NAACL 2024), which
    trained on progressively harder tasks while mixing in the earlier ones and found it more
    stable than stages in sequence. Here the stages are ``n_stages`` equal-count slices of
    the pool's difficulty order (NaN last); stage k runs for ``steps_per_stage`` proposals.
    In stage k > 0 each batch of n items draws ``replay * n`` items (stochastically rounded)
    uniformly from stages 0 .. k-1 and the rest from stage k. After the last stage
    (T = n_stages * steps_per_stage) batches are uniform over the whole pool.

    ``replay=0`` is the sequential curriculum (Cirik et al.'s "one-pass"); equal shares per
    unlocked stage (replay = k / (k + 1) in stage k) is :class:`BabySteps`.

    Args:
        n_stages: number of stages (4).
        steps_per_stage: proposals per stage (250).
        replay: fraction of each batch from earlier stages, in [0, 1] (0.5).

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=8, difficulty=np.arange(8.0))
        >>> cur = Curriculum(pool, "mixed", n_stages=4, steps_per_stage=1, replay=0.5)
        >>> sorted(cur.propose(2).indices.tolist())  # stage 0: items 0 and 1
        [0, 1]
        >>> batch = cur.propose(4).indices.tolist()  # stage 1: two of {2, 3}, two of {0, 1}
        >>> sorted(batch[:2]), sorted(batch[2:])
        ([2, 3], [0, 1])
    """

    needs_difficulty = True
    feedback = ()  # the schedule follows the proposal clock, not feedback
    learned = ("_steps", "_stage_of_passes", "_current", "_earlier")

    def __init__(
        self, *, n_stages: int = 4, steps_per_stage: int = 250, replay: float = 0.5
    ) -> None:
        self.n_stages = positive_int("n_stages", n_stages)
        self.steps_per_stage = positive_int("steps_per_stage", steps_per_stage)
        self.replay = number("replay", replay, low=0.0, high=1.0)

    def _setup(self) -> None:
        self._order = easy_order(self.pool.difficulty)
        self._steps = 0
        self._stage_of_passes = -1  # stage the two pass trackers were started for
        self._current = ShuffledPasses()
        self._earlier = ShuffledPasses()

    def stage(self, t: int | None = None) -> int:
        """Stage at step ``t`` (default: the next proposal's); ``n_stages`` = whole pool."""
        step = self._steps if t is None else t
        return min(self.n_stages, step // self.steps_per_stage)

    def _bounds(self, stage: int) -> tuple[int, int]:
        """Order positions [lo, hi) of a stage (the whole pool after the last stage)."""
        size = self.pool.size
        if stage >= self.n_stages:
            return 0, size
        lo = min(stage * size // self.n_stages, size - 1)
        hi = min(size, max(lo + 1, (stage + 1) * size // self.n_stages))
        return lo, hi

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        stage = self.stage()
        lo, hi = self._bounds(stage)
        if stage != self._stage_of_passes:
            self._current.restart(hi - lo)
            self._earlier.restart(max(lo, 1))
            self._stage_of_passes = stage
        replayed = 0
        if 0 < stage < self.n_stages and lo > 0 and self.replay > 0:
            exact = self.replay * n
            replayed = math.floor(exact)
            if exact > replayed:  # stochastic rounding keeps the expected share exact
                replayed += int(self.rng.random() < exact - replayed)
        current = lo + self._current.draw(n - replayed, self.rng)
        earlier = self._earlier.draw(replayed, self.rng)
        self._steps += 1
        return Proposal(self._order[np.concatenate([current, earlier])])

    def metrics(self) -> dict[str, float]:
        return {"step": float(self._steps), "stage": float(self.stage())}


# --------------------------------------------------------------------------- reweight


@register("reweight")
class Reweight(Strategy):
    """Uniform sampling with loss weights that start low for hard items and ramp to 1.

    From "Training Curricula for Open Domain Answer Re-Ranking" (MacAvaney et al., SIGIR
    2020): every item is trained, but early on the loss of hard items is down-weighted; the
    weights move linearly to 1 for all items over a fixed horizon. (The pacing-function study
    "Curriculum Learning Strategies for IR" by Penha & Hauff, 2020, samples rather than
    weights, so it is not this method.) With q_i the normalised difficulty rank
    (:func:`difficulty_rank`: 0 easiest, 1 hardest or unknown)::

        D_i      = floor + (1 - floor) (1 - q_i)          # ease score, in [floor, 1]
        w_i(t)   = D_i + (t / T) (1 - D_i)   for t < T    # = 1 - (1 - t/T)(1 - D_i)
        w_i(t)   = 1                          for t >= T

    Items are sampled like ``uniform`` (shuffled passes over the pool); proposals carry
    ``weights``, to be multiplied into each item's loss (they are not normalised).

    Args:
        floor: weight of the hardest item at t = 0, in [0, 1] (0.1).
        total_steps: horizon T in proposals (1000).

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=3, difficulty=[0.0, 1.0, 2.0])
        >>> cur = Curriculum(pool, "reweight", floor=0.0, total_steps=2)
        >>> p = cur.propose(3)
        >>> dict(zip(p.indices.tolist(), p.weights.tolist()))[2]  # hardest, t = 0
        0.0
        >>> p = cur.propose(3)
        >>> sorted(p.weights.tolist())  # t = T/2: D = 1, 0.5, 0
        [0.5, 0.75, 1.0]
    """

    needs_difficulty = True
    feedback = ()  # the schedule follows the proposal clock, not feedback
    learned = ("_steps", "_passes")

    def __init__(self, *, floor: float = 0.1, total_steps: int = 1000) -> None:
        self.floor = number("floor", floor, low=0.0, high=1.0)
        self.total_steps = positive_int("total_steps", total_steps)

    def _setup(self) -> None:
        self._ease = self.floor + (1.0 - self.floor) * (1.0 - difficulty_rank(self.pool.difficulty))
        self._least_ease = float(self._ease.min()) if self.pool.size else 1.0  # static
        self._steps = 0
        self._passes = ShuffledPasses(self.pool.size)

    def progress(self) -> float:
        """t / T for the next proposal, capped at 1."""
        return min(1.0, self._steps / self.total_steps)

    def weights(self, indices: Any) -> np.ndarray:
        """Loss weights w_i(t) of ``indices`` at the next proposal's step."""
        ease = self._ease[np.asarray(indices, dtype=np.int64)]
        return 1.0 - (1.0 - self.progress()) * (1.0 - ease)

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return Proposal(np.zeros(0, dtype=np.int64), weights=np.zeros(0))
        indices = self._passes.draw(n, self.rng)
        weights = self.weights(indices)
        self._steps += 1
        return Proposal(indices, weights=weights)

    def metrics(self) -> dict[str, float]:
        return {
            "step": float(self._steps),
            "progress": self.progress(),
            "min_weight": 1.0 - (1.0 - self.progress()) * (1.0 - self._least_ease),
        }
