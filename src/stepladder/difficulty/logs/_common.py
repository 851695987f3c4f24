"""Shared pieces of the log readers: the error type, file kinds, row locators and the
column checks that name the row at fault."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SUFFIXES = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
    ".parquet": "parquet",
}
_KNOWN = ".csv, .csv.gz, .jsonl, .ndjson, .parquet or a directory of .parquet shards"
CSV_NULLS = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
]  # fmt: skip
_PLAIN_INT = r"^-?(0|[1-9][0-9]{0,17})$"
EXPECTED_SCORE = "a score in [0, 1]"


class ResponseLogError(ValueError):
    """A response log that cannot be read; the message is one line naming file and place."""


# --------------------------------------------------------------------------- files


def _suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]).lower() or "a name without extension"


def file_kind(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` (file or shard directory) from the file name."""
    if not path.exists():
        raise ResponseLogError(f"{path}: no such file or directory")
    if path.is_dir():
        return "parquet"
    name = path.name.lower()
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            if path.stat().st_size == 0:
                raise ResponseLogError(f"{path}: file is empty")
            return kind
    raise ResponseLogError(f"{path}: unknown file type {_suffix(path)!r}; expected {_KNOWN}")


def short_message(message: object) -> str:
    """First line of an error message (or the error's type name when it is empty)."""
    lines = str(message).strip().splitlines()
    return lines[0] if lines else type(message).__name__


def quoted_names(names: Sequence[str], limit: int = 12) -> str:
    """Names quoted and comma-separated, the first ``limit`` of them."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def require_columns(path: Path, present: Sequence[str], wanted: Sequence[str] | None) -> None:
    """Raise ``ResponseLogError`` naming the ``wanted`` columns missing from ``present``."""
    missing = [c for c in wanted or () if c not in present]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise ResponseLogError(
            f"{path}: missing {noun} {quoted_names(missing)}; "
            f"columns present: {quoted_names(present)}"
        )


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Physical lines (number from 1, text without the line break) of a text file."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as stream:
        for number, line in enumerate(stream, 1):
            yield number, line.rstrip("\r\n")


# --------------------------------------------------------------------------- locating rows


class Locator(Protocol):
    path: Path

    def where(self, row: int) -> str: ...

    def raw(self, row: int, column: str) -> str: ...


class LineLocator:
    """Data rows of a text log mapped back to physical lines; subclasses read a row's record."""

    path: Path

    def record(self, row: int) -> tuple[int, Any] | None:
        """``(line number, the record)`` of data row ``row``, or None past the end."""
        raise NotImplementedError

    def where(self, row: int) -> str:
        found = self.record(row)
        return f"{self.path}: " + (f"line {found[0]}" if found else f"data row {row + 1}")


class TableLocator:
    """Rows of a Parquet file (or a batch of one, starting at ``offset``)."""

    def __init__(self, path: Path, data: pa.Table | pa.RecordBatch, offset: int = 0) -> None:
        self.path, self.data, self.offset = path, data, offset

    def where(self, row: int) -> str:
        return f"{self.path}: row {self.offset + row + 1}"

    def raw(self, row: int, column: str) -> str:
        value = self.data.column(column)[row].as_py()
        return "null" if value is None else repr(value)


# --------------------------------------------------------------------------- checking columns


def _fail(
    locator: Locator, row: int, column: str, expected: str, label: str | None = None
) -> ResponseLogError:
    name = repr(column) if label is None else label
    return ResponseLogError(
        f"{locator.where(row)}: column {name} is {locator.raw(row, column)}; expected {expected}"
    )


def first_true(mask: Any) -> int:
    """Index of the first true value of a boolean Arrow or NumPy array."""
    if isinstance(mask, pa.ChunkedArray | pa.Array):
        mask = mask.to_numpy(zero_copy_only=False)
    return int(np.argmax(mask))


