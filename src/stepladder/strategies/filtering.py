"""Online prompt filtering for RL post-training: train only on groups that carry signal.

GRPO-style trainers normalise each prompt's rewards within its group of G rollouts, so a group
whose rewards are all equal has zero advantage and adds nothing to the gradient. The strategies
here propose prompts uniformly at random (each holds a ``uniform`` strategy,
:class:`~stepladder.strategies.baselines.Uniform`) and decide, through ``keep(outcomes)``, which
generated groups to train on. Refilling the batch is :func:`stepladder.batching.fill_batch`'s
job: it generates again for the shortfall, and its ``max_rounds`` caps the generation rounds.

Conventions shared by every filter here:

- A group needs at least two rollouts to be kept: one rollout (or a scalar reward per item,
  shape ``(n,)``) has no group-relative signal, its GRPO advantage is zero.
- Items observed without rewards are never kept.
- ``metrics()`` reports ``kept_fraction`` (share of groups kept in the last non-empty observed
  batch) and ``kept_fraction_mean`` (share over every group observed so far).
- A step costs O(batch) whatever the pool size: proposals come from the keyed permutation of
  ``uniform``, the keep rules look only at the batch, and VCRL's bank is bounded by
  ``bank_size``. Checkpoints hold a few numbers (and VCRL's bank), never pool-sized arrays.
"""

from __future__ import annotations

import abc
import heapq
import math
from typing import Any, ClassVar

import numpy as np

from stepladder._checks import index_array, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy
from stepladder.strategies.baselines import Uniform

__all__ = ["BalancedFilter", "DynamicSampling", "RangeFilter", "VCRL", "vcrl_score"]

#: Slack for inclusive comparisons of floating-point pass rates and scores.
_TOLERANCE = 1e-12


def vcrl_score(outcomes: Outcomes) -> np.ndarray:
    """VCRL's normalised reward variance per group, in [0, 1]; 0 for groups of under 2 rollouts.

    With k of G binary rewards equal to 1 the unbiased sample variance is
    ``s2 = k(G-k) / (G(G-1))``. It peaks at k = G/2, where ``s2_max = G / (4(G-1))`` for even G,
    and at k = (G +- 1)/2, where ``s2_max = (G+1) / (4G)`` for odd G; the score is
    ``s2 / s2_max``. Non-binary rewards in [0, 1] use the sample variance of the rewards,
    ``sum (r - mean)^2 / (G-1)``, which equals ``k(G-k)/(G(G-1))`` for 0/1 rewards and whose
    maximum over [0, 1]^G is the same ``s2_max``, so the score stays in [0, 1]. Ragged groups
    use their own G.

    Example:
        >>> groups = [[1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1], [1]]
        >>> vcrl_score(Outcomes.from_groups([0, 1, 2, 3], groups)).round(4).tolist()
        [0.75, 1.0, 0.0, 0.0]
    """
    n = len(outcomes)
    if outcomes.rewards is None or n == 0:
        return np.zeros(n)
    rewards = outcomes.rewards if outcomes.rewards.ndim == 2 else outcomes.rewards[:, None]
    present = ~np.isnan(rewards)
    g = outcomes.rollouts.astype(np.float64)  # G per group
    mean = np.where(present, rewards, 0.0).sum(axis=1) / np.maximum(g, 1.0)
    squares = np.where(present, (rewards - mean[:, None]) ** 2, 0.0).sum(axis=1)
    s2 = squares / np.maximum(g - 1.0, 1.0)  # binary rewards: k(G-k) / (G(G-1))
    safe_g = np.maximum(g, 2.0)
    s2_max = np.where(safe_g % 2 == 0, safe_g / (4 * (safe_g - 1)), (safe_g + 1) / (4 * safe_g))
    score = np.where(g >= 2, s2 / s2_max, 0.0)
    return np.clip(score, 0.0, 1.0)


