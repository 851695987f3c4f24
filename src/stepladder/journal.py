"""The outcome journal: every state-changing call of a Curriculum, appended durably.

``Curriculum(..., journal=PATH)`` appends one record per call that changes its state, before the
call returns: the initial state, each ``propose``, each ``observe`` and each ``load_state_dict``
(``keep`` changes nothing and is not journaled). A checkpoint (:func:`~stepladder.save_state`)
records how many journal records it reflects, so :func:`recover` rebuilds a crashed run exactly:
it loads the checkpoint (or the journal's initial state) and replays the records after it.

File layout (little-endian)::

    header  b"STEPLJNL"  u32 version (1)  16-byte journal id
    record  u32 length  u32 crc32(payload)  payload    (repeated)

Each payload is one Arrow IPC-serialised RecordBatch of one row with the schema
:data:`SCHEMA` (``seq`` counts records from 0, without gaps). Readers stop at the first record
that is incomplete or fails its checksum if it is the last one (the torn tail of a killed
writer); a bad record followed by others is corruption and raises ``ValueError``. A writer
reopening the journal (through :func:`recover`) cuts the torn tail off.

Columns (null where they do not apply):

===============  ======================  ====================================================
seq              int64                   record number, 0, 1, 2, ...
step             int64                   the curriculum's step when the call was made
kind             string                  ``start``, ``propose``, ``observe`` or ``load``
indices          list<int64>             proposed or observed item indices
rollouts         list<int64>             ``propose``: rollouts per item, if allocated
weights          list<double>            ``propose``: loss weights, if any
rewards          list<list<double>>      ``observe``: each item's rewards, padding left out
reward_shape     list<int64>             ``observe``: shape of ``Outcomes.rewards``
counts           list<int64>             ``observe``: ``Outcomes.counts``, if given
advantages       list<list<double>>      ``observe``: each item's advantages
losses           list<double>            ``observe``: per-item losses
signals          list<double>            ``observe``: per-item signals
outcome_step     int64                   ``observe``: ``Outcomes.step``
state            binary                  ``start``/``load``: the state, as :func:`save_state`
                                         writes it (read it with ``io.state_from_bytes``)
metrics          map<string, double>     ``observe``: ``Curriculum.metrics()`` after it (the
                                         strategy's own scalars and the safety net's), for
                                         reports
===============  ======================  ====================================================
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pyarrow as pa

from stepladder.io import atomic_write, load_state, state_from_bytes, state_to_bytes
from stepladder.outcomes import Outcomes
from stepladder.strategies import Proposal, Strategy, create

if TYPE_CHECKING:
    from stepladder.curriculum import Curriculum
    from stepladder.pool import ItemPool

__all__ = ["SCHEMA", "read_journal", "recover"]

_MAGIC = b"STEPLJNL"
_VERSION = 1
_HEADER = struct.Struct("<8sI16s")
_FRAME = struct.Struct("<II")

_INTS = pa.list_(pa.int64())
_FLOATS = pa.list_(pa.float64())
_NESTED = pa.list_(pa.list_(pa.float64()))

#: Schema of a journal record (one row per record); see the module docstring.
SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("step", pa.int64()),
        ("kind", pa.string()),
        ("indices", _INTS),
        ("rollouts", _INTS),
        ("weights", _FLOATS),
        ("rewards", _NESTED),
        ("reward_shape", _INTS),
        ("counts", _INTS),
        ("advantages", _NESTED),
        ("losses", _FLOATS),
        ("signals", _FLOATS),
        ("outcome_step", pa.int64()),
        ("state", pa.binary()),
        ("metrics", pa.map_(pa.string(), pa.float64())),
    ]
)


def sync_every(spec: Any) -> int:
    """Records per fsync for a ``journal_sync`` setting (0: never, only at close).

    ``"always"`` syncs every record (nothing acknowledged is lost, even in a power cut);
    ``"every:N"`` every N records; ``"never"`` leaves flushing to the OS (a killed process
    loses nothing, a power cut may lose the last records).
    """
    if spec == "always":
        return 1
    if spec == "never":
        return 0
    every = spec[6:] if isinstance(spec, str) and spec.startswith("every:") else ""
    if every.isdigit() and int(every) > 0:
        return int(every)
    raise ValueError(f"journal_sync must be 'always', 'every:N' or 'never', got {spec!r}")


class JournalWriter:
    """Appends records to a journal file; used by :class:`~stepladder.Curriculum`."""

    def __init__(self, path: Path, stream: BinaryIO, journal_id: bytes, next_seq: int, every: int):
        self.path, self.id, self.next_seq = path, journal_id, next_seq
        self._stream, self._every = stream, every
        self._failed: BaseException | None = None

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], sync: Any, start: dict[str, Any]
    ) -> JournalWriter:
        """A new journal at ``path`` (which must not exist) whose record 0 holds ``start``."""
        path, every = Path(path), sync_every(sync)
        if path.exists():
            raise ValueError(
                f"journal {path} already exists: continue it with "
                f"stepladder.recover({str(path)!r}, pool, checkpoint=...), or choose a new path"
            )
        journal_id = uuid.uuid4().bytes
        payload = _record(0, 0, "start", state=start).serialize()
        with atomic_write(path) as stream:  # header and record 0 appear together or not at all
            stream.write(_HEADER.pack(_MAGIC, _VERSION, journal_id))
            stream.write(_FRAME.pack(payload.size, zlib.crc32(payload)))
            stream.write(payload)
        stream = open(path, "r+b", buffering=0)  # noqa: SIM115 - kept open for appending
        stream.seek(0, os.SEEK_END)
        return cls(path, stream, journal_id, 1, every)

    @classmethod
    def reopen(
        cls, path: Path, sync: Any, journal_id: bytes, next_seq: int, end: int
    ) -> JournalWriter:
        """Continue a journal after record ``next_seq - 1``, cutting off what follows ``end``."""
        every = sync_every(sync)
        stream = open(path, "r+b", buffering=0)  # noqa: SIM115 - kept open for appending
        stream.truncate(end)
        stream.seek(end)
        os.fsync(stream.fileno())
        return cls(path, stream, journal_id, next_seq, every)

    def position(self) -> dict[str, Any]:
        """What a checkpoint records: the journal's id and the number of records it reflects."""
        return {"id": self.id.hex(), "next": self.next_seq}

    def write(self, kind: str, step: int, **fields: Any) -> None:
        """Append one record (synced as ``journal_sync`` says); after a failed write the
        journal refuses further records: the run must be recovered from it."""
        if self._stream.closed:
            raise RuntimeError(f"journal {self.path} is closed")
        if self._failed is not None:
            raise RuntimeError(
                f"journal {self.path} is unusable after an earlier failure ({self._failed}); "
                "recover the run with stepladder.recover"
            )
        payload = _record(self.next_seq, step, kind, **fields).serialize()
        try:
            _write_all(self._stream, _FRAME.pack(payload.size, zlib.crc32(payload)))
            _write_all(self._stream, memoryview(payload))
            if self._every and (self.next_seq + 1) % self._every == 0:
                os.fsync(self._stream.fileno())
        except BaseException as error:
            self._failed = error
            raise
        self.next_seq += 1

    def close(self) -> None:
        """Sync and close the file (further writes raise)."""
        if self._stream.closed:
            return
        os.fsync(self._stream.fileno())
        self._stream.close()


