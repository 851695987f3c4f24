"""Parquet logs: one file or a directory of shards sharing one schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stepladder.difficulty.logs._common import (
    SUFFIXES,
    ResponseLogError,
    quoted_names,
    require_columns,
    short_message,
)


def parquet_file(path: Path) -> pq.ParquetFile:
    """The opened Parquet file, or ``ResponseLogError`` when it cannot be read."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        message = f"{path}: not a readable Parquet file: {short_message(error)}"
        raise ResponseLogError(message) from None


def parquet_files(path: Path, wanted: list[str] | None) -> list[Path]:
    """The file, or the directory's shards, all with the first one's schema."""
    if path.is_dir():
        files = sorted(
            f for f in path.glob("*.parquet") if f.is_file() and not f.name.startswith((".", "_"))
        )
        if not files:
            raise ResponseLogError(f"{path}: directory holds no .parquet files")
        others = sorted(
            f.name
            for f in path.iterdir()
            if f.is_file()
            and not f.name.startswith((".", "_"))
            and any(f.name.lower().endswith(s) for s in SUFFIXES if s != ".parquet")
        )
        if others:
            raise ResponseLogError(
                f"{path}: directory holds {quoted_names(others, 3)} besides .parquet shards; "
                "only .parquet shards are read: convert or move the others"
            )
    else:
        files = [path]
    first: pa.Schema | None = None
    for shard in files:
        schema = parquet_file(shard).schema_arrow
        if first is None:
            first = schema
            require_columns(shard, schema.names, wanted)
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


def read_parquet_table(path: Path, wanted: list[str] | None) -> pa.Table:
    """The ``wanted`` columns (all when None) of one Parquet file."""
    try:
        return parquet_file(path).read(columns=wanted)
    except (pa.ArrowException, OSError) as error:
        message = f"{path}: not a readable Parquet file: {short_message(error)}"
        raise ResponseLogError(message) from None


def parquet_batches(
    files: list[Path], wanted: list[str] | None, batch_rows: int
) -> Iterator[tuple[Path, int, pa.RecordBatch]]:
    """(shard, offset of the batch's first row in the shard, batch)."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
    for shard in files:
        batches = parquet_file(shard).iter_batches(batch_size=batch_rows, columns=wanted)
        offset = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as error:
                raise ResponseLogError(
                    f"{shard}: not a readable Parquet file: {short_message(error)}"
                ) from None
            yield shard, offset, batch
            offset += batch.num_rows