class _GroupFilter(Strategy):
    """Uniform proposals plus a per-group keep rule (subclasses define :meth:`_passes`)."""

    filters = True
    feedback: ClassVar[tuple[str, ...]] = ("rewards",)
    learned: ClassVar[tuple[str, ...]] = ("_sampler", "_groups", "_kept", "_last_kept_fraction")

    def _setup(self) -> None:
        self._sampler = Uniform()
        self._sampler.bind(self.pool, self.stats, self.rng)
        self._groups = 0  # groups observed
        self._kept = 0  # of which passed the filter
        self._last_kept_fraction = 0.0

    @abc.abstractmethod
    def _passes(self, outcomes: Outcomes) -> np.ndarray:
        """The filter's own rule, per group (called only for non-empty batches with rewards)."""

    def propose(self, n: int) -> Proposal:
        return self._sampler.propose(n)

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        if outcomes.rewards is None or len(outcomes) == 0:
            return np.zeros(len(outcomes), dtype=bool)
        return np.asarray(self._passes(outcomes), dtype=bool) & (outcomes.rollouts >= 2)

    def observe(self, outcomes: Outcomes) -> None:
        self._count(self.keep(outcomes))

    def _count(self, mask: np.ndarray) -> None:
        if len(mask) == 0:
            return
        kept = int(np.count_nonzero(mask))
        self._groups += len(mask)
        self._kept += kept
        self._last_kept_fraction = kept / len(mask)

    def metrics(self) -> dict[str, float]:
        return {
            **self._sampler.metrics(),
            "kept_fraction": float(self._last_kept_fraction),
            "kept_fraction_mean": self._kept / self._groups if self._groups else 0.0,
        }


@register("dynamic_sampling")
class DynamicSampling(_GroupFilter):
    """DAPO's dynamic sampling: keep a group only if its rewards are not all equal (std > 0).

    From "DAPO: An Open-Source LLM Reinforcement Learning System at Scale" (Yu et al., 2025).
    Prompts are proposed uniformly; a group is kept when ``max(r) > min(r)`` over its rollouts,
    i.e. ``std(r) > 0``, so its GRPO advantages are not all zero. Groups of one rollout and
    scalar rewards are never kept (no group-relative signal). DAPO keeps generating until the
    batch holds B kept prompts or a cap on rounds is hit: run the loop with
    :func:`stepladder.batching.fill_batch` and set the cap there (``max_rounds``).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(10, "dynamic_sampling", seed=0)
        >>> out = Outcomes([0, 1, 2], rewards=[[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]])
        >>> cur.observe(out)
        >>> cur.keep(out).tolist(), round(cur.metrics()["dynamic_sampling/kept_fraction"], 3)
        ([True, False, False], 0.333)
    """

    def __init__(self) -> None:
        """No parameters: the rule is fixed."""

    def _passes(self, outcomes: Outcomes) -> np.ndarray:
        return outcomes.mixed  # max(r) > min(r)  <=>  std(r) > 0


@register("range_filter")
class RangeFilter(_GroupFilter):
    """OpenRLHF's dynamic filtering: keep groups whose mean reward lies strictly in (low, high).

    The variant of DAPO's dynamic sampling in "OpenRLHF: An Easy-to-use, Scalable and
    High-performance RLHF Framework" (Hu et al., 2024; ``--dynamic_filtering_reward_range``):
    a group is kept when ``low < mean(r) < high``. With the defaults (0, 1) and 0/1 rewards this
    drops exactly the all-wrong and all-right groups, like ``dynamic_sampling``; with graded
    rewards a constant group such as ``[0.5, 0.5]`` is kept here but not there. Unlike OpenRLHF,
    groups of a single rollout are never kept (no group-relative signal).

    Args:
        low: exclusive lower bound on the group's mean reward, in [0, 1].
        high: exclusive upper bound, in [0, 1], above ``low``.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(10, "range_filter", low=0.2, high=0.8)
        >>> out = Outcomes([0, 1, 2], rewards=[[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]])
        >>> cur.keep(out).tolist()  # means 0.2, 0.4, 0.8: both ends are excluded
        [False, True, False]
    """

    def __init__(self, *, low: float = 0.0, high: float = 1.0) -> None:
        self.low = number("low", low, low=0.0, high=1.0)
        self.high = number("high", high, low=0.0, high=1.0)
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")

    def _passes(self, outcomes: Outcomes) -> np.ndarray:
        mean = outcomes.pass_rate
        return (self.low < mean) & (mean < self.high)  # NaN (no rewards) compares False


