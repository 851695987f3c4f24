"""Ray adapter: one curriculum in a named actor, shared by every worker of a Ray job.

The actor (:class:`CurriculumHost` run as a Ray actor) owns the only copy of the curriculum:
its pool, strategy, generator and statistics. Workers find it by name and talk to it through
:class:`RemoteCurriculum`, a client with the ``propose``/``observe`` interface of
:class:`~stepladder.Curriculum` that buffers observations and sends them in batches, so the
gymnasium wrapper and training loops use a local or a shared curriculum alike.

A Ray actor runs one method call at a time, in the order each caller submitted them, so
concurrent workers can neither lose nor double an observation. Every ``Outcomes`` a worker
observes becomes one ``Curriculum.observe`` on the actor (one step), exactly as it would
locally; a batch only saves round trips.

Requires the ``ray`` extra: ``pip install 'stepladder[ray]'``.

Example:
    >>> import ray
    >>> from stepladder.integrations.ray import (
    ...     RemoteCurriculum, get_or_create_curriculum, kill_curriculum)
    >>> ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)  # doctest: +SKIP
    >>> handle = get_or_create_curriculum("teacher", 100, "uniform", seed=0)  # doctest: +SKIP
    >>> cur = RemoteCurriculum(handle, flush_every=64)  # doctest: +SKIP
    >>> batch = cur.propose(8)  # doctest: +SKIP
    >>> cur.observe(batch.indices, rewards=[1, 0, 1, 1, 0, 0, 1, 0])  # doctest: +SKIP
    >>> cur.flush(wait=True)  # doctest: +SKIP
    >>> kill_curriculum("teacher")  # the actor is detached: end it when done  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

try:
    import ray
except ImportError as _error:  # pragma: no cover - exercised only where ray is absent
    raise ImportError(
        f"stepladder.integrations.ray needs Ray: pip install 'stepladder[ray]' ({_error})"
    ) from _error

from stepladder.curriculum import Curriculum
from stepladder.io import load_state, save_state
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.strategies import Proposal, Strategy

__all__ = [
    "CurriculumActor",
    "CurriculumHost",
    "RemoteCurriculum",
    "get_curriculum",
    "get_or_create_curriculum",
    "kill_curriculum",
]

_FIELDS = ("indices", "rewards", "counts", "advantages", "losses", "signals", "step")


def _to_wire(outcomes: Outcomes) -> dict[str, Any]:
    """The non-empty fields of an Outcomes as a plain dict (cheap to serialise)."""
    wire = {name: getattr(outcomes, name) for name in _FIELDS}
    return {name: value for name, value in wire.items() if value is not None}


def _as_outcomes(item: Any) -> Outcomes:
    """One batch: an Outcomes, a mapping of its fields, or an ``(indices, rewards)`` tuple."""
    if isinstance(item, Outcomes):
        return item
    if isinstance(item, Mapping):
        fields = dict(item)
        indices = fields.pop("indices")
        rewards = fields.pop("rewards", None)
        return Outcomes(indices, rewards, **fields)
    if isinstance(item, tuple) and len(item) in (1, 2):
        return Outcomes(*item)
    raise TypeError(
        "a batch must be an Outcomes, a mapping of its fields, or an (indices, rewards) tuple; "
        f"got {type(item).__name__}"
    )


class CurriculumHost:
    """The object a :data:`CurriculumActor` wraps: a :class:`~stepladder.Curriculum` plus counters.

    Usable without Ray (tests, single process); methods mirror the Curriculum's.

    Args:
        pool: an :class:`~stepladder.ItemPool`, a number of items, or a sequence of ids.
        strategy: a registered strategy name or a :class:`~stepladder.Strategy`.
        seed: the curriculum's seed.
        params: parameters of the named strategy, and the safety net's ``uniform_mix`` and
            ``cover_groups`` (see :class:`~stepladder.Curriculum`).

    Example:
        >>> host = CurriculumHost(10, "uniform", seed=0)
        >>> host.observe_batch([([1, 2], [1.0, 0.0]), {"indices": [3], "rewards": [0.5]}])
        2
        >>> host.counters()
        {'step': 2, 'observe_calls': 1, 'batches': 2, 'outcomes': 3}
    """

    def __init__(
        self,
        pool: ItemPool | int | Sequence[Hashable],
        strategy: str | Strategy = "uniform",
        seed: int | None = 0,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.curriculum = Curriculum(pool, strategy, seed=seed, **dict(params or {}))
        self._seed = seed
        self._lock = threading.Lock()  # guards against actors given max_concurrency > 1
        self._observe_calls = 0
        self._batches = 0
        self._outcomes = 0
        self._sources = _SourceTally(self.curriculum.pool)

    def config(self) -> dict[str, Any]:
        """Strategy name, pool size and seed, to check that a found actor is the right one."""
        return {
            "strategy": self.curriculum.strategy.name,
            "pool_size": self.curriculum.pool.size,
            "seed": self._seed,
        }

    def propose(self, n: int) -> Proposal:
        """``Curriculum.propose(n)``."""
        with self._lock:
            return self.curriculum.propose(n)

    def observe(self, outcomes: Any) -> int:
        """Observe one batch; returns the curriculum's step afterwards."""
        return self.observe_batch([outcomes])

    def observe_batch(self, batches: Any) -> int:
        """Observe several batches in order, each as one ``Curriculum.observe`` (one step).

        ``batches`` is a list of batches, or one batch: an :class:`~stepladder.Outcomes`, a
        mapping of its fields (``{"indices": ..., "rewards": ...}``), or an
        ``(indices, rewards)`` tuple. All are validated before any is observed, so a bad
        batch leaves the curriculum unchanged. Returns the step afterwards.
        """
        if not isinstance(batches, list):
            batches = [batches]
        converted = [_as_outcomes(batch) for batch in batches]
        with self._lock:
            size = self.curriculum.pool.size
            for number, outcomes in enumerate(converted):
                if len(outcomes) and (outcomes.indices.max() >= size):
                    raise ValueError(
                        f"batch {number}: index {int(outcomes.indices.max())} is outside the "
                        f"pool of {size} items"
                    )
            for outcomes in converted:
                self.curriculum.observe(outcomes)
                self._sources.add(outcomes)
                self._outcomes += len(outcomes)
            self._batches += len(converted)
            self._observe_calls += 1
            return self.curriculum.step

    def counters(self) -> dict[str, int]:
        """Curriculum step, observe calls received, batches and outcomes (items) observed."""
        with self._lock:
            return {
                "step": self.curriculum.step,
                "observe_calls": self._observe_calls,
                "batches": self._batches,
                "outcomes": self._outcomes,
            }

    def metrics(self) -> dict[str, float]:
        """The curriculum's metrics, the host's counters under ``remote/`` and, for a pool with
        groups, per-source metrics of the outcomes observed since the previous call (from every
        worker): ``source/<group>/share`` (share of those items), ``/pass_rate`` (mean reward)
        and, for outcomes with several rewards per item, ``/effective_ratio`` (share of items
        whose rewards differed).

        Example:
            >>> host = CurriculumHost(ItemPool(size=4, groups=["a", "a", "b", "b"]))
            >>> host.observe_batch([([0, 2], [1.0, 0.0]), ([1], [1.0])])
            2
            >>> {k: v for k, v in host.metrics().items() if k.startswith("source/")}
            ... # doctest: +NORMALIZE_WHITESPACE
            {'source/a/share': 0.6666666666666666, 'source/b/share': 0.3333333333333333,
             'source/a/pass_rate': 1.0, 'source/b/pass_rate': 0.0}
            >>> [k for k in host.metrics() if k.startswith("source/")]  # read: started afresh
            []
        """
        with self._lock:
            metrics = {**self.curriculum.metrics(), **self._sources.pop()}
        counters = self.counters()
        metrics.update({f"remote/{k}": float(v) for k, v in counters.items() if k != "step"})
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """``Curriculum.state_dict()`` (counters are not part of it)."""
        with self._lock:
            return self.curriculum.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> int:
        """``Curriculum.load_state_dict(state)``; returns the restored step."""
        with self._lock:
            self.curriculum.load_state_dict(state)
            return self.curriculum.step

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the state atomically to ``path`` on the actor's node; returns the path."""
        save_state(path, self.state_dict())
        return os.fspath(path)

    def load(self, path: str | os.PathLike[str]) -> int:
        """Restore the state from ``path`` on the actor's node; returns the restored step."""
        return self.load_state_dict(load_state(path))

    def ping(self) -> bool:
        """True; wait on it to know the actor is up."""
        return True


