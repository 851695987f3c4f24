"""JSON Lines logs: read with pyarrow, or in Python (exact line numbers, mixed types)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json

from stepladder.difficulty.logs._common import (
    LineLocator,
    Locator,
    ResponseLogError,
    TableLocator,
    require_columns,
    short_message,
    text_lines,
)


class _JsonLocator(LineLocator):
    """Data rows of a JSON Lines file mapped back to physical lines (blank lines skipped)."""

    def __init__(self, path: Path, data: pa.Table) -> None:
        self.path, self.data = path, data

    def record(self, row: int) -> tuple[int, str] | None:
        seen = 0
        for number, line in text_lines(self.path):
            if line.strip():
                if seen == row:
                    return number, line
                seen += 1
        return None

    def raw(self, row: int, column: str) -> str:
        found = self.record(row)
        try:
            record = json.loads(found[1]) if found else None
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return TableLocator(self.path, self.data).raw(row, column)
        return json.dumps(record[column]) if column in record else "missing"


def read_jsonl_log(path: Path, wanted: list[str] | None) -> tuple[pa.Table, Locator]:
    """A JSON Lines log as a table, with its line locator."""
    try:
        table = pa_json.read_json(path)
    except pa.ArrowInvalid:  # mixed types, bad JSON, non-objects: read in Python
        table = _read_jsonl_python(path, wanted)
    except OSError as error:
        raise ResponseLogError(f"{path}: cannot read: {short_message(error)}") from None
    if table.num_columns == 0:
        raise ResponseLogError(f"{path}: file is empty")
    require_columns(path, table.column_names, wanted)
    if table.num_rows == 0:
        raise ResponseLogError(f"{path}: no data rows")
    return table, _JsonLocator(path, table)


def _read_jsonl_python(path: Path, wanted: list[str] | None) -> pa.Table:
    """The slow, exact path: line numbers for bad JSON; mixed-type columns become strings."""
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    keys: dict[str, None] = {}
    try:
        for number, line in text_lines(path):
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
        raise ResponseLogError(f"{path}: cannot read: {short_message(error)}") from None
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
        raise ResponseLogError(f"{path}: column {name!r}: {short_message(error)}") from None
