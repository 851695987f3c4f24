"""Curriculum-driven prompt selection for TRL's ``GRPOTrainer`` and ``RLOOTrainer``.

Four pieces, all installed by :func:`attach_curriculum` (or by building a
:class:`CurriculumGRPOTrainer` or :class:`CurriculumRLOOTrainer`):

- :class:`CurriculumRepeatSampler` replaces TRL's ``RepeatSampler``. It keeps its layout
  (each prompt ``num_generations`` times in a row, each chunk of unique prompts repeated
  ``num_iterations * steps_per_generation`` times, the same order on every rank) but asks the
  curriculum for each chunk's prompts when the trainer first reads that chunk.
- Reward capture: after TRL has computed and gathered the rewards of a generation batch, the
  rewards (weighted sum over reward functions, rescaled to ``[0, 1]``) and TRL's advantages
  are grouped per prompt and passed to ``curriculum.observe`` on every rank.
- Refill, for strategies that filter groups (``dynamic_sampling``, ``range_filter``, ...):
  DAPO's loop inside TRL's generation step. The chunk's prompts plus ``oversample - 1`` times
  as many more from the curriculum are generated and scored in one call to TRL's own
  ``_generate_and_score_completions``; the groups the strategy keeps fill the batch, the
  shortfall is generated again (up to ``max_rounds`` rounds) and what is still missing is
  padded with the rejected groups of largest mean |advantage|. Rollouts spent, rounds, kept
  and padded groups are logged.
- Checkpoints: ``checkpoint-N/stepladder_state.npz`` holds the curriculum and sampler state
  and is loaded when training resumes from ``checkpoint-N``. A checkpoint taken between two
  generations (``num_iterations > 1`` or ``steps_per_generation > 1``) also holds each rank's
  buffered generation, so the resumed run trains on it instead of generating again. Curriculum
  and per-source metrics go to TRL's metric log under ``stepladder/...``.

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
    "BUFFER_FILE",
    "INDEX_COLUMN",
    "STATE_FILE",
    "CurriculumGRPOTrainer",
    "CurriculumLink",
    "CurriculumRLOOTrainer",
    "CurriculumRepeatSampler",
    "attach_curriculum",
    "grouped_outcomes",
    "groups_from_rollouts",
]

logger = logging.getLogger(__name__)

# Added with refill and RLOO support, apart from the import block above.
import math  # noqa: E402

from trl import RLOOTrainer  # noqa: E402

from stepladder._checks import number, positive_int  # noqa: E402
from stepladder.integrations._rollouts import group_metrics  # noqa: E402

#: Dataset column holding each row's index into the curriculum's pool.
INDEX_COLUMN = "stepladder_index"
#: File written into every ``checkpoint-N`` folder.
STATE_FILE = "stepladder_state.npz"
#: Per-rank file holding the buffered generation of a checkpoint taken between generations.
BUFFER_FILE = "stepladder_buffer_rank{rank}.pt"
#: What the adapter does with groups a filtering strategy rejects.
TRL_FILTERINGS = ("refill", *FILTERINGS)

#: Output keys of TRL's generation step that refill can split by rows: padded on the left,
#: padded on the right (with the value given), or one value per row.
_LEFT_PADDED = {"prompt_ids": None, "prompt_mask": 0}
_RIGHT_PADDED = {
    "completion_ids": None,
    "completion_mask": 0,
    "tool_mask": 1,
    "old_per_token_logps": 0.0,
    "ref_per_token_logps": 0.0,
    "sampling_per_token_logps": 0.0,
    "importance_sampling_ratio": 0.0,
}
_PER_ROW = ("advantages", "old_logps")

_Trainer = GRPOTrainer | RLOOTrainer


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
        for position in range(self.num_chunks):
            chunk = replay[position] if position < len(replay) else self._draw()
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
        return _as_groups(proposal, self.allocation)

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


def _as_groups(proposal: Proposal, allocation: str) -> np.ndarray:
    """One prompt index per group: the proposal's indices, or with ``allocation="groups"``
    and rollout counts, each index repeated by its share of ``len(proposal)`` groups."""
    indices = np.asarray(proposal.indices, dtype=np.int64)
    if proposal.rollouts is None or allocation == "ignore":
        return indices
    return np.repeat(indices, groups_from_rollouts(proposal.rollouts, len(indices)))


class CurriculumLink:
    """The connection between a TRL trainer and a :class:`Curriculum` (built by
    :func:`attach_curriculum`; available as ``trainer.stepladder``).

    Attributes:
        trainer: the trainer (``GRPOTrainer`` or ``RLOOTrainer``).
        curriculum: the curriculum.
        sampler: the :class:`CurriculumRepeatSampler`, once the trainer has built its
            dataloader.
        reward_range: ``(low, high)`` of the trainer's total reward, mapped to ``[0, 1]``.
        filtering: for filtering strategies, ``"refill"`` trains only on kept groups and
            generates more to fill the batch; ``"mask"`` zeroes the advantages of rejected
            groups; ``"ignore"`` trains on every group.
        oversample: with refill, prompts generated per prompt needed (DAPO generates a
            larger batch than it trains on).
        max_rounds: with refill, generation rounds per training generation batch before the
            batch is padded with the best rejected groups.
        allocation: see :class:`CurriculumRepeatSampler`.
        trained: prompt index of every local row of the latest training generation batch
            (in generation order; TRL shuffles the rows afterwards).
    """

    def __init__(
        self,
        trainer: _Trainer,
        curriculum: Curriculum,
        *,
        reward_range: tuple[float, float] = (0.0, 1.0),
        filtering: str = "refill",
        oversample: float = 2.0,
        max_rounds: int = 3,
        allocation: str = "groups",
    ) -> None:
        self._rescale = RewardScale(reward_range, logger)
        choice("filtering", filtering, TRL_FILTERINGS)
        choice("allocation", allocation, ALLOCATIONS)
        self.trainer = trainer
        self.curriculum = curriculum
        self.reward_range = self._rescale.range
        self.filtering = filtering
        self.oversample = number("oversample", oversample, low=1.0)
        self.max_rounds = positive_int("max_rounds", max_rounds)
        self.allocation = allocation
        self.sampler: CurriculumRepeatSampler | None = None
        self.trained = np.zeros(0, dtype=np.int64)
        self._pending: dict[str, Any] | None = None  # sampler state loaded before the sampler
        self._captured: tuple[np.ndarray, np.ndarray] | None = None
        self._warned_padding = False

    @property
    def refills(self) -> bool:
        """Whether generation batches are refilled (a filtering strategy and ``"refill"``)."""
        return self.filtering == "refill" and bool(self.curriculum.strategy.filters)

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
        local = _index_of(inputs).tolist()
        indices = np.asarray(gather_object(local), dtype=np.int64)
        weights = self.trainer.reward_weights.to(rewards_per_func.device)
        total = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan  # unscorable completions
        rewards = total.detach().float().cpu().numpy().astype(np.float64)
        if len(rewards) != len(indices):
            raise RuntimeError(f"{len(rewards)} gathered rewards for {len(indices)} gathered rows")
        self._captured = (indices, self._rescale(rewards))

    def generate(
        self, inputs: list[dict[str, Any]], generate_and_score: Callable[..., dict[str, Any]]
    ) -> dict[str, Any]:
        """TRL's generation step (``generate_and_score``) with the curriculum's feedback, and
        for a filtering strategy with ``filtering="refill"``, the refill loop."""
        if not self.trainer.model.training:
            return generate_and_score(inputs)
        if self.refills:
            return self._refill(inputs, generate_and_score)
        self.trained = _index_of(inputs)
        return self.feedback(generate_and_score(inputs))

    def feedback(self, output: dict[str, Any]) -> dict[str, Any]:
        """Observe the captured rewards with TRL's advantages; mask rejected groups; log."""
        if self._captured is None or not self.trainer.model.training:
            return output
        groups = self._observe(output)
        if self.sampler is not None:
            self.sampler.mark_observed()
        local_advantages = output["advantages"]
        rows = len(local_advantages)
        if self.filtering == "mask" and self.curriculum.strategy.filters and len(groups):
            keep_row = np.repeat(self.curriculum.keep(groups), self.trainer.num_generations)
            start = self.trainer.accelerator.process_index * rows
            mask = torch.as_tensor(keep_row[start : start + rows], device=local_advantages.device)
            output["advantages"] = torch.where(mask, local_advantages, 0.0)
        self._log(groups)
        return output

    def _observe(self, output: dict[str, Any]) -> Outcomes:
        """Observe the captured generation (groups of one prompt merged); return its groups,
        one :class:`Outcomes` item per group of ``num_generations`` rows, in row order."""
        assert self._captured is not None
        indices, rewards = self._captured
        self._captured = None
        trainer = self.trainer
        advantages = trainer.accelerator.gather(output["advantages"].detach())
        advantages = advantages.float().cpu().numpy().astype(np.float64)
        step = trainer.state.global_step
        g = trainer.num_generations
        outcomes, _ = grouped_outcomes(indices, rewards, advantages, g, step=step)
        self.curriculum.observe(outcomes)
        groups, _ = outcomes_from_rows(np.arange(len(indices)) // g, rewards, advantages)
        return Outcomes(
            indices[::g],
            groups.rewards,
            counts=groups.rollouts,
            advantages=groups.advantages,
            step=step,
        )  # one item per group, even where a prompt has several

    def _refill(
        self, inputs: list[dict[str, Any]], generate_and_score: Callable[..., dict[str, Any]]
    ) -> dict[str, Any]:
        """DAPO's dynamic sampling inside one TRL generation step.

        Each rank must return ``len(inputs) / num_generations`` groups. Round 1 generates the
        dataloader's chunk plus ``oversample - 1`` times as many prompts proposed now; later
        rounds generate ``oversample`` times the largest shortfall of any rank. Every rank
        knows every rank's kept groups (rewards are gathered), so all ranks run the same
        rounds. Each rank takes its first kept groups in generation order; after
        ``max_rounds`` a rank still short takes its rejected groups of largest reward spread.
        """
        trainer, g = self.trainer, self.trainer.num_generations
        accelerator = trainer.accelerator
        world, rank = accelerator.num_processes, accelerator.process_index
        needed = len(inputs) // g
        taken = np.zeros(world, dtype=np.int64)
        chosen: list[tuple[int, np.ndarray]] = []  # (round, local groups taken from it)
        spare: list[tuple[float, int, int]] = []  # (-signal, round, local group) of rejects
        outputs: list[dict[str, Any]] = []
        prompts: list[np.ndarray] = []  # local prompt index per row, per round
        generated: list[Outcomes] = []
        rows = list(inputs) + self._rows(math.ceil((self.oversample - 1.0) * needed), rank, world)
        while True:
            output = generate_and_score(rows)
            groups = self._observe(output)
            if not outputs and self.sampler is not None:
                self.sampler.mark_observed()
            keep = self.curriculum.keep(groups).reshape(world, -1)
            signal = groups.mean_abs_advantage().reshape(world, -1)[rank]
            for r in range(world):
                kept = np.flatnonzero(keep[r])[: needed - taken[r]]
                taken[r] += len(kept)
                if r == rank:
                    chosen.append((len(outputs), kept))
                    rejected = np.setdiff1d(np.arange(keep.shape[1]), kept)
                    spare += [(-signal[j], len(outputs), int(j)) for j in rejected]
            outputs.append(output)
            prompts.append(_index_of(rows))
            generated.append(groups)
            if (taken >= needed).all() or len(outputs) >= self.max_rounds:
                break
            shortfall = int((needed - taken).max())
            rows = self._rows(math.ceil(shortfall * self.oversample), rank, world)
        padded = needed - taken
        if padded[rank]:
            spare.sort()
            chosen += [(number, np.array([j])) for _, number, j in spare[: padded[rank]]]
        if padded.any() and not self._warned_padding:
            logger.warning(
                "refill: %d of %d groups were still missing after %d rounds and were padded "
                "with rejected groups (logged as stepladder/refill/padded_groups); raise "
                "oversample or max_rounds",
                int(padded.sum()),
                int(needed * world),
                self.max_rounds,
            )
            self._warned_padding = True
        taken_rows = [(outputs[n], _group_rows(groups, g)) for n, groups in chosen]
        batch = self._take(taken_rows)
        self.trained = np.concatenate([prompts[n][_group_rows(j, g)] for n, j in chosen])
        everything = _concatenate(generated)
        metrics = self.trainer._metrics["train"]
        for key, value in {
            "rollouts": float(everything.rollouts.sum()),
            "trained_rollouts": float(needed * world * g),
            "rounds": float(len(outputs)),
            "generated_groups": float(len(everything)),
            "kept_groups": float(taken.sum()),
            "padded_groups": float(padded.sum()),
        }.items():
            metrics[f"stepladder/refill/{key}"].append(value)
        self._log(everything)
        return batch

    def _rows(self, count: int, rank: int, world: int) -> list[dict[str, Any]]:
        """This rank's share of ``count * world`` groups proposed now, as dataset rows."""
        if count <= 0:
            return []
        prompts = _as_groups(self.curriculum.propose(count * world), self.allocation)
        dataset = self.trainer.train_dataset
        rows = []
        for index in prompts[rank * count : (rank + 1) * count].tolist():
            row = dataset[index]
            rows += [dict(row) for _ in range(self.trainer.num_generations)]
        return rows

    def _take(self, chosen: list[tuple[dict[str, Any], np.ndarray]]) -> dict[str, Any]:
        """The chosen rows of the round outputs, as one output of TRL's generation step."""
        keys = list(chosen[0][0])
        unknown = [k for k in keys if k not in _LEFT_PADDED | _RIGHT_PADDED
                   and k not in _PER_ROW and k != "num_items_in_batch"]  # fmt: skip
        if unknown:
            raise RuntimeError(
                f"refill cannot split the generation output {unknown[0]!r} (multimodal "
                "inputs?) by rows; attach with filtering='mask'"
            )
        pad_id = self.trainer._tokenizer.pad_token_id
        batch: dict[str, Any] = {}
        for key in keys:
            parts = [(output[key], rows) for output, rows in chosen]
            if parts[0][0] is None or key == "num_items_in_batch":
                batch[key] = parts[0][0]
                continue
            device = parts[0][0].device
            pieces = [value[torch.as_tensor(rows, device=device)] for value, rows in parts]
            if key in _LEFT_PADDED or key in _RIGHT_PADDED:
                fill = (_LEFT_PADDED | _RIGHT_PADDED)[key]
                width = max(p.shape[1] for p in pieces)
                pieces = [_pad(p, width, pad_id if fill is None else fill, key in _LEFT_PADDED)
                          for p in pieces]  # fmt: skip
            batch[key] = torch.cat(pieces)
        if batch.get("num_items_in_batch") is not None:  # GRPO: tokens of the whole batch
            mask = batch["completion_mask"]
            if batch.get("tool_mask") is not None:
                mask = mask * batch["tool_mask"]
            batch["num_items_in_batch"] = self.trainer.accelerator.gather(mask.sum()).sum()
        return batch

    def _log(self, groups: Outcomes) -> None:
        metrics = self.trainer._metrics["train"]
        for key, value in self.curriculum.metrics().items():
            metrics[f"stepladder/{key}"].append(float(value))
        if self.sampler is not None:
            metrics["stepladder/feedback_lag"].append(float(self.sampler.last_lag))
        sources = group_metrics(self.curriculum.pool, groups, prefix="stepladder/source/")
        for key, value in sources.items():
            metrics[key].append(value)

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

    def save_buffer(self, folder: str | os.PathLike[str]) -> None:
        """On every rank, between two generations, write the buffered generation and TRL's
        micro-step counter (:data:`BUFFER_FILE`), which TRL itself does not checkpoint."""
        trainer = self.trainer
        generate_every = trainer.args.steps_per_generation * trainer.num_iterations
        if trainer._step % generate_every == 0 or trainer._buffered_inputs is None:
            return  # at a generation boundary: the resumed run generates, as this one would
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, BUFFER_FILE.format(rank=trainer.accelerator.process_index))
        torch.save({"step": trainer._step, "inputs": _to(trainer._buffered_inputs, "cpu")}, path)

    def load(self, folder: str | os.PathLike[str]) -> bool:
        """Restore what :meth:`save` and :meth:`save_buffer` wrote into ``folder``; False
        (with a warning) if it holds no curriculum state."""
        self._load_buffer(folder)
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

    def _load_buffer(self, folder: str | os.PathLike[str]) -> None:
        trainer = self.trainer
        path = os.path.join(folder, BUFFER_FILE.format(rank=trainer.accelerator.process_index))
        if not os.path.exists(path):
            return
        saved = torch.load(path, map_location="cpu", weights_only=True)
        trainer._buffered_inputs = _to(saved["inputs"], trainer.accelerator.device)
        trainer._step = int(saved["step"])

    def _load_sampler(self, state: dict[str, Any]) -> None:
        assert self.sampler is not None
        self.sampler.load_state_dict(state, replay=not self.trainer.args.ignore_data_skip)


