"""Numbering ids batch by batch, for the compact reader."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stepladder.difficulty.logs._common import ResponseLogError


class Codebook:
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
