"""verl: a curriculum in verl's v1 PPO/GRPO trainer (``trainer.use_v1=true``, verl 0.9).

verl's v1 trainer draws prompts from its train dataset, generates their groups into
TransferQueue, and lets a *replay buffer* pick the finished groups each step trains on. Two of
its documented extension points carry the curriculum:

- ``trainer.v1.sampler.custom_sampler`` names :class:`CurriculumReplayBuffer` (sync trainer)
  or :class:`CurriculumReplayBufferAsync` (``colocate_async``/``separate_async``). It builds
  the :class:`~stepladder.Curriculum` from ``trainer.v1.sampler.sampler_kwargs``, observes
  every finished group's rewards (``rm_scores``, summed per response) as soon as TransferQueue
  marks it finished, and, for filtering strategies, evicts the groups ``Curriculum.keep``
  rejects through verl's own eviction and refill path: they are never trained on and verl asks
  the dataset for exactly as many new prompts.
- ``data.custom_cls`` names :class:`CurriculumRLHFDataset` (verl's ``RLHFDataset`` with
  :class:`CurriculumDatasetMixin`). The trainer's dataloader only counts positions: every row
  it asks for is the curriculum's next proposal, and an allocating strategy's budget reaches
  the rollout as that prompt's ``__rollout_n__`` (verl generates that many responses for it).
  The dataset is what verl's ``StatefulDataLoader`` checkpoints into ``data.pt``, so it
  carries the curriculum's state: a resumed run continues exactly.

Both live in verl's driver process (the ``TaskRunnerV1`` actor); the replay buffer is built
first and the train dataset attaches to it. Requirements: ``data.dataloader_num_workers=0``
(a worker process would draw from a copy of the curriculum), rewards at sampling time (a
rule-based reward, or ``reward.reward_model.enable_resource_pool=true``: a colocated reward
model scores only after sampling), and for filtering strategies ``data.gen_batch_size=1``
(verl refills in whole ``gen_batch_size`` fetches). Setup and overrides:
``docs/integrations.md``.

``import stepladder`` never imports this module; it needs verl and TransferQueue
(``pip install 'stepladder[verl]'``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sized
from typing import Any

import numpy as np

from stepladder._checks import choice, positive_int
from stepladder.curriculum import Curriculum
from stepladder.integrations._rollouts import RewardScale, group_metrics, outcomes_from_rows
from stepladder.pool import ItemPool

try:
    import torch
    import transfer_queue as tq
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync
    from verl.utils.dataset.rl_dataset import RLHFDataset
except ImportError as _error:  # pragma: no cover - exercised only where verl is absent
    raise ImportError(
        "stepladder.integrations.verl needs verl (0.9, v1 trainer) and TransferQueue: "
        f"pip install 'stepladder[verl]' ({_error})"
    ) from _error

__all__ = [
    "ROW_KEY",
    "CurriculumDatasetMixin",
    "CurriculumRLHFDataset",
    "CurriculumReplayBuffer",
    "CurriculumReplayBufferAsync",
]

logger = logging.getLogger(__name__)

#: The row field the dataset adds to each prompt: its row number, read back from each group.
ROW_KEY = "stepladder_row"
#: Keys of ``trainer.v1.sampler.sampler_kwargs`` the replay buffer reads.
CONFIG_KEYS = (
    "strategy",
    "params",
    "seed",
    "reward_range",
    "difficulty_key",
    "group_key",
    "filtering",
    "allocation",
    "max_rejected_per_step",
)
#: ``evict``: rejected groups are evicted and refilled by verl; ``ignore``: all are trained on.
FILTERINGS = ("evict", "ignore")
#: ``rollouts``: each prompt's budget is its ``__rollout_n__``; ``ignore``: ``rollout.n`` each.
ALLOCATIONS = ("rollouts", "ignore")
_FORMAT = 1

# The replay buffer built last in this process that no train dataset has attached to yet.
_unbound: list[Any] = []
_bound_once = False


class _CurriculumBufferMixin:
    """The curriculum half shared by the sync and async replay buffers (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _bound_once
        settings = _settings(kwargs.get("sampler_kwargs"))
        self.strategy_name = settings.get("strategy", "uniform")
        self.params = dict(settings.get("params") or {})
        self.seed = settings.get("seed")
        self.difficulty_key = settings.get("difficulty_key")
        self.group_key = settings.get("group_key")
        self.filtering = choice("filtering", settings.get("filtering", "evict"), FILTERINGS)
        self.allocation = choice("allocation", settings.get("allocation", "rollouts"), ALLOCATIONS)
        self._scale = RewardScale(tuple(settings.get("reward_range", (0.0, 1.0))), logger)
        limit = settings.get("max_rejected_per_step")
        self.max_rejected_per_step = (
            None if limit is None else positive_int("max_rejected_per_step", limit)
        )
        self._trainer_refill = kwargs.get("refill_fn")
        if self._trainer_refill is not None:
            kwargs["refill_fn"] = self._refill
        super().__init__(*args, **kwargs)
        #: The curriculum, built when the train dataset attaches (it gives the pool).
        self.curriculum: Curriculum | None = None
        self.batch_size = 0
        self._queue: deque[tuple[int, int | None]] = deque()
        self._requested = 0  # prompts the next fetches take (set by verl's refill)
        self._seen: set[str] = set()  # finished groups observed, while they are in TransferQueue
        self._rejected: set[str] = set()  # groups rejected and not yet evicted
        self._rejected_step = (-1, 0)  # (global step, groups rejected in it)
        self._warned: set[str] = set()
        self._step_rows: list[np.ndarray] = []  # rows and rewards observed since the last sample
        self._step_rewards: list[np.ndarray] = []
        _unbound[:] = [self]
        _bound_once = False

    # -- the dataset side -------------------------------------------------------------------

    def attach(self, dataset: Sized, data_config: Any) -> None:
        """Build the curriculum over ``dataset``'s rows (called by the train dataset)."""
        data = _plain(data_config) or {}
        workers = data.get("dataloader_num_workers", 0)
        if workers:
            raise ValueError(
                f"data.dataloader_num_workers={workers}: the curriculum dataset must run in "
                "verl's driver process; set data.dataloader_num_workers=0"
            )
        self.batch_size = positive_int("data.train_batch_size", data.get("train_batch_size", 1))
        gen_batch = data.get("gen_batch_size")
        seed = self.seed if self.seed is not None else data.get("seed")
        self.curriculum = Curriculum(
            _pool(dataset, self.difficulty_key, self.group_key),
            self.strategy_name,
            seed=0 if seed is None else int(seed),
            **self.params,
        )
        strategy = self.curriculum.strategy
        fetch = gen_batch or self.batch_size
        if (
            strategy.filters
            and self.filtering == "evict"
            and self.trainer_mode == "sync"
            and fetch != 1
        ):
            raise ValueError(
                f"strategy {strategy.name!r} filters groups and verl refills them one prompt at "
                f"a time: set data.gen_batch_size=1 (the dataloader fetches {fetch})"
            )

    def next_item(self) -> tuple[int, int | None]:
        """The next prompt row and its rollout count (None: ``rollout.n``) to generate."""
        if self.curriculum is None:
            raise RuntimeError("no train dataset has attached to this replay buffer")
        if not self._queue:
            n = self._requested or self.batch_size
            self._requested = 0
            proposal = self.curriculum.propose(n)
            rollouts = proposal.rollouts if self.allocation == "rollouts" else None
            if proposal.weights is not None:
                self._warn_once("weights", "verl's v1 trainer takes no per-prompt loss weights")
            for i, row in enumerate(proposal.indices.tolist()):
                self._queue.append((row, None if rollouts is None else int(rollouts[i])))
        return self._queue.popleft()

    def _refill(self, num_prompts: int) -> Any:
        self._requested = max(0, int(num_prompts) - len(self._queue))  # the next proposal's size
        return self._trainer_refill(num_prompts)

    # -- the replay buffer side -------------------------------------------------------------

    def _terminal_eviction_reasons(self, global_steps: int, partition_id: str) -> Any:
        stale, dapo, failed, counts = super()._terminal_eviction_reasons(global_steps, partition_id)
        if partition_id == "val" or self.curriculum is None:
            return stale, dapo, failed, counts
        self._observe_finished(global_steps, partition_id)
        rejected = self._rejected & self.finished_keys[partition_id]
        return stale, dapo, failed | rejected, counts

    def _evict_terminal_groups(
        self, global_steps: int, partition_id: str, eviction_reasons: Any
    ) -> Any:
        ours = eviction_reasons[2] & self._rejected
        evicted, stale_count, dapo_count, metrics = super()._evict_terminal_groups(
            global_steps, partition_id, eviction_reasons
        )
        if ours:
            self._rejected -= ours
            prefix = self._metrics_prefix(partition_id)
            failures = metrics.pop(f"{prefix}/rollout_failure/evicted_samples", 0) - len(ours)
            if failures > 0:
                metrics[f"{prefix}/rollout_failure/evicted_samples"] = failures
            metrics[f"{prefix}/stepladder/rejected_groups"] = len(ours)
        return evicted, stale_count, dapo_count, metrics

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> Any:
        batch, metrics = super().sample(global_steps, partition_id, batch_size)
        if partition_id != "val" and self.curriculum is not None:
            metrics.update({f"stepladder/{k}": v for k, v in self.curriculum.metrics().items()})
            metrics.update(self._source_metrics())
        return batch, metrics

    def _source_metrics(self) -> dict[str, float]:
        """Per-source metrics of the groups observed since the last training sample (the
        step's generated groups, evicted ones included), under ``stepladder/source/``."""
        if not self._step_rows:
            return {}
        rows, rewards = np.concatenate(self._step_rows), np.concatenate(self._step_rewards)
        self._step_rows, self._step_rewards = [], []
        outcomes, _ = outcomes_from_rows(rows, rewards)
        return group_metrics(self.curriculum.pool, outcomes, prefix="stepladder/source/")

    def _observe_finished(self, global_steps: int, partition_id: str) -> None:
        """Observe the groups TransferQueue marked finished since the last poll."""
        finished = self.finished_keys[partition_id]
        present = (
            finished
            | self.failure_keys[partition_id]
            | self.running_keys[partition_id]
            | self.pending_keys[partition_id]
        )
        self._seen &= present
        self._rejected &= present
        new = sorted(finished - self._seen)
        if not new:
            return
        keys_of: dict[str, list[str]] = {uid: [] for uid in new}
        sessions: set[tuple[str, str]] = set()
        for key in self.partitions[partition_id]:
            uid, session, _ = key.split("_", 2)
            if uid in keys_of and (uid, session) not in sessions:  # one output per session
                sessions.add((uid, session))
                keys_of[uid].append(key)
        keys = [key for uid in new for key in keys_of[uid]]
        self._seen.update(new)
        if not keys:
            return
        rows, rewards = _read_groups(keys, partition_id)
        # uids are random: observe in row order, so the same feedback gives the same updates
        order = sorted(range(len(keys)), key=lambda i: (int(rows[i]), keys[i]))
        keys, rows, rewards = [keys[i] for i in order], rows[order], rewards[order]
        scaled = self._scale(rewards)
        outcomes, item_of_row = outcomes_from_rows(rows, scaled)
        self.curriculum.observe(outcomes)
        if self.curriculum.pool.groups is not None:
            self._step_rows.append(rows)
            self._step_rewards.append(scaled)
        if self.filtering != "evict" or not self.curriculum.strategy.filters:
            return
        keep = self.curriculum.keep(outcomes)[item_of_row]
        step, count = self._rejected_step
        if step != global_steps:
            step, count = global_steps, 0
        for key, kept in zip(keys, keep.tolist(), strict=True):
            uid = key.split("_", 1)[0]
            if kept or uid in self._rejected:
                continue
            if self.max_rejected_per_step is not None and count >= self.max_rejected_per_step:
                self._warn_once(
                    "limit",
                    f"max_rejected_per_step={self.max_rejected_per_step} reached at step "
                    f"{global_steps}: the groups the strategy rejects after it are trained on",
                )
                break
            self._rejected.add(uid)
            count += 1
        self._rejected_step = (step, count)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    # -- checkpointing (through the dataset, which verl's dataloader saves) -----------------

    def state_dict(self) -> dict[str, Any]:
        """The curriculum, the proposals not yet drawn, and the groups already observed."""
        if self.curriculum is None:
            raise RuntimeError("no train dataset has attached to this replay buffer")
        return {
            "format": _FORMAT,
            "curriculum": self.curriculum.state_dict(),
            "queue": [list(item) for item in self._queue],
            "requested": self._requested,
            "seen": sorted(self._seen),
            "rejected": sorted(self._rejected),
            "rejected_step": list(self._rejected_step),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.curriculum is None:
            raise RuntimeError("no train dataset has attached to this replay buffer")
        if state.get("format") != _FORMAT:
            raise ValueError(f"unsupported replay buffer state format {state.get('format')!r}")
        self.curriculum.load_state_dict(state["curriculum"])
        self._queue = deque((int(row), None if n is None else int(n)) for row, n in state["queue"])
        self._requested = int(state["requested"])
        self._seen = set(state["seen"])
        self._rejected = set(state["rejected"])
        self._rejected_step = (int(state["rejected_step"][0]), int(state["rejected_step"][1]))


class CurriculumReplayBuffer(_CurriculumBufferMixin, ReplayBuffer):
    """verl's sync replay buffer (``trainer.v1.trainer_mode=sync``) driven by a curriculum.

    verl builds it from ``trainer.v1.sampler``; the curriculum's settings are the
    ``sampler_kwargs``: ``strategy`` (default ``"uniform"``), ``params`` (the strategy's
    parameters, and the safety net's ``uniform_mix`` and ``cover_groups``), ``seed`` (default
    ``data.seed``, else 0), ``reward_range`` (the total reward's ``[low, high]``, mapped to
    ``[0, 1]``; default ``[0, 1]``), ``difficulty_key`` (a dataset
    column with prior difficulties), ``group_key`` (a dataset column naming each row's source,
    such as verl's ``data_source``: the pool's groups, for strategies that use them and for
    per-source metrics), ``filtering`` (``"evict"``: groups a filtering strategy
    rejects are evicted and replaced through verl's refill, default; ``"ignore"``),
    ``allocation`` (``"rollouts"``: an allocating strategy's budget becomes the prompt's
    ``__rollout_n__``, default; ``"ignore"``) and ``max_rejected_per_step`` (after that many
    rejected groups in a step the rest are trained on; default no limit).

    Every finished training group is observed once, with one reward per response (the sum of
    its ``rm_scores``); its prompt is the row the dataset stored under :data:`ROW_KEY`.
    Advantages do not exist yet when groups finish, so strategies that learn only from
    advantages are refused by ``Curriculum.observe``.

    Each training step's metrics (what ``sample`` returns to verl's logger) get
    ``stepladder/<name>`` for the curriculum's metrics and, with ``group_key``,
    ``stepladder/source/<group>/share``, ``/pass_rate`` and ``/effective_ratio`` over the
    groups observed since the previous step (rewards on the ``[0, 1]`` scale).

    Example:
        >>> buffer = CurriculumReplayBuffer(
        ...     trainer_mode="sync", trainer_config={}, max_off_policy_threshold=None,
        ...     max_off_policy_strategy="drop", sampler_kwargs={"strategy": "uniform", "seed": 3})
        >>> buffer.attach(range(10), {"train_batch_size": 4, "dataloader_num_workers": 0})
        >>> [buffer.next_item()[0] in range(10) for _ in range(4)]
        [True, True, True, True]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        mode = kwargs.get("trainer_mode", args[0] if args else None)
        if mode != "sync":
            raise ValueError(
                f"trainer_mode={mode!r}: CurriculumReplayBuffer is the sync replay buffer; "
                "name CurriculumReplayBufferAsync for the async trainers"
            )
        super().__init__(*args, **kwargs)


class CurriculumReplayBufferAsync(_CurriculumBufferMixin, ReplayBufferAsync):
    """verl's async replay buffer (``colocate_async``/``separate_async``) driven by a
    curriculum: the settings and behaviour of :class:`CurriculumReplayBuffer`, with verl's
    async sampling (stale groups dropped, every eviction refilled one for one). Feedback lags
    by the prompts already in flight (``num_warmup_batches``)."""


class CurriculumDatasetMixin:
    """Makes a verl dataset class serve the curriculum's proposals (see the module doc).

    The train dataset (the one built from ``data.train_files``) attaches to the replay buffer
    built just before it; any other (the validation set) behaves as the base class.
    ``state_dict``/``load_state_dict`` are what the ``StatefulDataLoader`` saves in
    ``data.pt``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _bound_once
        super().__init__(*args, **kwargs)
        self.curriculum_buffer: Any = None
        config = getattr(self, "config", None)
        train_files = None if config is None else config.get("train_files")
        is_train = train_files is not None and _files(getattr(self, "data_files", None)) == _files(
            train_files
        )
        if not is_train:
            return
        if _unbound:
            self.curriculum_buffer = _unbound.pop()
            self.curriculum_buffer.attach(self, config)
            _bound_once = True
        elif not _bound_once:
            raise RuntimeError(
                f"{type(self).__name__} is the train dataset but no CurriculumReplayBuffer was "
                "built before it: set trainer.v1.sampler.custom_sampler.path=pkg://"
                "stepladder.integrations.verl and custom_sampler.name=CurriculumReplayBuffer"
            )

    def __getitem__(self, item: int) -> dict[str, Any]:
        buffer = self.curriculum_buffer
        if buffer is None:
            return super().__getitem__(item)  # type: ignore[misc]
        if torch.utils.data.get_worker_info() is not None:
            raise RuntimeError(
                "the curriculum dataset was read in a dataloader worker, which holds a copy of "
                "the curriculum: set data.dataloader_num_workers=0"
            )
        row, rollouts = buffer.next_item()
        row_dict = super().__getitem__(row)  # type: ignore[misc]
        row_dict[ROW_KEY] = row
        if rollouts is not None:
            row_dict["__rollout_n__"] = rollouts
        return row_dict

    def state_dict(self) -> dict[str, Any]:
        return {} if self.curriculum_buffer is None else self.curriculum_buffer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.curriculum_buffer is not None:
            self.curriculum_buffer.load_state_dict(state)


class CurriculumRLHFDataset(CurriculumDatasetMixin, RLHFDataset):
    """verl's ``RLHFDataset`` serving the curriculum's proposals: ``data.custom_cls.path=pkg://
    stepladder.integrations.verl`` and ``data.custom_cls.name=CurriculumRLHFDataset``."""


def _read_groups(keys: list[str], partition_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Each trajectory's prompt row and total reward, read from TransferQueue."""
    try:
        data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=[ROW_KEY])
        rows = np.asarray(_values(data[ROW_KEY]), dtype=np.int64)
    except Exception as error:  # TransferQueue raises several kinds for a missing field
        raise RuntimeError(
            f"finished groups carry no {ROW_KEY!r}: the prompts did not come from a "
            "curriculum dataset (data.custom_cls.name=CurriculumRLHFDataset)"
        ) from error
    try:
        data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=["rm_scores"])
        rewards = np.array([float(score.float().sum()) for score in data["rm_scores"]])
    except Exception as error:
        raise RuntimeError(
            "finished groups carry no 'rm_scores': the curriculum needs rewards when groups "
            "finish, so use a rule-based reward or reward.reward_model.enable_resource_pool=true"
        ) from error
    return rows, rewards


def _values(column: Any) -> list[Any]:
    """A TransferQueue column (tensor, nested tensor or NonTensorStack) as a list."""
    if isinstance(column, torch.Tensor) and not column.is_nested:
        return column.reshape(-1).tolist()
    if hasattr(column, "tolist"):
        return list(column.tolist())
    return [getattr(value, "data", value) for value in column]


def _settings(sampler_kwargs: Any) -> dict[str, Any]:
    """``sampler_kwargs`` as a dict of the keys this adapter reads; others are refused."""
    settings = _plain(sampler_kwargs) or {}
    if not isinstance(settings, dict):
        raise ValueError(f"sampler_kwargs must be a mapping, got {type(settings).__name__}")
    unknown = sorted(set(settings) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(
            f"unknown trainer.v1.sampler.sampler_kwargs {unknown}; known: {list(CONFIG_KEYS)}"
        )
    if not isinstance(settings.get("params") or {}, dict):
        raise ValueError(f"sampler_kwargs.params must be a mapping, got {settings['params']!r}")
    return {key: value for key, value in settings.items() if value is not None}


def _plain(config: Any) -> Any:
    """An OmegaConf config as plain Python containers (anything else unchanged)."""
    if isinstance(config, DictConfig | ListConfig):
        return OmegaConf.to_container(config, resolve=True)
    return config


def _files(files: Any) -> list[str] | None:
    if files is None:
        return None
    files = _plain(files)
    return [
        str(f)
        for f in (files if isinstance(files, Iterable) and not isinstance(files, str) else [files])
    ]


def _pool(dataset: Sized, difficulty_key: str | None, group_key: str | None = None) -> ItemPool:
    """The dataset's rows as a pool, with difficulty and group columns where they are named."""
    difficulty = _column(dataset, "difficulty_key", difficulty_key)
    groups = _column(dataset, "group_key", group_key)
    return ItemPool(
        size=len(dataset),
        difficulty=None if difficulty is None else np.asarray(difficulty, dtype=np.float64),
        groups=None if groups is None else list(groups),
    )


def _column(dataset: Sized, setting: str, key: str | None) -> Any:
    """The column ``key`` of the dataset's ``dataframe`` (None when no key is named)."""
    if key is None:
        return None
    frame = getattr(dataset, "dataframe", None)
    try:
        return frame[key]  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"{setting}={key!r}: the dataset has no such column "
            "(read from dataset.dataframe, as verl's RLHFDataset has)"
        ) from None
