"""Read response logs from CSV, JSON Lines and Parquet files into :class:`Responses`.

Formats follow the file name: ``.csv`` / ``.csv.gz`` (CSV), ``.jsonl`` / ``.ndjson`` (JSON
Lines, optionally ``.gz``), ``.parquet``, or a directory of ``*.parquet`` shards read in
sorted name order (names starting with ``.`` or ``_`` are skipped, as Spark and Hive do).

Long logs hold one response per row: learner id, item id and a score (0/1 or in [0, 1]);
with ``trials_column`` the score column counts successes out of that many attempts.
Rows repeating a (learner, item) pair are repeated attempts and count together (k of n).
Wide logs (``wide=True``) hold one row per item: the first column is the item id (each
id once), every other column one learner (the column name is the learner id), and an
empty or NaN cell is a missing response. As in :meth:`Responses.from_matrix`, ids keep
the matrix order: item i is data row i and learner k is learner column k, kept even
without a response.

Ids keep their type where the format has one: Parquet ids as stored, JSON numbers as
integers, JSON strings as strings; a JSON column that mixes strings and numbers becomes
all strings, numbers spelt as JSON writes them (``7`` and ``"7"`` are then one id). CSV
ids and the learner names in a wide header are integers when every one is written as a
plain integer (no sign other than ``-``, no leading zeros), strings otherwise, so
``"007"`` never collapses into ``7``.

Every bad input raises :class:`ResponseLogError` (a ``ValueError``) with one line naming
the file and, where there is one, the place at fault: ``line N`` in CSV and JSON Lines
files is the physical line number, counted from 1 and including the header and blank
lines; ``row N`` in Parquet files is the data row, counted from 1 within that file (the
shard, in a directory). The shapes::

    FILE: no such file or directory | file is empty | no data rows
    FILE: unknown file type '.txt'; expected .csv, .csv.gz, .jsonl, .ndjson, ...
    FILE: missing column 'correct'; columns present: 'learner_id', 'item_id', 'score'
    FILE: line N: column 'correct' is VALUE; expected a score in [0, 1]
    FILE: line N: column 'learner_id' is empty; expected an id
    FILE: line N: 2 fields where the header has 3
    FILE: line N: invalid JSON: REASON
    FILE: not a readable Parquet file: REASON
    DIR: directory holds no .parquet files
    SHARD: schema differs from FIRST_SHARD: column 'correct' is double here, int8 there

VALUE is what the file holds: the CSV cell as text (``'abc'``, ``'nan'``) or ``empty``,
the JSON value (``"abc"``, ``2``, ``null``) or ``missing``, the Parquet value or ``null``.
A single learner or a single item is no error here (estimators that need more say so).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = path.write_text("learner_id,item_id,correct\\nann,q1,1\\nann,q2,0\\nbob,q1,0.5\\n")
    >>> read_responses(path).item_p_correct().tolist()
    [0.75, 0.0]
    >>> _ = path.write_text("learner_id,item_id,correct\\nann,q1,1\\nann,q2,2\\n")
    >>> try:
    ...     read_responses(path)
    ... except ResponseLogError as error:
    ...     print(str(error).replace(str(path), "log.csv"))
    log.csv: line 3: column 'correct' is '2'; expected a score in [0, 1]
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from stepladder.difficulty.responses import Responses
from stepladder.io import atomic_write

__all__ = [
    "ResponseLogError",
    "iter_response_batches",
    "read_responses",
    "read_responses_compact",
    "write_synthetic_log",
]

_SUFFIXES = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
    ".parquet": "parquet",
}
_KNOWN = ".csv, .csv.gz, .jsonl, .ndjson, .parquet or a directory of .parquet shards"
_CSV_NULLS = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
]  # fmt: skip
_PLAIN_INT = r"^-?(0|[1-9][0-9]{0,17})$"
_SCORE = "a score in [0, 1]"


class ResponseLogError(ValueError):
    """A response log that cannot be read; the message is one line naming file and place."""


# --------------------------------------------------------------------------- public API


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
    kind = _kind(path)
    columns = [learner_column, item_column, score_column]
    if trials_column is not None:
        columns.append(trials_column)
    if not wide and len(set(columns)) < len(columns):
        raise ResponseLogError(f"{path}: the same column is named for two roles: {columns}")
    wanted = None if wide else columns
    if kind == "parquet":
        pairs: list[tuple[pa.Table, _Locator]] = []
        for shard in _parquet_files(path, wanted):
            table = _read_parquet(shard, wanted)
            pairs.append((table, _TableLocator(shard, table)))
    elif kind == "csv":
        pairs = [_read_csv(path, wanted)]
    else:
        pairs = [_read_jsonl(path, wanted)]
    if wide:
        return _wide_responses(pairs, path)
    parts = [_long_arrays(t, columns, loc, csv_ids=kind == "csv") for t, loc in pairs]
    learners, items, scores, trials = (_concat([part[k] for part in parts]) for k in range(4))
    if len(scores) == 0:
        raise ResponseLogError(f"{path}: no data rows")
    try:
        return Responses.from_long(learners, items, scores, trials=trials, source=str(path))
    except ValueError as error:  # not expected after the checks above; keep the type
        raise ResponseLogError(_short(error)) from None


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
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "log"
        >>> _ = write_synthetic_log(folder, 30, 10, shards=3)
        >>> sizes = [b.num_rows for b in iter_response_batches(folder, batch_rows=40)]
        >>> sum(sizes) == sum(pq.read_metadata(f).num_rows for f in folder.iterdir())
        True
    """
    path = Path(path)
    if _kind(path) != "parquet":
        raise ResponseLogError(f"{path}: streaming reads Parquet files or shard directories only")
    wanted = None if columns is None else list(columns)
    for _, _, batch in _batches(_parquet_files(path, wanted), wanted, batch_rows):
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

    Peak memory is the compact arrays (16 bytes a row) plus one batch. Ids are numbered
    in order of first appearance, as :func:`read_responses` numbers them, so both give the
    same content; ``learner`` and ``item`` are int32, so cast them to int64 before any
    arithmetic that can pass 2**31 (such as ``learner * n_items + item``). CSV and JSON
    Lines logs are read whole with :func:`read_responses` and then narrowed.

    Example:
        >>> import pathlib, tempfile
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
    if _kind(path) != "parquet":
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
    files = _parquet_files(path, columns)
    total = 0
    for shard in files:
        total += _parquet_file(shard).metadata.num_rows
    learner = np.empty(total, dtype=np.int32)
    item = np.empty(total, dtype=np.int32)
    successes = np.empty(total, dtype=np.float32)
    trials = np.ones(total, dtype=np.float32)
    limit = min(max(total, 1 << 22), np.iinfo(np.int32).max)  # id-table cap: 4 bytes a row
    learner_book, item_book = _Codebook(learner_column, limit), _Codebook(item_column, limit)
    start = 0
    for shard, offset, batch in _batches(files, columns, batch_rows):
        locator = _TableLocator(shard, batch, offset)
        learners, items, scores, attempts = _long_arrays(batch, columns, locator, csv_ids=False)
        stop = start + len(scores)
        if stop > total:
            raise ResponseLogError(f"{shard}: holds more rows than its metadata says")
        learner[start:stop] = learner_book.encode(learners, shard)
        item[start:stop] = item_book.encode(items, shard)
        successes[start:stop] = scores
        if attempts is not None:
            trials[start:stop] = attempts
        start = stop
    if start == 0:
        raise ResponseLogError(f"{path}: no data rows")
    if start < total:
        learner, item, successes, trials = (a[:start] for a in (learner, item, successes, trials))
    return Responses(learner, item, successes, trials, learner_book.values(), item_book.values())


