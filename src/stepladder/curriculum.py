"""The Curriculum facade: a pool, a strategy, a seeded generator and shared statistics."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from stepladder._checks import index_array, positive_int
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.stats import ItemStats
from stepladder.strategies import Proposal, Strategy, create

__all__ = ["Curriculum"]

_FORMAT = 1


class Curriculum:
    """Decides which items to train on next and learns from what happened.

    Args:
        pool: an :class:`ItemPool`, a number of items, or a sequence of item ids.
        strategy: a registered strategy name (see ``stepladder.strategies.available()``) or a
            :class:`Strategy` instance.
        seed: seed of the generator that is the strategy's only source of randomness.
        **params: parameters of the named strategy.

    The loop::

        batch = cur.propose(n)     # Proposal: indices (and rollouts per item, if allocated)
        cur.observe(outcomes)      # Outcomes for (some of) those items, or any others

    Same seed and same feedback give the same proposals; ``state_dict()`` taken at any point
    and loaded into a fresh Curriculum continues exactly.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(100, "uniform", seed=0)
        >>> batch = cur.propose(4)
        >>> cur.observe(Outcomes(batch.indices, rewards=[[1, 0], [0, 0], [1, 1], [0, 1]]))
        >>> cur.step, int(cur.stats.attempts.sum())
        (1, 8)
    """

    def __init__(
        self,
        pool: ItemPool | int | Sequence[Hashable],
        strategy: str | Strategy = "uniform",
        *,
        seed: int | None = 0,
        **params: Any,
    ) -> None:
        if isinstance(pool, int | np.integer) and not isinstance(pool, bool):
            pool = ItemPool(size=int(pool))
        elif not isinstance(pool, ItemPool):
            pool = ItemPool(pool)
        if isinstance(strategy, str):
            strategy = create(strategy, **params)
        elif not isinstance(strategy, Strategy):
            raise ValueError(
                f"strategy must be a name or a Strategy, got {type(strategy).__name__}"
            )
        elif params:
            raise ValueError(f"parameters {sorted(params)} given with a Strategy instance")
        self.pool = pool
        self.strategy = strategy
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.stats = ItemStats(pool.size)
        self.step = 0
        strategy.bind(pool, self.stats, self.rng)

    def __repr__(self) -> str:
        return f"Curriculum({self.pool!r}, {self.strategy!r}, step={self.step})"

    def propose(self, n: int) -> Proposal:
        """Choose ``n`` items (indices into the pool) for the next step."""
        n = positive_int("n", n, allow_zero=True)
        proposal = self.strategy.propose(n)
        index_array("proposal indices", proposal.indices, self.pool.size)
        if len(proposal) != n:
            raise RuntimeError(
                f"strategy {self.strategy.name!r} proposed {len(proposal)} items, asked {n}"
            )
        return proposal

    def observe(self, outcomes: Outcomes | None = None, /, **fields: Any) -> None:
        """Learn from feedback: an :class:`Outcomes`, or its fields as keywords.

        Example:
            >>> cur = Curriculum(10)
            >>> cur.observe(indices=[2, 5], rewards=[1.0, 0.0])
            >>> cur.stats.mean_reward([2, 5]).tolist()
            [1.0, 0.0]
        """
        if outcomes is None:
            outcomes = Outcomes(**fields)
        elif fields:
            raise ValueError("give either an Outcomes or its fields, not both")
        index_array("outcomes.indices", outcomes.indices, self.pool.size)
        self.strategy.check_feedback(outcomes)
        self.stats.update(outcomes, self.step)
        self.strategy.observe(outcomes)
        self.step += 1

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        """Which generated groups to train on (bool per item), as the strategy decides."""
        mask = np.asarray(self.strategy.keep(outcomes), dtype=bool)
        if mask.shape != (len(outcomes),):
            raise RuntimeError(
                f"strategy {self.strategy.name!r} returned a keep mask of shape {mask.shape}"
            )
        return mask

    def metrics(self) -> dict[str, float]:
        """Scalars for logging: step, items seen, and the strategy's own metrics."""
        return {
            "step": float(self.step),
            "items_seen": float(np.count_nonzero(self.stats.seen())),
            **{f"{self.strategy.name}/{k}": v for k, v in self.strategy.metrics().items()},
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: step, generator, statistics, strategy."""
        return {
            "format": _FORMAT,
            "strategy": self.strategy.name,
            "pool_size": self.pool.size,
            "step": self.step,
            "rng": self.rng.bit_generator.state,
            "stats": self.stats.state_dict(),
            "strategy_state": self.strategy.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` taken from a Curriculum with the same pool and strategy."""
        if state.get("format") != _FORMAT:
            raise ValueError(f"unsupported curriculum state format {state.get('format')!r}")
        if state["strategy"] != self.strategy.name:
            raise ValueError(
                f"state is for strategy {state['strategy']!r}, "
                f"this curriculum uses {self.strategy.name!r}"
            )
        if int(state["pool_size"]) != self.pool.size:
            raise ValueError(
                f"state is for a pool of {state['pool_size']} items, not {self.pool.size}"
            )
        self.stats.load_state_dict(state["stats"])
        self.strategy.load_state_dict(state["strategy_state"])
        self.rng.bit_generator.state = state["rng"]
        self.step = int(state["step"])
