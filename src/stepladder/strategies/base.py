"""The strategy contract and the proposal type strategies return."""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.stats import ItemStats

__all__ = ["Proposal", "Strategy"]


@dataclass(frozen=True, eq=False)
class Proposal:
    """Items chosen for the next step.

    Behaves like its ``indices`` array (``len``, iteration, ``np.asarray``).

    Attributes:
        indices: item indices, shape ``(n,)``, int64.
        rollouts: rollouts to generate per item, shape ``(n,)``, or None where the strategy
            leaves the group size to the trainer.
        weights: per-item loss weights, shape ``(n,)``, or None for equal weights.

    Example:
        >>> p = Proposal(np.array([4, 2]), rollouts=np.array([8, 16]))
        >>> len(p), list(p), np.asarray(p).tolist()
        (2, [4, 2], [4, 2])
    """

    indices: np.ndarray
    rollouts: np.ndarray | None = None
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        return iter(self.indices.tolist())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.indices if dtype is None else self.indices.astype(dtype)


class Strategy(abc.ABC):
    """Base class of every curriculum strategy.

    The contract, which the conformance suite (``tests/strategies/test_conformance.py``)
    checks for every registered strategy:

    - ``__init__`` takes keyword-only parameters, validates their values and stores them
      under the same names; it touches no data.
    - ``bind(pool, stats, rng)`` is called once, before any other method. The strategy keeps
      the pool (read only), the shared :class:`~stepladder.stats.ItemStats` (updated by the
      curriculum before each ``observe``) and ``rng``, its only source of randomness.
    - ``propose(n)`` returns a :class:`Proposal` of exactly ``n`` valid indices (``n`` may be
      0 or exceed the pool size). It may set ``rollouts`` (positive ints) or ``weights``.
    - ``observe(outcomes)`` learns from feedback. Items never proposed, repeated items,
      empty batches and constant rewards are all valid feedback.
    - ``state_dict()`` returns the learned state only (scalars, lists, dicts, NumPy arrays);
      ``load_state_dict`` on a fresh object bound to the same pool restores it exactly, so
      that the same later feedback gives the same later proposals.
    - ``metrics()`` returns finite floats worth logging.
    - ``keep(outcomes)`` (filtering strategies, ``filters = True``) says which generated
      groups to train on; :func:`stepladder.batching.fill_batch` refills the batch.
    """

    name: ClassVar[str] = ""
    #: Whether proposals carry per-item rollout counts.
    allocates_rollouts: ClassVar[bool] = False
    #: Whether the strategy needs ``pool.difficulty``.
    needs_difficulty: ClassVar[bool] = False
    #: Whether the strategy filters generated groups (see :meth:`keep`).
    filters: ClassVar[bool] = False

    pool: ItemPool
    stats: ItemStats
    rng: np.random.Generator

    def bind(self, pool: ItemPool, stats: ItemStats, rng: np.random.Generator) -> None:
        """Attach the pool, shared statistics and random generator, then set up state."""
        if self.needs_difficulty and pool.difficulty is None:
            raise ValueError(
                f"strategy {self.name!r} needs a prior difficulty per item: "
                "build the pool with ItemPool(..., difficulty=...)"
            )
        self.pool, self.stats, self.rng = pool, stats, rng
        self._setup()

    def _setup(self) -> None:  # noqa: B027 - optional hook
        """Allocate state sized to the pool (override when needed)."""

    @abc.abstractmethod
    def propose(self, n: int) -> Proposal:
        """Choose ``n`` items for the next step."""

    def observe(self, outcomes: Outcomes) -> None:  # noqa: B027 - stateless strategies ignore feedback
        """Learn from one batch of feedback."""

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        """Which groups of a generated batch to train on (bool per item); all by default."""
        return np.ones(len(outcomes), dtype=bool)

    def state_dict(self) -> dict[str, Any]:
        """Learned state (not parameters), enough to continue exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027
        """Restore what :meth:`state_dict` returned."""

    def metrics(self) -> dict[str, float]:
        """Finite scalars describing the strategy's current state, for logging."""
        return {}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, read back from the attributes of the same names."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name, p in signature.parameters.items()
            if p.kind is p.KEYWORD_ONLY
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
