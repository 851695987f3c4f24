"""Wide logs: one row per item, one column per learner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stepladder.difficulty.logs._common import (
    CSV_NULLS,
    EXPECTED_SCORE,
    Locator,
    ResponseLogError,
    bounded_check,
    checked_ids,
    checked_numbers,
    first_true,
    plain_array,
    plain_ints,
    quoted_names,
)
from stepladder.difficulty.logs._csv_reader import CsvLocator
from stepladder.difficulty.responses import Responses


def wide_responses(pairs: list[tuple[pa.Table, Locator]], path: Path) -> Responses:
    """Responses of a wide log (one or more tables of rows = items), in matrix order."""
    parts = [_wide_long(table, locator, path) for table, locator in pairs if table.num_rows]
    if not parts:
        raise ResponseLogError(f"{path}: no data rows")
    sizes = np.cumsum([len(part[4]) for part in parts])
    items = pa.chunked_array([part[4] for part in parts]).combine_chunks()
    codes = pc.dictionary_encode(items).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    if len(first) < len(items):
        repeated = np.ones(len(items), dtype=bool)
        repeated[first] = False
        row = first_true(repeated)
        part = int(np.searchsorted(sizes, row, side="right"))
        local = row - (int(sizes[part - 1]) if part else 0)
        raise ResponseLogError(
            f"{pairs[part][1].where(local)}: item id {items[row].as_py()!r} repeats an earlier "
            "row; a wide log has one row per item"
        )
    offsets = np.concatenate([[0], sizes[:-1]])
    item = np.concatenate([part[0] + offset for part, offset in zip(parts, offsets, strict=True)])
    learner = np.concatenate([part[1] for part in parts])
    scores = np.concatenate([part[2] for part in parts])
    if len(scores) == 0:
        raise ResponseLogError(f"{path}: every cell is empty")
    return Responses(learner, item, scores, np.ones(len(scores)), parts[0][3], items)


def _wide_long(
    table: pa.Table, locator: Locator, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array]:
    """(item index, learner index, score) of the present cells, row-major; learner and
    item ids of the table's columns and rows."""
    names = table.column_names
    if len(names) < 2:
        raise ResponseLogError(
            f"{path}: a wide log needs an item id column and learner columns; "
            f"columns present: {quoted_names(names)}"
        )
    learner_names = names[1:]
    for index, name in enumerate(learner_names, 2):
        if not name:
            raise ResponseLogError(f"{path}: column {index} has no learner id in the header")
        if learner_names.count(name) > 1:
            raise ResponseLogError(f"{path}: learner column {name!r} appears more than once")
    label = repr(names[0]) if names[0] else "1 (item id)"
    csv_ids = isinstance(locator, CsvLocator)
    items = checked_ids(table.column(0), names[0], locator, csv_ids=csv_ids, label=label)
    matrix = np.empty((table.num_rows, len(learner_names)))
    expected = f"{EXPECTED_SCORE} or empty"
    for index, name in enumerate(learner_names):
        column = plain_array(table.column(index + 1))
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            blank = pc.is_in(column, value_set=pa.array(CSV_NULLS))
            column = pc.if_else(blank, pa.scalar(None, column.type), column)
        check = bounded_check(name, locator, expected, missing_ok=True)
        matrix[:, index] = checked_numbers(column, name, locator, expected, check)
    present = ~np.isnan(matrix)
    item_index, learner_index = np.nonzero(present)
    learners = plain_ints(pa.array(learner_names, pa.string()))
    return item_index, learner_index, matrix[present], learners, items