@register("balanced_filter")
class BalancedFilter(_GroupFilter):
    """Balanced online difficulty filtering: keep groups whose pass rate lies in [low, high].

    From "Online Difficulty Filtering for Reasoning Oriented Reinforcement Learning" (Bae et
    al., 2025). The pass rate is measured on the fly, ``p = mean(r)`` over the group's
    rollouts, and a group is kept when ``low <= p <= high`` (both bounds inclusive).

    The paper lower-bounds the expected policy improvement by the variance ``p(1 - p)`` of the
    sampled accuracy, which peaks at p = 0.5, so the band is centred there. The defaults
    [0.25, 0.75] keep exactly the groups with ``p(1 - p) >= 3/16``, at least three quarters of
    the maximum 1/4. Inclusive bounds matter for small groups: with G = 4 they keep 1, 2 or 3
    successes (exclusive bounds would keep only 2); with G = 8 they keep 2 to 6 and drop the
    lone-success or lone-failure groups whose signal is mostly noise. ``low = 0, high = 1`` keeps
    everything with 2+ rollouts.

    Args:
        low: inclusive lower bound on the pass rate, in [0, 1].
        high: inclusive upper bound, in [low, 1].

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(10, "balanced_filter")
        >>> rewards = [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
        >>> out = Outcomes([0, 1, 2, 3], rewards=rewards)
        >>> cur.keep(out).tolist()  # pass rates 0.25, 0.5, 0.75, 1.0
        [True, True, True, False]
    """

    def __init__(self, *, low: float = 0.25, high: float = 0.75) -> None:
        self.low = number("low", low, low=0.0, high=1.0)
        self.high = number("high", high, low=0.0, high=1.0)
        if not self.low <= self.high:
            raise ValueError(f"low must not exceed high, got low={self.low}, high={self.high}")

    def _passes(self, outcomes: Outcomes) -> np.ndarray:
        p = outcomes.pass_rate
        return (p >= self.low - _TOLERANCE) & (p <= self.high + _TOLERANCE)


