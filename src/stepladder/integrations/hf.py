"""Hugging Face ``Trainer``: train in curriculum order with per-example feedback and checkpoints.

Three changes to an existing Trainer script::

    from stepladder import Curriculum, ItemPool
    from stepladder.integrations.hf import CurriculumTrainer

    curriculum = Curriculum(ItemPool(size=len(train), difficulty=train["difficulty"]),
                            "competence", seed=0)
    trainer = CurriculumTrainer(model=model, args=args, train_dataset=train,
                                curriculum=curriculum)       # was: Trainer(...)
    trainer.train()                                          # resume_from_checkpoint works

What :class:`CurriculumTrainer` adds to the Trainer:

- its training sampler is a :class:`~stepladder.integrations.torch.CurriculumSampler`: one
  proposal per optimizer step (``per_device_train_batch_size * gradient_accumulation_steps *
  world_size`` items); accelerate splits the batches across processes as usual;
- each training row carries its dataset index (column ``stepladder_index``, added by the trainer
  and removed before the model sees the batch), so ``compute_loss`` knows which items it
  trained on; it computes per-example losses (and, for classification and token
  prediction, per-example accuracy), gathers them across processes and feeds them to the
  curriculum after every optimizer step;
- weighting strategies scale each example's loss by its weight;
- :class:`CurriculumCallback` writes ``stepladder_state.npz`` into every checkpoint directory and
  restores it on ``train(resume_from_checkpoint=...)``, so the resumed run draws exactly the items
  the uninterrupted run would have;
- ``curriculum/...`` scalars join the Trainer's own logs, so ``report_to`` sends them wherever
  the loss goes; for a pool with groups, ``curriculum/source/<group>/share`` and ``/pass_rate``
  (averaged over the steps since the previous log) among them.

This module needs ``transformers`` (extra ``stepladder[hf]``); ``import stepladder`` never
imports it.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from stepladder.curriculum import Curriculum
from stepladder.io import load_state, save_state
from stepladder.strategies import Strategy

try:
    import torch
    import torch.nn.functional as F
    from torch.utils.data import Dataset
    from transformers import Trainer, TrainerCallback
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

    from stepladder.integrations.torch import CurriculumSampler, _to_numpy, gather_feedback
except ImportError as _error:  # pragma: no cover - exercised only where transformers is absent
    _IMPORT_ERROR: ImportError | None = _error

    class _Missing:
        """Stands in for a transformers base class when transformers is not installed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(
                "stepladder.integrations.hf needs transformers and torch: "
                f"pip install 'stepladder[hf]' ({_IMPORT_ERROR})"
            )

    Dataset = Trainer = TrainerCallback = _Missing  # type: ignore[assignment,misc]
else:
    _IMPORT_ERROR = None

__all__ = [
    "INDEX_COLUMN",
    "STATE_FILE",
    "CurriculumCallback",
    "CurriculumTrainer",
    "CurriculumTrainerMixin",
    "make_curriculum_trainer",
]

logger = logging.getLogger(__name__)

#: Column that carries each training row's dataset index from the dataset to ``compute_loss``.
INDEX_COLUMN = "stepladder_index"
#: File written into every checkpoint directory.
STATE_FILE = "stepladder_state.npz"


class _IndexedRows(Dataset):
    """A map-style dataset of mapping rows, each row with its index under ``INDEX_COLUMN``."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.dataset[index]
        if not isinstance(row, Mapping):
            raise TypeError(
                "CurriculumTrainer needs dataset rows that are mappings (column -> value), "
                f"got {type(row).__name__}"
            )
        return {**row, INDEX_COLUMN: int(index)}

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        # DataLoader fetches a whole batch at once through this when it exists (datasets does).
        fetch = getattr(self.dataset, "__getitems__", None)
        if fetch is None:
            return [self[i] for i in indices]
        return [
            {**row, INDEX_COLUMN: int(i)} for row, i in zip(fetch(indices), indices, strict=True)
        ]


class _IndexCollator:
    """Runs the user's collator on rows without the index, then adds the indices as a tensor."""

    def __init__(self, collator: Callable[[list[Any]], Any]) -> None:
        self.collator = collator

    def __call__(self, rows: list[dict[str, Any]]) -> Any:
        indices = [row[INDEX_COLUMN] for row in rows]
        batch = self.collator([{k: v for k, v in row.items() if k != INDEX_COLUMN} for row in rows])
        batch[INDEX_COLUMN] = torch.tensor(indices, dtype=torch.long)
        return batch


