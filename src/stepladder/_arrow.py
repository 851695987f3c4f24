"""NumPy <-> Arrow for plain numeric columns and short string columns, without pandas.

``pa.array(values)`` and ``Array.to_numpy()`` import pandas on their first call (PyArrow
asks whether the values are a pandas Series), which costs about 0.2 s of CPU: a tenth of
``stepladder grade`` on 10M responses. Building arrays from their buffers, and viewing
buffers as NumPy arrays, gives the same arrays (zero copy, as PyArrow's own conversions of
numeric arrays) and leaves pandas unloaded. Anything else is handed to PyArrow.

Example:
    >>> column = from_numpy(np.array([0.5, np.nan]))
    >>> column.type, column.null_count, to_numpy(column).tolist()[0]
    (DataType(double), 0, 0.5)
    >>> strings(["all correct", None]).to_pylist()
    ['all correct', None]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["from_numpy", "strings", "to_numpy"]

#: Arrow types whose values buffer is a NumPy array of this dtype.
_NUMERIC: dict[pa.DataType, np.dtype] = {
    kind: np.dtype(name)
    for kind, name in (
        (pa.int8(), "int8"),
        (pa.int16(), "int16"),
        (pa.int32(), "int32"),
        (pa.int64(), "int64"),
        (pa.uint8(), "uint8"),
        (pa.uint16(), "uint16"),
        (pa.uint32(), "uint32"),
        (pa.uint64(), "uint64"),
        (pa.float16(), "float16"),
        (pa.float32(), "float32"),
        (pa.float64(), "float64"),
    )
}


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of an Arrow array: a read-only view of its buffer when it is numeric,
    in one chunk and without nulls (what ``array.to_numpy()`` returns then), otherwise
    ``array.to_numpy(zero_copy_only=False)``.

    Example:
        >>> to_numpy(pa.array([1, 2, 3], pa.int32()).slice(1)).tolist()
        [2, 3]
    """
    if isinstance(array, pa.ChunkedArray) and array.num_chunks == 1:
        array = array.chunk(0)
    dtype = _NUMERIC.get(array.type) if isinstance(array, pa.Array) else None
    if dtype is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    values = array.buffers()[1]
    if values is None:  # an empty array may have no buffer
        return np.empty(0, dtype=dtype)
    view = np.frombuffer(
        values, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )
    view.flags.writeable = False  # Arrow arrays are immutable
    return view


def from_numpy(values: np.ndarray, kind: pa.DataType | None = None) -> pa.Array:
    """A 1-D NumPy array as an Arrow array of ``kind`` (its own type when None), sharing
    its memory when the dtypes agree, as ``pa.array(values, kind)`` does; NaN stays a
    value, not a null. Other dtypes and types go through ``pa.array`` (and its checks).

    Example:
        >>> from_numpy(np.arange(3), pa.int64()).to_pylist()
        [0, 1, 2]
    """
    values = np.asarray(values)
    if kind is None:
        kind = pa.from_numpy_dtype(values.dtype)
    if values.ndim != 1 or _NUMERIC.get(kind) != values.dtype:
        return pa.array(values, kind)
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def strings(values: Sequence[str | None]) -> pa.Array:
    """A ``string`` array of ``values``, None as null, assembled from its buffers.

    Example:
        >>> strings(["a", None, "bc"]).to_pylist()
        ['a', None, 'bc']
    """
    encoded = [b"" if value is None else value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        return pa.array(values, pa.string())
    valid = np.fromiter((value is not None for value in values), dtype=bool, count=len(encoded))
    nulls = len(encoded) - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    data = pa.py_buffer(b"".join(encoded))
    return pa.StringArray.from_buffers(
        len(encoded), pa.py_buffer(offsets.astype(np.int32)), data, bitmap, nulls
    )