class _SourceTally:
    """Per-group sums of observed outcomes (O(batch + groups) per batch, O(groups) memory),
    turned into ``group_metrics``'s per-source metrics, under ``source/``, and reset."""

    def __init__(self, pool: ItemPool) -> None:
        self.pool = pool
        # items, items with rewards in groups, rollouts, reward sum, mixed items; per group
        self.sums = None if pool.groups is None else np.zeros((5, len(pool.group_names)))

    def add(self, outcomes: Outcomes) -> None:
        if self.sums is None or len(outcomes) == 0:
            return
        codes = self.pool.groups[outcomes.indices]
        self.sums[0] += np.bincount(codes, minlength=self.sums.shape[1])
        if outcomes.rewards is None:
            return
        for row, values in enumerate((outcomes.rollouts, outcomes.reward_sum, outcomes.mixed), 2):
            self.sums[row] += np.bincount(codes, weights=values, minlength=self.sums.shape[1])
        if outcomes.rewards.ndim == 2:
            self.sums[1] += np.bincount(codes, minlength=self.sums.shape[1])

    def pop(self) -> dict[str, float]:
        if self.sums is None or self.sums[0].sum() == 0:
            return {}
        items, grouped, rollouts, rewards, mixed = self.sums
        names = [f"source/{name}" for name in self.pool.group_names]
        metrics = {f"{name}/share": items[g] / items.sum() for g, name in enumerate(names)}
        for g, name in enumerate(names):
            if rollouts[g] > 0:
                metrics[f"{name}/pass_rate"] = rewards[g] / rollouts[g]
            if grouped[g] > 0:
                metrics[f"{name}/effective_ratio"] = mixed[g] / grouped[g]
        self.sums[:] = 0
        return {key: float(value) for key, value in metrics.items()}


