"""CSV logs: read with pyarrow, bad rows located by physical line."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from stepladder.difficulty.logs._common import (
    CSV_NULLS,
    LineLocator,
    Locator,
    ResponseLogError,
    TableLocator,
    require_columns,
    short_message,
    text_lines,
)


class CsvLocator(LineLocator):
    """Data rows of a CSV file mapped back to physical lines (blank lines are skipped)."""

    def __init__(self, path: Path, header: list[str], data: pa.Table) -> None:
        self.path, self.header, self.data = path, header, data

    def record(self, row: int) -> tuple[int, list[str]] | None:
        seen = -1  # the header is record -1
        for number, line in text_lines(self.path):
            if line:
                if seen == row:
                    return number, next(csv.reader([line]), [])
                seen += 1
        return None

    def raw(self, row: int, column: str) -> str:
        found = self.record(row)
        if found is None or column not in self.header:
            return TableLocator(self.path, self.data).raw(row, column)
        fields = found[1]
        index = self.header.index(column)
        text = fields[index] if index < len(fields) else ""
        return repr(text) if text else "empty"


def _csv_header(path: Path) -> list[str] | None:
    for _, line in text_lines(path):
        if line:
            return next(csv.reader([line]), [])
    return None


def read_csv_log(path: Path, wanted: list[str] | None) -> tuple[pa.Table, Locator]:
    """The ``wanted`` columns of a CSV log (ids as text), with its line locator."""
    header = _csv_header(path)
    if header is None:
        raise ResponseLogError(f"{path}: file is empty")
    require_columns(path, header, wanted)
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
    return table, CsvLocator(path, header, table)


def _csv_table(path: Path, wanted: list[str] | None, types: dict[str, pa.DataType]) -> pa.Table:
    convert = pa_csv.ConvertOptions(
        column_types=types, include_columns=wanted or [], null_values=CSV_NULLS
    )
    return pa_csv.read_csv(path, convert_options=convert)


def _csv_failure(path: Path, header: list[str], error: Exception) -> str:
    """One line for a CSV pyarrow could not parse: the first line with a wrong field count."""
    try:
        started = False
        for number, line in text_lines(path):
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
    return f"{path}: cannot parse as CSV: {short_message(error)}"