def _write_all(stream: BinaryIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view.nbytes:
        written = stream.write(view)
        view = view[written:]


def _one(values: np.ndarray | None, kind: pa.DataType) -> pa.Array:
    """A one-row list array holding ``values`` (null when None)."""
    if values is None:
        return pa.nulls(1, kind)
    return pa.ListArray.from_arrays(
        pa.array([0, len(values)], pa.int32()), pa.array(values, kind.value_type)
    )


def _ragged(matrix: np.ndarray | None, lengths: np.ndarray) -> pa.Array:
    """A one-row list<list<double>>: each row of ``matrix`` cut to its length (null for None)."""
    if matrix is None:
        return pa.nulls(1, _NESTED)
    present = None if matrix.ndim == 1 else np.arange(matrix.shape[1]) < lengths[:, None]
    values = matrix if present is None else matrix[present]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    rows = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.float64()))
    return pa.ListArray.from_arrays(pa.array([0, len(lengths)], pa.int32()), rows)


def _record(
    seq: int,
    step: int,
    kind: str,
    *,
    proposal: Proposal | None = None,
    outcomes: Outcomes | None = None,
    state: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> pa.RecordBatch:
    columns: dict[str, pa.Array] = {}
    if metrics is not None:
        columns["metrics"] = pa.array([list(metrics.items())], pa.map_(pa.string(), pa.float64()))
    if proposal is not None:
        columns["indices"] = _one(proposal.indices, _INTS)
        columns["rollouts"] = _one(proposal.rollouts, _INTS)
        columns["weights"] = _one(proposal.weights, _FLOATS)
    if outcomes is not None:
        lengths = outcomes.rollouts
        rewards = outcomes.rewards
        columns["indices"] = _one(outcomes.indices, _INTS)
        columns["rewards"] = _ragged(rewards, lengths)
        columns["reward_shape"] = _one(None if rewards is None else np.array(rewards.shape), _INTS)
        columns["counts"] = _one(outcomes.counts, _INTS)
        columns["advantages"] = _ragged(outcomes.advantages, lengths)
        columns["losses"] = _one(outcomes.losses, _FLOATS)
        columns["signals"] = _one(outcomes.signals, _FLOATS)
        columns["outcome_step"] = pa.array([outcomes.step], pa.int64())
    if state is not None:
        columns["state"] = pa.array([state_to_bytes(state)], pa.binary())
    columns["seq"] = pa.array([seq], pa.int64())
    columns["step"] = pa.array([step], pa.int64())
    columns["kind"] = pa.array([kind], pa.string())
    arrays = [columns.get(field.name, pa.nulls(1, field.type)) for field in SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


@dataclass
class _Scan:
    """Where a journal's complete records lie (found from the length prefixes alone)."""

    path: Path
    id: bytes
    frames: list[tuple[int, int, int]]  # (offset of the record, payload length, crc32)
    end: int  # just after the last complete record

    def read(self, stream: BinaryIO, k: int) -> pa.RecordBatch | None:
        """Record ``k``, or None if it fails its checksum (raises unless it is the last)."""
        offset, length, crc = self.frames[k]
        stream.seek(offset + _FRAME.size)
        payload = stream.read(length)
        if zlib.crc32(payload) != crc:
            if k == len(self.frames) - 1:
                return None  # torn tail
            raise ValueError(f"journal {self.path} is corrupt: record {k} fails its checksum")
        try:
            batch = pa.ipc.read_record_batch(pa.py_buffer(payload), SCHEMA)
        except (pa.ArrowInvalid, OSError) as error:
            raise ValueError(f"journal {self.path} is corrupt at record {k}: {error}") from None
        if batch.column("seq")[0].as_py() != k:
            raise ValueError(
                f"journal {self.path} is corrupt: record {k} carries seq "
                f"{batch.column('seq')[0].as_py()}"
            )
        return batch


def _scan(path: str | os.PathLike[str]) -> _Scan:
    path = Path(path)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise ValueError(f"journal {path} does not exist") from None
    except OSError as error:
        raise ValueError(f"cannot read journal {path}: {error.strerror or error}") from None
    with stream:
        size = os.fstat(stream.fileno()).st_size
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size or header[: len(_MAGIC)] != _MAGIC:
            raise ValueError(f"{path} is not a stepladder journal")
        _, version, journal_id = _HEADER.unpack(header)
        if version != _VERSION:
            raise ValueError(f"journal {path} has version {version}; this stepladder reads 1")
        frames = []
        offset = _HEADER.size
        while offset + _FRAME.size <= size:
            stream.seek(offset)
            length, crc = _FRAME.unpack(stream.read(_FRAME.size))
            if length == 0 or offset + _FRAME.size + length > size:
                break  # torn tail (or zeros from a power cut)
            frames.append((offset, length, crc))
            offset += _FRAME.size + length
    return _Scan(path, journal_id, frames, offset)


def read_journal(path: str | os.PathLike[str]) -> pa.Table:
    """Every complete record of a journal as an Arrow table (schema :data:`SCHEMA`).

    The table's schema metadata holds the journal id (``stepladder.journal.id``).

    Example:
        >>> import tempfile, pathlib
        >>> from stepladder import Curriculum, Outcomes
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.journal"
        >>> cur = Curriculum(10, seed=0, journal=path)
        >>> batch = cur.propose(2)
        >>> cur.observe(Outcomes(batch.indices, [[1, 0], [1, 1]]))
        >>> table = read_journal(path)
        >>> table.column("kind").to_pylist(), table.column("rewards")[2].as_py()
        (['start', 'propose', 'observe'], [[1.0, 0.0], [1.0, 1.0]])
    """
    scan = _scan(path)
    batches = []
    with open(scan.path, "rb") as stream:
        for k in range(len(scan.frames)):
            batch = scan.read(stream, k)
            if batch is None:
                break
            batches.append(batch)
    table = pa.Table.from_batches(batches, schema=SCHEMA)
    return table.replace_schema_metadata({"stepladder.journal.id": scan.id.hex()})


def _array(column: pa.Array) -> np.ndarray | None:
    if column.null_count:
        return None
    return column.flatten().to_numpy(zero_copy_only=False)


def _proposal_of(batch: pa.RecordBatch) -> Proposal:
    indices = _array(batch.column("indices"))
    return Proposal(
        indices.astype(np.int64, copy=False),
        rollouts=_array(batch.column("rollouts")),
        weights=_array(batch.column("weights")),
    )


def _unragged(column: pa.Array, shape: list[int]) -> np.ndarray | None:
    if column.null_count:
        return None
    rows = column.flatten()
    values = rows.flatten().to_numpy(zero_copy_only=False)
    if len(shape) == 1:
        return values
    lengths = np.diff(rows.offsets.to_numpy())
    matrix = np.full(shape, np.nan)
    matrix[np.arange(shape[1]) < lengths[:, None]] = values
    return matrix


def _outcomes_of(batch: pa.RecordBatch) -> Outcomes:
    shape = batch.column("reward_shape")[0].as_py()
    return Outcomes(
        _array(batch.column("indices")).astype(np.int64, copy=False),
        None if shape is None else _unragged(batch.column("rewards"), shape),
        counts=_array(batch.column("counts")),
        advantages=None if shape is None else _unragged(batch.column("advantages"), shape),
        losses=_array(batch.column("losses")),
        signals=_array(batch.column("signals")),
        step=batch.column("outcome_step")[0].as_py(),
    )


def _state_of(batch: pa.RecordBatch) -> dict[str, Any]:
    return state_from_bytes(batch.column("state")[0].as_py())


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _replay(cur: Curriculum, batch: pa.RecordBatch, seq: int, path: Path) -> None:
    kind = batch.column("kind")[0].as_py()
    step = batch.column("step")[0].as_py()
    if step != cur.step:
        raise ValueError(
            f"journal {path} record {seq} ({kind}) is for step {step}, "
            f"but the curriculum is at step {cur.step}"
        )
    if kind in ("start", "load"):
        cur._load(_state_of(batch), strict=kind == "start")
    elif kind == "propose":
        logged = _proposal_of(batch)
        proposal = cur.propose(len(logged))
        for field in ("indices", "rollouts", "weights"):
            if not _same(getattr(proposal, field), getattr(logged, field)):
                raise ValueError(
                    f"journal {path} record {seq}: the replayed proposal's {field} differ from "
                    "the journaled ones (a different pool or strategy, or a strategy that is "
                    "not deterministic)"
                )
    elif kind == "observe":
        cur.observe(_outcomes_of(batch))
    else:
        raise ValueError(f"journal {path} record {seq} has unknown kind {kind!r}")


def recover(
    journal: str | os.PathLike[str],
    pool: ItemPool | int | Any,
    checkpoint: str | os.PathLike[str] | dict[str, Any] | None = None,
    *,
    strategy: str | Strategy | None = None,
    journal_sync: str = "always",
) -> Curriculum:
    """Rebuild a curriculum from its journal (and a checkpoint), exactly as of its last record.

    Loads ``checkpoint`` (a path or a state dict taken from the journaled curriculum), or the
    journal's initial state without one, then replays every journaled call after it:
    proposals are recomputed and checked against the journaled ones, outcomes observed again.
    The strategy is rebuilt from the journaled name and parameters (pass ``strategy`` for one
    that is not registered), the safety net from the journaled settings. The returned
    curriculum appends to the same journal; a torn last record is cut off. Proposals journaled
    after the last observe (asked for, never reported) are in ``cur.pending``: observe their
    outcomes to continue exactly as an uninterrupted run.

    Example:
        >>> import tempfile, pathlib
        >>> from stepladder import Curriculum, Outcomes
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.journal"
        >>> cur = Curriculum(50, "dump", seed=3, journal=path)
        >>> for _ in range(3):
        ...     cur.observe(Outcomes(cur.propose(4).indices, [[1, 0]] * 4))
        >>> last = cur.propose(4)  # then the process dies
        >>> again = recover(path, 50)
        >>> again.step, again.pending[0].indices.tolist() == last.indices.tolist()
        (3, True)
    """
    from stepladder.curriculum import Curriculum

    scan = _scan(journal)
    if not scan.frames:
        raise ValueError(f"journal {scan.path} holds no complete record")
    with open(scan.path, "rb") as stream:
        first = scan.read(stream, 0)
        if first is None or first.column("kind")[0].as_py() != "start":
            raise ValueError(f"journal {scan.path} does not begin with a start record")
        start = _state_of(first)
        if strategy is None:
            try:
                strategy = create(start["strategy"], **start.get("params", {}))
            except ValueError as error:
                raise ValueError(
                    f"cannot rebuild strategy {start['strategy']!r} from journal {scan.path} "
                    f"({error}); pass strategy="
                ) from None
        safety = start.get("safety") or {}  # none before state format 3
        cur = Curriculum(
            pool,
            strategy,
            seed=0,
            uniform_mix=safety.get("uniform_mix", 0.0),
            cover_groups=safety.get("cover_groups") or 0,  # as recorded: None is off
        )
        position = 0
        if checkpoint is not None:
            state = checkpoint if isinstance(checkpoint, dict) else load_state(checkpoint)
            position = _checkpoint_position(state, scan)
            cur.load_state_dict(state)
        end = len(scan.frames)
        for seq in range(position, len(scan.frames)):
            batch = scan.read(stream, seq)
            if batch is None:
                end = seq
                break
            _replay(cur, batch, seq, scan.path)
        pending = []
        for seq in range(end - 1, -1, -1):
            batch = scan.read(stream, seq)
            if batch is None or batch.column("kind")[0].as_py() != "propose":
                break
            pending.append(_proposal_of(batch))
    cut = scan.frames[end][0] if end < len(scan.frames) else scan.end
    cur._journal = JournalWriter.reopen(scan.path, journal_sync, scan.id, end, cut)
    cur.pending = tuple(reversed(pending))
    return cur


def _checkpoint_position(state: dict[str, Any], scan: _Scan) -> int:
    mark = state.get("journal") if isinstance(state, dict) else None
    if not isinstance(mark, dict) or mark.get("id") != scan.id.hex():
        raise ValueError(
            f"the checkpoint was not taken from the curriculum writing journal {scan.path}"
        )
    position = int(mark["next"])
    if position > len(scan.frames):
        raise ValueError(
            f"the checkpoint reflects {position} journal records but {scan.path} holds only "
            f"{len(scan.frames)}: records were lost (journal_sync='never' or 'every:N' and a "
            "power cut?)"
        )
    return position
