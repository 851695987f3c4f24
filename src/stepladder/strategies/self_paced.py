"""Self-paced curricula: the model's own recent loss says which items are easy.

- :class:`SelfPaced`: per-item loss weights from a threshold lambda that grows over time.
- :class:`SPDCL`: resample from easy to hard by a blend of static and model difficulty, at a
  pace that speeds up while the training loss falls.

Feedback: an item's loss is the latest ``Outcomes.losses`` value reported for it; batches
without losses but with rewards use the error rate 1 - pass rate instead; batches with
neither change nothing. Steps count non-empty proposals, as in :mod:`.pacing`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stepladder._checks import choice, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._pacing_tools import feedback_loss, last_per_item, prefix_count
from stepladder.strategies._registry import register
from stepladder.strategies._toolbox import RingBuffer, ShuffledPasses
from stepladder.strategies.base import Proposal, Strategy
from stepladder.strategies.pacing import difficulty_rank

__all__ = ["SPDCL", "SelfPaced", "self_paced_weights"]

REGIMES = ("hard", "linear", "logarithmic")


def self_paced_weights(losses: Any, lam: float | None, regime: str = "hard") -> np.ndarray:
    """Self-paced weights v(loss; lambda); NaN loss (never observed) -> 1, lam None -> 1.

    Negative losses count as 0. The closed-form minimisers of the self-paced regularisers
    (Kumar et al. 2010; Jiang et al. 2015)::

        hard         v = 1 if loss < lam else 0
        linear       v = max(0, 1 - loss / lam)
        logarithmic  v = log(loss + zeta) / log(zeta) if loss < lam else 0,  zeta = 1 - lam

    The logarithmic regime needs 0 < lam < 1; once lam >= 1 every weight is 1 (all included).

    Example:
        >>> self_paced_weights([0.0, 0.25, 0.5, np.nan], 0.5, "linear").tolist()
        [1.0, 0.5, 0.0, 1.0]
        >>> self_paced_weights([0.0, 0.25, 0.5], 0.5, "logarithmic").round(3).tolist()
        [1.0, 0.415, 0.0]
    """
    choice("regime", regime, REGIMES)
    loss = np.asarray(losses, dtype=np.float64)
    unseen = np.isnan(loss)
    if lam is None:
        return np.ones(loss.shape)
    value = np.maximum(np.where(unseen, 0.0, loss), 0.0)
    if regime == "hard":
        weights = (value < lam).astype(np.float64)
    elif regime == "linear":
        weights = np.clip(1.0 - value / lam, 0.0, 1.0)
    elif lam >= 1.0:
        weights = np.ones(loss.shape)
    else:
        zeta = 1.0 - lam
        inside = value < lam
        ratio = np.log(np.where(inside, value, 0.0) + zeta) / math.log(zeta)
        weights = np.where(inside, np.clip(ratio, 0.0, 1.0), 0.0)
    return np.where(unseen, 1.0, weights)


@register("self_paced")
class SelfPaced(Strategy):
    """Weight each item by its last loss against a threshold lambda that grows every epoch.

    From "Self-Paced Learning for Latent Variable Models" (Kumar et al., 2010), hard 0/1
    weights, and "Self-Paced Curriculum Learning" (Jiang et al., 2015), the soft linear and
    logarithmic weights (:func:`self_paced_weights`). Lambda at step t::

        lambda(t) = lambda0 * growth ** floor(t / epoch_steps)

    so more (and harder) items pass as training goes on, until all are included. Kumar et al.
    anneal the threshold by 1.3 per round and start it so that about half the items are
    selected: with ``lam=None`` (default) lambda0 is the median loss of the first batch with
    a positive median (all weights are 1 before that). Items never observed get weight 1, so
    they are trained and measured rather than starved.

    Selection: by default items are sampled uniformly (shuffled passes over the pool) and the
    proposal carries the weights, to multiply into each item's loss. With ``select=True``
    only items of positive weight (including unobserved ones) are sampled, uniformly and
    without repeats within a batch; all items when none qualifies. The qualifying items are
    kept in a bag updated as losses arrive and lambda grows, so a step costs O(batch); the
    bag's order differs from the earlier index-ordered scan, so seeded sequences differ, but
    each batch is still a uniform draw without replacement from the same set.

    Args:
        regime: ``"hard"``, ``"linear"`` or ``"logarithmic"``.
        lam: initial threshold lambda0 > 0 (< 1 for the logarithmic regime), or None.
        growth: factor applied to lambda every ``epoch_steps`` proposals, >= 1 (1.3).
        epoch_steps: proposals per lambda update (100).
        select: sample only items of positive weight.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(3, "self_paced", regime="hard", lam=0.5, epoch_steps=1, growth=2.0)
        >>> cur.observe(Outcomes([0, 1, 2], losses=[0.2, 0.7, 1.5]))
        >>> p = cur.propose(3)
        >>> sorted(zip(p.indices.tolist(), p.weights.tolist()))  # lambda = 0.5
        [(0, 1.0), (1, 0.0), (2, 0.0)]
        >>> cur.strategy.threshold()  # next step: lambda = 0.5 * 2
        1.0
    """

    feedback = ("losses", "rewards")  # a loss, else the error rate 1 - pass rate
    learned = ("_steps", "_lam0", "_loss", "_passes")

    def __init__(
        self,
        *,
        regime: str = "hard",
        lam: float | None = None,
        growth: float = 1.3,
        epoch_steps: int = 100,
        select: bool = False,
    ) -> None:
        self.regime = choice("regime", regime, REGIMES)
        if lam is None:
            self.lam = None
        elif regime == "logarithmic":
            self.lam = number("lam", lam, low=0.0, high=1.0, open_low=True, open_high=True)
        else:
            self.lam = number("lam", lam, low=0.0, open_low=True)
        self.growth = number("growth", growth, low=1.0)
        self.epoch_steps = positive_int("epoch_steps", epoch_steps)
        self.select = bool(select)

    def _setup(self) -> None:
        self._loss = np.full(self.pool.size, np.nan)
        self._lam0 = self.lam
        self._steps = 0
        self._passes = ShuffledPasses(self.pool.size)
        self._index()

    # Bookkeeping derived from the losses, so that a step and metrics() cost O(batch): each
    # observed item's entry epoch (the first epoch whose lambda gives it a positive weight;
    # lambda only grows), counted per epoch; with ``select``, the items of positive weight in
    # a bag (array + positions) and the others waiting, by entry epoch, to join it.

    def _index(self) -> None:
        """Rebuild the bookkeeping from ``_loss`` (O(pool), at bind and load)."""
        seen = np.flatnonzero(~np.isnan(self._loss))
        self._seen = len(seen)
        self._early = [seen] if self._lam0 is None else []  # observed before lambda0 is known
        self._entries: dict[int, int] = {}
        self._waiting: dict[int, list[np.ndarray]] = {}
        if self.select:
            size = self.pool.size
            self._bag = np.arange(size, dtype=np.int64)
            self._bag_at = np.arange(size, dtype=np.int64)  # position in the bag, -1 = out
            self._bag_size = size
        if self._lam0 is not None:
            self._classify(seen, np.full(len(seen), np.nan))

    def _epoch(self) -> int:
        return self._steps // self.epoch_steps

    def _lambda_at(self, epoch: int) -> float:
        try:
            return self._lam0 * self.growth**epoch
        except OverflowError:
            return math.inf

    def _entry(self, losses: np.ndarray) -> np.ndarray:
        """First epoch at which each (observed) loss gets a positive weight; _NEVER if none."""
        value = np.maximum(losses, 0.0)
        guess = np.zeros(len(value), dtype=np.int64)
        if self.growth > 1.0:
            with np.errstate(divide="ignore"):
                steps = np.floor(np.log(value / self._lam0) / math.log(self.growth)) + 1.0
            guess = np.clip(np.nan_to_num(steps, neginf=0.0), 0, _NEVER).astype(np.int64)
        entry = guess.copy()
        for _ in range(64):  # exact against the weight function: usually one round
            positive = self._positive(losses, entry)
            earlier = (entry > 0) & self._positive(losses, np.maximum(entry - 1, 0))
            if positive.all() and not earlier.any():
                return entry
            entry[~positive] += 1 if self.growth > 1.0 else _NEVER
            entry[earlier] -= 1
            if self.regime == "logarithmic":  # lambda >= 1 includes everything
                entry = np.minimum(entry, self._first_epoch_at_one())
            entry = np.minimum(entry, _NEVER)
            if (entry == _NEVER).all():
                return entry
        return entry

    def _first_epoch_at_one(self) -> int:
        if self.growth == 1.0:
            return _NEVER
        epoch = max(0, math.ceil(-math.log(self._lam0) / math.log(self.growth)))
        while epoch > 0 and self._lambda_at(epoch - 1) >= 1.0:
            epoch -= 1
        while self._lambda_at(epoch) < 1.0:
            epoch += 1
        return epoch

    def _positive(self, losses: np.ndarray, epochs: np.ndarray) -> np.ndarray:
        """Whether each loss has a positive weight at its epoch (the same formula as weights)."""
        out = np.ones(len(losses), dtype=bool)
        for epoch in np.unique(epochs[epochs < _NEVER]).tolist():
            group = epochs == epoch
            lam = self._lambda_at(epoch)
            out[group] = self_paced_weights(losses[group], lam, self.regime) > 0
        return out & (epochs < _NEVER)

    def _classify(self, items: np.ndarray, previous: np.ndarray) -> None:
        """Count the entry epochs of ``items`` (distinct, losses set) and, with ``select``,
        move them in or out of the bag; ``previous`` holds their earlier losses (NaN: none)."""
        entry = self._entry(self._loss[items])
        for epochs, sign in ((self._entry(previous[~np.isnan(previous)]), -1), (entry, 1)):
            for epoch, count in zip(*np.unique(epochs, return_counts=True), strict=True):
                self._entries[int(epoch)] = self._entries.get(int(epoch), 0) + sign * int(count)
        if not self.select:
            return
        now = self._epoch()
        self._bag_remove(items[(entry > now) & (self._bag_at[items] >= 0)])
        self._bag_add(items[(entry <= now) & (self._bag_at[items] < 0)])
        later = entry > now
        for epoch in np.unique(entry[later & (entry < _NEVER)]).tolist():
            self._waiting.setdefault(epoch, []).append(items[later & (entry == epoch)])

    def _bag_add(self, items: np.ndarray) -> None:
        end = self._bag_size + len(items)
        self._bag[self._bag_size : end] = items
        self._bag_at[items] = np.arange(self._bag_size, end)
        self._bag_size = end

    def _bag_remove(self, items: np.ndarray) -> None:
        end = self._bag_size - len(items)
        holes = np.sort(self._bag_at[items])
        self._bag_at[items] = -1
        tail = self._bag[end : self._bag_size]
        movers = tail[self._bag_at[tail] >= 0]
        holes = holes[holes < end]
        self._bag[holes] = movers
        self._bag_at[movers] = holes
        self._bag_size = end

    def _release(self) -> None:
        """Move waiting items whose entry epoch has come into the bag."""
        now = self._epoch()
        for epoch in [e for e in self._waiting if e <= now]:
            items = np.unique(np.concatenate(self._waiting.pop(epoch)))
            items = items[self._bag_at[items] < 0]  # stale entries: re-observed since
            items = items[self._entry(self._loss[items]) <= now]
            self._bag_add(items)

    def threshold(self) -> float | None:
        """Lambda at the next proposal's step; None until lambda0 is known."""
        if self._lam0 is None:
            return None
        return self._lambda_at(self._epoch())

    def weights(self, indices: Any = None) -> np.ndarray:
        """Current weights of ``indices`` (all items when omitted)."""
        losses = self._loss if indices is None else self._loss[np.asarray(indices, np.int64)]
        return self_paced_weights(losses, self.threshold(), self.regime)

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return Proposal(np.zeros(0, dtype=np.int64), weights=np.zeros(0))
        if self.select:
            self._release()
            self._passes.restart(self._bag_size or self.pool.size)  # none qualifies: all
            positions = self._passes.draw(n, self.rng)
            indices = self._bag[positions] if self._bag_size else positions
        else:
            indices = self._passes.draw(n, self.rng)
        weights = self.weights(indices)
        self._steps += 1
        return Proposal(indices, weights=weights)

    def observe(self, outcomes: Outcomes) -> None:
        feedback = feedback_loss(outcomes)
        if feedback is None:
            return
        rows, losses = feedback
        items, latest = last_per_item(rows, losses)
        previous = self._loss[items]
        self._loss[items] = latest
        self._seen += int(np.isnan(previous).sum())
        if self._lam0 is None:
            self._early.append(items)
            median = float(np.median(losses))
            if median > 0:
                self._lam0 = median
                early = np.unique(np.concatenate(self._early))
                self._early = []
                self._classify(early, np.full(len(early), np.nan))
        else:
            self._classify(items, previous)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the learned state, then rebuild the bookkeeping from the losses."""
        super().load_state_dict(state)
        self._index()

    def metrics(self) -> dict[str, float]:
        out = {"step": float(self._steps)}
        lam = self.threshold()
        if lam is not None and math.isfinite(lam):
            out["lambda"] = lam
        if self._seen:
            now = self._epoch()
            included = sum(c for e, c in self._entries.items() if e <= now)
            out["included"] = 1.0 if self._lam0 is None else included / self._seen
        return out


_NEVER = 2**62  # entry epoch of a loss that never gets a positive weight


class _SlotCounts:
    """Item counts over ``size`` slots (a Fenwick tree): point updates and rank lookups, each
    O(log size) per entry and vectorised. Rank r falls in the slot whose cumulative count
    interval contains it, at an offset counted from the slot's first item.

    Example:
        >>> counts = _SlotCounts(np.array([1, 0, 2, 1]))
        >>> slots, offsets = counts.find(np.arange(4))
        >>> slots.tolist(), offsets.tolist()
        ([0, 2, 2, 3], [0, 0, 1, 0])
    """

    def __init__(self, counts: np.ndarray) -> None:
        self.size = len(counts)
        prefix = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        nodes = np.arange(1, self.size + 1)
        self._tree = np.concatenate(([0], prefix[nodes] - prefix[nodes - (nodes & -nodes)]))

    def add(self, slots: np.ndarray, deltas: np.ndarray) -> None:
        """Add ``deltas[k]`` to the count of ``slots[k]`` (repeats add up)."""
        nodes = np.asarray(slots, dtype=np.int64) + 1
        deltas = np.broadcast_to(np.asarray(deltas, dtype=np.int64), nodes.shape)
        while nodes.size:
            np.add.at(self._tree, nodes, deltas)
            nodes = nodes + (nodes & -nodes)
            inside = nodes <= self.size
            nodes, deltas = nodes[inside], deltas[inside]

    def find(self, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slot and offset within it of each rank in ``[0, total)``."""
        offsets = np.array(ranks, dtype=np.int64)
        slots = np.zeros(len(offsets), dtype=np.int64)  # slots wholly before the rank
        step = 1 << max(self.size.bit_length() - 1, 0)
        while step:
            nxt = slots + step
            go = nxt <= self.size
            go[go] = self._tree[nxt[go]] <= offsets[go]
            offsets[go] -= self._tree[nxt[go]]
            slots[go] = nxt[go]
            step >>= 1
        return slots, offsets


