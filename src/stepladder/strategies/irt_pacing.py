"""Curricula that re-estimate the learner or the items while training.

- :class:`DDSMAE`: PUDF's ability-paced data selection: an IRT ability estimate from a probe
  set decides, every epoch, which items (by IRT difficulty) are trained.
- :class:`ADCL`: a sorted sweep in large batches, re-sorting only the next batch by fresh
  difficulty estimates just before it is used.

Neither can run the model itself: the training loop supplies probe correctness
(:meth:`DDSMAE.update_ability`) or fresh difficulty estimates (:meth:`ADCL.reestimate`).
Without them both keep working on what they have (see each class).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import choice, finite_array, index_array, number, positive_int
from stepladder.ability import estimate_ability
from stepladder.difficulty import ItemParameters
from stepladder.outcomes import Outcomes
from stepladder.strategies._pacing_tools import feedback_loss, last_per_item
from stepladder.strategies._registry import register
from stepladder.strategies._toolbox import ShuffledPasses
from stepladder.strategies.base import Proposal, Strategy
from stepladder.strategies.pacing import easy_order

__all__ = ["ADCL", "DDSMAE", "dds_ability"]

VARIANTS = ("capacity", "theta_hard")


def dds_ability(correct: Any, difficulty: Any) -> float:
    """PUDF's ability estimate: 1PL MAP with a N(0, 1) prior from probe-set responses.

    With r_i = +1 for a correct and -1 for a wrong answer to a probe item of difficulty b_i::

        theta = argmax_theta [ log N(theta; 0, 1)
                               + sum_i log(1 + r_i (2 sigmoid(theta - b_i) - 1)) ]

    As 1 + (2 s - 1) = 2 s and 1 - (2 s - 1) = 2 (1 - s), each term is log 2 plus the
    Bernoulli log-likelihood of the response, so this is the ordinary 1PL MAP estimate,
    found by Fisher scoring (:func:`stepladder.ability.estimate_ability`; kept within
    [-6, 6]). ``correct`` holds 0/1 (or booleans, or scores in [0, 1]) or -1/+1. No
    responses give the prior mean, 0.

    Example:
        >>> round(dds_ability([1, 1, 0, 0], [-1.0, 0.0, 1.0, 2.0]), 3)
        0.217
        >>> round(dds_ability([1, 1, -1, -1], [-1.0, 0.0, 1.0, 2.0]), 3)  # same, as +-1
        0.217
    """
    y = finite_array("correct", np.asarray(correct, dtype=np.float64), ndim=(1,))
    b = finite_array("difficulty", difficulty, ndim=(1,))
    if len(y) != len(b):
        raise ValueError(f"correct has {len(y)} responses for {len(b)} difficulties")
    if len(y) == 0:
        return 0.0
    if (y < 0).any():
        if not np.isin(y, (-1.0, 1.0)).all():
            raise ValueError("correct must hold 0/1 (or scores in [0, 1]) or -1/+1 values")
        y = (y + 1.0) / 2.0
    elif (y > 1).any():
        raise ValueError(f"correct must lie in [0, 1] (or be -1/+1), got {y.max()}")
    items = ItemParameters.two_pl(discrimination=1.0, difficulty=b)
    estimate = estimate_ability(
        items,
        np.zeros(len(y), dtype=np.int64),
        np.arange(len(y)),
        y,
        method="map",
        prior=(0.0, 1.0),
        n_learners=1,
    )
    return float(estimate.ability[0])


@register("dds_mae")
class DDSMAE(Strategy):
    """Each epoch, train on the items whose IRT difficulty is at most the model's capacity.

    DDS-MAE from "A Psychology-based Unified Dynamic Framework for Curriculum Learning"
    (PUDF; Meng et al., 2024). Items carry 1PL difficulties b_i (``pool.difficulty``, e.g.
    fitted with ``stepladder.grade`` on an artificial crowd's responses; NaN = unknown =
    hardest). Before the first epoch and after each one the training loop runs the model on
    a held-out probe set with known difficulties and calls :meth:`update_ability` with the
    correctness; the ability theta is :func:`dds_ability`. Then::

        if theta > best theta so far:  capacity = theta
        else:                          capacity = capacity + increment   (0.1: never stalls)

    and the next epoch is one pass, in random order, over the items with b_i <= capacity;
    if fewer than ``min_items`` qualify, the ``min_items`` easiest. ``variant="theta_hard"``
    keeps b_i >= theta instead (backfilled with the hardest). :attr:`epoch_size` says how many
    items the current epoch has. Early stopping on dev accuracy (the authors use patience 3)
    is the training loop's business.

    Epochs: an epoch ends when its pass is complete. If the loop calls
    :meth:`update_ability` before the next proposal, the new estimate sets the next epoch
    (a call mid-epoch ends the epoch early); otherwise the next proposal starts the next
    epoch with no new estimate, i.e. capacity += increment. Before any estimate theta is the
    prior mean 0 and the capacity 0. So without probe feedback (e.g. in the simulator) this
    is a pacing curriculum whose difficulty cap rises by 0.1 per pass.

    Args:
        min_items: smallest epoch (100).
        increment: capacity step when the ability does not improve (0.1).
        variant: ``"capacity"`` (b <= capacity) or ``"theta_hard"`` (b >= theta).

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=6, difficulty=[-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
        >>> cur = Curriculum(pool, "dds_mae", min_items=2)
        >>> theta = cur.strategy.update_ability([1, 1, 1, 0], [-1.0, 0.0, 1.0, 2.0])
        >>> round(theta, 3), cur.strategy.epoch_size  # b <= 0.78: items 0, 1, 2
        (0.783, 3)
        >>> sorted(cur.propose(3).indices.tolist())
        [0, 1, 2]
        >>> _ = cur.propose(1)  # the pass is over: no new estimate, so capacity += 0.1
        >>> round(cur.strategy.capacity, 3)
        0.883
    """

    needs_difficulty = True
    feedback = ()  # the ability comes from update_ability, not from observe
    learned = ("theta", "best", "capacity", "_epoch", "_estimates", "_passes")

    def __init__(
        self, *, min_items: int = 100, increment: float = 0.1, variant: str = "capacity"
    ) -> None:
        self.min_items = positive_int("min_items", min_items)
        self.increment = number("increment", increment, low=0.0)
        self.variant = choice("variant", variant, VARIANTS)

    def _setup(self) -> None:
        difficulty = self.pool.difficulty
        known = difficulty[~np.isnan(difficulty)]
        self._sorted_known = np.sort(known)
        self._unknown = self.pool.size - len(known)
        self._order = easy_order(difficulty, hard_first=self.variant == "theta_hard")
        self.theta = 0.0  # prior mean until the first estimate
        self.best: float | None = None
        self.capacity = 0.0
        self._epoch = 0
        self._estimates = 0
        self._passes = ShuffledPasses(self.epoch_size)

    @property
    def epoch_size(self) -> int:
        """Number of items in the current epoch's training set."""
        if self.variant == "capacity":
            qualify = int(np.searchsorted(self._sorted_known, self.capacity, side="right"))
        else:
            below = int(np.searchsorted(self._sorted_known, self.theta, side="left"))
            qualify = len(self._sorted_known) - below + self._unknown
        return max(qualify, min(self.min_items, self.pool.size), 1)

    def training_items(self) -> np.ndarray:
        """Indices of the current epoch's training set."""
        return self._order[: self.epoch_size].copy()

    def update_ability(self, correct: Any, difficulty: Any) -> float:
        """Estimate theta from probe responses, apply the capacity rule, start a new epoch.

        Args:
            correct: per probe item, 1/0 (or scores in [0, 1]) or +1/-1.
            difficulty: the probe items' IRT difficulties b_i.

        Returns the estimated ability.
        """
        theta = dds_ability(correct, difficulty)
        self.theta = theta
        self._estimates += 1
        self._next_epoch(theta)
        return theta

    def _next_epoch(self, theta: float | None) -> None:
        if theta is not None and (self.best is None or theta > self.best):
            self.capacity = self.best = theta
        else:
            self.capacity += self.increment
        self._epoch += 1
        self._passes.restart(self.epoch_size)

    def propose(self, n: int) -> Proposal:
        parts, found = [], 0
        while found < n:
            if self._passes.remaining == 0:  # the epoch's pass is over; no new estimate came
                self._next_epoch(None)
            part = self._passes.take(n - found, self.rng)
            parts.append(part)
            found += len(part)
        positions = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return Proposal(self._order[positions])

    def metrics(self) -> dict[str, float]:
        out = {
            "theta": self.theta,
            "capacity": self.capacity,
            "epoch": float(self._epoch),
            "estimates": float(self._estimates),
            "fraction": self.epoch_size / self.pool.size,
        }
        if self.best is not None:
            out["best_theta"] = self.best
        return out


@register("adcl")
class ADCL(Strategy):
    """Sweep the pool easy to hard in large batches, re-sorting each batch just before use.

    ADCL from "Learning Like Humans: Advancing LLM Reasoning Capabilities via Adaptive
    Difficulty Curriculum Learning and Expert-Guided Self-Reformulation" (Zhang et al.,
    2025). Difficulty is estimated once (``pool.difficulty``; NaN last), the items are sorted
    and split into ``n_batches`` equal-count ADCL batches (large slices of the order, not
    optimizer batches). Proposals walk the order, n items at a time. Because the model's
    perception of difficulty drifts during training, just before an ADCL batch is entered it
    alone is re-sorted by fresh estimates:

    1. values given by :meth:`reestimate` for its items (the trainer scores the items of
       :meth:`next_batch_indices` with the current model, e.g. their loss, any scale with
       larger = harder); these are used once, by that re-sort;
    2. otherwise the latest loss observed for its items (``Outcomes.losses``, else 1 - pass
       rate), typically from the previous sweep;
    3. items with no value keep their positions; the others are sorted among the positions
       they occupy. No values at all: the batch keeps its order.

    After the last batch the sweep starts again at the first (keeping the re-sorted orders).

    Args:
        n_batches: number of ADCL batches (10; at most the pool size).

    Example:
        >>> from stepladder import Curriculum, ItemPool
        >>> pool = ItemPool(size=6, difficulty=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
        >>> cur = Curriculum(pool, "adcl", n_batches=2)
        >>> cur.propose(2).indices.tolist()
        [0, 1]
        >>> cur.strategy.next_batch_indices().tolist()
        [3, 4, 5]
        >>> cur.strategy.reestimate([3, 4, 5], [0.9, 0.1, 0.5])  # the model's view now
        >>> cur.propose(4).indices.tolist()  # item 2 ends batch 0, then batch 1 re-sorted
        [2, 4, 5, 3]
    """

    needs_difficulty = True
    feedback = ("losses", "rewards")  # a loss, else the error rate 1 - pass rate
    learned = ("_batch", "_offset", "_sweep", "_resorted", "_fresh", "_loss")

    def __init__(self, *, n_batches: int = 10) -> None:
        self.n_batches = positive_int("n_batches", n_batches)

    def _setup(self) -> None:
        size = self.pool.size
        self._base = easy_order(self.pool.difficulty)
        self._order = self._base.copy()
        count = min(self.n_batches, size)
        self._bounds = np.arange(count + 1, dtype=np.int64) * size // count
        # Re-sorts move items only inside their ADCL batch, so an item's batch is fixed.
        self._batch_of = np.empty(size, dtype=np.int64)
        self._batch_of[self._base] = np.repeat(np.arange(count), np.diff(self._bounds))
        self._batch = -1  # ADCL batch being walked; -1 before the first
        self._offset = 0  # items of it already proposed
        self._sweep = 0
        self._resorted = 0  # items that moved in the last re-sort
        self._fresh = np.full(size, np.nan)
        self._loss = np.full(size, np.nan)
        self._count_values()

    def _count_values(self) -> None:
        """Items holding a fresh estimate, and an observed loss, per ADCL batch (derived)."""
        count = len(self._bounds) - 1
        self._fresh_count = np.bincount(self._batch_of[~np.isnan(self._fresh)], minlength=count)
        self._loss_count = np.bincount(self._batch_of[~np.isnan(self._loss)], minlength=count)

    def _record(self, values: np.ndarray, counts: np.ndarray, items: Any, latest: Any) -> None:
        """Set ``values[items] = latest`` (items distinct), counting items that had none."""
        new = items[np.isnan(values[items])]
        counts += np.bincount(self._batch_of[new], minlength=len(counts))
        values[items] = latest

    def _span(self, batch: int) -> tuple[int, int]:
        return int(self._bounds[batch]), int(self._bounds[batch + 1])

    def _upcoming(self) -> int:
        return (self._batch + 1) % (len(self._bounds) - 1)

    def next_batch_indices(self) -> np.ndarray:
        """Items of the ADCL batch that will be entered next (to re-estimate them)."""
        lo, hi = self._span(self._upcoming())
        return self._order[lo:hi].copy()

    def reestimate(self, indices: Any, difficulties: Any) -> None:
        """Fresh difficulty estimates (larger = harder) for items, used at their next re-sort."""
        idx = index_array("indices", indices, self.pool.size)
        values = finite_array("difficulties", difficulties, ndim=(1,))
        if len(values) != len(idx):
            raise ValueError(f"difficulties has {len(values)} values for {len(idx)} indices")
        if len(idx):
            self._record(self._fresh, self._fresh_count, *last_per_item(idx, values))

    def _enter(self, batch: int) -> None:
        """Re-sort ``batch`` by its fresh estimates, else its losses; the cost is the batch's
        size only when it holds values (the first sweep usually skips the work)."""
        lo, hi = self._span(batch)
        members = self._order[lo:hi]  # a view: sorting it re-sorts the order in place
        self._resorted = 0
        values = self._fresh if self._fresh_count[batch] else self._loss
        if self._fresh_count[batch] or self._loss_count[batch]:
            key = values[members]
            slots = np.flatnonzero(~np.isnan(key))
            before = members[slots]
            members[slots] = before[np.argsort(key[slots], kind="stable")]
            self._resorted = int(np.count_nonzero(members[slots] != before))
        if self._fresh_count[batch]:  # fresh estimates are used once
            self._fresh[members] = np.nan
            self._fresh_count[batch] = 0
        if batch == 0:
            self._sweep += 1
        self._batch, self._offset = batch, 0

    def propose(self, n: int) -> Proposal:
        parts, found = [], 0
        while found < n:
            lo, hi = self._span(self._batch) if self._batch >= 0 else (0, 0)
            if self._batch < 0 or self._offset >= hi - lo:
                self._enter(self._upcoming())
                lo, hi = self._span(self._batch)
            take = min(n - found, hi - lo - self._offset)
            start = lo + self._offset
            parts.append(self._order[start : start + take])
            self._offset += take
            found += take
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return Proposal(indices.astype(np.int64, copy=True))

    def observe(self, outcomes: Outcomes) -> None:
        feedback = feedback_loss(outcomes)
        if feedback is not None:
            self._record(self._loss, self._loss_count, *last_per_item(*feedback))

    def state_dict(self) -> dict[str, Any]:
        """The learned attributes plus the order, saved as the positions that moved."""
        moved = np.flatnonzero(self._order != self._base)
        return {**super().state_dict(), "moved_at": moved, "moved_items": self._order[moved]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        moved_at = np.asarray(state["moved_at"], dtype=np.int64)
        items = np.asarray(state["moved_items"], dtype=np.int64)
        size = self.pool.size
        if moved_at.shape != items.shape or not ((moved_at >= 0) & (moved_at < size)).all():
            raise ValueError("adcl state: moved positions outside the pool or unpaired")
        replaced = self._base[moved_at]
        if not np.array_equal(np.sort(items), np.sort(replaced)) or not np.array_equal(
            self._batch_of[items], self._batch_of[replaced]
        ):
            raise ValueError("adcl state: the moved items are not a re-sort within ADCL batches")
        super().load_state_dict(state)
        order = self._base.copy()
        order[moved_at] = items
        self._order = order
        self._count_values()

    def metrics(self) -> dict[str, float]:
        return {
            "batch": float(max(self._batch, 0)),
            "sweep": float(self._sweep),
            "resorted": float(self._resorted),
        }
