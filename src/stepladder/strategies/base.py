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

__all__ = ["FEEDBACK_FIELDS", "PROMPT_SELECTION_NET", "Proposal", "Strategy"]

#: The Outcomes fields a strategy can learn from (what ``Strategy.feedback`` may name).
FEEDBACK_FIELDS = ("rewards", "advantages", "losses", "signals")

#: The safety net of the strategies that choose prompts from rewards (``mopps``, ``cures``,
#: ``pcl``, ``adarft``, ``cdas``, ``gain``, ``dump``, ``sec``): a tenth of each batch drawn
#: uniformly, and every group proposed at least once in 4 steps. Chosen by evidence: in the
#: real GRPO benchmark it ended ``pcl``'s forgetting of the easy levels where most prompts are
#: informative (regime (a)), and kept these strategies' gains over ``uniform`` on a pool of
#: mostly never-solved prompts (regime (b)); see docs/benchmarks.md.
PROMPT_SELECTION_NET: dict[str, Any] = {"uniform_mix": 0.1, "cover_groups": 4}


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

    The contract, which the conformance suite (:mod:`stepladder.testing`) checks for every
    registered strategy:

    - ``__init__`` takes keyword-only parameters, validates their values and stores them
      under the same names; it touches no data.
    - ``bind(pool, stats, rng)`` is called once, before any other method. The strategy keeps
      the pool (read only), the shared :class:`~stepladder.stats.ItemStats` (updated by the
      curriculum before each ``observe``) and ``rng``, its only source of randomness.
    - ``propose(n)`` returns a :class:`Proposal` of exactly ``n`` valid indices (``n`` may be
      0 or exceed the pool size). It may set ``rollouts`` (positive ints) or ``weights``.
    - ``observe(outcomes)`` learns from feedback. Items never proposed, repeated items,
      empty batches and constant rewards are all valid feedback.
    - ``feedback`` names the :class:`~stepladder.outcomes.Outcomes` fields ``observe`` learns
      from; a non-empty batch that carries none of them is rejected by :meth:`check_feedback`
      before anything changes.
    - ``learned`` names the attributes that hold learned state. The base ``state_dict``
      saves them (arrays sized to the pool as the rows that differ from their value at
      ``bind``, so checkpoints grow with the items touched) and ``load_state_dict`` checks
      the plain ones before assigning any. Attributes with their own ``state_dict`` (the
      helpers in ``_toolbox``) are saved and loaded through it. Override both only for state
      that is derived (call ``super()`` for the rest).
    - ``keep`` changes no state: the journal does not record it.
      Loading into a fresh object bound to the same pool restores it exactly, so the same
      later feedback gives the same later proposals.
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
    #: The family reports group the strategy under; empty: its module's name.
    family: ClassVar[str] = ""
    #: Outcomes fields ``observe`` learns from: a non-empty batch must carry at least one.
    feedback: ClassVar[tuple[str, ...]] = ()
    #: Attributes holding learned state, saved and restored by the base class.
    learned: ClassVar[tuple[str, ...]] = ()
    #: The safety net a :class:`~stepladder.Curriculum` gives this strategy when the caller
    #: leaves ``uniform_mix``/``cover_groups`` unset, e.g. ``{"uniform_mix": 0.1,
    #: "cover_groups": 4}``; empty: none (see :class:`~stepladder.safety.SafetyNet`).
    default_safety_net: ClassVar[dict[str, Any]] = {}

    pool: ItemPool
    stats: ItemStats
    rng: np.random.Generator

    def bind(self, pool: ItemPool, stats: ItemStats, rng: np.random.Generator) -> None:
        """Attach the pool, shared statistics and random generator, then set up state."""
        if self.needs_difficulty:
            if pool.difficulty is None:
                raise ValueError(
                    f"strategy {self.name!r} needs a prior difficulty per item: "
                    "build the pool with ItemPool(..., difficulty=...)"
                )
            if pool.size and np.isnan(pool.difficulty).all():
                raise ValueError(
                    f"strategy {self.name!r} needs a prior difficulty per item, "
                    "but every difficulty in the pool is NaN"
                )
        self.pool, self.stats, self.rng = pool, stats, rng
        self._setup()
        self._fills = {name: _fill_value(getattr(self, name), pool.size) for name in self.learned}

    def _setup(self) -> None:  # noqa: B027 - optional hook
        """Allocate state sized to the pool (override when needed)."""

    @abc.abstractmethod
    def propose(self, n: int) -> Proposal:
        """Choose ``n`` items for the next step."""

    def observe(self, outcomes: Outcomes) -> None:  # noqa: B027 - stateless strategies ignore feedback
        """Learn from one batch of feedback."""

    def check_feedback(self, outcomes: Outcomes) -> None:
        """Raise ``ValueError`` if a non-empty batch carries none of the :attr:`feedback` fields.

        Example:
            >>> from stepladder.strategies import create
            >>> strategy = create("dump")
            >>> strategy.check_feedback(Outcomes([0], losses=[0.3]))
            Traceback (most recent call last):
            ...
            ValueError: strategy 'dump' learns from rewards, but the outcomes carry only losses
        """
        if not self.feedback or len(outcomes) == 0:
            return
        if any(getattr(outcomes, field) is not None for field in self.feedback):
            return
        carried = [f for f in FEEDBACK_FIELDS if getattr(outcomes, f) is not None]
        raise ValueError(
            f"strategy {self.name!r} learns from {' or '.join(self.feedback)}, but the outcomes "
            + (f"carry only {', '.join(carried)}" if carried else "carry no feedback")
        )

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        """Which groups of a generated batch to train on (bool per item); all by default."""
        return np.ones(len(outcomes), dtype=bool)

    def state_dict(self) -> dict[str, Any]:
        """Learned state (not parameters), enough to continue exactly: the :attr:`learned`
        attributes, pool-sized arrays stored as the rows that changed since ``bind``."""
        return {name: _encode(getattr(self, name), self._fills.get(name)) for name in self.learned}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Plain entries are all checked before any is assigned; nested helpers (with their own
        ``load_state_dict``) check their own state and load in place as they are reached.
        :meth:`Curriculum.load_state_dict <stepladder.Curriculum.load_state_dict>` restores a
        snapshot when anything fails, so a failed load through it changes nothing.
        """
        missing = [name for name in self.learned if name not in state]
        if missing:
            raise ValueError(f"strategy {self.name!r} state lacks {', '.join(missing)}")
        decoded = {
            name: _decode(state[name], getattr(self, name), f"{self.name}.{name}", self.pool.size)
            for name in self.learned
        }
        for name, value in decoded.items():
            if value is not _LOADED_IN_PLACE:
                setattr(self, name, value)

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


_LOADED_IN_PLACE = object()


def _fill_value(value: Any, pool_size: int) -> Any:
    """The constant a pool-sized array held at bind (so only changed rows are saved), or None."""
    if not isinstance(value, np.ndarray) or value.ndim == 0 or len(value) != pool_size:
        return None
    if pool_size == 0:
        return None
    first = value.reshape(pool_size, -1)[0, 0]
    same = value == first
    if value.dtype.kind == "f" and np.isnan(first):
        same = np.isnan(value)
    return first.item() if same.all() else None


def _changed_rows(array: np.ndarray, fill: Any) -> np.ndarray:
    differs = array != fill
    if array.dtype.kind == "f" and isinstance(fill, float) and np.isnan(fill):
        differs = ~np.isnan(array)
    return np.flatnonzero(differs.reshape(len(array), -1).any(axis=1))


def _encode(value: Any, fill: Any) -> Any:
    if hasattr(value, "state_dict") and callable(value.state_dict):
        return {"__state__": value.state_dict()}
    if isinstance(value, np.ndarray):
        if fill is not None and value.ndim >= 1:
            rows = _changed_rows(value, fill)
            return {
                "__rows__": rows,
                "values": value[rows],
                "fill": np.asarray(fill),  # an array, so a NaN fill compares equal to itself
                "shape": list(value.shape),
                "dtype": value.dtype.str,
            }
        return value.copy()
    if isinstance(value, dict):
        return {k: _encode(v, None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, None) for v in value]
    return value


def _decode(state: Any, current: Any, where: str, pool_size: int) -> Any:
    """A new value for an attribute from its saved state, checked against its current value."""
    if state is None:
        return None  # e.g. a statistic not yet measured when the state was saved
    if hasattr(current, "load_state_dict") and callable(current.load_state_dict):
        if not isinstance(state, dict) or "__state__" not in state:
            raise ValueError(f"{where}: expected a nested state")
        current.load_state_dict(state["__state__"])  # helpers check before assigning
        return _LOADED_IN_PLACE
    if isinstance(current, np.ndarray):
        if isinstance(state, dict) and "__rows__" in state:
            shape = tuple(int(d) for d in state["shape"])
            array = np.full(shape, np.asarray(state["fill"]), dtype=np.dtype(state["dtype"]))
            rows = np.asarray(state["__rows__"], dtype=np.int64)
            if rows.size and (rows.min() < 0 or rows.max() >= shape[0]):
                raise ValueError(f"{where}: saved rows outside 0..{shape[0] - 1}")
            array[rows] = state["values"]
        else:
            array = np.array(state, copy=True)
        pool_sized = current.ndim >= 1 and len(current) == pool_size
        if array.shape[1:] != current.shape[1:] or (pool_sized and array.shape != current.shape):
            raise ValueError(f"{where}: saved shape {array.shape}, expected {current.shape}")
        if array.dtype.kind != current.dtype.kind and array.size:
            raise ValueError(f"{where}: saved dtype {array.dtype}, expected {current.dtype}")
        return array.astype(current.dtype, copy=False)
    if isinstance(current, dict) and isinstance(state, dict):
        return {k: _decode(v, current.get(k), f"{where}.{k}", pool_size) for k, v in state.items()}
    if isinstance(current, tuple) and isinstance(state, list):
        return tuple(state)
    if isinstance(current, int | float) and not isinstance(current, bool):
        if isinstance(state, bool) or not isinstance(state, int | float | np.number):
            raise ValueError(f"{where}: saved {state!r}, expected a number")
        return type(current)(state)
    return state