def plain_array(array: Any) -> pa.Array:
    """One contiguous Arrow array, dictionary-encoded values decoded."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def checked_ids(
    array: Any, column: str, locator: Locator, *, csv_ids: bool, label: str | None = None
) -> pa.Array:
    """Check an id column (no missing ids); CSV ids become int64 when all are plain ints."""
    array = plain_array(array)
    label = label or repr(column)
    kind = array.type
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_null(kind)
    ):
        raise ResponseLogError(f"{locator.path}: column {label} holds {kind}, not ids")
    if array.null_count:
        raise _fail(locator, first_true(array.is_null()), column, "an id", label)
    if pa.types.is_floating(kind):
        nan = pc.is_nan(array)
        if pc.any(nan).as_py():
            raise _fail(locator, first_true(nan), column, "an id", label)
    if csv_ids:
        empty = pc.equal(array, "")
        if pc.any(empty).as_py():
            raise _fail(locator, first_true(empty), column, "an id", label)
        array = plain_ints(array)
    return array


def plain_ints(names: pa.Array) -> pa.Array:
    """Strings written as plain integers (no leading zeros) as int64; others unchanged."""
    if len(names) and pc.all(pc.match_substring_regex(names, _PLAIN_INT)).as_py():
        return names.cast(pa.int64())
    return names


def checked_numbers(
    array: Any,
    column: str,
    locator: Locator,
    expected: str,
    check: Callable[[pa.Array], np.ndarray],
) -> np.ndarray:
    """A numeric column through ``check`` (float64 Arrow to checked NumPy); text that is
    no number fails at its row, unless ``check`` fails on an earlier row."""
    array = plain_array(array)
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return check(array.cast(pa.float64()))
        except pa.ArrowInvalid:
            low, high = 0, len(array)  # the first row whose text is no number
            while high - low > 1:
                middle = (low + high) // 2
                try:
                    array.slice(low, middle - low).cast(pa.float64())
                    low = middle
                except pa.ArrowInvalid:
                    high = middle
            check(array.slice(0, low).cast(pa.float64()))
            raise _fail(locator, low, column, expected) from None
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_null(kind)
    ):
        raise ResponseLogError(
            f"{locator.path}: column {column!r} holds {kind}; expected {expected}"
        )
    return check(array.cast(pa.float64()))


def bounded_check(
    column: str,
    locator: Locator,
    expected: str,
    low: float = 0.0,
    high: float | np.ndarray = 1.0,
    *,
    strict_low: bool = False,
    missing_ok: bool = False,
) -> Callable[[pa.Array], np.ndarray]:
    """A check: float64 NumPy values, failing at the first null, NaN (both allowed with
    ``missing_ok``, then NaN), infinity or value outside ``[low, high]``."""

    def check(values: pa.Array) -> np.ndarray:
        if values.null_count:
            if not missing_ok:
                raise _fail(locator, first_true(values.is_null()), column, expected)
            values = values.fill_null(np.nan)
        numbers = values.to_numpy(zero_copy_only=False)
        bound = high if np.ndim(high) == 0 else high[: len(numbers)]
        with np.errstate(invalid="ignore"):
            bad = numbers <= low if strict_low else numbers < low
            bad |= (numbers > bound) | np.isinf(numbers)
            if not missing_ok:
                bad |= np.isnan(numbers)
        if bad.any():
            raise _fail(locator, first_true(bad), column, expected)
        return numbers

    return check


def long_arrays(
    table: pa.Table | pa.RecordBatch, columns: list[str], locator: Locator, *, csv_ids: bool
) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray | None]:
    """Checked (learner ids, item ids, scores or successes, trials or None)."""
    learner_column, item_column, score_column = columns[:3]
    learners = checked_ids(table.column(learner_column), learner_column, locator, csv_ids=csv_ids)
    items = checked_ids(table.column(item_column), item_column, locator, csv_ids=csv_ids)
    if len(columns) == 3:
        check = bounded_check(score_column, locator, EXPECTED_SCORE)
        scores = checked_numbers(
            table.column(score_column), score_column, locator, EXPECTED_SCORE, check
        )
        return learners, items, scores, None
    trials_column = columns[3]
    expected = "a number of attempts > 0"
    check = bounded_check(trials_column, locator, expected, 0.0, np.inf, strict_low=True)
    trials = checked_numbers(table.column(trials_column), trials_column, locator, expected, check)
    expected = f"a number of successes in [0, {trials_column}]"
    check = bounded_check(score_column, locator, expected, 0.0, trials)
    successes = checked_numbers(table.column(score_column), score_column, locator, expected, check)
    return learners, items, successes, trials


def concat_parts(parts: list[Any]) -> Any:
    """Per-table parts joined: NumPy arrays, Arrow arrays, or None when the parts are None."""
    if parts[0] is None:
        return None
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pa.chunked_array(parts).combine_chunks()
