"""verl: a curriculum as the PPO/GRPO trainer's train sampler, fed from each step's ``DataProto``.

:class:`VerlCurriculumSampler` is a ``torch`` sampler (the PyTorch adapter's
:class:`~stepladder.integrations.torch.CurriculumSampler`, one proposal per training batch,
proposed when the loader asks for that batch) with verl's curriculum interface:

- ``VerlCurriculumSampler(data_source, data_config)`` is the constructor verl's
  ``create_rl_sampler`` calls for ``data.sampler.class_path`` (verl's main branch), and the
  class subclasses verl's ``AbstractCurriculumSampler`` wherever verl has one;
- ``update(batch)`` reads the step's ``DataProto``: prompt indices (``extra_info.index`` by
  default), per-rollout rewards (``token_level_scores`` summed over the response) and
  advantages (the mean over response tokens), grouped per prompt for ``curriculum.observe``;
- ``state_dict``/``load_state_dict`` are what verl's ``StatefulDataLoader`` checkpoints into
  ``data.pt``, so a resumed run continues exactly.

verl 0.9 on PyPI takes a sampler through ``RayPPOTrainer(train_sampler=...)`` but never calls
``update``; :data:`CurriculumRayPPOTrainer` (a ``RayPPOTrainer`` subclass, built on first use)
calls it with each step's batch just before the actor update, so filtering strategies can
still zero the advantages of the groups they reject, and adds the curriculum's metrics to the
step's log.

``import stepladder`` never imports this module; it needs verl (``pip install
'stepladder[verl]'``).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterator, Sized
from typing import Any

import numpy as np
import torch

from stepladder._checks import choice
from stepladder.curriculum import Curriculum
from stepladder.integrations._rollouts import (
    ALLOCATIONS,
    FILTERINGS,
    RewardScale,
    groups_from_rollouts,
    outcomes_from_rows,
)
from stepladder.integrations.torch import CurriculumSampler
from stepladder.pool import ItemPool
from stepladder.strategies import Proposal, Strategy

try:  # verl's main branch: the trainer calls update(batch) on samplers of this class
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _VerlBase
except ImportError:  # verl 0.9 (PyPI) has no curriculum interface
    from torch.utils.data import Sampler as _VerlBase

# CurriculumRayPPOTrainer is provided by the module __getattr__ below.
__all__ = ["CurriculumRayPPOTrainer", "VerlCurriculumSampler", "row_indices"]  # noqa: F822

logger = logging.getLogger(__name__)

#: Keys of ``data.sampler`` (verl's config) that this sampler reads.
CONFIG_KEYS = (
    "strategy",
    "params",
    "seed",
    "reward_range",
    "reward_key",
    "index_key",
    "difficulty_key",
    "filtering",
    "allocation",
)
_DEFAULTS = {
    "strategy": "uniform",
    "reward_range": (0.0, 1.0),
    "reward_key": "token_level_scores",
    "index_key": "index",
    "filtering": "mask",
    "allocation": "groups",
}
_PENDING_CHUNKS = 64  # yielded batches kept for checking the batches update() receives


def row_indices(batch: Any, index_key: str = "index") -> np.ndarray:
    """The prompt index of every row of a ``DataProto``, as int64.

    Looks for ``index_key`` in ``batch.non_tensor_batch``, then in each row's ``extra_info``
    dict (where verl's ``RLHFDataset`` keeps the ``extra_info.index`` of the data file; the
    trainer moves the top-level ``index`` column into the generation batch).

    Example:
        >>> import pytest; _ = pytest.importorskip("verl")
        >>> from verl import DataProto
        >>> info = np.array([{"index": 4}, {"index": 2}], dtype=object)
        >>> row_indices(DataProto.from_dict(non_tensors={"extra_info": info})).tolist()
        [4, 2]
    """
    columns = batch.non_tensor_batch
    if index_key in columns:
        values = list(columns[index_key])
        where = f"non_tensor_batch[{index_key!r}]"
    elif "extra_info" in columns:
        values = []
        for row, info in enumerate(columns["extra_info"]):
            if not isinstance(info, dict) or index_key not in info:
                raise ValueError(
                    f"batch row {row} has no extra_info[{index_key!r}]: put each prompt's row "
                    "number in the training file's extra_info, or set index_key"
                )
            values.append(info[index_key])
        where = f"extra_info[{index_key!r}]"
    else:
        raise ValueError(
            f"the batch has neither non_tensor_batch[{index_key!r}] nor extra_info "
            f"(non-tensor keys: {sorted(columns)})"
        )
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must hold integers, got e.g. {values[:3]!r}") from None
    if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise ValueError(f"{where} must hold integers, got e.g. {values[:3]!r}")
    return array.astype(np.int64)


class VerlCurriculumSampler(CurriculumSampler, _VerlBase):
    """A verl train sampler that follows a curriculum and learns from each step's batch.

    Args:
        data_source: the training dataset (verl's ``RLHFDataset`` or any sized dataset).
        data_config: verl's ``data`` config. Read from it: the batch size
            (``gen_batch_size`` or ``train_batch_size``), ``seed``, and the keys of
            ``data.sampler`` listed in ``CONFIG_KEYS`` (``strategy``, ``params``, ...).
            Keyword arguments override it.
        curriculum: a ready :class:`~stepladder.Curriculum` over the dataset's rows (instead of
            ``strategy``/``params``/``seed``), e.g. with a pool that carries difficulties.
        strategy: strategy name or instance (default ``"uniform"``); ``**params`` its
            parameters (or ``data.sampler.params``).
        batch_size: prompts per training step (the DataLoader's batch size).
        seed: the curriculum's seed (default ``data.sampler.seed``, ``data.seed``, or 0).
        reward_range: ``(low, high)`` of the reward, mapped to ``[0, 1]`` (default (0, 1)).
        reward_key: the batch's token-level reward tensor (default ``"token_level_scores"``,
            the verifier's score before any KL penalty; ``"token_level_rewards"`` is tried next).
        index_key: where each row's prompt index is (see :func:`row_indices`), default
            ``"index"``: verl's ``extra_info.index``, which must be the row number in the
            training dataset.
        difficulty_key: a dataset column with a prior difficulty per prompt (read from
            ``data_source.dataframe``, as ``RLHFDataset`` has), for strategies that use one.
        filtering: ``"mask"`` zeroes the advantages of groups a filtering strategy rejects
            (when ``update`` runs before the actor update, as with
            :data:`CurriculumRayPPOTrainer`); ``"ignore"`` trains on every group.
        allocation: ``"groups"`` turns rollout budgets into whole groups: a prompt given ``k``
            times the group size appears ``k`` times in the batch (each copy is its own group of
            ``rollout.n``), one given less may not appear; ``"ignore"`` gives every proposed
            prompt one group.

    The sampler lives in the driver process (verl's single controller): it does not shard.
    Use ``data.dataloader_num_workers=0``: with workers the loader prefetches batches before the
    feedback of the previous steps arrives (verl's main branch insists on 0 for curricula).

    Example:
        >>> import pytest; _ = pytest.importorskip("verl")
        >>> config = {"train_batch_size": 2, "seed": 1, "sampler": {"strategy": "uniform"}}
        >>> sampler = VerlCurriculumSampler(range(6), config)
        >>> len(sampler), sampler.batch_size
        (6, 2)
    """

    def __init__(
        self,
        data_source: Sized,
        data_config: Any = None,
        *,
        curriculum: Curriculum | None = None,
        strategy: str | Strategy | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
        reward_range: tuple[float, float] | None = None,
        reward_key: str | None = None,
        index_key: str | None = None,
        difficulty_key: str | None = None,
        filtering: str | None = None,
        allocation: str | None = None,
        **params: Any,
    ) -> None:
        settings = _settings(data_config)
        given = {
            "strategy": strategy,
            "batch_size": batch_size,
            "seed": seed,
            "reward_range": reward_range,
            "reward_key": reward_key,
            "index_key": index_key,
            "difficulty_key": difficulty_key,
            "filtering": filtering,
            "allocation": allocation,
        }
        settings.update({key: value for key, value in given.items() if value is not None})
        settings["params"] = {**settings.get("params", {}), **params}
        for key, value in _DEFAULTS.items():
            settings.setdefault(key, value)
        if settings.get("batch_size") is None:
            raise ValueError(
                "batch_size is needed: pass batch_size= or a data_config with train_batch_size"
            )
        choice("filtering", settings["filtering"], FILTERINGS)
        choice("allocation", settings["allocation"], ALLOCATIONS)
        if curriculum is not None:
            if strategy is not None or params:
                raise ValueError("give a curriculum, or a strategy with its parameters, not both")
            if curriculum.pool.size != len(data_source):
                raise ValueError(
                    f"the curriculum's pool has {curriculum.pool.size} items, the dataset "
                    f"{len(data_source)} rows"
                )
            source: Any = curriculum
            strategy_arg, strategy_params = None, {}
        else:
            source = _pool(data_source, settings.get("difficulty_key"))
            strategy_arg, strategy_params = settings["strategy"], settings["params"]
        self._scale = RewardScale(settings["reward_range"], logger)
        self.reward_key = str(settings["reward_key"])
        self.index_key = str(settings["index_key"])
        self.filtering = settings["filtering"]
        self.allocation = settings["allocation"]
        #: Batches observed through :meth:`update`.
        self.updates = 0
        self._pending: deque[np.ndarray] = deque(maxlen=_PENDING_CHUNKS)
        self._check_pending = False
        self._last_batch: tuple[Any, ...] | None = None
        self._lag = 0
        super().__init__(
            source,
            strategy_arg,
            batch_size=settings["batch_size"],
            seed=settings.get("seed", 0),
            num_replicas=1,
            rank=0,
            **strategy_params,
        )

    def __repr__(self) -> str:
        return f"VerlCurriculumSampler({self.curriculum!r}, batch_size={self.batch_size})"

    @property
    def reward_range(self) -> tuple[float, float]:
        """``(low, high)`` of the reward, mapped to ``[0, 1]`` for the curriculum."""
        return self._scale.range

    # -- proposals --------------------------------------------------------------------------

    def _layout(self, proposal: Proposal) -> tuple[np.ndarray, np.ndarray | None]:
        if self.allocation == "ignore" or proposal.rollouts is None:
            return proposal.indices, proposal.weights
        copies = groups_from_rollouts(proposal.rollouts, len(proposal.indices))
        weights = None if proposal.weights is None else np.repeat(proposal.weights, copies)
        return np.repeat(proposal.indices, copies), weights

    def _iterate(self, resume: bool) -> Iterator[int]:
        yield from super()._iterate(resume)
        self.epoch += 1  # verl never calls set_epoch: each finished pass gets the next label

    def _chunk_started(self, indices: np.ndarray) -> None:
        self._pending.append(indices.copy())
        self._check_pending = True

    # -- feedback ---------------------------------------------------------------------------

    def update(self, batch: Any) -> None:
        """Observe a training step's ``DataProto``, after its rewards and advantages exist.

        Rows are grouped per prompt (several groups of one prompt merge); rows whose reward is
        NaN are left out. A batch seen already (the same ``uid`` column) is ignored, so calling
        this from both verl's trainer and :data:`CurriculumRayPPOTrainer` is harmless. With a
        filtering strategy and ``filtering="mask"``, the advantages of rejected groups are set
        to zero in the batch.
        """
        columns, tensors = batch.non_tensor_batch, batch.batch
        uids = columns.get("uid")
        identity = None if uids is None else (len(uids), str(uids[0]), str(uids[-1]))
        if identity is not None and identity == self._last_batch:
            return
        indices = row_indices(batch, self.index_key)
        self._check_against_yielded(indices, uids)
        keys = set() if tensors is None else set(tensors.keys())  # no `key in tensordict`
        mask = tensors["response_mask"] if "response_mask" in keys else None
        rewards = self._scale(_row_rewards(tensors, self.reward_key))
        advantages = None
        if "advantages" in keys:
            advantages = _row_means(tensors["advantages"], mask)
        outcomes, item_of_row = outcomes_from_rows(indices, rewards, advantages)
        self.curriculum.observe(outcomes)
        self.updates += 1
        self._last_batch = identity
        if (
            self.filtering == "mask"
            and self.curriculum.strategy.filters
            and len(outcomes)
            and "advantages" in keys
        ):
            keep_row = torch.as_tensor(self.curriculum.keep(outcomes)[item_of_row])
            advantages_tensor = tensors["advantages"]
            keep_row = keep_row.to(advantages_tensor.device).view(
                -1, *[1] * (advantages_tensor.dim() - 1)
            )
            tensors["advantages"] = torch.where(keep_row, advantages_tensor, 0.0)

    def _check_against_yielded(self, indices: np.ndarray, uids: Any) -> None:
        """Refuse batches whose prompts this sampler did not yield (a wrong ``index_key``)."""
        size = self.curriculum.pool.size
        outside = indices[(indices < 0) | (indices >= size)]
        if len(outside):
            raise ValueError(
                f"batch row index {int(outside[0])} ({self.index_key!r}) is outside the "
                f"dataset's {size} rows: {self.index_key!r} must be each prompt's row number"
            )
        if not self._check_pending:
            return  # nothing yielded since construction or loading: nothing to compare
        if uids is None:
            prompts = np.unique(indices)
        else:
            _, first = np.unique(np.asarray(uids, dtype=str), return_index=True)
            prompts = indices[first]
        available = Counter(np.concatenate(list(self._pending)).tolist()) if self._pending else {}
        for index, count in Counter(prompts.tolist()).items():
            if count > available.get(index, 0):
                raise ValueError(
                    f"the batch holds {count} group(s) of prompt {index} ({self.index_key!r}) but "
                    f"the sampler yielded it {available.get(index, 0)} time(s) lately: "
                    f"{self.index_key!r} must be each prompt's row number in the training dataset "
                    "(verl's RLHFDataset sets index 0 where extra_info has none)"
                )
        seen = set(prompts.tolist())
        while self._pending and set(self._pending[0].tolist()) <= seen:
            self._pending.popleft()
        self._lag = len(self._pending)

    def metrics(self) -> dict[str, float]:
        """The curriculum's scalars, the epoch, and ``feedback_lag``: batches yielded beyond
        the one last observed (0 when each batch is observed before the next is drawn)."""
        return {**super().metrics(), "feedback_lag": float(self._lag)}

    def load_state_dict(self, state: dict[str, Any], *, replay: bool = False) -> None:
        super().load_state_dict(state, replay=replay)
        self._pending.clear()
        self._check_pending = False
        self._last_batch = None


def _settings(data_config: Any) -> dict[str, Any]:
    """Batch size, seed and ``data.sampler`` keys from verl's data config (DictConfig or dict)."""
    if data_config is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(data_config, DictConfig):
            data_config = OmegaConf.to_container(data_config, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf comes with verl
        pass
    if not isinstance(data_config, dict):
        raise ValueError(
            f"data_config must be verl's data config, got {type(data_config).__name__}"
        )
    section = data_config.get("sampler") or {}
    if not isinstance(section, dict):
        raise ValueError(f"data.sampler must be a mapping, got {type(section).__name__}")
    settings = {key: section[key] for key in CONFIG_KEYS if section.get(key) is not None}
    if "reward_range" in settings:
        settings["reward_range"] = tuple(settings["reward_range"])
    if not isinstance(settings.get("params", {}), dict):
        raise ValueError(f"data.sampler.params must be a mapping, got {settings['params']!r}")
    batch = data_config.get("gen_batch_size") or data_config.get("train_batch_size")
    if batch is not None:
        settings["batch_size"] = batch
    if "seed" not in settings and data_config.get("seed") is not None:
        settings["seed"] = data_config["seed"]
    return settings


def _pool(data_source: Sized, difficulty_key: str | None) -> ItemPool:
    """The dataset's rows as a pool, with a difficulty column when one is named."""
    if difficulty_key is None:
        return ItemPool(size=len(data_source))
    frame = getattr(data_source, "dataframe", None)
    try:
        column = frame[difficulty_key]  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"difficulty_key={difficulty_key!r}: the dataset has no such column "
            "(read from data_source.dataframe, as verl's RLHFDataset has)"
        ) from None
    difficulty = np.asarray(column, dtype=np.float64)
    return ItemPool(size=len(data_source), difficulty=difficulty)


def _row_rewards(tensors: Any, reward_key: str) -> np.ndarray:
    """Each row's total reward: the token-level reward summed over the response."""
    keys = [] if tensors is None else list(tensors.keys())
    for key in (reward_key, "token_level_rewards"):
        if key in keys:
            values = tensors[key]
            break
    else:
        raise ValueError(
            f"the batch has no {reward_key!r} (nor 'token_level_rewards'): update(batch) must "
            f"run after the rewards are computed (tensor keys: {sorted(keys)})"
        )
    values = values.detach().float()
    total = values.sum(dim=-1) if values.dim() > 1 else values
    return total.cpu().numpy().astype(np.float64)


def _row_means(values: torch.Tensor, mask: torch.Tensor | None) -> np.ndarray:
    """Each row's mean over its response tokens (all tokens without a mask)."""
    values = values.detach().float()
    if values.dim() == 1:
        return values.cpu().numpy().astype(np.float64)
    if mask is None:
        mask = torch.ones_like(values)
    mask = mask.to(values.device).float()
    means = (values * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1.0)
    return means.cpu().numpy().astype(np.float64)


def _trainer_class() -> type:
    """``RayPPOTrainer`` with the curriculum hook; importing verl's trainer is slow (seconds),
    so the class is built the first time it is asked for."""
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    class _CurriculumRayPPOTrainer(RayPPOTrainer):
        """verl's ``RayPPOTrainer`` that feeds each step's batch to its curriculum sampler.

        Pass a :class:`VerlCurriculumSampler` as ``train_sampler``; each step's batch then
        reaches ``sampler.update`` after the advantages are computed and before the actor is
        updated, and the curriculum's scalars join the step's metrics as ``stepladder/*``.
        """

        def _update_actor(self, batch: Any) -> Any:
            sampler = getattr(self.train_dataloader, "sampler", None)
            if not isinstance(sampler, VerlCurriculumSampler):
                return super()._update_actor(batch)
            sampler.update(batch)
            output = super()._update_actor(batch)
            metrics = getattr(output, "meta_info", {}).get("metrics")
            if isinstance(metrics, dict):
                metrics.update({f"stepladder/{k}": v for k, v in sampler.metrics().items()})
            return output

    _CurriculumRayPPOTrainer.__name__ = _CurriculumRayPPOTrainer.__qualname__ = (
        "CurriculumRayPPOTrainer"
    )
    _CurriculumRayPPOTrainer.__module__ = __name__
    return _CurriculumRayPPOTrainer


_TRAINER: type | None = None


def __getattr__(name: str) -> Any:
    # ``CurriculumRayPPOTrainer`` is built on first access (PEP 562).
    global _TRAINER
    if name == "CurriculumRayPPOTrainer":
        if _TRAINER is None:
            _TRAINER = _trainer_class()
        return _TRAINER
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
