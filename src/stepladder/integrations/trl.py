"""Curriculum-driven prompt selection for TRL's ``GRPOTrainer``.

Three pieces, all installed by :func:`attach_curriculum` (or by building a
:class:`CurriculumGRPOTrainer`):

- :class:`CurriculumRepeatSampler` replaces TRL's ``RepeatSampler``. It keeps its layout
  (each prompt ``num_generations`` times in a row, each chunk of unique prompts repeated
  ``num_iterations * steps_per_generation`` times, the same order on every rank) but asks the
  curriculum for each chunk's prompts when the trainer first reads that chunk.
- Reward capture: after TRL has computed and gathered the rewards of a generation batch, the
  rewards (weighted sum over reward functions, rescaled to ``[0, 1]``) and TRL's advantages
  are grouped per prompt and passed to ``curriculum.observe`` on every rank.
- Checkpoints: ``checkpoint-N/stepladder_state.npz`` holds the curriculum and sampler state
  and is loaded when training resumes from ``checkpoint-N``. Curriculum metrics go to TRL's
  metric log under ``stepladder/...``.

The dataset gets an index column, ``stepladder_index`` (0..n-1), which TRL passes to reward
functions with the other dataset columns; it is how rewards find their prompts.

This module imports torch, transformers and TRL (``pip install 'stepladder[trl]'``; without
them importing it raises ImportError with that hint); ``import stepladder`` does not import it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

try:
    import torch
    from accelerate.utils import gather_object
    from torch.utils.data import Sampler
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
    from trl import GRPOTrainer
except ImportError as _error:  # pragma: no cover - exercised only where TRL is absent
    raise ImportError(
        "stepladder.integrations.trl needs TRL, transformers and torch: "
        f"pip install 'stepladder[trl]' ({_error})"
    ) from _error

from stepladder._checks import choice
from stepladder.curriculum import Curriculum
from stepladder.integrations._rollouts import (
    ALLOCATIONS,
    FILTERINGS,
    RewardScale,
    groups_from_rollouts,
    outcomes_from_rows,
)
from stepladder.io import load_state, save_state
from stepladder.outcomes import Outcomes
from stepladder.strategies import Proposal

__all__ = [
    "INDEX_COLUMN",
    "STATE_FILE",
    "CurriculumGRPOTrainer",
    "CurriculumLink",
    "CurriculumRepeatSampler",
    "attach_curriculum",
    "grouped_outcomes",
    "groups_from_rollouts",
]

logger = logging.getLogger(__name__)

#: Dataset column holding each row's index into the curriculum's pool.
INDEX_COLUMN = "stepladder_index"
#: File written into every ``checkpoint-N`` folder.
STATE_FILE = "stepladder_state.npz"


class CurriculumRepeatSampler(Sampler[int]):
    """TRL's ``RepeatSampler`` layout with each chunk's prompts proposed by a curriculum.

    Yields, chunk after chunk, ``repeat_count`` copies of the chunk, in which each of its
    ``batch_size`` prompt indices appears ``mini_repeat_count`` times in a row (TRL passes
    ``num_generations``, ``generation_batch_size // num_generations`` and ``num_iterations *
    steps_per_generation``). A chunk is ``curriculum.propose(batch_size)``, called when the
    chunk's first index is requested, so proposals follow all feedback observed by then. An
    epoch has ``pool_size // batch_size`` chunks, as with ``RepeatSampler``, but at least
    one. Every rank must hold an identically seeded curriculum fed the same
    feedback; then every rank yields the same order.

    Args:
        curriculum: the curriculum proposing prompts (indices into the dataset).
        mini_repeat_count: consecutive copies of each index (TRL: ``num_generations``).
        batch_size: unique prompts per chunk.
        repeat_count: copies of each chunk.
        allocation: what to do with proposals that carry rollout counts: ``"groups"`` turns
            them into whole groups with :func:`groups_from_rollouts` (a prompt may appear in
            several consecutive groups of the chunk, or in none); ``"ignore"`` gives every
            proposed prompt one group.

    Attributes:
        drawn: chunks proposed so far; ``observed``: chunks whose feedback arrived
            (:meth:`mark_observed`); ``last_lag``: chunks still waiting for feedback when the
            latest chunk was proposed.
    """

    def __init__(
        self,
        curriculum: Curriculum,
        mini_repeat_count: int,
        batch_size: int = 1,
        repeat_count: int = 1,
        *,
        allocation: str = "groups",
    ) -> None:
        for name, value in (
            ("mini_repeat_count", mini_repeat_count),
            ("batch_size", batch_size),
            ("repeat_count", repeat_count),
        ):
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        choice("allocation", allocation, ALLOCATIONS)
        self.curriculum = curriculum
        self.mini_repeat_count = int(mini_repeat_count)
        self.batch_size = int(batch_size)
        self.repeat_count = int(repeat_count)
        self.allocation = allocation
        self.num_chunks = max(1, curriculum.pool.size // self.batch_size)
        self.epoch = 0
        self.drawn = 0
        self.observed = 0
        self.last_lag = 0
        self._chunks: list[np.ndarray] = []  # chunks of the current epoch, for exact resume
        self._replay: tuple[int, list[np.ndarray]] | None = None

    def __len__(self) -> int:
        return self.num_chunks * self.batch_size * self.mini_repeat_count * self.repeat_count

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer (through Accelerate) before each epoch."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        replay: list[np.ndarray] = []
        if self._replay is not None:
            epoch, chunks = self._replay
            self._replay = None
            if epoch == self.epoch:
                replay = chunks
        self._chunks = []
        for number in range(self.num_chunks):
            chunk = replay[number] if number < len(replay) else self._draw()
            self._chunks.append(chunk)
            indices = chunk.tolist()
            for _ in range(self.repeat_count):
                for index in indices:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def _draw(self) -> np.ndarray:
        self.last_lag = self.drawn - self.observed
        chunk = self.chunk(self.curriculum.propose(self.batch_size))
        self.drawn += 1
        return chunk

    def chunk(self, proposal: Proposal) -> np.ndarray:
        """The ``batch_size`` indices of a chunk built from ``proposal``."""
        indices = np.asarray(proposal.indices, dtype=np.int64)
        if proposal.rollouts is None or self.allocation == "ignore":
            return indices
        return np.repeat(indices, groups_from_rollouts(proposal.rollouts, self.batch_size))

    def mark_observed(self) -> None:
        """Record that the feedback of one more chunk has reached the curriculum."""
        self.observed += 1

    def state_dict(self) -> dict[str, Any]:
        """Counters and the chunks of the current epoch (replayed on resume)."""
        chunks = np.stack(self._chunks) if self._chunks else np.zeros((0, self.batch_size))
        return {
            "epoch": self.epoch,
            "chunks": chunks.astype(np.int64),
            "drawn": self.drawn,
            "observed": self.observed,
        }

    def load_state_dict(self, state: dict[str, Any], *, replay: bool = True) -> None:
        """Restore counters; with ``replay`` the next pass over the saved epoch first yields
        the chunks already drawn in it (the Trainer skips those it trained on) instead of
        proposing them again."""
        chunks = np.asarray(state["chunks"], dtype=np.int64)
        if chunks.ndim != 2 or (len(chunks) and chunks.shape[1] != self.batch_size):
            raise ValueError(
                f"saved chunks have shape {chunks.shape}, this sampler draws {self.batch_size}"
            )
        self.drawn, self.observed = int(state["drawn"]), int(state["observed"])
        self._replay = (int(state["epoch"]), list(chunks)) if replay else None


class CurriculumLink:
    """The connection between a ``GRPOTrainer`` and a :class:`Curriculum` (built by
    :func:`attach_curriculum`; available as ``trainer.stepladder``).

    Attributes:
        trainer: the trainer.
        curriculum: the curriculum.
        sampler: the :class:`CurriculumRepeatSampler`, once the trainer has built its
            dataloader.
        reward_range: ``(low, high)`` of the trainer's total reward, mapped to ``[0, 1]``.
        filtering: ``"mask"`` zeroes the advantages of groups a filtering strategy rejects;
            ``"ignore"`` trains on every group.
        allocation: see :class:`CurriculumRepeatSampler`.
    """

    def __init__(
        self,
        trainer: GRPOTrainer,
        curriculum: Curriculum,
        *,
        reward_range: tuple[float, float] = (0.0, 1.0),
        filtering: str = "mask",
        allocation: str = "groups",
    ) -> None:
        self._rescale = RewardScale(reward_range, logger)
        choice("filtering", filtering, FILTERINGS)
        choice("allocation", allocation, ALLOCATIONS)
        self.trainer = trainer
        self.curriculum = curriculum
        self.reward_range = self._rescale.range
        self.filtering = filtering
        self.allocation = allocation
        self.sampler: CurriculumRepeatSampler | None = None
        self._pending: dict[str, Any] | None = None  # sampler state loaded before the sampler
        self._captured: tuple[np.ndarray, np.ndarray] | None = None

    # -- sampling ---------------------------------------------------------------------------

    def train_sampler(self, dataset: Any = None) -> CurriculumRepeatSampler:
        """The sampler for the trainer's dataloader (one per trainer, reused)."""
        if dataset is not None and len(dataset) != self.curriculum.pool.size:
            raise ValueError(
                f"the training dataset has {len(dataset)} rows, the curriculum's pool "
                f"{self.curriculum.pool.size} items"
            )
        if self.sampler is None:
            trainer = self.trainer
            self.sampler = CurriculumRepeatSampler(
                self.curriculum,
                mini_repeat_count=trainer.num_generations,
                batch_size=trainer.args.generation_batch_size // trainer.num_generations,
                repeat_count=trainer.num_iterations * trainer.args.steps_per_generation,
                allocation=self.allocation,
            )
            if self._pending is not None:
                self._load_sampler(self._pending)
                self._pending = None
        return self.sampler

    # -- feedback ---------------------------------------------------------------------------

    def capture(self, inputs: list[dict[str, Any]], rewards_per_func: torch.Tensor) -> None:
        """Keep the gathered rewards of a training generation batch and their prompt indices."""
        if not self.trainer.model.training:
            return
        if not inputs or INDEX_COLUMN not in inputs[0]:
            raise ValueError(
                f"the batch has no {INDEX_COLUMN!r} column: keep it in the dataset "
                "(GRPOConfig(remove_unused_columns=False), the default)"
            )
        local = [int(row[INDEX_COLUMN]) for row in inputs]
        indices = np.asarray(gather_object(local), dtype=np.int64)
        weights = self.trainer.reward_weights.to(rewards_per_func.device)
        total = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan  # unscorable completions
        rewards = total.detach().float().cpu().numpy().astype(np.float64)
        if len(rewards) != len(indices):
            raise RuntimeError(f"{len(rewards)} gathered rewards for {len(indices)} gathered rows")
        self._captured = (indices, self._rescale(rewards))

    def feedback(self, output: dict[str, Any]) -> dict[str, Any]:
        """Observe the captured rewards with TRL's advantages; mask rejected groups; log."""
        if self._captured is None or not self.trainer.model.training:
            return output
        indices, rewards = self._captured
        self._captured = None
        trainer = self.trainer
        local_advantages = output["advantages"]
        advantages = trainer.accelerator.gather(local_advantages.detach())
        advantages = advantages.float().cpu().numpy().astype(np.float64)
        outcomes, item_of_row = grouped_outcomes(
            indices, rewards, advantages, trainer.num_generations, step=trainer.state.global_step
        )
        self.curriculum.observe(outcomes)
        if self.sampler is not None:
            self.sampler.mark_observed()
        if self.filtering == "mask" and self.curriculum.strategy.filters and len(outcomes):
            keep_row = self.curriculum.keep(outcomes)[item_of_row]
            start = trainer.accelerator.process_index * len(local_advantages)
            local_keep = keep_row[start : start + len(local_advantages)]
            mask = torch.as_tensor(local_keep, device=local_advantages.device)
            output["advantages"] = torch.where(mask, local_advantages, 0.0)
        self._log()
        return output

    def _log(self) -> None:
        metrics = self.trainer._metrics["train"]
        for key, value in self.curriculum.metrics().items():
            metrics[f"stepladder/{key}"].append(float(value))
        if self.sampler is not None:
            metrics["stepladder/feedback_lag"].append(float(self.sampler.last_lag))

    # -- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Curriculum and sampler state."""
        sampler = self.sampler.state_dict() if self.sampler is not None else None
        return {"curriculum": self.curriculum.state_dict(), "sampler": sampler}

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write :data:`STATE_FILE` into ``folder`` (a checkpoint folder)."""
        state = self.state_dict()
        if state["sampler"] is None:
            state.pop("sampler")
        save_state(os.path.join(folder, STATE_FILE), state)

    def load(self, folder: str | os.PathLike[str]) -> bool:
        """Restore what :meth:`save` wrote into ``folder``; False (with a warning) if absent."""
        path = os.path.join(folder, STATE_FILE)
        if not os.path.exists(path):
            logger.warning("%s has no %s: the curriculum starts fresh", folder, STATE_FILE)
            return False
        state = load_state(path)
        self.curriculum.load_state_dict(state["curriculum"])
        if "sampler" in state:
            if self.sampler is None:
                self._pending = state["sampler"]
            else:
                self._load_sampler(state["sampler"])
        return True

    def _load_sampler(self, state: dict[str, Any]) -> None:
        assert self.sampler is not None
        self.sampler.load_state_dict(state, replay=not self.trainer.args.ignore_data_skip)


def grouped_outcomes(
    indices: np.ndarray,
    rewards: np.ndarray,
    advantages: np.ndarray,
    num_generations: int,
    *,
    step: int | None = None,
) -> tuple[Outcomes, np.ndarray]:
    """Per-prompt outcomes from the flat rows of a generation batch.

    Rows come in groups of ``num_generations`` with one index each (TRL's layout). Groups of
    the same index are merged into one item; NaN rewards (unscorable completions) are left
    out. Returns the outcomes and, for every row, the position of its item in them.

    Example:
        >>> out, item = grouped_outcomes(
        ...     np.array([7, 7, 3, 3, 7, 7]), np.array([1.0, 0, 1, 1, 0, np.nan]),
        ...     np.array([1.0, -1, 0, 0, 0, 0]), 2)
        >>> out.indices.tolist(), out.rollouts.tolist(), item.tolist()
        ([7, 3], [3, 2], [0, 0, 1, 1, 0, 0])
    """
    g = int(num_generations)
    if len(indices) % g or not (len(indices) == len(rewards) == len(advantages)):
        raise RuntimeError(
            f"{len(indices)} rows, {len(rewards)} rewards and {len(advantages)} advantages "
            f"do not form groups of {g}"
        )
    blocks = indices.reshape(-1, g)
    if (blocks != blocks[:, :1]).any():
        raise RuntimeError(
            f"a group of {g} rows holds different {INDEX_COLUMN} values: the trainer is not "
            "using the curriculum sampler's layout"
        )
    return outcomes_from_rows(indices, rewards, advantages, step=step)


class _StateCallback(TrainerCallback):
    """Writes the curriculum state into each checkpoint folder the trainer saves."""

    def __init__(self, link: CurriculumLink) -> None:
        self.link = link

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.should_save:
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            os.makedirs(folder, exist_ok=True)
            self.link.save(folder)


def attach_curriculum(
    trainer: GRPOTrainer,
    curriculum: Curriculum,
    *,
    reward_range: tuple[float, float] = (0.0, 1.0),
    filtering: str = "mask",
    allocation: str = "groups",
) -> CurriculumLink:
    """Make a built ``GRPOTrainer`` (or subclass) draw its prompts from ``curriculum``.

    Call before ``trainer.train()``. Adds the :data:`INDEX_COLUMN` column to
    ``trainer.train_dataset`` (a map-style ``datasets.Dataset`` with as many rows as the
    curriculum's pool), wraps the trainer's ``_get_train_sampler``, ``_calculate_rewards``,
    ``_generate_and_score_completions`` and ``_load_optimizer_and_scheduler`` on the
    instance, and adds a callback saving the state into checkpoints. Returns the
    :class:`CurriculumLink`, also set as ``trainer.stepladder``.

    Args:
        trainer: the trainer, built and not yet trained.
        curriculum: its pool's item i is dataset row i.
        reward_range: range of the total reward (weighted sum over reward functions), mapped
            linearly to ``[0, 1]`` for the curriculum; values outside are clipped (warned once).
        filtering: for strategies that filter groups (``dynamic_sampling``, ``range_filter``,
            ...): ``"mask"`` zeroes the advantages of rejected groups (TRL has no refill
            loop, so the batch shrinks); ``"ignore"`` trains on every group.
        allocation: for strategies that allocate rollouts (``knapsack``, ``cures``, ...):
            ``"groups"`` rounds each prompt's budget to whole groups of ``num_generations``;
            ``"ignore"`` gives each proposed prompt one group.
    """
    if not isinstance(trainer, GRPOTrainer):
        raise TypeError(f"trainer must be a trl.GRPOTrainer, got {type(trainer).__name__}")
    if getattr(trainer, "stepladder", None) is not None:
        raise ValueError("this trainer already has a curriculum attached")
    if not isinstance(curriculum, Curriculum):
        raise TypeError(f"curriculum must be a stepladder.Curriculum, got {type(curriculum)}")
    if trainer.args.remove_unused_columns:
        raise ValueError(
            f"GRPOConfig(remove_unused_columns=True) would drop the {INDEX_COLUMN!r} column; "
            "set it to False (TRL's default)"
        )
    trainer.train_dataset = _with_index(trainer.train_dataset, curriculum.pool.size)
    link = CurriculumLink(
        trainer, curriculum, reward_range=reward_range, filtering=filtering, allocation=allocation
    )

    calculate_rewards = trainer._calculate_rewards
    generate_and_score = trainer._generate_and_score_completions
    load_optimizer = trainer._load_optimizer_and_scheduler

    def _calculate_rewards(inputs: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        rewards_per_func = calculate_rewards(inputs, *args, **kwargs)
        link.capture(inputs, rewards_per_func)
        return rewards_per_func

    def _generate_and_score_completions(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return link.feedback(generate_and_score(inputs, *args, **kwargs))

    def _load_optimizer_and_scheduler(checkpoint: str | None) -> None:
        load_optimizer(checkpoint)
        if checkpoint is not None:
            link.load(checkpoint)

    patches: dict[str, Callable[..., Any]] = {
        "_get_train_sampler": link.train_sampler,
        "_calculate_rewards": _calculate_rewards,
        "_generate_and_score_completions": _generate_and_score_completions,
        "_load_optimizer_and_scheduler": _load_optimizer_and_scheduler,
    }
    for name, function in patches.items():
        setattr(trainer, name, function)
    trainer.add_callback(_StateCallback(link))
    trainer.stepladder = link
    return link


def _with_index(dataset: Any, size: int) -> Any:
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(
            "the curriculum needs a map-style datasets.Dataset as train_dataset, got "
            f"{type(dataset).__name__} (iterable datasets cannot be indexed)"
        )
    if len(dataset) != size:
        raise ValueError(
            f"the training dataset has {len(dataset)} rows, the curriculum's pool {size} items"
        )
    expected = np.arange(size, dtype=np.int64)
    if INDEX_COLUMN in dataset.column_names:
        present = np.asarray(dataset[INDEX_COLUMN], dtype=np.int64)
        if not np.array_equal(present, expected):
            raise ValueError(f"dataset column {INDEX_COLUMN!r} must hold 0..{size - 1} in order")
        return dataset
    return dataset.add_column(INDEX_COLUMN, expected)


class CurriculumGRPOTrainer(GRPOTrainer):
    """A ``GRPOTrainer`` whose prompts come from a curriculum.

    Takes ``GRPOTrainer``'s arguments plus ``curriculum`` and the keyword options of
    :func:`attach_curriculum`; the link is ``trainer.stepladder``.

    Example:
        >>> trainer = CurriculumGRPOTrainer(  # doctest: +SKIP
        ...     model=model, reward_funcs=reward, args=GRPOConfig(...), train_dataset=dataset,
        ...     curriculum=Curriculum(len(dataset), "mopps", seed=0))
        >>> trainer.train()  # doctest: +SKIP
    """

    stepladder: CurriculumLink | None = None

    def __init__(
        self,
        *args: Any,
        curriculum: Curriculum,
        reward_range: tuple[float, float] = (0.0, 1.0),
        filtering: str = "mask",
        allocation: str = "groups",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        attach_curriculum(
            self,
            curriculum,
            reward_range=reward_range,
            filtering=filtering,
            allocation=allocation,
        )