CurriculumActor = ray.remote(CurriculumHost)
""":class:`CurriculumHost` as a Ray actor class (``CurriculumActor.options(...).remote(...)``)."""


def _pool_size(pool: ItemPool | int | Sequence[Hashable]) -> int:
    if isinstance(pool, ItemPool):
        return pool.size
    if isinstance(pool, int | np.integer) and not isinstance(pool, bool):
        return int(pool)
    return len(pool)


def get_or_create_curriculum(
    name: str,
    pool: ItemPool | int | Sequence[Hashable],
    strategy: str | Strategy = "uniform",
    *,
    seed: int | None = 0,
    namespace: str | None = None,
    detached: bool = True,
    actor_options: Mapping[str, Any] | None = None,
    **params: Any,
) -> ray.actor.ActorHandle:
    """The named curriculum actor: created by the first caller, found by every later one.

    Creation is race-free (Ray's ``get_if_exists``): workers starting together all get the
    same actor, whichever of them creates it. A found actor is checked against ``pool`` and
    ``strategy`` (size and name); a mismatch raises ``ValueError`` rather than silently
    sharing another curriculum.

    Lifetime: the actor is detached by default, so it lives until :func:`kill_curriculum`
    (or the Ray cluster's shutdown), whichever process created it. A non-detached actor
    (``detached=False``) is owned by its creator and dies with it: created from a worker task
    while the driver holds no handle, it is gone when that task returns, and the other
    workers get ``ActorDiedError``. Use ``detached=False`` only from the driver.

    Args:
        name: actor name, unique within ``namespace``.
        pool, strategy, seed, **params: as for :class:`~stepladder.Curriculum` (used only
            when the actor is created).
        namespace: Ray namespace; None is the job's namespace (set it in ``ray.init`` or
            here to share the actor between jobs).
        detached: ``lifetime="detached"`` (default): the actor outlives the process (and
            the job) that created it; end it with :func:`kill_curriculum`.
        actor_options: further ``.options()`` for the actor (``num_cpus``, ``resources``,
            ``max_restarts``...).

    Returns:
        The actor handle; wrap it in :class:`RemoteCurriculum` to use it like a Curriculum.
    """
    options: dict[str, Any] = dict(actor_options or {})
    options.update(name=name, get_if_exists=True)
    if namespace is not None:
        options["namespace"] = namespace
    if detached:
        options["lifetime"] = "detached"
    handle = CurriculumActor.options(**options).remote(pool, strategy, seed, params)
    found = ray.get(handle.config.remote())
    expected_size = _pool_size(pool)
    expected_name = strategy if isinstance(strategy, str) else strategy.name
    if found["pool_size"] != expected_size or found["strategy"] != expected_name:
        raise ValueError(
            f"actor {name!r} already hosts strategy {found['strategy']!r} over "
            f"{found['pool_size']} items, not {expected_name!r} over {expected_size}"
        )
    return handle


def get_curriculum(name: str, *, namespace: str | None = None) -> ray.actor.ActorHandle:
    """The existing curriculum actor called ``name`` (``ValueError`` if there is none)."""
    return ray.get_actor(name, namespace=namespace)


def kill_curriculum(name: str, *, namespace: str | None = None) -> bool:
    """End the curriculum actor called ``name`` (save its state first if you need it).

    Returns whether there was one. Detached actors (the default of
    :func:`get_or_create_curriculum`) live until this call or the cluster's shutdown.
    """
    try:
        handle = ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    ray.kill(handle, no_restart=True)
    return True


