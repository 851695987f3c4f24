"""Response logs: who answered which item, and how well, as dense columnar arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Responses", "chunked_bincount"]

#: Rows per pass of :func:`chunked_bincount` (and the other passes over the rows): a block's
#: float64 temporaries (2 MiB) stay in cache and their memory is reused, where blocks of
#: 4M rows cost as much again in page faults as in arithmetic.
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True, eq=False)
class Responses:
    """A long-format response log with ids mapped to dense indices.

    Each row is one (learner, item) record: ``successes`` out of ``trials`` attempts, where
    a single attempt may score anywhere in ``[0, 1]``. Rows with the same learner and item
    are repeated attempts and count together (k of n); nothing is dropped. Missing
    responses are simply absent rows.

    Attributes:
        learner: learner index per row, int64.
        item: item index per row, int64.
        successes: summed scores per row, float64, ``0 <= successes <= trials``.
        trials: attempts per row, float64 (1 for a single response).
        learner_ids: id of each learner index (Arrow array).
        item_ids: id of each item index (Arrow array).

    Example:
        >>> r = Responses.from_long(["ann", "ann", "bob"], ["q1", "q2", "q1"], [1, 0, 0.5])
        >>> r.n_learners, r.n_items, r.item_ids.to_pylist()
        (2, 2, ['q1', 'q2'])
        >>> r.item_p_correct().tolist()
        [0.75, 0.0]
    """

    learner: np.ndarray
    item: np.ndarray
    successes: np.ndarray
    trials: np.ndarray
    learner_ids: pa.Array
    item_ids: pa.Array

    def __post_init__(self) -> None:
        if len(self.learner) == 0:
            raise ValueError("the response log is empty")

    @property
    def n_learners(self) -> int:
        return len(self.learner_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.learner)

    def __repr__(self) -> str:
        return (
            f"Responses({len(self)} rows, {self.n_learners} learners, {self.n_items} items, "
            f"{self.trials.sum():.0f} attempts)"
        )

    @property
    def scores(self) -> np.ndarray:
        """Mean score per row (successes / trials)."""
        return self.successes / self.trials

    @classmethod
    def from_long(
        cls,
        learner_ids: Any,
        item_ids: Any,
        scores: Any,
        *,
        trials: Any = None,
        source: str = "responses",
    ) -> Responses:
        """Build from parallel columns: learner id, item id, score (or successes).

        With ``trials`` given, ``scores`` are success counts out of ``trials`` attempts
        (k of n); otherwise each row is one attempt scored in ``[0, 1]``. ``source`` names
        the input in error messages (a file path, for example).
        """
        learner_codes, learner_names = _encode(learner_ids, "learner_id", source)
        item_codes, item_names = _encode(item_ids, "item_id", source)
        successes = _numeric(scores, "correct" if trials is None else "successes", source)
        n = len(successes)
        if not len(learner_codes) == len(item_codes) == n:
            raise ValueError(
                f"{source}: columns differ in length "
                f"({len(learner_codes)} learners, {len(item_codes)} items, {n} scores)"
            )
        if trials is None:
            attempts = np.ones(n)
            _check_range(successes, 0.0, 1.0, "correct", source)
        else:
            attempts = _numeric(trials, "trials", source)
            _check_range(attempts, 1e-12, np.inf, "trials", source)
            over = successes > attempts
            if over.any() or (successes < 0).any():
                row = int(np.argmax(over | (successes < 0)))
                raise ValueError(
                    f"{source}: row {row}: successes {successes[row]} not within "
                    f"[0, trials={attempts[row]}]"
                )
        return cls(learner_codes, item_codes, successes, attempts, learner_names, item_names)

    @classmethod
    def from_matrix(
        cls,
        matrix: Any,
        *,
        item_ids: Any = None,
        learner_ids: Any = None,
        source: str = "matrix",
    ) -> Responses:
        """Build from a wide matrix, one row per item and one column per learner; NaN = missing.

        Example:
            >>> r = Responses.from_matrix([[1, 0, np.nan], [1, 1, 0]])
            >>> len(r), r.n_items, r.n_learners
            (5, 2, 3)
        """
        values = np.asarray(matrix, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(f"{source}: expected a 2-D matrix, got shape {values.shape}")
        n_items, n_learners = values.shape
        items = pa.array(np.arange(n_items) if item_ids is None else item_ids)
        learners = pa.array(np.arange(n_learners) if learner_ids is None else learner_ids)
        if len(items) != n_items or len(learners) != n_learners:
            raise ValueError(
                f"{source}: {len(items)} item ids and {len(learners)} learner ids "
                f"for a {n_items} x {n_learners} matrix"
            )
        for name, ids in (("item", items), ("learner", learners)):
            if pc.count_distinct(ids).as_py() != len(ids):
                raise ValueError(f"{source}: {name} ids are not distinct")
        if np.isinf(values).any():
            row, col = np.argwhere(np.isinf(values))[0]
            raise ValueError(f"{source}: row {row}, column {col}: score is {values[row, col]}")
        present = ~np.isnan(values)
        item_index, learner_index = np.nonzero(present)
        scores = values[present]
        _check_range(scores, 0.0, 1.0, "correct", source)
        # Ids keep the matrix order, so learner k is column k and item i is row i.
        return cls(
            learner_index.astype(np.int64), item_index.astype(np.int64), scores,
            np.ones(len(scores)), learners, items,
        )  # fmt: skip

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        learner_column: str = "learner_id",
        item_column: str = "item_id",
        score_column: str = "correct",
        trials_column: str | None = None,
        source: str = "table",
    ) -> Responses:
        """Build from an Arrow table, a pandas or polars DataFrame, or a ``datasets.Dataset``.

        Example:
            >>> import pyarrow as pa
            >>> t = pa.table({"learner_id": [1, 2], "item_id": ["a", "a"], "correct": [1, 0]})
            >>> Responses.from_table(t).item_p_correct().tolist()
            [0.5]
        """
        table = _as_arrow(table)
        wanted = [learner_column, item_column, score_column, trials_column]
        for column in wanted:
            if column is not None and column not in table.column_names:
                raise ValueError(
                    f"{source}: missing column {column!r}; columns are {table.column_names}"
                )
        trials = None if trials_column is None else table.column(trials_column)
        return cls.from_long(
            table.column(learner_column),
            table.column(item_column),
            table.column(score_column),
            trials=trials,
            source=source,
        )

    def item_attempts(self) -> np.ndarray:
        """Attempts per item."""
        return self._item_totals()[0].copy()

    def item_successes(self) -> np.ndarray:
        """Summed scores (successes) per item."""
        return self._item_totals()[1].copy()

    def item_p_correct(self) -> np.ndarray:
        """Mean score per item (NaN for items without responses)."""
        attempts, total = self._item_totals()
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / attempts

    def _item_totals(self) -> tuple[np.ndarray, np.ndarray]:
        """(attempts, successes) per item, summed once and kept (the arrays of a
        ``Responses`` are not changed after it is built): graders, tables and diagnostics
        all ask for them, and each pass over 10^8 rows costs about a second."""
        cached = self.__dict__.get("_totals")
        if cached is None:
            cached = (
                chunked_bincount(self.item, self.trials, self.n_items),
                chunked_bincount(self.item, self.successes, self.n_items),
            )
            object.__setattr__(self, "_totals", cached)
        return cached

    def learner_attempts(self) -> np.ndarray:
        """Attempts per learner."""
        return chunked_bincount(self.learner, self.trials, self.n_learners)

    def learner_p_correct(self) -> np.ndarray:
        """Mean score per learner."""
        total = chunked_bincount(self.learner, self.successes, self.n_learners)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / self.learner_attempts()


def _as_arrow(table: Any) -> pa.Table:
    """An Arrow table from Arrow, pandas, polars, or a Hugging Face ``datasets.Dataset``."""
    if isinstance(table, pa.Table):
        return table
    data = getattr(table, "data", None)  # datasets.Dataset wraps an Arrow table here
    inner = getattr(data, "table", None)
    if isinstance(inner, pa.Table):
        return inner
    if hasattr(table, "to_arrow"):  # polars
        return table.to_arrow()
    try:
        return pa.table(table)  # pandas, dicts of columns, anything with __arrow_c_stream__
    except (TypeError, ValueError, pa.ArrowInvalid) as error:
        raise ValueError(f"cannot read {type(table).__name__} as a table: {error}") from None


def _encode(values: Any, column: str, source: str) -> tuple[np.ndarray, pa.Array]:
    try:
        array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"{source}: column {column} mixes types: {error}") from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        row = int(np.argmax(array.is_null().to_numpy(zero_copy_only=False)))
        raise ValueError(f"{source}: row {row}: column {column} is missing")
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    encoded = pc.dictionary_encode(array)
    return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary


def _numeric(values: Any, column: str, source: str) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if values.null_count:
            mask = values.is_null()
            if isinstance(mask, pa.ChunkedArray):
                mask = mask.combine_chunks()
            row = int(np.argmax(mask.to_numpy(zero_copy_only=False)))
            raise ValueError(f"{source}: row {row}: column {column} is missing")
        try:
            values = (
                values.to_numpy()
                if isinstance(values, pa.ChunkedArray)
                else values.to_numpy(zero_copy_only=False)
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(f"{source}: column {column} is not numeric: {error}") from None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: column {column} is not numeric") from None
    if array.ndim != 1:
        raise ValueError(f"{source}: column {column} must be 1-D, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{source}: row {row}: column {column} is {array[row]}")
    return array


def _check_range(values: np.ndarray, low: float, high: float, column: str, source: str) -> None:
    bad = (values < low) | (values > high)
    if bad.any():
        row = int(np.argmax(bad))
        bounds = f"[{low:g}, {high:g}]" if np.isfinite(high) else "positive"
        raise ValueError(f"{source}: row {row}: column {column} = {values[row]} is not {bounds}")


def chunked_bincount(index: np.ndarray, weights: np.ndarray, minlength: int,
                     chunk: int = CHUNK_ROWS) -> np.ndarray:  # fmt: skip
    """``np.bincount(index, weights, minlength)`` over blocks of ``chunk`` rows, so that
    int32 indices and float32 weights are widened a block at a time, never as a whole copy
    of the column (800 MB for 10^8 rows). Weights that are all 1 (one attempt per row)
    are counted without them, 5x faster and to the same float64 totals.

    Example:
        >>> chunked_bincount(np.array([0, 2, 0], np.int32), np.ones(3), 3, chunk=2).tolist()
        [2.0, 0.0, 1.0]
    """
    unit = len(weights) > 0 and weights.min() == 1 and weights.max() == 1
    total = np.zeros(minlength)
    for start in range(0, len(index), chunk):
        part = slice(start, start + chunk)
        counts = np.bincount(index[part], None if unit else weights[part], minlength)
        total += counts
    return total
