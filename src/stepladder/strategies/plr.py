"""Prioritized Level Replay (Jiang, Grefenstette and Rocktäschel, ICML 2021)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stepladder._checks import choice, number
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import segments
from stepladder.strategies._toolbox import SumTree, empty_proposal
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["PrioritizedLevelReplay", "plr_distribution"]

#: Unseen levels are listed explicitly once at most this many are left (else drawn by rejection).
_FEW_UNSEEN = 4096
#: Softmax weights are exp((S - shift) / beta); the shift follows the largest score when it
#: moves this many betas away, so weights neither overflow nor vanish.
_SHIFT_LIMIT = 300.0


def plr_distribution(
    scores: np.ndarray,
    staleness: np.ndarray,
    *,
    rho: float = 0.1,
    beta: float = 0.1,
    transform: str = "rank",
) -> np.ndarray:
    """PLR's replay distribution over seen levels: ``(1 - rho) P_S + rho P_C``.

    ``P_S = h(S) / sum h(S)`` with ``h`` = ``rank``: ``1 / rank(S_i)^(1/beta)`` (rank 1 =
    highest score, ties by position), ``power``: ``S_i^(1/beta)``, or ``softmax``:
    ``exp(S_i / beta)``; ``P_C = c_i / sum c`` with ``c_i`` the staleness (episodes since
    level ``i`` was last played), as in the paper (uniform when every ``c_i = 0``).

    Example:
        >>> p = plr_distribution(np.array([0.5, 0.2, 0.9]), np.array([2.0, 0.0, 1.0]),
        ...                      rho=0.5, beta=1.0)
        >>> np.round(p * 66, 6).tolist()  # P_S = (3, 2, 6)/11, P_C = (2, 0, 1)/3
        [31.0, 6.0, 29.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if transform == "rank":
        order = np.argsort(-scores, kind="stable")
        ranks = np.empty(len(scores))
        ranks[order] = np.arange(1, len(scores) + 1)
        h = 1.0 / ranks ** (1.0 / beta)
    elif transform == "power":
        h = np.maximum(scores, 0.0) ** (1.0 / beta)
    elif transform == "softmax":
        z = scores / beta
        h = np.exp(z - z.max())
    else:
        raise ValueError(f"transform must be 'rank', 'power' or 'softmax', got {transform!r}")
    n = len(scores)
    p_score = h / h.sum() if h.sum() > 0 else np.full(n, 1.0 / n)
    stale = np.asarray(staleness, dtype=np.float64)
    p_stale = stale / stale.sum() if stale.sum() > 0 else np.full(n, 1.0 / n)
    return (1 - rho) * p_score + rho * p_stale


class _Fenwick:
    """Integer prefix sums over slots with vectorised point updates."""

    def __init__(self, leaves: np.ndarray) -> None:
        self.size = len(leaves)
        prefix = np.concatenate(([0], np.cumsum(leaves, dtype=np.int64)))
        nodes = np.arange(1, self.size + 1)
        self.tree = np.concatenate(([0], prefix[nodes] - prefix[nodes - (nodes & -nodes)]))
        self.total = int(prefix[-1])

    def add(self, slots: np.ndarray, delta: np.ndarray) -> None:
        """Add ``delta[k]`` at ``slots[k]`` (distinct slots)."""
        self.total += int(delta.sum())
        nodes = slots + 1
        while nodes.size:
            np.add.at(self.tree, nodes, delta)
            nodes = nodes + (nodes & -nodes)
            inside = nodes <= self.size
            nodes, delta = nodes[inside], delta[inside]


class _Staleness:
    """Seen levels in order of last play; draws levels with probability ∝ staleness.

    The staleness of a level is ``E - L`` (episodes ``E`` so far, ``L`` its last play). Slots
    hold the seen levels in order of last play, and two Fenwick trees over the slots count
    the levels and sum their ``L``: the weight of any prefix of slots is ``E * count - sum``,
    so a draw descends both trees in O(log slots), in exact integers, whatever ``E`` is. A
    replayed level leaves its slot for the next free one; slots are compacted when they run
    out (O(seen) every O(seen) plays).
    """

    def __init__(self, pool_size: int, levels: np.ndarray, plays: np.ndarray) -> None:
        self.slot_of = np.full(pool_size, -1, dtype=np.int64)
        self._place(levels, plays, extra=0)

    def _place(self, levels: np.ndarray, plays: np.ndarray, extra: int) -> None:
        """Lay out ``levels`` (in order of last play ``plays``) in fresh slots."""
        held = len(levels)
        capacity = max(2 * (held + extra), 1024)
        self.level = np.full(capacity, -1, dtype=np.int64)
        self.played = np.zeros(capacity, dtype=np.int64)
        self.level[:held], self.played[:held] = levels, plays
        self.next = held
        self.slot_of[levels] = np.arange(held)
        self.count = _Fenwick((self.level >= 0).astype(np.int64))
        self.sum = _Fenwick(self.played)

    def play(self, levels: np.ndarray, plays: np.ndarray) -> None:
        """Record the new last play of distinct ``levels`` (``plays`` increasing)."""
        old = self.slot_of[levels]
        old = old[old >= 0]
        self.count.add(old, np.full(len(old), -1, dtype=np.int64))
        self.sum.add(old, -self.played[old])
        self.level[old], self.played[old] = -1, 0
        if self.next + len(levels) > len(self.level):
            keep = np.flatnonzero(self.level >= 0)
            self._place(self.level[keep], self.played[keep], extra=len(levels))
        slots = self.next + np.arange(len(levels))
        self.level[slots], self.played[slots] = levels, plays
        self.slot_of[levels] = slots
        self.next += len(levels)
        self.count.add(slots, np.ones(len(levels), dtype=np.int64))
        self.sum.add(slots, plays.astype(np.int64))

    def sample(self, n: int, episodes: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` levels with probability ∝ ``episodes - last play`` (the latest when all 0)."""
        total = episodes * self.count.total - self.sum.total
        if total <= 0:  # one seen level: last plays are distinct, so only it has staleness 0
            return np.full(n, self.level[self.next - 1], dtype=np.int64)
        remaining = rng.integers(0, total, size=n)
        position = np.zeros(n, dtype=np.int64)
        step = 1 << (len(self.level).bit_length() - 1)
        while step:
            nxt = position + step
            inside = nxt <= len(self.level)
            at = np.minimum(nxt, len(self.level))
            weight = episodes * self.count.tree[at] - self.sum.tree[at]
            go = inside & (weight <= remaining)
            remaining -= np.where(go, weight, 0)
            position = np.where(go, nxt, position)
            step >>= 1
        return self.level[position]

    def uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` seen levels drawn uniformly (rejection over slots, at least a third held)."""
        parts, found = [], 0
        while found < n:
            slots = rng.integers(0, self.next, size=2 * (n - found) + 8)
            levels = self.level[slots]
            parts.append(levels[levels >= 0][: n - found])
            found += len(parts[-1])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


@register("plr")
class PrioritizedLevelReplay(Strategy):
    """Prioritized Level Replay: replay high-scoring, stale levels; try new ones as needed.

    From "Prioritized Level Replay" (Jiang, Grefenstette and Rocktäschel, ICML 2021). Each
    seen level ``i`` keeps a score ``S_i <- (1 - alpha) S_i + alpha * score`` (the first
    score is taken as is) and the episode count ``C_i`` at its last play. Until the seen
    fraction reaches ``min_seen`` every slot draws an unseen level (the authors' cold start:
    ``level_replay_rho``, default 1.0 in their ``arguments.py``: sweep every level once
    first); from then on a slot draws a new (never seen) level uniformly with probability
    ``1 - seen / size`` (their ``proportionate`` schedule), else a seen level from
    :func:`plr_distribution` with staleness ``c - C_i``. ``min_seen=0`` replays from the
    first seen level on.

    The episode score: ``score="auto"`` uses ``|signals|`` when the feedback carries signals
    (pass the mean |GAE| or the value loss there, as in the paper), else ``"value_gap"``:
    the mean over rollouts of ``|r - V_i|`` with ``V_i`` the level's running mean reward
    before this episode (the global mean for an unseen level; 0.5 before any reward) — the
    L1 value error of a per-level constant baseline; ``"failure"`` uses ``1 - mean reward``.

    Cost: a replay slot draws from the mixture's two parts — the score part by rank (a rank
    drawn from ``r^(-1/beta)``, then the level of that rank in the seen levels kept sorted by
    score) or from a :class:`~stepladder.strategies._toolbox.SumTree` (``power``,
    ``softmax``), the staleness part from Fenwick trees over levels in order of last play;
    new levels by rejection from the pool (a list once few are left). Everything is O(batch
    log pool) per step except keeping the rank order, a merge of the batch into the sorted
    seen levels: O(seen) memory moves, like the authors' sampler, which ranks seen levels
    only. Same distribution as before; the draws differ, and per-level sums are taken in
    closed form (equal up to rounding).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(4, "plr", seed=0)
        >>> cur.observe(Outcomes([0, 1], rewards=[1.0, 0.0], signals=[0.3, -0.6]))
        >>> cur.strategy.scores[:2].tolist(), cur.strategy.staleness()[:2].tolist()
        ([0.3, 0.6], [1.0, 0.0])
        >>> sorted(set(cur.propose(50).indices.tolist()))  # cold start: levels 2, 3 first
        [2, 3]
    """

    family = "teachers"
    feedback = ("rewards", "signals")
    learned = (
        "scores",
        "seen",
        "last_played",
        "value",
        "plays",
        "episodes",
        "reward_total",
        "reward_count",
    )

    def __init__(
        self,
        *,
        rho: float = 0.1,
        beta: float = 0.1,
        transform: str = "rank",
        alpha: float = 1.0,
        score: str = "auto",
        min_seen: float = 1.0,
    ) -> None:
        self.rho = number("rho", rho, low=0.0, high=1.0)
        self.beta = number("beta", beta, low=0.0, open_low=True)
        self.transform = choice("transform", transform, ("rank", "power", "softmax"))
        self.alpha = number("alpha", alpha, low=0.0, high=1.0)
        self.score = choice("score", score, ("auto", "signal", "value_gap", "failure"))
        self.min_seen = number("min_seen", min_seen, low=0.0, high=1.0)

    def _setup(self) -> None:
        size = self.pool.size
        self.scores = np.zeros(size)
        self.seen = np.zeros(size, dtype=bool)
        self.last_played = np.zeros(size, dtype=np.int64)
        self.value = np.zeros(size)
        self.plays = np.zeros(size, dtype=np.int64)
        self.episodes = 0
        self.reward_total = 0.0
        self.reward_count = 0
        self._derive()

    def _derive(self) -> None:
        """Rebuild the samplers from the learned state (O(pool): at bind and load only)."""
        seen = np.flatnonzero(self.seen)
        self._seen_count = len(seen)
        self._score_sum = float(self.scores[seen].sum())
        self._unseen: np.ndarray | None = None  # sorted unseen levels, once few are left
        by_play = seen[np.argsort(self.last_played[seen], kind="stable")]
        self._staleness = _Staleness(self.pool.size, by_play, self.last_played[by_play])
        self._rank_cdf = np.zeros(0)
        self._order = np.sort(-self.scores[seen] + 1j * seen) if self.transform == "rank" else None
        self._tree: SumTree | None = None
        self._shift = 0.0
        if self.transform != "rank":
            self._derive_tree()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._derive()

    def _weights(self, scores: np.ndarray) -> np.ndarray:
        """Unnormalised score weights ``h(S)`` of the power and softmax transforms."""
        if self.transform == "power":
            return np.maximum(scores, 0.0) ** (1.0 / self.beta)
        return np.exp((scores - self._shift) / self.beta)

    def staleness(self) -> np.ndarray:
        """Episodes since each level was last played (0 for unseen levels); O(pool)."""
        return np.where(self.seen, self.episodes - self.last_played, 0).astype(np.float64)

    def replay_distribution(self) -> np.ndarray:
        """Replay probability of each level (0 for unseen levels); O(pool), for inspection."""
        p = np.zeros(self.pool.size)
        seen = np.flatnonzero(self.seen)
        if len(seen):
            p[seen] = plr_distribution(
                self.scores[seen],
                self.staleness()[seen],
                rho=self.rho,
                beta=self.beta,
                transform=self.transform,
            )
        return p

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return empty_proposal()
        seen = self._seen_count / self.pool.size
        if seen < self.min_seen:  # cold start: a sweep of unseen levels
            return Proposal(self._unseen_levels(n))
        new = self.rng.random(n) < 1.0 - seen
        out = np.empty(n, dtype=np.int64)
        if new.any():
            out[new] = self._unseen_levels(int(new.sum()))
        if (~new).any():
            out[~new] = self._replay(int((~new).sum()))
        return Proposal(out)

    def _unseen_levels(self, k: int) -> np.ndarray:
        """``k`` unseen levels drawn uniformly, without replacement while enough are left."""
        left = self.pool.size - self._seen_count
        if left <= max(_FEW_UNSEEN, k):
            if self._unseen is None:
                self._unseen = np.flatnonzero(~self.seen)  # once per run
            return self.rng.choice(self._unseen, size=k, replace=k > left)
        # rejection from the pool: the first k distinct unseen draws are a uniform k-subset
        found = np.zeros(0, dtype=np.int64)
        while len(found) < k:
            wanted = int((k - len(found)) * self.pool.size / left * 1.2) + 16
            draws = self.rng.integers(0, self.pool.size, size=wanted)
            found = np.concatenate([found, draws[~self.seen[draws]]])
            first = np.sort(np.unique(found, return_index=True)[1])
            found = found[first]
        return found[:k]

    def _replay(self, m: int) -> np.ndarray:
        """``m`` seen levels from ``(1 - rho) P_S + rho P_C``, one mixture part per slot."""
        out = np.empty(m, dtype=np.int64)
        stale = self.rng.random(m) < self.rho
        if stale.any():
            out[stale] = self._staleness.sample(int(stale.sum()), self.episodes, self.rng)
        if (~stale).any():
            out[~stale] = self._by_score(int((~stale).sum()))
        return out

    def _by_score(self, k: int) -> np.ndarray:
        """``k`` seen levels from ``P_S``."""
        if self.transform == "rank":
            assert self._order is not None
            seen = self._seen_count
            if len(self._rank_cdf) < seen:  # sum of r^(-1/beta), r = 1 .. capacity
                capacity = max(seen, 2 * len(self._rank_cdf), 1024)
                self._rank_cdf = np.cumsum(np.arange(1, capacity + 1) ** (-1.0 / self.beta))
            cdf = self._rank_cdf[:seen]
            ranks = np.searchsorted(cdf, self.rng.random(k) * cdf[-1], side="right")
            return self._order[np.minimum(ranks, seen - 1)].imag.astype(np.int64)
        assert self._tree is not None
        if not self._tree.total > 0:  # every h(S) = 0: uniform over seen levels
            return self._staleness.uniform(k, self.rng)
        return self._tree.sample(k, self.rng)

    def _episode_scores(
        self, outcomes: Outcomes, rows: np.ndarray, means: np.ndarray, baselines: np.ndarray
    ) -> np.ndarray:
        if self.score in ("auto", "signal") and outcomes.signals is not None:
            return np.abs(np.asarray(outcomes.signals, dtype=np.float64)[rows])
        if self.score == "failure":
            return 1.0 - means
        rewards = np.asarray(outcomes.rewards, dtype=np.float64).reshape(len(outcomes), -1)[rows]
        gaps = np.abs(rewards - baselines[:, None])
        return np.nanmean(gaps, axis=1)

    def observe(self, outcomes: Outcomes) -> None:
        means = outcomes.pass_rate if len(outcomes) and outcomes.rewards is not None else None
        if means is None:
            means = np.full(len(outcomes), np.nan)
        signals = self.score in ("auto", "signal") and outcomes.signals is not None
        rows = np.arange(len(outcomes)) if signals else np.flatnonzero(~np.isnan(means))
        if not len(rows):
            return
        levels, means = outcomes.indices[rows], means[rows]
        rewarded = ~np.isnan(means)
        reward = np.where(rewarded, means, 0.0)
        s = segments(levels)  # per level, in episode order
        keys = s.keys
        starts = np.cumsum(s.lengths) - s.lengths

        # V_i before each episode: the level's running mean, else the global mean (0.5 first)
        def before(values: np.ndarray) -> np.ndarray:  # exclusive sums within each level
            ordered = values[s.order]
            running = np.cumsum(ordered) - ordered
            return running - running[starts][s.segment]

        plays0, value0 = self.plays[keys][s.segment], self.value[keys][s.segment]
        earlier = before(rewarded.astype(np.int64))
        count = plays0 + earlier
        level_mean = np.empty(len(rows))
        level_mean[s.order] = value0 + (before(reward) - value0 * earlier) / np.maximum(count, 1)
        has_value = np.empty(len(rows), dtype=bool)
        has_value[s.order] = count > 0
        global_total = np.cumsum(np.r_[self.reward_total, reward])[:-1]
        global_count = self.reward_count + np.cumsum(rewarded) - rewarded
        global_mean = np.where(global_count > 0, global_total / np.maximum(global_count, 1), 0.5)
        baselines = np.where(has_value, level_mean, global_mean)
        scores = self._episode_scores(outcomes, rows, means, baselines)

        # S_i: exponential average over the level's episodes (an unseen level's first score as is)
        was_seen = self.seen[keys]
        decay = 1.0 - self.alpha
        after = (s.lengths[s.segment] - 1 - s.within).astype(np.float64)
        weight = decay**after * np.where((s.within == 0) & ~was_seen[s.segment], 1.0, self.alpha)
        old_scores = self.scores[keys]
        new_scores = np.bincount(s.segment, weights=weight * scores[s.order], minlength=len(keys))
        new_scores += np.where(was_seen, old_scores * decay ** s.lengths.astype(np.float64), 0.0)

        plays = np.bincount(s.segment, weights=rewarded[s.order], minlength=len(keys))
        sums = np.bincount(s.segment, weights=reward[s.order], minlength=len(keys))
        plays_before, value_before = self.plays[keys], self.value[keys]
        self.plays[keys] = plays_before + plays.astype(np.int64)
        self.value[keys] = value_before + (sums - value_before * plays) / np.maximum(
            self.plays[keys], 1
        )
        self.reward_total = float(np.cumsum(np.r_[self.reward_total, reward])[-1])
        self.reward_count += int(rewarded.sum())
        last_row = s.order[starts + s.lengths - 1]
        self.last_played[keys] = self.episodes + 1 + last_row
        self.episodes += len(rows)
        self.scores[keys] = new_scores
        self.seen[keys] = True
        self._seen_count += int((~was_seen).sum())
        self._score_sum += float(new_scores.sum() - old_scores[was_seen].sum())
        self._update_samplers(keys, was_seen, old_scores, new_scores)

    def _update_samplers(
        self, keys: np.ndarray, was_seen: np.ndarray, old: np.ndarray, new: np.ndarray
    ) -> None:
        by_play = np.argsort(self.last_played[keys])
        self._staleness.play(keys[by_play], self.last_played[keys][by_play])
        if self._unseen is not None:
            self._unseen = self._unseen[~self.seen[self._unseen]]
        if self._order is not None:  # merge the batch into the seen levels sorted by score
            stale = np.sort(-old[was_seen] + 1j * keys[was_seen])
            order = np.delete(self._order, np.searchsorted(self._order, stale))
            fresh = np.sort(-new + 1j * keys)
            self._order = np.insert(order, np.searchsorted(order, fresh), fresh)
            return
        assert self._tree is not None
        softmax = self.transform == "softmax"
        if softmax and float(new.max()) - self._shift > _SHIFT_LIMIT * self.beta:
            self._derive_tree()
            return
        self._tree.update(keys, self._weights(new))
        if softmax and self._tree.total < math.exp(-_SHIFT_LIMIT):  # every score far lower
            self._derive_tree()

    def _derive_tree(self) -> None:
        """Power or softmax weights of the seen levels; softmax centred on the top score."""
        seen = np.flatnonzero(self.seen)
        self._shift = float(self.scores[seen].max()) if len(seen) else 0.0
        self._tree = SumTree(self.pool.size)
        weights = self._weights(self.scores[seen])
        self._tree.load_state_dict({"size": self.pool.size, "slots": seen, "weights": weights})

    def metrics(self) -> dict[str, float]:
        seen = self._seen_count
        return {
            "seen_fraction": float(seen / self.pool.size),
            "score_mean": self._score_sum / seen if seen else 0.0,
        }