def write_synthetic_log(
    path: str | os.PathLike[str],
    n_learners: int,
    n_items: int,
    *,
    missing: float = 0.5,
    seed: int = 0,
    shards: int = 1,
    model: str = "2pl",
) -> dict[str, Any]:
    """Write an IRT-simulated long log as Parquet; return the true parameters.

    Draws ability theta ~ N(0, 1) per learner and, per item, difficulty b ~ N(0, 1),
    discrimination a ~ LogNormal(0, 0.3) (1 under ``"1pl"``) and guessing
    c ~ U(0.1, 0.3) (0 unless ``"3pl"``); each (learner, item) cell is present with
    probability ``1 - missing`` and correct with P = c + (1 - c) / (1 + exp(-a (theta - b))).
    Columns: learner_id (int64, the index into ``theta``), item_id (int64, the index into
    ``b``), correct (int8). With ``shards == 1`` and a ``.parquet`` path it writes that
    file, otherwise ``part-00000.parquet``, ... into the directory ``path``, each shard a
    contiguous block of learners. Memory stays bounded by a few million cells whatever the
    size, so 10**8 responses can be written.

    Returns a dict with arrays ``theta``, ``a``, ``b``, ``c`` and ``n_responses`` (int)
    and ``files`` (list of paths).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.parquet"
        >>> truth = write_synthetic_log(path, 100, 20, missing=0.25, seed=1)
        >>> truth["theta"].shape, truth["b"].shape, read_responses(path).n_items
        ((100,), (20,), 20)
    """
    if n_learners < 1 or n_items < 1:
        raise ValueError(f"need at least one learner and one item, got {n_learners}, {n_items}")
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be in [0, 1), got {missing}")
    if not 1 <= shards <= n_learners:
        raise ValueError(f"shards must be in [1, n_learners={n_learners}], got {shards}")
    if model not in ("1pl", "2pl", "3pl"):
        raise ValueError(f"model must be '1pl', '2pl' or '3pl', got {model!r}")
    path = Path(path)
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_learners)
    b = rng.normal(0.0, 1.0, n_items)
    a = rng.lognormal(0.0, 0.3, n_items)
    c = rng.uniform(0.1, 0.3, n_items)
    if model == "1pl":
        a = np.ones(n_items)
    if model != "3pl":
        c = np.zeros(n_items)
    if shards == 1 and path.suffix == ".parquet":
        files = [path]
    else:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.glob("*.parquet")):
            raise ValueError(f"{path}: directory already holds .parquet files")
        files = [path / f"part-{k:05d}.parquet" for k in range(shards)]
    schema = pa.schema(
        [("learner_id", pa.int64()), ("item_id", pa.int64()), ("correct", pa.int8())]
    )
    bounds = np.linspace(0, n_learners, shards + 1).round().astype(np.int64)
    block = max(1, (1 << 22) // n_items)  # learners per chunk: ~4M cells at most
    n_responses = 0
    for shard, low, high in zip(files, bounds[:-1], bounds[1:], strict=True):
        with atomic_write(shard) as stream, pq.ParquetWriter(stream, schema) as writer:
            for first in range(int(low), int(high), block):
                last = min(first + block, int(high))
                logit = a * (theta[first:last, None] - b)
                p = c + (1.0 - c) / (1.0 + np.exp(-logit))
                present = rng.random(p.shape) >= missing
                correct = rng.random(p.shape) < p
                rows, cols = np.nonzero(present)
                n_responses += len(rows)
                batch = pa.record_batch(
                    [
                        pa.array(rows.astype(np.int64) + first),
                        pa.array(cols.astype(np.int64)),
                        pa.array(correct[rows, cols].astype(np.int8)),
                    ],
                    schema=schema,
                )
                writer.write_batch(batch, row_group_size=1 << 20)
    return {
        "theta": theta,
        "a": a,
        "b": b,
        "c": c,
        "n_responses": n_responses,
        "files": [str(f) for f in files],
    }


# --------------------------------------------------------------------------- files


def _suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]).lower() or "a name without extension"