def _group_rows(groups: np.ndarray, size: int) -> np.ndarray:
    """Row positions of groups of ``size`` consecutive rows."""
    return (np.asarray(groups, dtype=np.int64)[:, None] * size + np.arange(size)).reshape(-1)


def _pad(tensor: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    missing = width - tensor.shape[1]
    if missing == 0:
        return tensor
    return torch.nn.functional.pad(tensor, (missing, 0) if left else (0, missing), value=value)


def _to(value: Any, device: Any) -> Any:
    """``value`` with every tensor in it (nested in dicts and lists) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(v, device) for v in value)
    return value


def _concatenate(parts: list[Outcomes]) -> Outcomes:
    """One batch of per-group outcomes from several (rewards padded with NaN to one width)."""
    if len(parts) == 1:
        return parts[0]
    width = max(p.rewards.shape[1] for p in parts)  # type: ignore[union-attr]

    def stack(name: str) -> np.ndarray:
        arrays = [getattr(p, name) for p in parts]
        return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan)
                               for a in arrays])  # fmt: skip

    return Outcomes(
        np.concatenate([p.indices for p in parts]),
        stack("rewards"),
        counts=np.concatenate([p.rollouts for p in parts]),
        advantages=stack("advantages"),
        step=parts[-1].step,
    )


def _index_of(rows: list[dict[str, Any]]) -> np.ndarray:
    """The :data:`INDEX_COLUMN` value of every row."""
    if not rows or INDEX_COLUMN not in rows[0]:
        raise ValueError(
            f"the batch has no {INDEX_COLUMN!r} column: keep it in the dataset "
            "(remove_unused_columns=False, TRL's default)"
        )
    return np.array([int(row[INDEX_COLUMN]) for row in rows], dtype=np.int64)


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
    """Writes the curriculum state (main process) and each rank's buffered generation into
    each checkpoint folder the trainer saves."""

    def __init__(self, link: CurriculumLink) -> None:
        self.link = link

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if args.should_save:
            os.makedirs(folder, exist_ok=True)
            self.link.save(folder)
        self.link.save_buffer(folder)


def attach_curriculum(
    trainer: _Trainer,
    curriculum: Curriculum,
    *,
    reward_range: tuple[float, float] = (0.0, 1.0),
    filtering: str = "refill",
    oversample: float = 2.0,
    max_rounds: int = 3,
    allocation: str = "groups",
) -> CurriculumLink:
    """Make a built ``GRPOTrainer`` or ``RLOOTrainer`` (or subclass) draw its prompts from
    ``curriculum``.

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
            ``balanced_filter``, ``vcrl``, a ``mixture`` with one inside): ``"refill"`` trains
            only on kept groups and generates more to fill the batch (DAPO's dynamic
            sampling); ``"mask"`` zeroes the advantages of rejected groups (the batch holds
            fewer useful groups); ``"ignore"`` trains on every group. Other strategies are
            unaffected.
        oversample: with refill, prompts generated per prompt the batch needs (>= 1): the
            first round generates the chunk plus ``oversample - 1`` times as many more, later
            rounds ``oversample`` times the shortfall.
        max_rounds: with refill, generation rounds per generation batch; a batch still short
            after them is padded with the rejected groups of largest mean |advantage|.
        allocation: for strategies that allocate rollouts (``knapsack``, ``cures``, ...):
            ``"groups"`` rounds each prompt's budget to whole groups of ``num_generations``;
            ``"ignore"`` gives each proposed prompt one group.

    Refill needs every rank's share of a generation batch to be whole groups
    (``per_device_train_batch_size * steps_per_generation`` a multiple of
    ``num_generations``) and text prompts (multimodal generation outputs cannot be split by
    rows); otherwise attaching raises and names ``filtering="mask"``. With batch-level reward
    normalisation (GRPO's ``scale_rewards="batch"``, RLOO's ``normalize_advantages``) the
    advantages are normalised over every generated group, not only the trained ones.
    """
    if not isinstance(trainer, GRPOTrainer | RLOOTrainer):
        raise TypeError(
            f"trainer must be a trl.GRPOTrainer or trl.RLOOTrainer, got {type(trainer).__name__}"
        )
    if getattr(trainer, "stepladder", None) is not None:
        raise ValueError("this trainer already has a curriculum attached")
    if not isinstance(curriculum, Curriculum):
        raise TypeError(f"curriculum must be a stepladder.Curriculum, got {type(curriculum)}")
    if trainer.args.remove_unused_columns:
        raise ValueError(
            f"remove_unused_columns=True would drop the {INDEX_COLUMN!r} column; "
            "set it to False (TRL's default)"
        )
    trainer.train_dataset = _with_index(trainer.train_dataset, curriculum.pool.size)
    link = CurriculumLink(
        trainer,
        curriculum,
        reward_range=reward_range,
        filtering=filtering,
        oversample=oversample,
        max_rounds=max_rounds,
        allocation=allocation,
    )
    if link.refills:
        _check_refill(trainer)

    calculate_rewards = trainer._calculate_rewards
    generate_and_score = trainer._generate_and_score_completions
    load_optimizer = trainer._load_optimizer_and_scheduler

    def _calculate_rewards(inputs: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        rewards_per_func = calculate_rewards(inputs, *args, **kwargs)
        link.capture(inputs, rewards_per_func)
        return rewards_per_func

    def _generate_and_score_completions(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return link.generate(inputs, lambda rows: generate_and_score(rows, *args, **kwargs))

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


def _check_refill(trainer: _Trainer) -> None:
    """Raise where TRL's layout cannot be refilled, naming what to use instead."""
    rows = trainer.args.per_device_train_batch_size * trainer.args.steps_per_generation
    if rows % trainer.num_generations:
        raise ValueError(
            f"refill needs each rank's generation batch (per_device_train_batch_size * "
            f"steps_per_generation = {rows} rows) to hold whole groups of num_generations="
            f"{trainer.num_generations}: change them, or attach with filtering='mask'"
        )
    columns = set(trainer.train_dataset.column_names)
    if columns & {"image", "images"}:
        raise ValueError(
            "refill cannot split multimodal generation outputs by rows; attach with "
            "filtering='mask'"
        )


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


