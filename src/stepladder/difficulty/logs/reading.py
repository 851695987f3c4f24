"""Reading a whole long or wide log into :class:`Responses`."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from stepladder.difficulty.logs._common import (
    Locator,
    ResponseLogError,
    TableLocator,
    concat_parts,
    file_kind,
    long_arrays,
    short_message,
)
from stepladder.difficulty.logs._csv_reader import read_csv_log
from stepladder.difficulty.logs._jsonl_reader import read_jsonl_log
from stepladder.difficulty.logs._parquet_reader import parquet_files, read_parquet_table
from stepladder.difficulty.logs._wide import wide_responses
from stepladder.difficulty.responses import Responses

__all__ = ["read_responses"]


def read_responses(
    path: str | os.PathLike[str],
    *,
    wide: bool = False,
    learner_column: str = "learner_id",
    item_column: str = "item_id",
    score_column: str = "correct",
    trials_column: str | None = None,
) -> Responses:
    """Read a long or wide response log (CSV, JSON Lines, Parquet file or shard directory).

    A column named ``trials`` is used only when ``trials_column`` names it. The columns
    are ignored with ``wide=True``, where the first column holds the item ids.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "matrix.csv"
        >>> _ = path.write_text(",ann,bob\\nq1,1,\\nq2,0,1\\n")
        >>> r = read_responses(path, wide=True)
        >>> r.learner_ids.to_pylist(), r.item_ids.to_pylist(), len(r)
        (['ann', 'bob'], ['q1', 'q2'], 3)
    """
    path = Path(path)
    kind = file_kind(path)
    columns = [learner_column, item_column, score_column]
    if trials_column is not None:
        columns.append(trials_column)
    if not wide and len(set(columns)) < len(columns):
        raise ResponseLogError(f"{path}: the same column is named for two roles: {columns}")
    wanted = None if wide else columns
    if kind == "parquet":
        pairs: list[tuple[pa.Table, Locator]] = []
        for shard in parquet_files(path, wanted):
            table = read_parquet_table(shard, wanted)
            pairs.append((table, TableLocator(shard, table)))
    elif kind == "csv":
        pairs = [read_csv_log(path, wanted)]
    else:
        pairs = [read_jsonl_log(path, wanted)]
    if wide:
        return wide_responses(pairs, path)
    parts = [long_arrays(t, columns, loc, csv_ids=kind == "csv") for t, loc in pairs]
    learners, items, scores, trials = (concat_parts([part[k] for part in parts]) for k in range(4))
    if len(scores) == 0:
        raise ResponseLogError(f"{path}: no data rows")
    try:
        return Responses.from_long(learners, items, scores, trials=trials, source=str(path))
    except ValueError as error:  # not expected after the checks above; keep the type
        raise ResponseLogError(short_message(error)) from None