class CurriculumCallback(TrainerCallback):
    """Feeds per-example feedback to the sampler, saves and restores the curriculum.

    :class:`CurriculumTrainer` creates and wires one; use it directly only when writing your own
    trainer around a :class:`~stepladder.integrations.torch.CurriculumSampler`: call
    :meth:`record` from the training step, set :attr:`resume_from` before ``train`` resumes.

    - ``on_step_end``: after each optimizer step, gathers what :meth:`record` collected on every
      process and calls ``sampler.observe`` with it (identical on all processes);
    - ``on_save``: writes the sampler's state to ``<checkpoint>/stepladder_state.npz``;
    - ``on_train_begin``: when :attr:`resume_from` names a checkpoint, loads that file back.

    Each flush also keeps the sampler's per-source metrics of that step for
    :meth:`pop_source_metrics`.
    """

    def __init__(self, sampler: CurriculumSampler | None = None) -> None:
        self.sampler = sampler
        #: Checkpoint directory to restore at the start of the next ``train`` call.
        self.resume_from: str | None = None
        #: Called with the Trainer's ``max_steps`` at ``on_train_begin``, before any proposal
        #: (set by :class:`CurriculumTrainer` to give pacing strategies the run's horizon).
        self.on_horizon: Callable[[int], None] | None = None
        self._indices: list[np.ndarray] = []
        self._losses: list[np.ndarray] = []
        self._scores: list[np.ndarray | None] = []
        self._sources: defaultdict[str, list[float]] = defaultdict(list)

    def record(self, indices: Any, losses: Any, scores: Any = None) -> None:
        """Collect this process's per-example feedback for the current optimizer step."""
        idx = np.asarray(_to_numpy(indices), dtype=np.int64).reshape(-1)
        loss = np.asarray(_to_numpy(losses), dtype=np.float64).reshape(-1)
        score = None if scores is None else np.asarray(_to_numpy(scores), np.float64).reshape(-1)
        keep = np.isfinite(loss) if score is None else np.isfinite(loss) & np.isfinite(score)
        if not keep.all():
            logger.warning("stepladder: %d non-finite per-example losses left out", (~keep).sum())
        self._indices.append(idx[keep])
        self._losses.append(loss[keep])
        self._scores.append(None if score is None else np.clip(score[keep], 0.0, 1.0))

    def flush(self) -> None:
        """Observe what was recorded since the last flush (a collective across processes)."""
        if self.sampler is None:
            return
        scored = bool(self._scores) and all(s is not None for s in self._scores)
        indices = np.concatenate(self._indices) if self._indices else np.zeros(0, np.int64)
        losses = np.concatenate(self._losses) if self._losses else np.zeros(0)
        scores = np.concatenate(self._scores) if scored else None  # type: ignore[arg-type]
        self._indices, self._losses, self._scores = [], [], []
        fields = gather_feedback(indices, losses=losses, correct=scores)
        self.sampler.observe(
            fields["indices"], losses=fields["losses"], correct=fields["correct"], gather=False
        )
        for key, value in self.sampler.source_metrics.items():
            self._sources[key].append(value)

    def pop_source_metrics(self) -> dict[str, float]:
        """The sampler's ``source/<group>/...`` metrics averaged over the steps flushed since
        the last call (each key over the steps that had it), then forgotten."""
        sources, self._sources = self._sources, defaultdict(list)
        return {key: float(np.mean(values)) for key, values in sources.items()}

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.flush()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.sampler is None or not args.should_save:
            return
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if not os.path.isdir(folder):
            logger.warning("stepladder: no checkpoint folder %s; curriculum not saved", folder)
            return
        save_state(os.path.join(folder, STATE_FILE), _to_numpy(self.sampler.state_dict()))

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        checkpoint, self.resume_from = self.resume_from, None
        self._indices, self._losses, self._scores = [], [], []
        self._sources.clear()
        if self.on_horizon is not None and state.max_steps > 0:
            self.on_horizon(int(state.max_steps))
        if checkpoint is None or self.sampler is None:
            return
        path = os.path.join(checkpoint, STATE_FILE)
        if not os.path.isfile(path):
            logger.warning(
                "stepladder: %s has no %s; the curriculum starts fresh", checkpoint, STATE_FILE
            )
            return
        # The Trainer skips the batches already trained in the resumed epoch by iterating past
        # them: replay the epoch's recorded indices so nothing is proposed twice.
        self.sampler.load_state_dict(load_state(path), replay=not args.ignore_data_skip)


