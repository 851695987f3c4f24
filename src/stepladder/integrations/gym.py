"""gymnasium adapter: a wrapper that lets a curriculum choose the task of every episode.

:class:`CurriculumWrapper` asks a curriculum for the next task on every ``reset``, applies it
to the environment, adds up the episode's reward and, when the episode terminates or is
truncated, reports ``Outcomes([task], [score])`` with the return scaled to ``[0, 1]``.
Reports are buffered and sent every ``report_every`` episodes.

The curriculum is anything with the :class:`CurriculumClient` interface: a local
:class:`~stepladder.Curriculum`, or a
:class:`~stepladder.integrations.ray.RemoteCurriculum` shared by many processes.

Vector environments: wrap each sub-environment (``SyncVectorEnv([make_wrapped] * k)``).
In gymnasium 1.x every autoreset mode calls the sub-environment's own ``reset``: with the
default ``NEXT_STEP`` mode, the ``step`` after an episode ended calls ``reset`` on that
sub-environment (and returns its first observation with reward 0), so each new episode gets
a task from the curriculum without any code in the training loop. In a
``SyncVectorEnv`` all sub-environments may share one local curriculum. In an
``AsyncVectorEnv`` each subprocess would hold its own copy of a local
:class:`~stepladder.Curriculum` and the copy in the training process would learn nothing: the
wrapper's ``reset`` raises ``RuntimeError`` there (when it was built in an ``AsyncVectorEnv``
worker, or runs in another process than the one that built it). Share a
:class:`~stepladder.integrations.ray.RemoteCurriculum` instead, and start the workers with
``AsyncVectorEnv(..., context="spawn")``: a forked worker inherits the parent's Ray
connection, and its first call to the curriculum actor hangs.

Requires the ``gymnasium`` extra: ``pip install 'stepladder[gym]'``.

Example:
    >>> import gymnasium as gym
    >>> from stepladder import Curriculum
    >>> from stepladder.integrations.gym import CurriculumWrapper
    >>> maps = [["SFFF", "FHFH", "FFFH", "HFFG"], ["SFFF", "FFFF", "FFFF", "FFFG"]]
    >>> def apply_task(env, index, desc):
    ...     return gym.make("FrozenLake-v1", desc=desc, is_slippery=False, max_episode_steps=30)
    >>> env = CurriculumWrapper(
    ...     gym.make("FrozenLake-v1", desc=maps[0], is_slippery=False),
    ...     Curriculum(len(maps), "uniform", seed=0),
    ...     apply_task=apply_task,
    ...     tasks=maps,
    ... )
    >>> obs, info = env.reset(seed=0)
    >>> info["task_index"] in (0, 1)
    True
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, SupportsFloat, runtime_checkable

import numpy as np

try:
    import gymnasium
except ImportError as _error:  # pragma: no cover - exercised only where gymnasium is absent
    raise ImportError(
        f"stepladder.integrations.gym needs gymnasium: pip install 'stepladder[gym]' ({_error})"
    ) from _error

from stepladder.curriculum import Curriculum
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool

__all__ = ["CurriculumClient", "CurriculumWrapper"]

ApplyTask = Callable[[gymnasium.Env, int, Any], "gymnasium.Env | None"]


_COPY_MESSAGE = (
    "CurriculumWrapper runs in another process (an AsyncVectorEnv worker) with a local "
    "Curriculum: that process holds a copy, and the training process's curriculum would learn "
    "nothing from its episodes. Share one curriculum through Ray: "
    "RemoteCurriculum(get_or_create_curriculum(...)) from stepladder.integrations.ray, with "
    "AsyncVectorEnv(..., context='spawn'); or use SyncVectorEnv with the local Curriculum"
)


def _in_async_vector_worker() -> bool:
    """Whether this process is a gymnasium ``AsyncVectorEnv`` worker (it names them so)."""
    name = multiprocessing.current_process().name
    return name.startswith("Worker<") and "VectorEnv>" in name


@runtime_checkable
class CurriculumClient(Protocol):
    """What the wrapper needs from a curriculum: ``propose(n)`` and ``observe(outcomes)``.

    ``propose`` returns a :class:`~stepladder.Proposal` or anything ``np.asarray`` turns into
    item indices. :class:`~stepladder.Curriculum` and
    :class:`~stepladder.integrations.ray.RemoteCurriculum` both qualify.
    """

    def propose(self, n: int) -> Any:
        """Choose ``n`` task indices."""

    def observe(self, outcomes: Outcomes, /) -> None:
        """Learn from finished episodes."""


class CurriculumWrapper(gymnasium.Wrapper):
    """Sets a curriculum-chosen task on each ``reset``; reports each episode's score.

    Args:
        env: the environment to wrap. Put this wrapper outermost (at least outside
            ``TimeLimit``), so that it sees the ``truncated`` flag that ends an episode.
        curriculum: a :class:`CurriculumClient` over a pool with one item per task.
        apply_task: ``apply_task(env, task_index, task_params)`` configures the wrapped env
            for the task. It may return a new environment, which replaces the wrapped one
            (the old one is closed); the new one must have the same spaces. When omitted,
            the env's ``set_task(task_index, task_params)`` method is called instead.
        tasks: maps a task index to the parameters given to ``apply_task``: the task pool
            (an :class:`~stepladder.ItemPool`, as a ``stepladder.tasks`` space builds it:
            its ``features`` row, or the item id where it has no features), a sequence
            (``tasks[index]``) or a callable (``tasks(index)``). When omitted, the
            parameters are ``None``.
        return_range: ``(low, high)``: the score is ``(return - low) / (high - low)``, clipped
            to ``[0, 1]``.
        success_key: score an episode 1.0 when ``info[success_key]`` of its last step is
            true, else 0.0 (takes precedence over the return).
        signal_key: send ``info[signal_key]`` of the last step as the outcome's signal (for
            teachers that use a learner signal, such as a value-loss score).
        report_every: episodes buffered before one ``observe`` call (1 = report each).
        propose_every: tasks requested per ``propose`` call; the rest are kept for the next
            resets. Larger values cut round trips to a remote curriculum at the price of
            tasks chosen from older information.

    Without ``return_range`` or ``success_key`` the return itself is the score and must lie
    in ``[0, 1]`` (as for FrozenLake); otherwise a ``ValueError`` names the fix.

    An episode that is abandoned by a ``reset`` before it ended is not reported; it is
    counted in :attr:`abandoned_episodes`. ``close()`` (also called by vector envs) and
    :meth:`flush` send buffered reports.

    Attributes:
        task_index: index of the current episode's task (None before the first reset).
        task_params: parameters of the current task.
        episodes: episodes finished and scored so far.
        abandoned_episodes: episodes reset before they ended.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        curriculum: CurriculumClient,
        *,
        apply_task: ApplyTask | None = None,
        tasks: ItemPool | Sequence[Any] | Callable[[int], Any] | None = None,
        return_range: tuple[float, float] | None = None,
        success_key: str | None = None,
        signal_key: str | None = None,
        report_every: int = 1,
        propose_every: int = 1,
    ) -> None:
        super().__init__(env)
        if not callable(getattr(curriculum, "propose", None)) or not callable(
            getattr(curriculum, "observe", None)
        ):
            raise TypeError("curriculum must have propose(n) and observe(outcomes) methods")
        if return_range is not None:
            low, high = (float(v) for v in return_range)
            if not (np.isfinite(low) and np.isfinite(high) and high > low):
                raise ValueError(
                    f"return_range must be finite (low, high) with high > low, got {return_range}"
                )
            return_range = (low, high)
        for name, value in (("report_every", report_every), ("propose_every", propose_every)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if apply_task is None and not callable(getattr(env.unwrapped, "set_task", None)):
            raise ValueError(
                "give apply_task(env, task_index, task_params) or wrap an env whose unwrapped "
                "env has a set_task(task_index, task_params) method"
            )
        self.curriculum = curriculum
        self.apply_task = apply_task
        self.tasks = tasks
        self.return_range = return_range
        self.success_key = success_key
        self.signal_key = signal_key
        self.report_every = int(report_every)
        self.propose_every = int(propose_every)
        self.task_index: int | None = None
        self.task_params: Any = None
        self.episodes = 0
        self.abandoned_episodes = 0
        self._queue: list[int] = []
        self._return = 0.0
        self._running = False
        self._indices: list[int] = []
        self._scores: list[float] = []
        self._signals: list[float] = []
        self._seeder: np.random.Generator | None = None
        self._pid = os.getpid()
        # Raised at reset, where an AsyncVectorEnv worker sends errors back to the caller.
        self._copied = isinstance(curriculum, Curriculum) and _in_async_vector_worker()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Take the next task, apply it, and reset the env; ``info["task_index"]`` names it."""
        if isinstance(self.curriculum, Curriculum) and (self._copied or os.getpid() != self._pid):
            raise RuntimeError(_COPY_MESSAGE)
        if self._running:
            self.abandoned_episodes += 1
        if seed is not None:
            self._seeder = np.random.default_rng(seed)
        index = self._next_task()
        params = self._params(index)
        replaced = self._apply(index, params)
        if replaced and seed is None and self._seeder is not None:
            # A fresh env has an unseeded generator; derive its seed so seeded runs repeat.
            seed = int(self._seeder.integers(2**31 - 1))
        self.task_index, self.task_params = index, params
        self._return = 0.0
        self._running = True
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        info["task_index"] = index
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; at the episode's end, score it and buffer the report."""
        if not self._running:
            raise RuntimeError("call reset() before step(), and after an episode ends")
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        if terminated or truncated:
            self._running = False
            self._record(info)
        return obs, reward, terminated, truncated, info

    def flush(self) -> None:
        """Send buffered episode reports to the curriculum now."""
        if not self._indices:
            return
        signals = self._signals if self.signal_key is not None else None
        outcomes = Outcomes(self._indices, self._scores, signals=signals)
        self._indices, self._scores, self._signals = [], [], []
        self.curriculum.observe(outcomes)

    def close(self) -> None:
        """Send buffered reports (and flush a remote client), then close the env."""
        self.flush()
        flush = getattr(self.curriculum, "flush", None)
        if callable(flush):
            flush()
        super().close()

    def score(self, episode_return: float, info: dict[str, Any]) -> float:
        """The ``[0, 1]`` score of an episode from its return and its last step's info."""
        if self.success_key is not None:
            if self.success_key not in info:
                raise KeyError(f"success_key {self.success_key!r} missing from the final info")
            return 1.0 if bool(info[self.success_key]) else 0.0
        if self.return_range is not None:
            low, high = self.return_range
            return float(np.clip((episode_return - low) / (high - low), 0.0, 1.0))
        if not 0.0 <= episode_return <= 1.0:
            raise ValueError(
                f"episode return {episode_return} is outside [0, 1]; give "
                "return_range=(low, high) or success_key to score episodes"
            )
        return episode_return

    def _next_task(self) -> int:
        if not self._queue:
            proposal = self.curriculum.propose(self.propose_every)
            self._queue = [int(i) for i in np.asarray(proposal).reshape(-1)]
            if not self._queue:
                raise RuntimeError("the curriculum proposed no task")
        return self._queue.pop(0)

    def _params(self, index: int) -> Any:
        if self.tasks is None:
            return None
        if isinstance(self.tasks, ItemPool):
            if self.tasks.features is not None:
                return self.tasks.features[index]
            return self.tasks.ids([index])[0]
        if callable(self.tasks):
            return self.tasks(index)
        return self.tasks[index]

    def _apply(self, index: int, params: Any) -> bool:
        """Apply the task; True when ``apply_task`` returned a replacement env."""
        if self.apply_task is None:
            self.env.unwrapped.set_task(index, params)
            return False
        new_env = self.apply_task(self.env, index, params)
        if new_env is None or new_env is self.env:
            return False
        if not isinstance(new_env, gymnasium.Env):
            raise TypeError(f"apply_task returned {type(new_env).__name__}, not an Env or None")
        self.env.close()
        self.env = new_env
        return True

    def _record(self, info: dict[str, Any]) -> None:
        assert self.task_index is not None
        self._indices.append(self.task_index)
        self._scores.append(self.score(self._return, info))
        if self.signal_key is not None:
            if self.signal_key not in info:
                raise KeyError(f"signal_key {self.signal_key!r} missing from the final info")
            self._signals.append(float(info[self.signal_key]))
        self.episodes += 1
        if len(self._indices) >= self.report_every:
            self.flush()