class RemoteCurriculum:
    """A client of a curriculum actor with the ``propose``/``observe`` interface of Curriculum.

    ``observe`` buffers its batches and sends them in one ``observe_batch`` call once
    ``flush_every`` outcomes (items) are buffered; each buffered batch still becomes one
    ``Curriculum.observe`` on the actor. Sends are asynchronous: at most ``max_in_flight``
    are outstanding before the client waits for the oldest (which also surfaces the actor's
    errors). ``propose`` waits for its answer; observations still in this client's buffer
    are not yet visible to it (call :meth:`flush` first where that matters). Ray runs one
    caller's calls in submission order, so sent observations always precede a later propose.

    Batches are validated here, where they are made, so errors name the caller's data.
    Pickling (to pass the client to Ray tasks) copies the handle and settings, not the buffer.

    Args:
        handle: a curriculum actor handle (see :func:`get_or_create_curriculum`).
        flush_every: outcomes buffered before a send (1 = send every observe).
        max_in_flight: outstanding sends before waiting for the oldest.
    """

    def __init__(
        self, handle: ray.actor.ActorHandle, *, flush_every: int = 1, max_in_flight: int = 8
    ) -> None:
        for label, value in (("flush_every", flush_every), ("max_in_flight", max_in_flight)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        self.handle = handle
        self.flush_every = int(flush_every)
        self.max_in_flight = int(max_in_flight)
        self._buffer: list[dict[str, Any]] = []
        self._buffered = 0
        self._pending: list[ray.ObjectRef] = []
        self.sent_calls = 0

    def __getstate__(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "flush_every": self.flush_every,
            "max_in_flight": self.max_in_flight,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["handle"],
            flush_every=state["flush_every"],
            max_in_flight=state["max_in_flight"],
        )

    def __repr__(self) -> str:
        return (
            f"RemoteCurriculum(flush_every={self.flush_every}, buffered={self._buffered}, "
            f"in_flight={len(self._pending)})"
        )

    def __enter__(self) -> RemoteCurriculum:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def propose(self, n: int) -> Proposal:
        """Ask the actor for ``n`` items (waits for the answer)."""
        return ray.get(self.handle.propose.remote(n))

    def propose_async(self, n: int) -> ray.ObjectRef:
        """Ask for ``n`` items without waiting; ``ray.get`` the reference for the Proposal."""
        return self.handle.propose.remote(n)

    def observe(self, outcomes: Outcomes | None = None, /, **fields: Any) -> None:
        """Buffer feedback (an Outcomes or its fields as keywords); send when enough is buffered.

        ``observe(indices, rewards=...)`` with positional indices also works.
        """
        if outcomes is None:
            outcomes = Outcomes(**fields)
        elif not isinstance(outcomes, Outcomes):
            outcomes = Outcomes(outcomes, **fields)
        elif fields:
            raise ValueError("give either an Outcomes or its fields, not both")
        self._buffer.append(_to_wire(outcomes))
        self._buffered += len(outcomes)
        if self._buffered >= self.flush_every:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        """Send buffered batches; with ``wait``, also wait until the actor observed all sent."""
        if self._buffer:
            self._pending.append(self.handle.observe_batch.remote(self._buffer))
            self.sent_calls += 1
            self._buffer, self._buffered = [], 0
        while len(self._pending) > self.max_in_flight:
            ray.get(self._pending.pop(0))
        if wait and self._pending:
            pending, self._pending = self._pending, []
            ray.get(pending)

    def close(self) -> None:
        """Send everything buffered and wait until the actor has observed it."""
        self.flush(wait=True)

    def state_dict(self) -> dict[str, Any]:
        """The actor's curriculum state, after this client's observations."""
        self.flush(wait=True)
        return ray.get(self.handle.state_dict.remote())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the actor's curriculum (affects every client of the actor)."""
        self.flush(wait=True)
        ray.get(self.handle.load_state_dict.remote(state))

    def metrics(self) -> dict[str, float]:
        """The actor's metrics, after this client's observations."""
        self.flush(wait=True)
        return ray.get(self.handle.metrics.remote())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the actor's state to ``path`` on the actor's node."""
        self.flush(wait=True)
        ray.get(self.handle.save.remote(os.fspath(path)))

    def load(self, path: str | os.PathLike[str]) -> None:
        """Load the actor's state from ``path`` on the actor's node."""
        self.flush(wait=True)
        ray.get(self.handle.load.remote(os.fspath(path)))