class CurriculumTrainerMixin:
    """Adds a curriculum to a ``transformers.Trainer`` subclass (or use make_curriculum_trainer).

    Keyword args (besides the Trainer's own):
        curriculum: a :class:`~stepladder.Curriculum` over the training set (its pool has
            ``len(train_dataset)`` items), or a strategy name or instance to build one over a
            plain pool, seeded with ``args.seed``.
        curriculum_params: parameters of the named strategy, and the safety net's
            ``uniform_mix`` (see :class:`~stepladder.Curriculum`).

    Override :meth:`per_example_feedback` for models whose outputs the default does not
    understand.
    """

    def __init__(
        self,
        *args: Any,
        curriculum: Curriculum | str | Strategy = "uniform",
        curriculum_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if curriculum_params and isinstance(curriculum, Curriculum):
            raise ValueError("curriculum_params are for a strategy name, not a Curriculum")
        self._curriculum_spec = curriculum
        self._curriculum_params = dict(curriculum_params or {})
        self.curriculum_sampler: CurriculumSampler | None = None
        self.curriculum_callback = CurriculumCallback()
        super().__init__(*args, **kwargs)
        self.add_callback(self.curriculum_callback)

    @property
    def curriculum(self) -> Curriculum | None:
        """The curriculum in use (None before the training dataloader is built)."""
        return None if self.curriculum_sampler is None else self.curriculum_sampler.curriculum

    # -- data --------------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset: Any = None) -> CurriculumSampler:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if self.curriculum_sampler is None:
            spec = self._curriculum_spec
            if isinstance(spec, Curriculum):
                curriculum = spec
            else:
                curriculum = Curriculum(
                    len(dataset), spec, seed=self.args.seed, **self._curriculum_params
                )
            self.curriculum_callback.on_horizon = self._set_horizon
            per_step = (
                self._train_batch_size
                * self.args.gradient_accumulation_steps
                * max(1, self.args.world_size)
            )
            # One global sampler on every process: accelerate shards its batches.
            self.curriculum_sampler = CurriculumSampler(
                curriculum, batch_size=per_step, num_replicas=1, rank=0
            )
            self.curriculum_callback.sampler = self.curriculum_sampler
        if self.curriculum_sampler.curriculum.pool.size != len(dataset):
            raise ValueError(
                f"the curriculum's pool has {self.curriculum_sampler.curriculum.pool.size} "
                f"items, the training set {len(dataset)}"
            )
        return self.curriculum_sampler

    def _set_horizon(self, max_steps: int) -> None:
        """Give a pacing strategy (one with ``total_steps``) the run's ``max_steps``.

        Where the user gave no horizon (no ``total_steps`` in ``curriculum_params``; for a
        ready Curriculum, its strategy's ``total_steps`` is still the class default) and
        nothing was proposed yet, the strategy is rebuilt in place with
        ``total_steps=max_steps``. A horizon the user gave that differs from the run's is kept,
        with a warning.
        """
        sampler = self.curriculum_sampler
        curriculum = sampler.curriculum
        horizon = getattr(curriculum.strategy, "total_steps", None)
        if horizon is None or horizon == max_steps:
            return
        if isinstance(self._curriculum_spec, Curriculum):
            default = inspect.signature(type(curriculum.strategy)).parameters.get("total_steps")
            given = default is None or horizon != default.default
        else:
            given = "total_steps" in self._curriculum_params
        if not given and curriculum.step == 0 and sampler.last_proposal is None:
            _rebuild_with_horizon(curriculum, max_steps)
            return
        logger.warning(
            "stepladder: strategy %r paces over total_steps=%s but this run has max_steps=%d: "
            "the schedule %s",
            curriculum.strategy.name,
            horizon,
            max_steps,
            "will not reach the whole pool" if horizon > max_steps else "ends early",
        )

    def get_train_dataloader(self) -> Any:
        if self.train_dataset is None:
            raise ValueError("Trainer: training requires a train_dataset.")
        if isinstance(self.train_dataset, torch.utils.data.IterableDataset):
            raise TypeError("CurriculumTrainer needs a map-style train_dataset (with __len__)")
        dataset, collator = self.train_dataset, self.data_collator
        self.train_dataset = _IndexedRows(dataset)
        self.data_collator = _IndexCollator(collator)
        try:
            return super().get_train_dataloader()
        finally:
            self.train_dataset, self.data_collator = dataset, collator

    def _set_signature_columns_if_needed(self) -> None:
        # Keep the index column through remove_unused_columns; compute_loss removes it.
        super()._set_signature_columns_if_needed()
        if INDEX_COLUMN not in self._signature_columns:
            self._signature_columns.append(INDEX_COLUMN)

    # -- loss and feedback -------------------------------------------------------------------

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        indices = inputs.pop(INDEX_COLUMN, None)
        if indices is None or not model.training:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        labels = inputs.get("labels")
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        losses, scores = self.per_example_feedback(model, outputs, labels)
        self.curriculum_callback.record(indices, losses.detach(), scores)
        sampler = self.curriculum_sampler
        if sampler is not None and sampler.weighted:
            weights = torch.as_tensor(
                sampler.weights_for(indices), dtype=losses.dtype, device=losses.device
            )
            loss = (weights * losses).mean()
            if self._loss_scaled_for_ga(num_items_in_batch):
                loss = loss / self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss

    def _loss_scaled_for_ga(self, num_items_in_batch: Any) -> bool:
        """Whether training_step will treat our loss as already divided for accumulation."""
        explicit = getattr(self, "loss_is_scaled_for_ga", None)
        if explicit is not None:
            return bool(explicit)
        return (
            getattr(self, "model_accepts_loss_kwargs", False) and num_items_in_batch is not None
        ) or getattr(self, "compute_loss_func", None) is not None

    def per_example_feedback(self, model: Any, outputs: Any, labels: Any) -> tuple[Any, Any]:
        """Per-example losses (with gradient) and scores in ``[0, 1]`` (or None) for a batch.

        The default reads ``logits`` and ``labels``: cross-entropy and correctness for
        classification (logits ``(B, C)``); squared error for regression (one output); mean
        token cross-entropy and token accuracy over labelled tokens (``-100`` ignored) for
        token prediction (logits ``(B, T, V)``; labels shifted for causal language models).
        """
        if labels is None:
            raise ValueError(
                "CurriculumTrainer needs labels for per-example losses; "
                "override per_example_feedback for this model"
            )
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[1]
        if logits.dim() == 2:
            if labels.dtype.is_floating_point:
                if logits.shape == labels.shape and logits.shape[-1] > 1:  # multi-label
                    losses = F.binary_cross_entropy_with_logits(
                        logits, labels, reduction="none"
                    ).mean(-1)
                    return losses, ((logits > 0) == (labels > 0.5)).float().mean(-1)
                return (logits.reshape(len(labels), -1)[:, 0] - labels.reshape(-1)) ** 2, None
            losses = F.cross_entropy(logits.float(), labels, reduction="none")
            return losses, (logits.argmax(-1) == labels).float()
        if logits.dim() == 3:
            if self._is_causal_lm(model):
                logits, labels = logits[:, :-1], labels[:, 1:]
            tokens = F.cross_entropy(
                logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
            )
            mask = labels != -100
            counts = mask.sum(-1).clamp(min=1)
            right = (logits.argmax(-1) == labels) & mask
            return (tokens * mask).sum(-1) / counts, right.sum(-1) / counts
        raise ValueError(
            f"cannot derive per-example losses from logits of shape {tuple(logits.shape)}; "
            "override per_example_feedback"
        )

    def _is_causal_lm(self, model: Any) -> bool:
        unwrapped = self.accelerator.unwrap_model(model)
        return unwrapped._get_name() in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()

    # -- resume and logging ------------------------------------------------------------------

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        checkpoint = resume_from_checkpoint
        if checkpoint is True:
            checkpoint = get_last_checkpoint(self.args.output_dir)
        self.curriculum_callback.resume_from = checkpoint or None
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        sampler = self.curriculum_sampler
        if sampler is not None and not any(k.startswith(("eval_", "test_")) for k in logs):
            # Per-source metrics: the mean over the steps since the last log where there were
            # any, else (the end-of-training summary) the last step's, in sampler.metrics().
            metrics = {**sampler.metrics(), **self.curriculum_callback.pop_source_metrics()}
            logs.update({f"curriculum/{k}": v for k, v in metrics.items()})
        super().log(logs, *args, **kwargs)


def make_curriculum_trainer(trainer_class: type) -> type:
    """A subclass of ``trainer_class`` (a ``transformers.Trainer`` subclass) with a curriculum.

    Example:
        >>> import pytest; transformers = pytest.importorskip("transformers")
        >>> cls = make_curriculum_trainer(transformers.Seq2SeqTrainer)
        >>> cls.__name__, issubclass(cls, transformers.Seq2SeqTrainer)
        ('CurriculumSeq2SeqTrainer', True)
    """
    return type(f"Curriculum{trainer_class.__name__}", (CurriculumTrainerMixin, trainer_class), {})


def _rebuild_with_horizon(curriculum: Curriculum, total_steps: int) -> None:
    """Rebind ``curriculum`` to its strategy rebuilt with ``total_steps``, as if constructed so.

    Strategies keep their keyword-only parameters under the same names (the Strategy
    contract), so the rebuilt one differs only in its horizon.
    """
    strategy = curriculum.strategy
    names = [
        p.name
        for p in inspect.signature(type(strategy)).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    fresh = type(strategy)(
        **{**{n: getattr(strategy, n) for n in names}, "total_steps": total_steps}
    )
    curriculum.rng = np.random.default_rng(curriculum.seed)
    fresh.bind(curriculum.pool, curriculum.stats, curriculum.rng)
    curriculum.strategy = fresh


class CurriculumTrainer(CurriculumTrainerMixin, Trainer):
    """``transformers.Trainer`` that samples, weights and checkpoints through a curriculum.

    Takes every ``Trainer`` argument plus ``curriculum`` and ``curriculum_params`` (see
    :class:`CurriculumTrainerMixin`). Rows of ``train_dataset`` must be mappings (as with
    ``datasets.Dataset``).
    """
