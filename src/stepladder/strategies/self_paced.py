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

from stepladder._checks import choice, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy
from stepladder.strategies.pacing import (
    _count,
    _number,
    _Passes,
    dense_state,
    difficulty_rank,
    feedback_loss,
    last_per_item,
    sparse_state,
)

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
    only items of positive weight (including unobserved ones) are sampled, uniformly; all
    items when none qualifies.

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
            self.lam = _number("lam", lam, low=0.0, high=1.0, open_low=True, open_high=True)
        else:
            self.lam = _number("lam", lam, low=0.0, open_low=True)
        self.growth = _number("growth", growth, low=1.0)
        self.epoch_steps = positive_int("epoch_steps", epoch_steps)
        self.select = bool(select)

    def _setup(self) -> None:
        self._loss = np.full(self.pool.size, np.nan)
        self._lam0 = self.lam
        self._steps = 0
        self._passes = _Passes()
        self._passes.restart(self.pool.size)

    def threshold(self) -> float | None:
        """Lambda at the next proposal's step; None until lambda0 is known."""
        if self._lam0 is None:
            return None
        return self._lam0 * self.growth ** (self._steps // self.epoch_steps)

    def weights(self, indices: Any = None) -> np.ndarray:
        """Current weights of ``indices`` (all items when omitted)."""
        losses = self._loss if indices is None else self._loss[np.asarray(indices, np.int64)]
        return self_paced_weights(losses, self.threshold(), self.regime)

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return Proposal(np.zeros(0, dtype=np.int64), weights=np.zeros(0))
        if self.select:
            eligible = np.flatnonzero(self.weights() > 0)
            if len(eligible) == 0:
                eligible = np.arange(self.pool.size, dtype=np.int64)
            self._passes.restart(len(eligible))
            indices = eligible[self._passes.draw(n, self.rng)]
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
        self._loss[items] = latest
        if self._lam0 is None:
            median = float(np.median(losses))
            if median > 0:
                self._lam0 = median

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self._steps,
            "lam0": self._lam0,
            "loss": sparse_state(self._loss),
            "passes": self._passes.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._steps = int(state["steps"])
        self._lam0 = None if state["lam0"] is None else float(state["lam0"])
        self._loss = dense_state(state["loss"], self.pool.size)
        self._passes.load_state_dict(state["passes"])

    def metrics(self) -> dict[str, float]:
        out = {"step": float(self._steps)}
        lam = self.threshold()
        if lam is not None and math.isfinite(lam):
            out["lambda"] = lam
        seen = ~np.isnan(self._loss)
        if seen.any():
            out["included"] = float(np.mean(self.weights(np.flatnonzero(seen)) > 0))
        return out


@register("spdcl")
class SPDCL(Strategy):
    """Easy-to-hard resampling by static plus model difficulty, at a loss-driven pace.

    SPDCL (self-paced dynamic curriculum learning) as the reference card describes it: a
    static difficulty (for text, a linguistic one) is combined with a model-based one, and
    training resamples from easy to hard with an adaptive pace. The card's source paper
    could not be checked here; the rules below are our instantiation of that description::

        s_i = normalised rank of the pool's difficulty      (0 easiest, 1 hardest/unknown)
        m_i = normalised rank of item i's latest loss among observed items  (s_i if unseen)
        d_i = mix * s_i + (1 - mix) * m_i
        g   = start + (1 - start) * min(1, tau / T)          # fraction of the pool in use
        tau <- tau + speed after each proposal
        speed = clip((L_slow / L_fast) ** gain, 1/2, 2)

    Each batch is drawn uniformly from the ceil(g N) items of smallest d. L_fast and L_slow
    are exponential moving averages of the batch mean loss (rates ``smoothing`` and
    ``smoothing / 10``): while the loss falls, L_fast < L_slow and the pace speeds up (up to
    2x); when harder items push the loss up, it slows down (to 1/2x). Without loss feedback
    speed = 1 and g is a linear pacing over T proposals. Once g = 1 the whole pool is used.

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

    def __init__(
        self,
        *,
        mix: float = 0.5,
        start: float = 0.1,
        total_steps: int = 1000,
        gain: float = 5.0,
        smoothing: float = 0.1,
    ) -> None:
        self.mix = _number("mix", mix, low=0.0, high=1.0)
        self.start = _number("start", start, low=0.0, high=1.0, open_low=True)
        self.total_steps = positive_int("total_steps", total_steps)
        self.gain = _number("gain", gain, low=0.0)
        self.smoothing = _number("smoothing", smoothing, low=0.0, high=1.0, open_low=True)

    def _setup(self) -> None:
        self._static = difficulty_rank(self.pool.difficulty)
        self._loss = np.full(self.pool.size, np.nan)
        self._tau = 0.0
        self._steps = 0
        self._fast: float | None = None
        self._slow: float | None = None
        self._dirty = True  # new losses since the last draw: re-rank and start a fresh pass
        self._order: np.ndarray | None = None  # cache, a function of the losses
        self._passes = _Passes()

    def scores(self) -> np.ndarray:
        """Combined difficulty d_i of every item (smaller = easier)."""
        model = difficulty_rank(self._loss)
        unseen = np.isnan(self._loss)
        model[unseen] = self._static[unseen]
        return self.mix * self._static + (1.0 - self.mix) * model

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
        if self._order is None:
            self._order = np.lexsort((self._static, self.scores())).astype(np.int64)
        size = _count(self.fraction(), self.pool.size)
        if self._dirty or size != self._passes.size:
            self._passes.restart(size)
            self._dirty = False
        positions = self._passes.draw(n, self.rng)
        self._tau += self.speed()
        self._steps += 1
        return Proposal(self._order[positions])

    def observe(self, outcomes: Outcomes) -> None:
        feedback = feedback_loss(outcomes)
        if feedback is None:
            return
        rows, losses = feedback
        items, latest = last_per_item(rows, losses)
        self._loss[items] = latest
        self._order, self._dirty = None, True
        mean = float(np.mean(losses))
        if self._fast is None or self._slow is None:
            self._fast = self._slow = mean
        else:
            self._fast += self.smoothing * (mean - self._fast)
            self._slow += self.smoothing / 10.0 * (mean - self._slow)

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self._steps,
            "tau": self._tau,
            "fast": self._fast,
            "slow": self._slow,
            "dirty": self._dirty,
            "loss": sparse_state(self._loss),
            "passes": self._passes.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._steps, self._tau = int(state["steps"]), float(state["tau"])
        self._fast = None if state["fast"] is None else float(state["fast"])
        self._slow = None if state["slow"] is None else float(state["slow"])
        self._dirty = bool(state["dirty"])
        self._loss = dense_state(state["loss"], self.pool.size)
        self._order = None
        self._passes.load_state_dict(state["passes"])

    def metrics(self) -> dict[str, float]:
        return {"step": float(self._steps), "fraction": self.fraction(), "speed": self.speed()}