@register("vcrl")
class VCRL(_GroupFilter):
    """Variance-based filtering with a replay bank of high-variance prompts.

    From "VCRL: Variance-based Curriculum Reinforcement Learning for Large Language Models"
    (Jiang et al., 2025). Each group gets the normalised variance score of :func:`vcrl_score`,
    ``s2 / s2_max`` with ``s2 = k(G-k)/(G(G-1))`` for k of G rollouts correct; groups scoring
    ``>= threshold`` are kept and enter a memory bank, from which a share ``replay_fraction`` of
    every proposal is drawn (the rest is uniform).

    Choices the paper leaves open:

    - ``threshold = 0.5`` keeps groups with at least half the maximum variance. For even G
      the score is exactly ``4p(1-p)`` with ``p = k/G``, so this keeps ``p(1-p) >= 1/8``,
      p in about [0.15, 0.85]: with G = 8, 2 to 6 successes (1 of 8 scores 0.4375, the
      same band as ``balanced_filter``'s default); with G = 4, every mixed group. Lower
      values keep more rare-success groups (at G = 8, any threshold <= 0.4375 keeps every
      mixed group, like ``dynamic_sampling``).
    - The bank holds at most ``bank_size`` prompts, prioritised by score: an item's entry is
      refreshed whenever it is observed again (and dropped if it now scores below the
      threshold), a full bank evicts its lowest score (the oldest among equals) when a prompt
      scores at least as high, and replay takes the highest scores first (the newest among
      equals). A replayed prompt leaves the bank and returns only if its new group qualifies
      again, so stale entries are not replayed twice without fresh evidence. A prompt is not
      replayed by the ``cooldown`` proposals that follow its observation: with
      :func:`~stepladder.batching.fill_batch`, whose later rounds refill the same training
      batch, ``cooldown >= max_rounds - 1`` keeps a prompt from entering one batch twice
      (before this rule the refill rounds replayed the prompts banked a round earlier, the
      newest entries with the top score: 17% of kept groups were such duplicates in a
      simulated 300-step run; on seed 0 of the real GRPO benchmark the rule raised the final
      held-out accuracy from 0.858 to 0.903). The default ``bank_size = 256`` holds a few
      batches' worth of kept prompts; simulated results barely changed between 64 and 1024.
      While the policy learns, fewer groups qualify than replay asks for, so the bank stays
      small (10-26 prompts in that run) and holds mostly the latest qualifying prompts.
    - The replay count of a proposal of n items is ``replay_fraction * n``, rounded up or
      down at random to keep its expectation exact, at most the bank's size. Bank prompts
      already in the uniform part are skipped, so no item appears twice unless the pool is
      too small to avoid it (bank prompts are never repeated within a proposal, nor, given
      the cooldown, within one ``fill_batch``). ``replay_fraction = 0.5`` splits each
      proposal evenly between exploring fresh prompts and revisiting known informative ones;
      in the built-in RL simulator scenarios it reached the target in fewer steps and
      rollouts than 0.25.

    Cost: banking a group costs O(log bank_size) (a min-heap finds the entry to evict), a
    proposal sorts the bank once, and nothing depends on the pool size.

    Args:
        threshold: minimum score for a group to be kept and banked, in (0, 1].
        bank_size: most prompts the memory bank holds (0 disables replay).
        replay_fraction: share of each proposal drawn from the bank, in [0, 1].
        cooldown: proposals after a prompt's observation that may not replay it (default 2,
            for ``fill_batch``'s default ``max_rounds = 3``).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(100, "vcrl", seed=0)
        >>> out = Outcomes([7, 8], rewards=[[1, 0, 1, 0], [1, 1, 1, 1]])
        >>> cur.keep(out).tolist()
        [True, False]
        >>> cur.observe(out)
        >>> [7 in cur.propose(2).indices.tolist() for _ in range(3)]  # replayed after 2 proposals
        [False, False, True]
    """

    learned: ClassVar[tuple[str, ...]] = (
        *_GroupFilter.learned,
        "_tick",
        "_last_replay_fraction",
        "_proposals",
    )

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        bank_size: int = 256,
        replay_fraction: float = 0.5,
        cooldown: int = 2,
    ) -> None:
        self.threshold = number("threshold", threshold, low=0.0, high=1.0, open_low=True)
        self.bank_size = positive_int("bank_size", bank_size, allow_zero=True)
        self.replay_fraction = number("replay_fraction", replay_fraction, low=0.0, high=1.0)
        self.cooldown = positive_int("cooldown", cooldown, allow_zero=True)

    def _setup(self) -> None:
        super()._setup()
        self._bank: dict[int, tuple[float, int]] = {}  # item -> (score, insertion tick)
        # Min-heap of (score, tick, item) over the bank: the next eviction in O(log bank_size).
        # Entries of items since replayed, dropped or refreshed are stale and skipped lazily.
        self._heap: list[tuple[float, int, int]] = []
        self._tick = 0
        self._last_replay_fraction = 0.0
        self._proposals = 0  # proposals made so far
        self._seen: dict[int, int] = {}  # bank item -> proposals made when it was last observed

    def _passes(self, outcomes: Outcomes) -> np.ndarray:
        return vcrl_score(outcomes) >= self.threshold - _TOLERANCE

    def observe(self, outcomes: Outcomes) -> None:
        if len(outcomes) == 0:
            return
        scores = vcrl_score(outcomes)
        passed = scores >= self.threshold - _TOLERANCE
        self._count(passed)
        if self.bank_size == 0:
            return
        for item, score, good in zip(
            outcomes.indices.tolist(), scores.tolist(), passed.tolist(), strict=True
        ):
            if good:
                self._remember(item, score)
            else:
                self._bank.pop(item, None)
            if item in self._bank:
                self._seen[item] = self._proposals
            else:
                self._seen.pop(item, None)

    def _remember(self, item: int, score: float) -> None:
        """Bank ``item``: refresh its entry, fill a free place, or evict the lowest entry
        (lowest score, then oldest) if ``score`` is at least as high."""
        self._tick += 1
        if item not in self._bank and len(self._bank) >= self.bank_size:
            lowest_score, _, victim = self._lowest()
            if score < lowest_score:
                return
            heapq.heappop(self._heap)
            del self._bank[victim]
            self._seen.pop(victim, None)
        self._bank[item] = (score, self._tick)
        heapq.heappush(self._heap, (score, self._tick, item))
        if len(self._heap) > 2 * self.bank_size + 64:  # too many stale entries: compact
            self._heap = self._heap_of(self._bank)

    def _lowest(self) -> tuple[float, int, int]:
        """The bank's lowest entry (the heap's top once stale entries are dropped)."""
        while self._bank.get(self._heap[0][2]) != self._heap[0][:2]:
            heapq.heappop(self._heap)
        return self._heap[0]

    @staticmethod
    def _heap_of(bank: dict[int, tuple[float, int]]) -> list[tuple[float, int, int]]:
        heap = [(score, tick, item) for item, (score, tick) in bank.items()]
        heapq.heapify(heap)
        return heap

    def _replay_count(self, n: int) -> int:
        if not self._bank or n == 0 or self.replay_fraction == 0.0:
            return 0
        expected = self.replay_fraction * n
        count = math.floor(expected)
        if expected > count and self.rng.random() < expected - count:
            count += 1
        return min(count, len(self._bank))

    def propose(self, n: int) -> Proposal:
        now = self._proposals
        self._proposals += 1
        replay = self._replay_count(n)
        self._last_replay_fraction = replay / n if n else 0.0
        if replay == 0:
            return self._sampler.propose(n)
        fresh = self._sampler.propose(n - replay).indices
        taken = set(fresh.tolist())
        ranked = sorted(self._bank, key=self._bank.__getitem__, reverse=True)
        ready = (item for item in ranked if now - self._seen[item] >= self.cooldown)
        chosen = [item for item in ready if item not in taken][:replay]
        for item in chosen:
            del self._bank[item]
            del self._seen[item]
        parts = [np.asarray(chosen, dtype=np.int64), fresh]
        if len(chosen) < replay:  # too few ready bank items not drawn already: top up uniformly
            parts.append(self._sampler.propose(replay - len(chosen)).indices)
        self._last_replay_fraction = len(chosen) / n
        return Proposal(np.concatenate(parts))

    def state_dict(self) -> dict[str, Any]:
        """The learned counters plus the bank as three arrays (at most ``bank_size`` long)."""
        entries = list(self._bank.items())
        return {
            **super().state_dict(),
            "bank_items": np.array([item for item, _ in entries], dtype=np.int64),
            "bank_scores": np.array([score for _, (score, _) in entries], dtype=np.float64),
            "bank_ticks": np.array([tick for _, (_, tick) in entries], dtype=np.int64),
            "bank_seen": np.array([self._seen[item] for item, _ in entries], dtype=np.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        items = index_array("vcrl bank_items", state["bank_items"], self.pool.size)
        scores = np.asarray(state["bank_scores"], dtype=np.float64).reshape(-1)
        ticks = np.asarray(state["bank_ticks"], dtype=np.int64).reshape(-1)
        seen = np.asarray(state["bank_seen"], dtype=np.int64).reshape(-1)
        if not len(items) == len(scores) == len(ticks) == len(seen) <= self.bank_size:
            raise ValueError(
                f"vcrl bank state holds {len(items)} items, {len(scores)} scores, "
                f"{len(ticks)} ticks and {len(seen)} observation times; expected equal "
                f"lengths of at most {self.bank_size}"
            )
        if len(np.unique(items)) != len(items) or not np.isfinite(scores).all():
            raise ValueError("vcrl bank state repeats an item or holds a non-finite score")
        super().load_state_dict(state)
        entries = zip(scores.tolist(), ticks.tolist(), strict=True)
        self._bank = dict(zip(items.tolist(), entries, strict=True))
        self._seen = dict(zip(items.tolist(), seen.tolist(), strict=True))
        self._heap = self._heap_of(self._bank)

    def metrics(self) -> dict[str, float]:
        scores = [score for score, _ in self._bank.values()]
        return {
            **super().metrics(),
            "bank_size": float(len(self._bank)),
            "bank_mean_score": float(np.mean(scores)) if scores else 0.0,
            "replay_fraction": float(self._last_replay_fraction),
        }