class _WithCurriculum:
    """Builds the TRL trainer it is mixed into, then attaches ``curriculum``."""

    stepladder: CurriculumLink | None = None

    def __init__(
        self,
        *args: Any,
        curriculum: Curriculum,
        reward_range: tuple[float, float] = (0.0, 1.0),
        filtering: str = "refill",
        oversample: float = 2.0,
        max_rounds: int = 3,
        allocation: str = "groups",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        attach_curriculum(
            self,  # type: ignore[arg-type]
            curriculum,
            reward_range=reward_range,
            filtering=filtering,
            oversample=oversample,
            max_rounds=max_rounds,
            allocation=allocation,
        )


class CurriculumGRPOTrainer(_WithCurriculum, GRPOTrainer):
    """A ``GRPOTrainer`` whose prompts come from a curriculum.

    Takes ``GRPOTrainer``'s arguments plus ``curriculum`` and the keyword options of
    :func:`attach_curriculum`; the link is ``trainer.stepladder``.

    Example:
        >>> trainer = CurriculumGRPOTrainer(  # doctest: +SKIP
        ...     model=model, reward_funcs=reward, args=GRPOConfig(...), train_dataset=dataset,
        ...     curriculum=Curriculum(len(dataset), "dynamic_sampling", seed=0), oversample=2.0)
        >>> trainer.train()  # doctest: +SKIP
    """


class CurriculumRLOOTrainer(_WithCurriculum, RLOOTrainer):
    """An ``RLOOTrainer`` whose prompts come from a curriculum.

    Takes ``RLOOTrainer``'s arguments plus ``curriculum`` and the keyword options of
    :func:`attach_curriculum`; the link is ``trainer.stepladder``.

    Example:
        >>> trainer = CurriculumRLOOTrainer(  # doctest: +SKIP
        ...     model=model, reward_funcs=reward, args=RLOOConfig(...), train_dataset=dataset,
        ...     curriculum=Curriculum(len(dataset), "mopps", seed=0))
        >>> trainer.train()  # doctest: +SKIP
    """
