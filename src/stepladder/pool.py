"""The item pool: ids mapped to dense indices, with optional groups, features and difficulty."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stepladder._checks import float_array, positive_int

__all__ = ["ItemPool"]


class ItemPool:
    """Columnar description of the items a curriculum chooses from.

    Items are addressed by dense indices ``0 .. size-1``; ``ids`` maps them to any hashable ids.
    Every column is a NumPy or Arrow array, so a pool of 10 million items with integer ids,
    group labels and a prior difficulty costs about 20 bytes per item.

    Args:
        ids: item ids, one per item, all distinct and of one type. Omit them (and give ``size``)
            for ids ``0 .. size-1``, which cost no memory.
        size: number of items when ``ids`` is omitted.
        groups: optional group, source or arm label per item (any hashable values).
        features: optional numeric features, shape ``(size,)`` or ``(size, d)``; NaN allowed.
        difficulty: optional prior difficulty per item (larger = harder); NaN means unknown.

    Example:
        >>> pool = ItemPool(["q1", "q2", "q3"], groups=["a", "g", "a"], difficulty=[0.1, 2.0, 1.0])
        >>> len(pool), pool.group_names, pool.index_of(["q3", "q1"]).tolist()
        (3, ['a', 'g'], [2, 0])
        >>> pool.members(0).tolist()
        [0, 2]
    """

    def __init__(
        self,
        ids: Sequence[Hashable] | np.ndarray | pa.Array | None = None,
        *,
        size: int | None = None,
        groups: Sequence[Hashable] | np.ndarray | pa.Array | None = None,
        features: Any = None,
        difficulty: Any = None,
    ) -> None:
        self._ids, self.size = _normalise_ids(ids, size)
        self._lookup: dict[Any, int] | None = None
        self._sorted_ids: tuple[np.ndarray, np.ndarray] | None = None
        self.groups, self.group_names = _encode_groups(groups, self.size)
        self.features = _column("features", features, self.size, ndim=(1, 2), allow_nan=True)
        self.difficulty = _column("difficulty", difficulty, self.size, ndim=(1,), allow_nan=True)
        self._group_order: tuple[np.ndarray, np.ndarray] | None = None
        self._fingerprint: dict[str, str] | None = None

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        id_column: str = "item_id",
        group_column: str | None = None,
        difficulty_column: str | None = None,
        feature_columns: Sequence[str] = (),
    ) -> ItemPool:
        """Build a pool from an Arrow table or anything ``pyarrow.table`` accepts (pandas, polars).

        Example:
            >>> import pyarrow as pa
            >>> t = pa.table({"item_id": [10, 11], "level": [1.0, 3.0]})
            >>> ItemPool.from_table(t, difficulty_column="level").difficulty.tolist()
            [1.0, 3.0]
        """
        table = table if isinstance(table, pa.Table) else pa.table(table)
        wanted = [id_column, group_column, difficulty_column, *feature_columns]
        missing = [c for c in wanted if c is not None and c not in table.column_names]
        if missing:
            raise ValueError(f"table has no column {missing[0]!r}; columns: {table.column_names}")

        def col(name: str | None) -> Any:
            return None if name is None else table.column(name).combine_chunks()

        features = None
        if feature_columns:
            features = np.column_stack(
                [table.column(c).to_numpy(zero_copy_only=False) for c in feature_columns]
            )
        difficulty = col(difficulty_column)
        return cls(
            col(id_column),
            groups=col(group_column),
            features=features,
            difficulty=None if difficulty is None else difficulty.to_numpy(zero_copy_only=False),
        )

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        parts = [f"size={self.size}"]
        if self.groups is not None:
            parts.append(f"groups={len(self.group_names)}")
        if self.features is not None:
            parts.append(f"features={self.features.shape[1:] or (1,)}")
        if self.difficulty is not None:
            parts.append("difficulty")
        return f"ItemPool({', '.join(parts)})"

    @property
    def n_groups(self) -> int:
        """Number of distinct groups (1 when the pool has no group labels)."""
        return len(self.group_names) if self.groups is not None else 1

    @property
    def nbytes(self) -> int:
        """Bytes held by the pool's columns (ids, groups, features, difficulty)."""
        arrays = [self._ids, self.groups, self.features, self.difficulty]
        return sum(a.nbytes for a in arrays if a is not None)

    def fingerprint(self) -> dict[str, str]:
        """A hash per column (ids, groups, difficulty, features), for checking that a checkpoint
        belongs to this pool. Computed once (O(pool), hashing the raw bytes) and cached: a pool's
        columns must not be modified after construction.

        Example:
            >>> a = ItemPool(size=3, difficulty=[0, 1, 2]).fingerprint()
            >>> b = ItemPool(size=3, difficulty=[0, 1, 3]).fingerprint()
            >>> a["ids"] == b["ids"], a["difficulty"] == b["difficulty"]
            (True, False)
        """
        if self._fingerprint is None:
            self._fingerprint = {
                "ids": _digest(*_id_parts(self._ids, self.size)),
                "groups": _digest(
                    self.groups, json.dumps([repr(g) for g in self.group_names]).encode()
                ),
                "difficulty": _digest(self.difficulty),
                "features": _digest(self.features),
            }
        return dict(self._fingerprint)

    def ids(self, indices: Any = None) -> list[Hashable]:
        """Item ids at ``indices`` (all items when omitted), as Python objects."""
        positions = np.arange(self.size) if indices is None else np.asarray(indices, dtype=np.int64)
        if self._ids is None:
            return positions.tolist()
        if isinstance(self._ids, np.ndarray):
            return self._ids[positions].tolist()
        return self._ids.take(pa.array(positions)).to_pylist()

    def index_of(self, ids: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        """Dense indices of ``ids``; raises ``KeyError`` naming the first unknown id.

        Integer ids are looked up by binary search over a sorted copy; other ids through a
        dictionary built on first use (about 100 bytes per item).
        """
        if self._ids is None or isinstance(self._ids, np.ndarray):
            query = np.asarray(ids)
            if query.size and not np.issubdtype(query.dtype, np.integer):
                raise KeyError(f"pool ids are integers, got {query.reshape(-1)[0]!r}")
            if query.dtype.kind == "u" and query.size and query.max() > _INT64_MAX:
                raise KeyError(f"unknown item id {query.max().item()!r}")
            query = query.astype(np.int64, copy=False).reshape(-1)
            if self._ids is None:
                found = (query >= 0) & (query < self.size)
                result = query
            else:
                sorted_ids, order = self._sorted_integer_ids()
                pos = np.clip(np.searchsorted(sorted_ids, query), 0, self.size - 1)
                found = sorted_ids[pos] == query
                result = order[pos]
            if not found.all():
                raise KeyError(f"unknown item id {query[np.argmin(found)].item()!r}")
            return result.astype(np.int64, copy=False)
        if self._lookup is None:
            self._lookup = {item: i for i, item in enumerate(self._ids.to_pylist())}
        try:
            return np.fromiter((self._lookup[i] for i in ids), dtype=np.int64)
        except KeyError as error:
            raise KeyError(f"unknown item id {error.args[0]!r}") from None

    def members(self, group: int) -> np.ndarray:
        """Indices of the items in group ``group`` (a group code, ``0 .. n_groups-1``)."""
        if self.groups is None:
            if group != 0:
                raise ValueError(f"group {group} out of range: the pool has no group labels")
            return np.arange(self.size, dtype=np.int64)
        if not 0 <= group < len(self.group_names):
            raise ValueError(f"group {group} out of range for {len(self.group_names)} groups")
        if self._group_order is None:
            order = np.argsort(self.groups, kind="stable")
            bounds = np.searchsorted(self.groups[order], np.arange(len(self.group_names) + 1))
            self._group_order = (order.astype(np.int64), bounds)
        order, bounds = self._group_order
        return order[bounds[group] : bounds[group + 1]]

    def group_sizes(self) -> np.ndarray:
        """Number of items per group."""
        if self.groups is None:
            return np.array([self.size], dtype=np.int64)
        return np.bincount(self.groups, minlength=len(self.group_names)).astype(np.int64)

    def _sorted_integer_ids(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted_ids is None:
            assert isinstance(self._ids, np.ndarray)
            order = np.argsort(self._ids, kind="stable")
            self._sorted_ids = (self._ids[order], order)
        return self._sorted_ids


_INT64_MAX = np.iinfo(np.int64).max


def _digest(*parts: Any) -> str:
    """blake2b of arrays' dtype, shape and bytes (and of plain bytes); "none" for no column."""
    if all(part is None for part in parts):
        return "none"
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).data)
        elif isinstance(part, bytes):
            digest.update(part)
    return digest.hexdigest()


