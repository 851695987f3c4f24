"""PyTorch: a ``Sampler`` that follows a curriculum, resumes exactly and shards across ranks.

Three changes to an existing loop (the sampler, the indexed dataset, the feedback)::

    sampler = CurriculumSampler(pool, "easy_to_hard", batch_size=64, seed=0)
    loader = DataLoader(IndexedDataset(dataset), batch_size=64, sampler=sampler)
    for indices, (x, y) in loader:
        losses = F.cross_entropy(model(x), y, reduction="none")
        losses.mean().backward(); optimizer.step(); optimizer.zero_grad()
        sampler.observe(indices, losses=losses)

How it works: every ``batch_size`` indices per rank come from one ``curriculum.propose(n)``
(``n = batch_size * num_replicas``, the global batch), made when the first index of that batch
is requested. Every rank runs the same curriculum with the same seed and observes the same
(gathered) feedback, so every rank makes the same proposals; each rank yields its share
``proposal[rank::num_replicas]``, like ``DistributedSampler``. ``state_dict()`` holds the
curriculum and the position in the epoch, so a run stopped after any batch and resumed continues
with exactly the indices an uninterrupted run would have drawn (see ``docs/integrations.md``
for worker prefetching, which makes feedback lag behind proposals).

``import stepladder`` never imports this module. This module imports without torch (so that
documentation tools and doctest collection work anywhere); using it needs the ``torch`` extra
(``pip install 'stepladder[torch]'``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator, Sized
from typing import Any

import numpy as np

from stepladder._checks import positive_int
from stepladder.curriculum import Curriculum
from stepladder.integrations._rollouts import group_metrics
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.strategies import Proposal, Strategy

try:
    import torch
    import torch.distributed as dist
    from torch.utils.data import Dataset, Sampler
except ImportError:  # pragma: no cover - exercised only where torch is absent
    torch = None  # type: ignore[assignment]
    dist = None  # type: ignore[assignment]

    class _TorchMissing:
        """Stands in for a torch base class when torch is not installed."""

        def __class_getitem__(cls, item: Any) -> type:
            return cls

    Dataset = Sampler = _TorchMissing  # type: ignore[assignment,misc]

__all__ = ["CurriculumSampler", "IndexedDataset", "gather_feedback"]

_FORMAT = 1
_KIND = "stepladder.CurriculumSampler"
_INSTALL_HINT = "stepladder.integrations.torch needs PyTorch: pip install 'stepladder[torch]'"


def _require_torch() -> None:
    if torch is None:
        raise ImportError(_INSTALL_HINT)


def _distributed() -> bool:
    """Whether a torch.distributed process group is up (and has more than one process)."""
    return (
        torch is not None
        and dist.is_available()
        and dist.is_initialized()
        and dist.get_world_size() > 1
    )


def _numpy(values: Any, dtype: Any = None) -> np.ndarray | None:
    """A NumPy copy of a tensor, array or sequence (None stays None)."""
    if values is None:
        return None
    if torch is not None and isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.dtype == torch.bfloat16:
            values = values.float()
        values = values.numpy()
    array = np.asarray(values)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


def gather_feedback(
    indices: Any,
    *,
    losses: Any = None,
    correct: Any = None,
    signals: Any = None,
) -> dict[str, np.ndarray | None]:
    """This rank's feedback concatenated with every other rank's, in rank order.

    Under an initialised ``torch.distributed`` process group of more than one process this is a
    collective (``all_gather_object``): every rank must call it, once per step. Otherwise it
    returns the inputs as NumPy arrays. The result can be passed straight to
    :meth:`CurriculumSampler.observe` with ``gather=False``.

    Example:
        >>> import pytest; _ = pytest.importorskip("torch")
        >>> fields = gather_feedback([3, 1], losses=[0.5, 2.0])
        >>> fields["indices"].tolist(), fields["losses"].tolist(), fields["correct"]
        ([3, 1], [0.5, 2.0], None)
    """
    fields = {
        "indices": _numpy(indices, np.int64).reshape(-1),
        "losses": _numpy(losses, np.float64),
        "correct": _numpy(correct, np.float64),
        "signals": _numpy(signals, np.float64),
    }
    if not _distributed():
        return fields
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, fields)
    gathered: dict[str, np.ndarray | None] = {
        "indices": np.concatenate([part["indices"] for part in parts])
    }
    for name in ("losses", "correct", "signals"):
        # A rank with no items this step may leave out a field the others give.
        given = [part[name] is not None for part in parts if len(part["indices"])]
        if not any(given):
            gathered[name] = None
        elif not all(given):
            raise ValueError(f"some ranks gave {name} and others did not")
        else:
            values = [part[name] for part in parts]
            gathered[name] = np.concatenate([np.zeros(0) if v is None else v for v in values])
    return gathered


class IndexedDataset(Dataset):
    """Wraps a map-style dataset so that each item comes with its index: ``(index, item)``.

    The default collate function then yields batches ``[indices, batch]``, which is how the
    training loop learns which items it trained on (what :meth:`CurriculumSampler.observe`
    needs), whatever the order or the worker that fetched them.

    Example:
        >>> import pytest; _ = pytest.importorskip("torch")
        >>> data = IndexedDataset(["a", "b", "c"])
        >>> len(data), data[2]
        (3, (2, 'c'))
    """

    def __init__(self, dataset: Any) -> None:
        _require_torch()
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return int(index), self.dataset[index]


class CurriculumSampler(Sampler[int]):
    """Yields dataset indices in the order a :class:`~stepladder.Curriculum` chooses.

    Args:
        source: a :class:`~stepladder.Curriculum` to follow, or what to build one from: an
            :class:`~stepladder.ItemPool`, a number of items, or the dataset itself (any sized
            object; its length is the pool size).
        strategy: strategy name or instance when ``source`` is not a Curriculum
            (default ``"uniform"``).
        batch_size: indices per rank per proposal. Set it to the DataLoader's batch size, so
            that each training step's batch is one proposal.
        num_samples: indices per epoch over all ranks (default: the pool size).
        seed: seed of the curriculum built from ``source`` (the same on every rank).
        num_replicas: number of ranks (default: the ``torch.distributed`` world size, or 1).
        rank: this process's rank (default: the ``torch.distributed`` rank, or 0).
        drop_last: like ``DistributedSampler``: when ``num_samples`` does not divide evenly,
            drop the tail (True) or propose extra items so every rank gets the same count.
        **params: parameters of the named strategy, and the safety net's ``uniform_mix`` and
            ``cover_groups`` (see :class:`~stepladder.Curriculum`).

    Feedback: call :meth:`observe` after each step. Every rank must observe the same global
    feedback in the same order, or the ranks' curricula (and so their proposals) diverge; with
    ``num_replicas > 1`` under an initialised process group, :meth:`observe` gathers each
    rank's feedback for you (a collective: call it on every rank, every step).

    Example:
        >>> import pytest; _ = pytest.importorskip("torch")
        >>> from stepladder import ItemPool
        >>> pool = ItemPool(size=6, difficulty=[5.0, 0.0, 3.0, 1.0, 4.0, 2.0])
        >>> sampler = CurriculumSampler(pool, "easy_to_hard", batch_size=3)
        >>> list(sampler)
        [1, 3, 5, 2, 4, 0]
        >>> sampler.observe([1, 3, 5], losses=[0.1, 0.4, 0.9])
        >>> rank1 = CurriculumSampler(pool, "easy_to_hard", batch_size=2, num_replicas=2, rank=1)
        >>> list(rank1)
        [3, 2, 0]
    """

    def __init__(
        self,
        source: Curriculum | ItemPool | int | Sized,
        strategy: str | Strategy | None = None,
        *,
        batch_size: int,
        num_samples: int | None = None,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        **params: Any,
    ) -> None:
        _require_torch()
        # Not super(): verl's sampler base (a subclass may add it) wants other arguments.
        Sampler.__init__(self)
        self.curriculum = _as_curriculum(source, strategy, seed, params)
        self.batch_size = positive_int("batch_size", batch_size)
        self.num_replicas, self.rank = _replicas(num_replicas, rank)
        if self.num_replicas > 1 and self.curriculum.seed is None:
            raise ValueError(
                "seed=None gives every rank a different curriculum: shard with a fixed seed"
            )
        self.drop_last = bool(drop_last)
        total = self.curriculum.pool.size if num_samples is None else num_samples
        total = positive_int("num_samples", total)
        per_rank = total // self.num_replicas if drop_last else -(-total // self.num_replicas)
        if per_rank == 0:
            raise ValueError(
                f"num_samples={total} with drop_last=True leaves nothing for "
                f"{self.num_replicas} replicas"
            )
        #: Indices each rank yields per epoch (what ``len(sampler)`` returns).
        self.num_samples = per_rank
        #: Indices proposed per epoch over all ranks.
        self.total_size = per_rank * self.num_replicas
        self.epoch = 0
        #: The most recent proposal (global: all ranks' items).
        self.last_proposal: Proposal | None = None
        #: Per-source metrics of the most recent :meth:`observe` (see :meth:`metrics`).
        self.source_metrics: dict[str, float] = {}
        self._weights: np.ndarray | None = None  # per item: weight of its latest proposal
        self._resume_pending = False
        self._replay = False
        self._start_epoch()

    def __repr__(self) -> str:
        return (
            f"CurriculumSampler({self.curriculum!r}, batch_size={self.batch_size}, "
            f"num_samples={self.num_samples}, rank={self.rank}/{self.num_replicas})"
        )

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Label the next pass; a pass that resumes a checkpoint must carry the saved label.

        Unlike ``DistributedSampler`` the order does not come from the epoch number (the
        curriculum's state decides it), so calling this is optional; it matters on resume: an
        interrupted epoch continues only if the next pass has the epoch label it was saved with.
        """
        self.epoch = positive_int("epoch", epoch, allow_zero=True)

    # -- iteration ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[int]:
        # A loaded state resumes in the first iterator created after loading, and only there
        # (StatefulDataLoader restores an iterator, then may discard it for a fresh epoch). The
        # iterator is a generator: nothing is proposed before its first index is requested.
        resume, self._resume_pending = self._resume_pending, False
        return self._iterate(resume)

    def _iterate(self, resume: bool) -> Iterator[int]:
        if resume and self._record_epoch == self.epoch:
            position = 0 if self._replay else self._position
        else:
            self._start_epoch()
            position = 0
        replicas, per_chunk = self.num_replicas, self.batch_size
        while position < self.num_samples:
            chunk = position // per_chunk
            start = chunk * per_chunk * replicas
            stop = min(start + per_chunk * replicas, self.total_size)
            if stop > self._filled:
                self._propose(stop - self._filled)
            else:
                self._apply_weights(start, stop)
            mine = self._record[start:stop][self.rank :: replicas]
            self._chunk_started(mine)
            for item in mine[position - chunk * per_chunk :].tolist():
                position += 1
                self._position = position
                yield item

    def _start_epoch(self) -> None:
        self._record_epoch = self.epoch
        self._record = np.empty(self.total_size, dtype=np.int64)  # global proposals this epoch
        self._record_weights: np.ndarray | None = None
        self._filled = 0  # how much of the record is proposed
        self._position = 0  # indices this rank has yielded this epoch

    def _propose(self, n: int) -> None:
        proposal = self.curriculum.propose(n)
        indices, proposed_weights = self._layout(proposal)
        start = self._filled
        self._record[start : start + n] = indices
        if proposed_weights is not None or self._record_weights is not None:
            if self._record_weights is None:
                self._record_weights = np.ones(self.total_size)
            weights = 1.0 if proposed_weights is None else proposed_weights
            self._record_weights[start : start + n] = weights
            self._apply_weights(start, start + n)
        self._filled += n
        self.last_proposal = proposal

    def _layout(self, proposal: Proposal) -> tuple[np.ndarray, np.ndarray | None]:
        """The indices (and loss weights) a proposal puts into the record, in order; as many
        as were proposed. Subclasses that turn rollout budgets into repeats override this."""
        return proposal.indices, proposal.weights

    def _chunk_started(self, indices: np.ndarray) -> None:
        """Called when this rank starts yielding a chunk (its share of one proposal)."""

    def _apply_weights(self, start: int, stop: int) -> None:
        if self._record_weights is None:
            return
        if self._weights is None:
            self._weights = np.ones(self.curriculum.pool.size)
        self._weights[self._record[start:stop]] = self._record_weights[start:stop]

    # -- feedback ----------------------------------------------------------------------------

    @property
    def weighted(self) -> bool:
        """Whether the strategy has given per-item loss weights (see :meth:`weights_for`)."""
        return self._weights is not None

    def weights_for(self, indices: Any) -> np.ndarray:
        """Loss weight of each item, from its latest proposal (1.0 where none was given).

        Weighting strategies (``Strategy`` proposals with ``weights``) ask the trainer to scale
        each item's loss, e.g. ``(losses * weights).mean()``.

        Example:
            >>> import pytest; _ = pytest.importorskip("torch")
            >>> CurriculumSampler(4, batch_size=2).weights_for([0, 3]).tolist()
            [1.0, 1.0]
        """
        idx = _numpy(indices, np.int64).reshape(-1)
        if self._weights is None:
            return np.ones(len(idx))
        return self._weights[idx]

    def observe(
        self,
        indices: Any,
        *,
        losses: Any = None,
        correct: Any = None,
        signals: Any = None,
        gather: bool | None = None,
    ) -> None:
        """Feed back what happened to the items of a step.

        Args:
            indices: dataset indices trained on (tensor, array or list).
            losses: per-item loss (reduction ``"none"``), optional.
            correct: per-item correctness, 0/1 or a score in ``[0, 1]`` (observed as rewards).
            signals: any per-item model signal (entropy, margin...), optional.
            gather: all-gather the ranks' feedback before observing. Default: when this sampler
                shards (``num_replicas > 1``) under an initialised process group. Pass
                ``gather=False`` when the arguments already hold every rank's feedback.
        """
        if gather is None:
            gather = self.num_replicas > 1 and _distributed()
        if gather:
            fields = gather_feedback(indices, losses=losses, correct=correct, signals=signals)
        else:
            fields = {
                "indices": _numpy(indices, np.int64).reshape(-1),
                "losses": _numpy(losses, np.float64),
                "correct": _numpy(correct, np.float64),
                "signals": _numpy(signals, np.float64),
            }
        outcomes = Outcomes(
            fields["indices"],
            rewards=fields["correct"],
            losses=fields["losses"],
            signals=fields["signals"],
        )
        self.curriculum.observe(outcomes)
        self.source_metrics = _source_metrics(self.curriculum.pool, outcomes)

    def metrics(self) -> dict[str, float]:
        """The curriculum's scalars for logging, the sampler's epoch and, for a pool with
        groups, per-source metrics of the last observed batch: ``source/<group>/share`` (the
        group's share of the batch's items) and, when ``correct`` was given,
        ``source/<group>/pass_rate`` (its mean correctness), for the groups present.

        Example:
            >>> import pytest; _ = pytest.importorskip("torch")
            >>> from stepladder import ItemPool
            >>> pool = ItemPool(size=4, groups=["math", "math", "code", "code"])
            >>> sampler = CurriculumSampler(pool, batch_size=4)
            >>> sampler.observe([0, 1, 2, 3], correct=[1.0, 0.0, 1.0, 1.0])
            >>> {k: v for k, v in sampler.metrics().items() if k.startswith("source/")}
            ... # doctest: +NORMALIZE_WHITESPACE
            {'source/math/share': 0.5, 'source/code/share': 0.5,
             'source/math/pass_rate': 0.5, 'source/code/pass_rate': 1.0}
        """
        return {**self.curriculum.metrics(), "epoch": float(self.epoch), **self.source_metrics}

    # -- checkpointing -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The curriculum's state and the position in the current epoch.

        This is the protocol torchdata's ``StatefulDataLoader`` calls on its sampler. The dict
        is identical on every rank and holds only tensors and Python scalars, so ``torch.save``
        and ``torch.load`` (with its default ``weights_only=True``) round-trip it.
        """
        keep = self._filled
        weights = self._record_weights
        state = {
            "kind": _KIND,
            "format": _FORMAT,
            "epoch": self.epoch,
            "record_epoch": self._record_epoch,
            "position": self._position,
            "num_replicas": self.num_replicas,
            "batch_size": self.batch_size,
            "total_size": self.total_size,
            "record": self._record[:keep],
            "record_weights": None if weights is None else weights[:keep],
            "curriculum": self.curriculum.state_dict(),
            # A StatefulDataLoader with workers snapshots this state when it requests a batch:
            # such a snapshot lacks the feedback observed later (see loader_state_dict).
            "prefetched": _called_by_worker_loader(),
        }
        return _to_torch(state)

    def loader_state_dict(self, loader: Any) -> dict[str, Any]:
        """``loader.state_dict()`` with this sampler's part brought up to date.

        A ``StatefulDataLoader`` with workers snapshots its sampler when it *requests* a batch,
        up to ``prefetch_factor * num_workers`` batches before the loop receives it, so its
        state holds the curriculum as it was then, without the feedback observed since. Use
        this instead of ``loader.state_dict()``: it keeps the loader's position and puts in the
        curriculum as it is now, together with the batches already proposed and still in
        flight, so the resumed run continues exactly. (With ``num_workers=0`` both are equal.)
        """
        current = self.state_dict()

        def update(node: Any) -> Any:
            if isinstance(node, dict):
                if node.get("kind") != _KIND:
                    return {key: update(value) for key, value in node.items()}
                if (
                    node["record_epoch"] != current["record_epoch"]
                    or node["position"] > current["position"]
                ):
                    return node  # a snapshot from another pass: nothing newer to add
                fresh = ("curriculum", "record", "record_weights")
                return {**node, **{key: current[key] for key in fresh}, "prefetched": False}
            if isinstance(node, list | tuple):
                return type(node)(update(value) for value in node)
            return node

        return update(loader.state_dict())

    def load_state_dict(
        self, state: dict[str, Any], *, replay: bool = False, allow_stale: bool = False
    ) -> None:
        """Restore a :meth:`state_dict`; the next pass with the saved epoch label resumes it.

        Args:
            state: what :meth:`state_dict` returned (possibly through save/load).
            replay: start the resumed epoch from its beginning, repeating the indices already
                yielded before continuing. For loaders that skip the batches already trained by
                iterating past them (the Hugging Face Trainer does); the default continues where
                the state was taken (StatefulDataLoader, or a hand-written loop).
            allow_stale: load a state that a ``StatefulDataLoader`` with workers snapshotted
                when it requested a batch (its plain ``loader.state_dict()``). Such a state
                lacks the feedback of the batches then in flight, so the resumed run differs
                from the uninterrupted one; without this flag loading it raises ValueError.
                Save ``sampler.loader_state_dict(loader)`` instead: it resumes exactly.
        """
        state = _to_numpy(state)
        if state.get("format") != _FORMAT:
            raise ValueError(f"unsupported sampler state format {state.get('format')!r}")
        if bool(state.get("prefetched", False)) and not allow_stale:
            raise ValueError(
                "this sampler state comes from a StatefulDataLoader with workers "
                "(loader.state_dict()), which snapshots the sampler when it requests a batch: "
                "it lacks the feedback observed after that, so resuming from it would not "
                "continue the run exactly. Save sampler.loader_state_dict(loader) instead of "
                "loader.state_dict(); to load this checkpoint anyway, call "
                "sampler.load_state_dict(state, allow_stale=True) with the sampler's part"
            )
        self.curriculum.load_state_dict(state["curriculum"])
        self.epoch = int(state["epoch"])
        self._start_epoch()
        layout = (self.num_replicas, self.batch_size, self.total_size)
        saved = (int(state["num_replicas"]), int(state["batch_size"]), int(state["total_size"]))
        if saved != layout:
            if int(state["position"]) > 0:
                warnings.warn(
                    f"sampler state was saved with (num_replicas, batch_size, total_size)="
                    f"{saved}, this sampler has {layout}: the curriculum is restored, the "
                    "interrupted epoch is not resumed",
                    stacklevel=2,
                )
            self._record_epoch = -1  # matches no epoch: the next pass starts a new one
        else:
            self._record_epoch = int(state["record_epoch"])
            record = np.asarray(state["record"], dtype=np.int64)
            self._filled = len(record)
            self._record[: self._filled] = record
            if state.get("record_weights") is not None:
                self._record_weights = np.ones(self.total_size)
                self._record_weights[: self._filled] = np.asarray(state["record_weights"])
            self._position = int(state["position"])
        self._resume_pending = True
        self._replay = bool(replay)


def _source_metrics(pool: ItemPool, outcomes: Outcomes) -> dict[str, float]:
    """``group_metrics`` under ``source/``, without ``effective_ratio`` for one score per
    example (it needs a group of rollouts per item, whose rewards may differ)."""
    metrics = group_metrics(pool, outcomes, prefix="source/")
    if outcomes.rewards is not None and outcomes.rewards.ndim == 2:
        return metrics
    return {key: value for key, value in metrics.items() if not key.endswith("/effective_ratio")}


def _called_by_worker_loader() -> bool:
    """Whether torchdata's multi-worker ``StatefulDataLoader`` iterator is asking for the state
    (it does so from ``_get_main_state`` when it requests a batch, ahead of the loop)."""
    frame = sys._getframe(1)
    for _ in range(8):
        frame = frame.f_back
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "_get_main_state" and "stateful_dataloader" in code.co_filename:
            return True
    return False


def _to_torch(state: Any) -> Any:
    """Arrays become tensors, NumPy scalars Python scalars (what ``torch.load`` accepts)."""
    if isinstance(state, np.ndarray):
        return torch.from_numpy(np.array(state))
    if isinstance(state, dict):
        return {key: _to_torch(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_to_torch(value) for value in state)
    if isinstance(state, np.generic):
        return state.item()
    return state


def _to_numpy(state: Any) -> Any:
    """Tensors become NumPy arrays (the form curricula and :func:`stepladder.save_state` take)."""
    if torch is not None and isinstance(state, torch.Tensor):
        return state.detach().cpu().numpy().copy()
    if isinstance(state, dict):
        return {key: _to_numpy(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_to_numpy(value) for value in state)
    return state


def _as_curriculum(
    source: Any, strategy: str | Strategy | None, seed: int | None, params: dict[str, Any]
) -> Curriculum:
    if isinstance(source, Curriculum):
        if strategy is not None or params:
            raise ValueError("give a Curriculum, or a pool with a strategy, not both")
        return source
    if isinstance(source, ItemPool | int | np.integer) and not isinstance(source, bool):
        pool: ItemPool | int = source
    elif isinstance(source, Sized):
        pool = ItemPool(size=len(source))
    else:
        raise ValueError(
            "source must be a Curriculum, an ItemPool, a number of items or a sized dataset, "
            f"got {type(source).__name__}"
        )
    return Curriculum(pool, "uniform" if strategy is None else strategy, seed=seed, **params)


def _replicas(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    running = torch is not None and dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if running else 1
    if rank is None:
        rank = dist.get_rank() if running else 0
    num_replicas = positive_int("num_replicas", num_replicas)
    rank = positive_int("rank", rank, allow_zero=True)
    if rank >= num_replicas:
        raise ValueError(f"rank must lie in [0, {num_replicas - 1}], got {rank}")
    return num_replicas, rank
