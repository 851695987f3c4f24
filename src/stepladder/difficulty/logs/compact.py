"""Streaming Parquet logs: record batches, and compact int32/float32 responses."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from stepladder._arrow import to_numpy
from stepladder.difficulty.logs._codebook import Codebook
from stepladder.difficulty.logs._common import (
    ResponseLogError,
    TableLocator,
    checked_ids,
    file_kind,
    long_arrays,
)
from stepladder.difficulty.logs._parquet_reader import parquet_batches, parquet_file, parquet_files
from stepladder.difficulty.logs.reading import read_responses
from stepladder.difficulty.responses import Responses

__all__ = ["iter_response_batches", "read_responses_compact"]


def iter_response_batches(
    path: str | os.PathLike[str],
    *,
    batch_rows: int = 1_000_000,
    columns: Sequence[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield Arrow record batches of a Parquet file or shard directory, one batch at a time.

    Only ``columns`` are read (all when None); shards must share one schema.

    Example:
        >>> import pathlib, tempfile
        >>> import pyarrow.parquet as pq
        >>> from stepladder.difficulty.logs import write_synthetic_log
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "log"
        >>> _ = write_synthetic_log(folder, 30, 10, shards=3)
        >>> sizes = [b.num_rows for b in iter_response_batches(folder, batch_rows=40)]
        >>> sum(sizes) == sum(pq.read_metadata(f).num_rows for f in folder.iterdir())
        True
    """
    path = Path(path)
    if file_kind(path) != "parquet":
        raise ResponseLogError(f"{path}: streaming reads Parquet files or shard directories only")
    wanted = None if columns is None else list(columns)
    for _, _, batch in parquet_batches(parquet_files(path, wanted), wanted, batch_rows):
        yield batch


def read_responses_compact(
    path: str | os.PathLike[str],
    *,
    learner_column: str = "learner_id",
    item_column: str = "item_id",
    score_column: str = "correct",
    trials_column: str | None = None,
    batch_rows: int = 1_000_000,
) -> Responses:
    """Read a long Parquet log batch by batch into int32 indices and float32 scores.

    Peak memory is the compact arrays (12 bytes a row, 16 with a trials column: without
    one, ``trials`` is a read-only view of a single 1) plus one batch. Ids are numbered in
    order of first appearance, as :func:`read_responses` numbers them, so both give the
    same content; ``learner`` and ``item`` are int32, so cast them to int64 before any
    arithmetic that can pass 2**31 (such as ``learner * n_items + item``). CSV and JSON
    Lines logs are read whole with :func:`read_responses` and then narrowed.

    Example:
        >>> import pathlib, tempfile
        >>> from stepladder.difficulty.logs import write_synthetic_log
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "log"
        >>> truth = write_synthetic_log(folder, 40, 8, shards=2)
        >>> r = read_responses_compact(folder, batch_rows=50)
        >>> r.learner.dtype, r.successes.dtype, len(r) == truth["n_responses"]
        (dtype('int32'), dtype('float32'), True)
    """
    path = Path(path)
    columns = [learner_column, item_column, score_column]
    if trials_column is not None:
        columns.append(trials_column)
    if len(set(columns)) < len(columns):
        raise ResponseLogError(f"{path}: the same column is named for two roles: {columns}")
    if file_kind(path) != "parquet":
        full = read_responses(
            path,
            learner_column=learner_column,
            item_column=item_column,
            score_column=score_column,
            trials_column=trials_column,
        )
        return Responses(
            full.learner.astype(np.int32),
            full.item.astype(np.int32),
            full.successes.astype(np.float32),
            full.trials.astype(np.float32),
            full.learner_ids,
            full.item_ids,
        )
    files = parquet_files(path, columns)
    total = 0
    for shard in files:
        total += parquet_file(shard).metadata.num_rows
    learner = np.empty(total, dtype=np.int32)
    item = np.empty(total, dtype=np.int32)
    successes = np.empty(total, dtype=np.float32)
    if trials_column is None:  # one attempt a row: a read-only view, no 4 bytes a row
        trials = np.broadcast_to(np.float32(1.0), (total,))
    else:
        trials = np.ones(total, dtype=np.float32)
    limit = min(max(total, 1 << 22), np.iinfo(np.int32).max)  # id-table cap: 4 bytes a row
    learner_book, item_book = Codebook(learner_column, limit), Codebook(item_column, limit)
    start = 0
    for shard, offset, batch in parquet_batches(files, columns, batch_rows):
        stop = start + batch.num_rows
        if stop > total:
            raise ResponseLogError(f"{shard}: holds more rows than its metadata says")
        locator = TableLocator(shard, batch, offset)
        if trials_column is None and _plain_scores(
            batch.column(score_column), successes[start:stop]
        ):
            learners = checked_ids(
                batch.column(learner_column), learner_column, locator, csv_ids=False
            )
            items = checked_ids(batch.column(item_column), item_column, locator, csv_ids=False)
        else:
            learners, items, scores, attempts = long_arrays(batch, columns, locator, csv_ids=False)
            successes[start:stop] = scores
            if attempts is not None:
                trials[start:stop] = attempts
        learner_book.encode(learners, shard, learner[start:stop])
        item_book.encode(items, shard, item[start:stop])
        start = stop
    if start == 0:
        raise ResponseLogError(f"{path}: no data rows")
    if start < total:
        learner, item, successes, trials = (a[:start] for a in (learner, item, successes, trials))
    return Responses(learner, item, successes, trials, learner_book.values(), item_book.values())


def _plain_scores(column: pa.Array, out: np.ndarray) -> bool:
    """Copy a numeric score column without nulls into ``out`` when all of it lies in
    [0, 1] (NaN fails the test); False, with ``out`` unspecified, for any other column,
    which the full checks then read and, where bad, name the row at fault.

    The result equals the checked path's float64-then-float32 conversion: a float32
    score survives float64 unchanged, and integers in [0, 1] are exact in both.
    """
    kind = column.type
    if column.null_count or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return False
    values = to_numpy(column)
    if not len(values) or not (values.min() >= 0 and values.max() <= 1):
        return not len(values)
    out[:] = values
    return True