def _id_parts(ids: np.ndarray | pa.Array | None, size: int) -> tuple[Any, ...]:
    """What identifies the ids: the range size, the integer array, or an Arrow array's data."""
    if ids is None:
        return (f"range:{size}".encode(),)
    if isinstance(ids, np.ndarray):
        return (ids,)
    kind = str(ids.type).encode()
    if pa.types.is_string(ids.type) or pa.types.is_binary(ids.type):
        offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32)
        offsets = offsets[ids.offset : ids.offset + len(ids) + 1]
        data = ids.buffers()[2]
        chunk = b"" if data is None else data.to_pybytes()[offsets[0] : offsets[-1]]
        return kind, offsets - offsets[0], chunk
    if pa.types.is_floating(ids.type):
        return kind, ids.to_numpy()
    return kind, repr(ids.to_pylist()).encode()


def _normalise_ids(ids: Any, size: int | None) -> tuple[np.ndarray | pa.Array | None, int]:
    if ids is None:
        if size is None:
            raise ValueError("ItemPool needs ids or size")
        return None, positive_int("size", size)
    if isinstance(ids, str | bytes):
        raise ValueError(
            f"ids must be a sequence of ids, got the {type(ids).__name__} {ids!r}: "
            "pass a list of ids"
        )
    try:
        array = ids if isinstance(ids, pa.Array) else pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"ids must all be of one type: {error}") from None
    if size is not None and size != len(array):
        raise ValueError(f"size={size} but {len(array)} ids were given")
    if len(array) == 0:
        raise ValueError("ids is empty: a pool needs at least one item")
    if array.null_count:
        raise ValueError(f"ids contains a missing value at position {_first_null(array)}")
    _refuse_nan("ids", array)
    if pa.types.is_unsigned_integer(array.type) and pc.max(array).as_py() > _INT64_MAX:
        raise ValueError(f"ids must fit in int64, got {pc.max(array).as_py()}")
    if pa.types.is_integer(array.type):
        values = array.to_numpy().astype(np.int64, copy=False)
        if np.array_equal(values, np.arange(len(values))):
            return None, len(values)
        ordered = np.sort(values)
        repeated = ordered[1:] == ordered[:-1]
        if repeated.any():
            raise ValueError(f"ids must be distinct; {ordered[1:][repeated][0].item()!r} repeats")
        return values, len(values)
    if pc.count_distinct(array).as_py() != len(array):
        counts = pc.value_counts(array)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise ValueError(f"ids must be distinct; {repeated!r} repeats")
    return array, len(array)