@register("spdcl")
class SPDCL(Strategy):
    """Easy-to-hard resampling by static plus model difficulty, at a loss-driven pace.

    SPDCL (self-paced dynamic curriculum learning) as the reference card describes it: a
    static difficulty (for text, a linguistic one) is combined with a model-based one, and
    training resamples from easy to hard with an adaptive pace. The card's source paper
    could not be checked here; the rules below are our instantiation of that description::

        s_i = normalised rank of the pool's difficulty      (0 easiest, 1 hardest/unknown)
        m_i = normalised rank of item i's latest loss among the last ``REFERENCE`` losses
              reported (its own batch included), fixed when reported; s_i if never observed
        d_i = mix * s_i + (1 - mix) * m_i
        g   = start + (1 - start) * min(1, tau / T)          # fraction of the pool in use
        tau <- tau + speed after each proposal
        speed = clip((L_slow / L_fast) ** gain, 1/2, 2)

    Each batch is drawn uniformly from the ceil(g N) items of smallest d (ties: statically
    easier first, then pool order), without repeats; new losses start a fresh draw. L_fast
    and L_slow are exponential moving averages of the batch mean loss (rates ``smoothing``
    and ``smoothing / 10``): while the loss falls, L_fast < L_slow and the pace speeds up (up
    to 2x); when harder items push the loss up, it slows down (to 1/2x). Without loss
    feedback speed = 1 and g is a linear pacing over T proposals. Once g = 1 the whole pool
    is used.

    Cost: m_i is ranked once, when its loss arrives, against a window of recent losses, so a
    report changes only the reported items' d (ranking against every observed item, as an
    earlier version did, moved every d at every step and cost O(pool log pool) per step).
    The items stay ordered by d in a count tree over the static order: an observed item is
    counted at the place its d takes among the static difficulties, so drawing and updating
    cost O(batch log pool).

    Args:
        mix: weight of the static difficulty, in [0, 1] (0.5).
        start: initial fraction, in (0, 1] (0.1).
        total_steps: horizon T at speed 1, in proposals (1000).
        gain: sensitivity of the pace to the loss trend, >= 0 (5).
        smoothing: rate of the fast loss average, in (0, 1] (0.1).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, difficulty=[0.0, 1.0, 2.0, 3.0])
        >>> cur = Curriculum(pool, "spdcl", mix=0.0, start=0.5, total_steps=100)
        >>> cur.observe(Outcomes([0, 1, 2, 3], losses=[3.0, 2.0, 0.5, 0.1]))  # model view
        >>> sorted(cur.propose(2).indices.tolist())  # easiest half by loss
        [2, 3]
    """

    needs_difficulty = True
    feedback = ("losses", "rewards")  # a loss, else the error rate 1 - pass rate
    learned = ("_model", "_reference", "_tau", "_steps", "_fast", "_slow", "_dirty", "_passes")
    #: Recent losses that a new loss is ranked against.
    REFERENCE = 4096

    def __init__(
        self,
        *,
        mix: float = 0.5,
        start: float = 0.1,
        total_steps: int = 1000,
        gain: float = 5.0,
        smoothing: float = 0.1,
    ) -> None:
        self.mix = number("mix", mix, low=0.0, high=1.0)
        self.start = number("start", start, low=0.0, high=1.0, open_low=True)
        self.total_steps = positive_int("total_steps", total_steps)
        self.gain = number("gain", gain, low=0.0)
        self.smoothing = number("smoothing", smoothing, low=0.0, high=1.0, open_low=True)

    def _setup(self) -> None:
        size = self.pool.size
        self._static = difficulty_rank(self.pool.difficulty)
        self._by_static = np.argsort(self._static, kind="stable")  # the host of each slot
        self._static_sorted = self._static[self._by_static]
        self._slot_of_host = np.empty(size, dtype=np.int64)
        self._slot_of_host[self._by_static] = np.arange(size)
        self._model = np.full(size, np.nan)  # m_i, NaN = never observed
        self._reference = RingBuffer(rows=1, window=self.REFERENCE)
        self._tau = 0.0
        self._steps = 0
        self._fast: float | None = None
        self._slow: float | None = None
        self._dirty = True  # new losses since the last draw: start a fresh pass
        self._passes = ShuffledPasses()
        self._index()

    # ---------------------------------------------------------------- the order by d
    #
    # Slot q (0 <= q <= N) holds, in order of (d, s, index): the observed items whose key
    # lies between the static keys of hosts q-1 and q ("guests"), then host q, the q-th item
    # of the static order, while it is unobserved (its d is then its s). A count tree over
    # slots turns a rank in the order by d into a slot and an offset; guests of a slot are
    # kept in a doubly linked list and sorted only when one is drawn.

    def _index(self) -> None:
        """Build the slot counts and guest lists from ``_model`` (O(pool), at bind and load)."""
        size = self.pool.size
        seen = np.flatnonzero(~np.isnan(self._model))
        slots = self._slots(seen)
        counts = np.isnan(self._model[self._by_static]).astype(np.int64)
        self._counts = _SlotCounts(np.append(counts, 0) + np.bincount(slots, minlength=size + 1))
        self._head = np.full(size + 1, -1, dtype=np.int64)
        self._next = np.full(size, -1, dtype=np.int64)
        self._prev = np.full(size, -1, dtype=np.int64)
        self._mark = np.zeros(size, dtype=bool)
        self._link(seen, slots)

    def _keys(self, items: np.ndarray) -> np.ndarray:
        """d of ``items`` (observed ones)."""
        return self.mix * self._static[items] + (1.0 - self.mix) * self._model[items]

    def _slots(self, items: np.ndarray) -> np.ndarray:
        """Slots of observed items: the number of hosts whose key (s, s, host) is smaller."""
        d, s = self._keys(items), self._static[items]
        slots = self._slot_of_host[items]  # s = d: just before its own host
        order = np.argsort(d, kind="stable")  # sorted keys make searchsorted cache-friendly
        for side, chosen in (("left", s < d), ("right", s > d)):
            chosen = order[chosen[order]]
            slots[chosen] = np.searchsorted(self._static_sorted, d[chosen], side)
        return slots

    def _link(self, items: np.ndarray, slots: np.ndarray) -> None:
        """Put items at the front of their slots' guest lists."""
        if not len(items):
            return
        order = np.argsort(slots, kind="stable")
        items, slots = items[order], slots[order]
        first = np.r_[True, slots[1:] != slots[:-1]]
        last = np.r_[slots[1:] != slots[:-1], True]
        following = np.r_[items[1:], -1]
        following[last] = self._head[slots[last]]
        preceding = np.r_[-1, items[:-1]]
        preceding[first] = -1
        self._next[items], self._prev[items] = following, preceding
        old = following[last]
        self._prev[old[old >= 0]] = items[last][old >= 0]
        self._head[slots[first]] = items[first]

    def _unlink(self, items: np.ndarray, slots: np.ndarray) -> None:
        """Take items out of their slots' guest lists."""
        self._mark[items] = True
        ends = []
        for links in (self._prev, self._next):
            end = links[items]
            inner = (end >= 0) & self._mark[np.maximum(end, 0)]
            while inner.any():  # skip neighbours that leave too
                end[inner] = links[end[inner]]
                inner = (end >= 0) & self._mark[np.maximum(end, 0)]
            ends.append(end)
        before, after = ends
        self._next[before[before >= 0]] = after[before >= 0]
        self._head[slots[before < 0]] = after[before < 0]
        self._prev[after[after >= 0]] = before[after >= 0]
        self._mark[items] = False

    def _resolve(self, slots: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The item at ``offset`` in each slot's (d, s, index) order."""
        size = self.pool.size
        items = self._by_static[np.minimum(slots, size - 1)]  # a slot without guests: host
        crowded = np.flatnonzero(self._head[slots] >= 0)
        if not len(crowded):
            return items
        wanted, where = np.unique(slots[crowded], return_inverse=True)
        guests, owner = [], []
        current, holder = self._head[wanted], np.arange(len(wanted))
        while len(current):
            guests.append(current)
            owner.append(holder)
            current = self._next[current]
            holder, current = holder[current >= 0], current[current >= 0]
        guests, owner = np.concatenate(guests), np.concatenate(owner)
        order = np.lexsort((guests, self._static[guests], self._keys(guests), owner))
        guests, owner = guests[order], owner[order]
        starts = np.searchsorted(owner, np.arange(len(wanted)))
        count = np.bincount(owner, minlength=len(wanted))
        offset = offsets[crowded]
        inside = offset < count[where]
        picked = np.where(inside, guests[np.minimum(starts[where] + offset, len(guests) - 1)], -1)
        items[crowded] = np.where(
            inside, picked, self._by_static[np.minimum(wanted[where], size - 1)]
        )
        return items

    # ---------------------------------------------------------------- the method

    def scores(self) -> np.ndarray:
        """Combined difficulty d_i of every item (smaller = easier)."""
        observed = self.mix * self._static + (1.0 - self.mix) * self._model
        return np.where(np.isnan(self._model), self._static, observed)

    def fraction(self) -> float:
        """g, the fraction of the pool the next batch is drawn from."""
        return self.start + (1.0 - self.start) * min(1.0, self._tau / self.total_steps)

    def speed(self) -> float:
        """How fast the pace advances now (1 without loss feedback)."""
        if self._fast is None or self._slow is None:
            return 1.0
        if self._fast <= 0.0:
            return 2.0 if self._slow > 0.0 else 1.0
        return float(np.clip((self._slow / self._fast) ** self.gain, 0.5, 2.0))

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return Proposal(np.zeros(0, dtype=np.int64))
        size = prefix_count(self.fraction(), self.pool.size)
        if self._dirty or size != self._passes.size:
            self._passes.restart(size)
            self._dirty = False
        ranks = self._passes.draw(n, self.rng)  # ranks in the order by d
        order = np.argsort(ranks)  # sorted lookups share the tree's cache lines
        indices = np.empty(n, dtype=np.int64)
        indices[order] = self._resolve(*self._counts.find(ranks[order]))
        self._tau += self.speed()
        self._steps += 1
        return Proposal(indices)

    def _rank(self, losses: np.ndarray) -> np.ndarray:
        """Normalised average rank of each loss among the reference and ``losses``."""
        ring = self._reference
        values = np.sort(np.concatenate([ring.values[0, : ring.filled[0]], losses]))
        if len(values) == 1:
            return np.zeros(1)
        below = np.searchsorted(values, losses, "left")
        tied = np.searchsorted(values, losses, "right") - below
        return (below + (tied + 1) / 2.0 - 1.0) / (len(values) - 1.0)

    def observe(self, outcomes: Outcomes) -> None:
        feedback = feedback_loss(outcomes)
        if feedback is None:
            return
        rows, losses = feedback
        items, latest = last_per_item(rows, losses)
        again = ~np.isnan(self._model[items])
        moved, old = items[again], self._slots(items[again])
        self._unlink(moved, old)
        self._counts.add(np.concatenate([old, self._slot_of_host[items[~again]]]), -1)
        self._model[items] = self._rank(latest)
        self._reference.push(0, latest)
        slots = self._slots(items)
        self._link(items, slots)
        self._counts.add(slots, 1)
        self._dirty = True
        mean = float(np.mean(losses))
        if self._fast is None or self._slow is None:
            self._fast = self._slow = mean
        else:
            self._fast += self.smoothing * (mean - self._fast)
            self._slow += self.smoothing / 10.0 * (mean - self._slow)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the learned state, then rebuild the order by d from it."""
        super().load_state_dict(state)
        self._index()

    def metrics(self) -> dict[str, float]:
        return {"step": float(self._steps), "fraction": self.fraction(), "speed": self.speed()}