def _kind(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` (file or shard directory) from the file name."""
    if not path.exists():
        raise ResponseLogError(f"{path}: no such file or directory")
    if path.is_dir():
        return "parquet"
    name = path.name.lower()
    for suffix, kind in _SUFFIXES.items():
        if name.endswith(suffix):
            if path.stat().st_size == 0:
                raise ResponseLogError(f"{path}: file is empty")
            return kind
    raise ResponseLogError(f"{path}: unknown file type {_suffix(path)!r}; expected {_KNOWN}")


def _short(message: object) -> str:
    lines = str(message).strip().splitlines()
    return lines[0] if lines else type(message).__name__


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _require(path: Path, present: Sequence[str], wanted: Sequence[str] | None) -> None:
    missing = [c for c in wanted or () if c not in present]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise ResponseLogError(
            f"{path}: missing {noun} {_names(missing)}; columns present: {_names(present)}"
        )


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Physical lines (number from 1, text without the line break) of a text file."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as stream:
        for number, line in enumerate(stream, 1):
            yield number, line.rstrip("\r\n")


# --------------------------------------------------------------------------- locating rows


class _Locator(Protocol):
    path: Path

    def where(self, row: int) -> str: ...

    def raw(self, row: int, column: str) -> str: ...


class _TableLocator:
    """Rows of a Parquet file (or a batch of one, starting at ``offset``)."""

    def __init__(self, path: Path, data: pa.Table | pa.RecordBatch, offset: int = 0) -> None:
        self.path, self.data, self.offset = path, data, offset

    def where(self, row: int) -> str:
        return f"{self.path}: row {self.offset + row + 1}"

    def raw(self, row: int, column: str) -> str:
        value = self.data.column(column)[row].as_py()
        return "null" if value is None else repr(value)


class _CsvLocator:
    """Data rows of a CSV file mapped back to physical lines (blank lines are skipped)."""

    def __init__(self, path: Path, header: list[str], data: pa.Table) -> None:
        self.path, self.header, self.data = path, header, data

    def _record(self, row: int) -> tuple[int, list[str]] | None:
        seen = -1  # the header is record -1
        for number, line in _text_lines(self.path):
            if line:
                if seen == row:
                    return number, next(csv.reader([line]), [])
                seen += 1
        return None

    def where(self, row: int) -> str:
        found = self._record(row)
        return f"{self.path}: " + (f"line {found[0]}" if found else f"data row {row + 1}")

    def raw(self, row: int, column: str) -> str:
        found = self._record(row)
        if found is None or column not in self.header:
            return _TableLocator(self.path, self.data).raw(row, column)
        fields = found[1]
        index = self.header.index(column)
        text = fields[index] if index < len(fields) else ""
        return repr(text) if text else "empty"


class _JsonLocator:
    """Data rows of a JSON Lines file mapped back to physical lines (blank lines skipped)."""

    def __init__(self, path: Path, data: pa.Table) -> None:
        self.path, self.data = path, data

    def _record(self, row: int) -> tuple[int, str] | None:
        seen = 0
        for number, line in _text_lines(self.path):
            if line.strip():
                if seen == row:
                    return number, line
                seen += 1
        return None

    def where(self, row: int) -> str:
        found = self._record(row)
        return f"{self.path}: " + (f"line {found[0]}" if found else f"data row {row + 1}")

    def raw(self, row: int, column: str) -> str:
        found = self._record(row)
        try:
            record = json.loads(found[1]) if found else None
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return _TableLocator(self.path, self.data).raw(row, column)
        return json.dumps(record[column]) if column in record else "missing"


# --------------------------------------------------------------------------- readers


def _csv_header(path: Path) -> list[str] | None:
    for _, line in _text_lines(path):
        if line:
            return next(csv.reader([line]), [])
    return None


def _read_csv(path: Path, wanted: list[str] | None) -> tuple[pa.Table, _Locator]:
    header = _csv_header(path)
    if header is None:
        raise ResponseLogError(f"{path}: file is empty")
    _require(path, header, wanted)
    for column in wanted or ():
        if header.count(column) > 1:
            raise ResponseLogError(f"{path}: column {column!r} appears more than once")
    ids = [header[0]] if wanted is None else wanted[:2]
    try:
        try:
            table = _csv_table(path, wanted, dict.fromkeys(ids, pa.string()))
        except pa.ArrowInvalid as error:
            if "conversion error" not in str(error):
                raise
            # A later block broke the type inferred from the first: read all as text so the
            # checks below can name the line.
            table = _csv_table(path, wanted, dict.fromkeys(wanted or header, pa.string()))
    except (pa.ArrowInvalid, OSError) as error:
        raise ResponseLogError(_csv_failure(path, header, error)) from None
    if table.num_rows == 0:
        raise ResponseLogError(f"{path}: no data rows")
    return table, _CsvLocator(path, header, table)


def _csv_table(path: Path, wanted: list[str] | None, types: dict[str, pa.DataType]) -> pa.Table:
    convert = pa_csv.ConvertOptions(
        column_types=types, include_columns=wanted or [], null_values=_CSV_NULLS
    )
    return pa_csv.read_csv(path, convert_options=convert)


def _csv_failure(path: Path, header: list[str], error: Exception) -> str:
    """One line for a CSV pyarrow could not parse: the first line with a wrong field count."""
    try:
        started = False
        for number, line in _text_lines(path):
            if not line:
                continue
            fields = next(csv.reader([line]), [])
            if started and len(fields) != len(header):
                return (
                    f"{path}: line {number}: {len(fields)} fields where the header "
                    f"has {len(header)}"
                )
            started = True
    except (OSError, EOFError, csv.Error):
        pass
    return f"{path}: cannot parse as CSV: {_short(error)}"


def _read_jsonl(path: Path, wanted: list[str] | None) -> tuple[pa.Table, _Locator]:
    try:
        table = pa_json.read_json(path)
    except pa.ArrowInvalid:  # mixed types, bad JSON, non-objects: read in Python
        table = _read_jsonl_python(path, wanted)
    except OSError as error:
        raise ResponseLogError(f"{path}: cannot read: {_short(error)}") from None
    if table.num_columns == 0:
        raise ResponseLogError(f"{path}: file is empty")
    _require(path, table.column_names, wanted)
    if table.num_rows == 0:
        raise ResponseLogError(f"{path}: no data rows")
    return table, _JsonLocator(path, table)


def _read_jsonl_python(path: Path, wanted: list[str] | None) -> pa.Table:
    """The slow, exact path: line numbers for bad JSON; mixed-type columns become strings."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    keys: dict[str, None] = {}
    try:
        for number, line in _text_lines(path):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ResponseLogError(f"{path}: line {number}: invalid JSON: {error}") from None
            if not isinstance(record, dict):
                raise ResponseLogError(
                    f"{path}: line {number}: expected a JSON object, got {type(record).__name__}"
                )
            keys.update(dict.fromkeys(record))
            records.append(record if wanted is None else {k: record.get(k) for k in wanted})
            lines.append(number)
    except (OSError, EOFError) as error:
        raise ResponseLogError(f"{path}: cannot read: {_short(error)}") from None
    names = list(keys) if wanted is None else [k for k in wanted if k in keys]
    columns = [_json_column(path, name, [r.get(name) for r in records], lines) for name in names]
    return pa.table(columns, names=names)


def _json_column(path: Path, name: str, values: list[Any], lines: list[int]) -> pa.Array:
    kinds: set[type] = set()
    for value, number in zip(values, lines, strict=True):
        if isinstance(value, dict | list):
            kind = "object" if isinstance(value, dict) else "array"
            raise ResponseLogError(f"{path}: line {number}: column {name!r} holds a JSON {kind}")
        if value is not None:
            kinds.add(bool if isinstance(value, bool) else str if isinstance(value, str) else float)
    if str in kinds and len(kinds) > 1:  # mixed ids: all strings, numbers as JSON spells them
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    elif bool in kinds:
        values = [None if v is None else float(v) for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowException, OverflowError) as error:
        raise ResponseLogError(f"{path}: column {name!r}: {_short(error)}") from None


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise ResponseLogError(f"{path}: not a readable Parquet file: {_short(error)}") from None


def _parquet_files(path: Path, wanted: list[str] | None) -> list[Path]:
    """The file, or the directory's shards, all with the first one's schema."""
    if path.is_dir():
        files = sorted(
            f for f in path.glob("*.parquet") if f.is_file() and not f.name.startswith((".", "_"))
        )
        if not files:
            raise ResponseLogError(f"{path}: directory holds no .parquet files")
    else:
        files = [path]
    first: pa.Schema | None = None
    for shard in files:
        schema = _parquet_file(shard).schema_arrow
        if first is None:
            first = schema
            _require(shard, schema.names, wanted)
        elif schema.names != first.names or schema.types != first.types:
            raise ResponseLogError(f"{shard}: {_schema_diff(schema, first, files[0].name)}")
    return files


def _schema_diff(schema: pa.Schema, first: pa.Schema, name: str) -> str:
    if schema.names != first.names:
        return f"schema differs from {name}: columns {schema.names} here, {first.names} there"
    for here, there in zip(schema, first, strict=True):
        if here.type != there.type:
            return (
                f"schema differs from {name}: column {here.name!r} is {here.type} here, "
                f"{there.type} there"
            )
    return f"schema differs from {name}"  # pragma: no cover - names and types were equal


def _read_parquet(path: Path, wanted: list[str] | None) -> pa.Table:
    try:
        return _parquet_file(path).read(columns=wanted)
    except (pa.ArrowException, OSError) as error:
        raise ResponseLogError(f"{path}: not a readable Parquet file: {_short(error)}") from None


def _batches(
    files: list[Path], wanted: list[str] | None, batch_rows: int
) -> Iterator[tuple[Path, int, pa.RecordBatch]]:
    """(shard, offset of the batch's first row in the shard, batch)."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
    for shard in files:
        batches = _parquet_file(shard).iter_batches(batch_size=batch_rows, columns=wanted)
        offset = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as error:
                raise ResponseLogError(
                    f"{shard}: not a readable Parquet file: {_short(error)}"
                ) from None
            yield shard, offset, batch
            offset += batch.num_rows


# --------------------------------------------------------------------------- checking columns


def _fail(
    locator: _Locator, row: int, column: str, expected: str, label: str | None = None
) -> ResponseLogError:
    name = repr(column) if label is None else label
    return ResponseLogError(
        f"{locator.where(row)}: column {name} is {locator.raw(row, column)}; expected {expected}"
    )


def _first(mask: Any) -> int:
    """Index of the first true value of a boolean Arrow or NumPy array."""
    if isinstance(mask, pa.ChunkedArray | pa.Array):
        mask = mask.to_numpy(zero_copy_only=False)
    return int(np.argmax(mask))


def _plain(array: Any) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def _ids(
    array: Any, column: str, locator: _Locator, *, csv_ids: bool, label: str | None = None
) -> pa.Array:
    """Check an id column (no missing ids); CSV ids become int64 when all are plain ints."""
    array = _plain(array)
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
        raise _fail(locator, _first(array.is_null()), column, "an id", label)
    if csv_ids:
        empty = pc.equal(array, "")
        if pc.any(empty).as_py():
            raise _fail(locator, _first(empty), column, "an id", label)
        array = _plain_ints(array)
    return array


def _plain_ints(names: pa.Array) -> pa.Array:
    """Strings written as plain integers (no leading zeros) as int64; others unchanged."""
    if len(names) and pc.all(pc.match_substring_regex(names, _PLAIN_INT)).as_py():
        return names.cast(pa.int64())
    return names


def _numbers(
    array: Any,
    column: str,
    locator: _Locator,
    expected: str,
    check: Callable[[pa.Array], np.ndarray],
) -> np.ndarray:
    """A numeric column through ``check`` (float64 Arrow to checked NumPy); text that is
    no number fails at its row, unless ``check`` fails on an earlier row."""
    array = _plain(array)
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


def _bounded(
    column: str,
    locator: _Locator,
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
                raise _fail(locator, _first(values.is_null()), column, expected)
            values = values.fill_null(np.nan)
        numbers = values.to_numpy(zero_copy_only=False)
        bound = high if np.ndim(high) == 0 else high[: len(numbers)]
        with np.errstate(invalid="ignore"):
            bad = numbers <= low if strict_low else numbers < low
            bad |= (numbers > bound) | np.isinf(numbers)
            if not missing_ok:
                bad |= np.isnan(numbers)
        if bad.any():
            raise _fail(locator, _first(bad), column, expected)
        return numbers

    return check


def _long_arrays(
    table: pa.Table | pa.RecordBatch, columns: list[str], locator: _Locator, *, csv_ids: bool
) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray | None]:
    """Checked (learner ids, item ids, scores or successes, trials or None)."""
    learner_column, item_column, score_column = columns[:3]
    learners = _ids(table.column(learner_column), learner_column, locator, csv_ids=csv_ids)
    items = _ids(table.column(item_column), item_column, locator, csv_ids=csv_ids)
    if len(columns) == 3:
        check = _bounded(score_column, locator, _SCORE)
        scores = _numbers(table.column(score_column), score_column, locator, _SCORE, check)
        return learners, items, scores, None
    trials_column = columns[3]
    expected = "a number of attempts > 0"
    check = _bounded(trials_column, locator, expected, 0.0, np.inf, strict_low=True)
    trials = _numbers(table.column(trials_column), trials_column, locator, expected, check)
    expected = f"a number of successes in [0, {trials_column}]"
    check = _bounded(score_column, locator, expected, 0.0, trials)
    successes = _numbers(table.column(score_column), score_column, locator, expected, check)
    return learners, items, successes, trials


def _wide_responses(pairs: list[tuple[pa.Table, _Locator]], path: Path) -> Responses:
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
        row = _first(repeated)
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
    table: pa.Table, locator: _Locator, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array]:
    """(item index, learner index, score) of the present cells, row-major; learner and
    item ids of the table's columns and rows."""
    names = table.column_names
    if len(names) < 2:
        raise ResponseLogError(
            f"{path}: a wide log needs an item id column and learner columns; "
            f"columns present: {_names(names)}"
        )
    learner_names = names[1:]
    for index, name in enumerate(learner_names, 2):
        if not name:
            raise ResponseLogError(f"{path}: column {index} has no learner id in the header")
        if learner_names.count(name) > 1:
            raise ResponseLogError(f"{path}: learner column {name!r} appears more than once")
    label = repr(names[0]) if names[0] else "1 (item id)"
    csv_ids = isinstance(locator, _CsvLocator)
    items = _ids(table.column(0), names[0], locator, csv_ids=csv_ids, label=label)
    matrix = np.empty((table.num_rows, len(learner_names)))
    expected = f"{_SCORE} or empty"
    for index, name in enumerate(learner_names):
        column = _plain(table.column(index + 1))
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            blank = pc.is_in(column, value_set=pa.array(_CSV_NULLS))
            column = pc.if_else(blank, pa.scalar(None, column.type), column)
        check = _bounded(name, locator, expected, missing_ok=True)
        matrix[:, index] = _numbers(column, name, locator, expected, check)
    present = ~np.isnan(matrix)
    item_index, learner_index = np.nonzero(present)
    learners = _plain_ints(pa.array(learner_names, pa.string()))
    return item_index, learner_index, matrix[present], learners, items


def _concat(parts: list[Any]) -> Any:
    if parts[0] is None:
        return None
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pa.chunked_array(parts).combine_chunks()


# --------------------------------------------------------------------------- id codebook


class _Codebook:
    """Ids seen so far, numbered in order of first appearance.

    Non-negative integer ids below ``limit`` are looked up in a NumPy table indexed by id
    (no hashing, 4 bytes per possible id); other ids, or once an id falls outside that
    range, go through a Python dict over each batch's distinct ids, which measured faster
    than ``pyarrow.compute.index_in`` against the growing id array (0.6 s against 1.1 s
    for integer ids and 2.1 s for string ids: 10 batches of a million rows, 1M learners).
    """

    def __init__(self, column: str, limit: int) -> None:
        self.column, self.limit = column, limit
        self.chunks: list[pa.Array] = []  # known ids, in code order
        self.size = 0
        self.type: pa.DataType | None = None
        self.table: np.ndarray | None = np.full(0, -1, dtype=np.int32)  # id -> code or -1
        self.book: dict[Any, int] = {}

    def encode(self, ids: pa.Array, shard: Path) -> np.ndarray:
        """Int32 codes of ``ids``, adding unseen ids to the book."""
        if self.type is None:
            self.type = ids.type
        elif ids.type != self.type:
            ids = ids.cast(self.type)
        if self.table is not None and pa.types.is_integer(ids.type):
            values = ids.to_numpy()
            if not len(values) or (values.min() >= 0 and values.max() < self.limit):
                codes = self._lookup(values)
                self._check(shard)
                return codes
        if self.table is not None:  # leave table mode for good
            self.table = None
            self.book = dict(zip(self.values().to_pylist(), range(self.size), strict=True))
        codes = self._hash(ids)
        self._check(shard)
        return codes

    def _lookup(self, values: np.ndarray) -> np.ndarray:
        assert self.table is not None
        if not len(values):
            return np.empty(0, dtype=np.int32)
        high = int(values.max())
        if high >= len(self.table):
            size = min(max(high + 1, 2 * len(self.table)), self.limit)
            grown = np.full(size, -1, dtype=np.int32)
            grown[: len(self.table)] = self.table
            self.table = grown
        codes = self.table[values]
        unseen = codes < 0
        if unseen.any():
            new, first = np.unique(values[unseen], return_index=True)
            new = new[np.argsort(first)]  # first-appearance order
            self.table[new] = self.size + np.arange(len(new), dtype=np.int32)
            self.chunks.append(pa.array(new, type=self.type))
            self.size += len(new)
            codes = self.table[values]
        return codes

    def _hash(self, ids: pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(ids)
        distinct = encoded.dictionary
        found = map(self.book.get, distinct.to_pylist(), itertools.repeat(-1))
        codes = np.fromiter(found, dtype=np.int64, count=len(distinct))
        unseen = codes < 0
        if unseen.any():
            new = distinct.filter(pa.array(unseen))
            codes[unseen] = self.size + np.arange(len(new))
            fresh = range(self.size, self.size + len(new))
            self.book.update(zip(new.to_pylist(), fresh, strict=True))
            self.chunks.append(new)
            self.size += len(new)
        return codes.astype(np.int32)[encoded.indices.to_numpy(zero_copy_only=False)]

    def _check(self, shard: Path) -> None:
        if self.size > np.iinfo(np.int32).max:
            raise ResponseLogError(f"{shard}: more than 2**31 - 1 distinct {self.column} values")

    def values(self) -> pa.Array:
        """The known ids, code order."""
        if not self.chunks:
            return pa.array([], type=self.type or pa.null())
        if len(self.chunks) > 1:
            self.chunks = [pa.concat_arrays(self.chunks)]
        return self.chunks[0]