def _first_null(array: pa.Array) -> int:
    return int(np.argmax(array.is_null().to_numpy(zero_copy_only=False)))


def _refuse_nan(name: str, array: pa.Array) -> None:
    values = array.dictionary if pa.types.is_dictionary(array.type) else array
    if pa.types.is_floating(values.type) and pc.any(pc.is_nan(values)).as_py():
        position = int(np.argmax(np.isnan(array.to_numpy(zero_copy_only=False))))
        raise ValueError(f"{name} contains NaN at position {position}")


def _encode_groups(groups: Any, size: int) -> tuple[np.ndarray | None, list[Hashable]]:
    if groups is None:
        return None, []
    try:
        array = groups if isinstance(groups, pa.Array) else pa.array(groups)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"groups must all be of one type: {error}") from None
    if len(array) != size:
        raise ValueError(f"groups has {len(array)} labels for a pool of {size} items")
    if array.null_count:
        raise ValueError(f"groups contains a missing label at position {_first_null(array)}")
    _refuse_nan("groups", array)
    encoded = array.dictionary_encode() if not pa.types.is_dictionary(array.type) else array
    codes = encoded.indices.to_numpy().astype(np.int32)
    return codes, encoded.dictionary.to_pylist()


def _column(name: str, values: Any, size: int, *, ndim: tuple[int, ...], allow_nan: bool):
    if values is None:
        return None
    array = float_array(name, values)
    if array.ndim not in ndim or array.shape[0] != size:
        raise ValueError(f"{name} must have one row per item ({size}), got shape {array.shape}")
    bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"{name} must be finite (NaN = unknown), "
            f"got {array.flat[np.argmax(bad)]} for item {row}"
        )
    return array
