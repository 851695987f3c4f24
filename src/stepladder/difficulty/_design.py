"""Response logs as learner x item matrices for the matrix products IRT estimation needs.

One EM iteration of marginal maximum likelihood reduces to three products between the
(learner x item) matrices of successes ``Y`` and attempts ``N`` and an (item x node) or
(learner x node) matrix. Dense float32 matrices let BLAS run those products on every core;
when the log is too sparse for that to pay off, SciPy CSR matrices hold only the responses.

When every learner answers every item once, right or wrong, and few items make learners
share response patterns (20,000 learners x 5 items have at most 32), the rows are the
distinct patterns with their counts as ``weights`` (as mirt does): the marginal
log-likelihood is a weighted sum over patterns, so each product costs O(patterns).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

from stepladder.difficulty.responses import CHUNK_ROWS, Responses, chunked_bincount

__all__ = [
    "ResponseMatrices",
    "blas_on_one_thread",
    "blocks_in_turn",
    "in_threads",
    "sum_in_threads",
    "usable_threads",
]

T = TypeVar("T")

#: Use dense matrices when they cost at most this many bytes (both of them together) ...
DENSE_BYTES_LIMIT = 2 * 1024**3
#: ... and the log fills at least this share of the learner x item cells.
DENSE_MIN_FILL = 0.2
#: Rows (learners) per block of the products summed over learners (see _column_products).
BLOCK_ROWS = 128
#: Collapse complete 0/1 logs to their response patterns when there are fewer patterns
#: than this share of the learners.
PATTERN_SHARE = 0.5


@dataclass
class ResponseMatrices:
    """Successes ``Y`` and attempts ``N`` (learners x items), dense or CSR, float32.

    Missing responses are zero in both, so they drop out of every sum. With ``weights``,
    each row is a response pattern (float64) shared by ``weights[row]`` learners: the
    products per row are unchanged and the sums over rows are weighted by the counts.

    ``learner_rows`` gives each learner's row when rows are not in learner order: a pattern's
    row, or (:meth:`from_responses`, beyond one block of rows) the learners ordered by
    their share correct, so that the learners of a block have similar abilities and their
    posteriors share a few nodes (see :func:`_column_products`).

    Example:
        >>> responses = Responses.from_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        >>> matrices, learner_rows = ResponseMatrices.patterns(responses, share=1.0)
        >>> matrices.successes.tolist(), matrices.weights.tolist(), learner_rows.tolist()
        ([[0.0, 1.0], [1.0, 0.0]], [1.0, 2.0], [1, 1, 0])
    """

    successes: np.ndarray | sp.csr_matrix
    attempts: np.ndarray | sp.csr_matrix
    dense: bool
    weights: np.ndarray | None = None
    learner_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is None:  # the matrices sums over learners use
            self._weighted_successes, self._weighted_attempts = self.successes, self.attempts
        else:
            self._weighted_successes = self.successes * self.weights[:, None]
            self._weighted_attempts = self.attempts * self.weights[:, None]

    @property
    def n_learners(self) -> float:
        """Learners the rows stand for (the sum of the weights, when rows are patterns)."""
        return self.attempts.shape[0] if self.weights is None else float(self.weights.sum())

    def learner_total(self, values: np.ndarray) -> np.ndarray:
        """Sum over learners of per-row ``values`` (rows first), weighted by the counts."""
        if self.weights is None:
            return values.sum(axis=0)
        # For one value per row, not a BLAS dot (whose sum order varies with the threads).
        return self.weights @ values if values.ndim > 1 else np.sum(self.weights * values)

    @classmethod
    def patterns(
        cls, responses: Responses, *, share: float = PATTERN_SHARE
    ) -> tuple[ResponseMatrices, np.ndarray] | None:
        """The distinct response patterns and, per learner, its pattern's row; None unless
        every learner answered every item exactly once (0/1) and the patterns number fewer
        than ``share`` times the learners."""
        n_learners, n_items = responses.n_learners, responses.n_items
        if len(responses) != n_learners * n_items or not np.all(responses.trials == 1):
            return None
        flat = responses.learner.astype(np.int64) * n_items + responses.item
        if np.bincount(flat, minlength=n_learners * n_items).max() > 1:
            return None
        correct = np.zeros(n_learners * n_items, dtype=np.uint8)
        correct[flat] = responses.successes == 1
        if np.count_nonzero(correct[flat]) != np.count_nonzero(responses.successes):
            return None  # some response is neither 0 nor 1
        correct = correct.reshape(n_learners, n_items)
        if n_items <= 62:  # one integer code per pattern, ordered like the rows below
            codes = correct.astype(np.int64) @ (1 << np.arange(n_items - 1, -1, -1, dtype=np.int64))
            _, first, inverse, counts = np.unique(codes, return_index=True, return_inverse=True,
                                                  return_counts=True)  # fmt: skip
            rows = correct[first]
        else:
            rows, inverse, counts = np.unique(correct, axis=0, return_inverse=True,
                                              return_counts=True)  # fmt: skip
        if len(rows) >= share * n_learners:
            return None
        successes = rows.astype(np.float64)
        weights = counts.astype(np.float64)
        learner_rows = inverse.ravel()
        return cls(successes, np.ones_like(successes), True, weights, learner_rows), learner_rows

    @classmethod
    def from_responses(cls, responses: Responses, *, dense: bool | None = None) -> ResponseMatrices:
        shape = (responses.n_learners, responses.n_items)
        cells = shape[0] * shape[1]
        if dense is None:
            fill = len(responses) / cells
            dense = 2 * 4 * cells <= DENSE_BYTES_LIMIT and fill >= DENSE_MIN_FILL
        sort = shape[0] > BLOCK_ROWS
        if dense:
            successes, attempts = _dense_matrices(responses, shape)
            learner_rows = None
            if sort:
                share = successes.sum(axis=1, dtype=np.float64)
                share /= attempts.sum(axis=1, dtype=np.float64)
                learner_rows = _rows_in_order(share)
                _permute_rows(successes, learner_rows)
                _permute_rows(attempts, learner_rows)
            return cls(successes, attempts, True, learner_rows=learner_rows)
        import scipy.sparse as sp  # only sparse logs need it (0.1-0.2 s to import)

        learner_rows = _rows_by_share_correct(responses) if sort else None
        rows = responses.learner if learner_rows is None else learner_rows[responses.learner]
        cols = responses.item
        successes = sp.csr_matrix(
            (responses.successes.astype(np.float32), (rows, cols)), shape=shape
        )
        attempts = sp.csr_matrix((responses.trials.astype(np.float32), (rows, cols)), shape=shape)
        successes.sum_duplicates()
        attempts.sum_duplicates()
        return cls(successes, attempts, False, learner_rows=learner_rows)

    @property
    def dtype(self) -> type:
        return np.float64 if self.weights is not None else np.float32

    def learner_products(self, successes_table: np.ndarray | None, attempts_table: np.ndarray):
        """``Y @ successes_table + N @ attempts_table`` (learners x nodes), float64.

        Either table is (items x nodes); ``successes_table`` may be None (skipped).
        """
        out = _row_products(self.attempts, attempts_table.astype(self.dtype))
        if successes_table is not None:
            out += _row_products(self.successes, successes_table.astype(self.dtype))
        return out

    def item_products(self, posterior: np.ndarray, *, of: str, groups: int = 1) -> np.ndarray:
        """Expected successes (``Y.T @ post``) or attempts (``N.T @ post``) per item and node,
        summed over learners; ``posterior`` may hold ``groups`` tables over the same nodes
        side by side (see :func:`_column_products`)."""
        matrix = self._weighted_successes if of == "successes" else self._weighted_attempts
        return _column_products(matrix, posterior.astype(self.dtype), groups=groups)

    def learner_sums(self, item_values: np.ndarray, *, of: str) -> np.ndarray:
        """``Y @ v`` or ``N @ v`` for an item vector ``v``: one value per learner (row); for
        an (items x k) ``v``, k per learner in one pass over the matrix."""
        matrix = self.successes if of == "successes" else self.attempts
        out = _row_products(matrix, item_values.astype(self.dtype))
        return out.ravel() if item_values.ndim == 1 else out.reshape(matrix.shape[0], -1)

    def item_sums(self, learner_values: np.ndarray, *, of: str) -> np.ndarray:
        """``Y.T @ v`` or ``N.T @ v`` for a per-row vector ``v``, summed over learners: one
        value per item."""
        matrix = self._weighted_successes if of == "successes" else self._weighted_attempts
        return np.asarray(matrix.T @ learner_values.astype(self.dtype), dtype=np.float64).ravel()

    def max_attempts_per_learner(self) -> float:
        return float(np.asarray(self.attempts.sum(axis=1)).max())


def _row_products(matrix, table: np.ndarray) -> np.ndarray:
    """``matrix @ table`` in float64: for a dense matrix, blocks of ``BLOCK_ROWS`` rows side
    by side on the worker threads (each row's products are those of its fixed block, so the
    same on any number of threads).

    Example:
        >>> matrix = np.arange(6.0, dtype=np.float32).reshape(3, 2)
        >>> _row_products(matrix, np.array([1.0, 10.0], dtype=np.float32)).tolist()
        [10.0, 32.0, 54.0]
    """
    if not isinstance(matrix, np.ndarray):  # sparse: one product
        return np.asarray(matrix @ table, dtype=np.float64)
    out = np.empty((matrix.shape[0], *table.shape[1:]))

    def block(start: int) -> None:
        rows = slice(start, start + BLOCK_ROWS)
        out[rows] = matrix[rows] @ table

    in_threads(block, range(0, matrix.shape[0], BLOCK_ROWS))
    return out


#: Items per chunk of :func:`_column_products` on the worker threads.
ITEM_CHUNK = 2048


def _column_products(matrix, table: np.ndarray, rows: int = BLOCK_ROWS,
                     groups: int = 1) -> np.ndarray:  # fmt: skip
    """``matrix.T @ table`` (items x columns, float64), summed over blocks of ``rows`` rows.

    BLAS splits a long inner dimension (here the learners) between threads, which changes
    the order of float32 additions, and so the result, with the number of threads. Blocks
    short enough never to be split, added in float64, give the same result on any number
    of threads (and a more accurate one).

    ``table`` holds ``groups`` tables of equal width side by side (posteriors over the same
    nodes); each block multiplies only the nodes between the first and the last where one
    of its rows is nonzero in one of the tables. Learners with many responses have
    posteriors on a few nodes, and rows ordered by ability share them: on 1,000 learners x
    20,000 items this is several times cheaper than the whole product, with the same sums.

    Example:
        >>> table = np.array([[0.5, 0.5, 0.0, 1.0, 2.0, 0.0], [0.0, 0.3, 0.7, 0.0, 1.0, 1.0]])
        >>> matrix = np.array([[1.0, 2.0], [3.0, 1.0]])
        >>> np.allclose(_column_products(matrix, table, rows=1, groups=2), matrix.T @ table)
        True
    """
    n_rows, width = table.shape
    nodes = width // groups
    used = (table != 0).reshape(n_rows, groups, nodes).any(axis=1)
    total = np.zeros((width, matrix.shape[1]))  # transposed: each block adds whole rows
    blocks = []  # (rows, node window, the block's table columns)
    for start in range(0, n_rows, rows):
        block = slice(start, start + rows)
        where = np.flatnonzero(used[block].any(axis=0))
        if len(where):
            first, last = int(where[0]), int(where[-1]) + 1
            columns = (np.arange(groups)[:, None] * nodes + np.arange(first, last)).ravel()
            blocks.append((block, first, last, np.ascontiguousarray(table[block][:, columns].T)))
    dense = isinstance(matrix, np.ndarray)
    # Dense: chunks of items side by side on the worker threads, each adding its blocks in
    # order (the sums of each item are the same on any number of threads).
    chunk = ITEM_CHUNK if dense else matrix.shape[1]

    def add(item_start: int) -> None:
        items = slice(item_start, item_start + chunk)
        for block, first, last, block_table in blocks:
            part = np.asarray(block_table @ matrix[block][:, items] if dense
                              else block_table @ matrix[block])  # fmt: skip
            span = last - first
            for group in range(groups):
                window = slice(group * nodes + first, group * nodes + last)
                total[window, items] += part[group * span : (group + 1) * span]

    in_threads(add, range(0, matrix.shape[1], chunk))
    return total.T  # items x columns (a transposed view: each column is contiguous)


def _rows_by_share_correct(responses: Responses) -> np.ndarray:
    """Each learner's row when the rows are ordered by share correct (ties by index)."""
    share = chunked_bincount(responses.learner, responses.successes, responses.n_learners)
    share /= chunked_bincount(responses.learner, responses.trials, responses.n_learners)
    return _rows_in_order(share)


def _rows_in_order(values: np.ndarray) -> np.ndarray:
    """Each entry's position when ``values`` are sorted (ties keep their order)."""
    rows = np.empty(len(values), dtype=np.int64)
    rows[np.argsort(values, kind="stable")] = np.arange(len(values))
    return rows


def _permute_rows(matrix: np.ndarray, rows: np.ndarray) -> None:
    """Move row k of ``matrix`` to row ``rows[k]``, in place: one row of extra memory.

    Example:
        >>> m = np.arange(8.0).reshape(4, 2)
        >>> _permute_rows(m, np.array([2, 0, 3, 1]))
        >>> m[:, 0].tolist()
        [2.0, 6.0, 0.0, 4.0]
    """
    placed = np.zeros(len(rows), dtype=bool)
    for start in range(len(rows)):
        if placed[start]:
            continue
        carried = matrix[start].copy()  # follow the cycle through start
        position = start
        while not placed[position]:
            placed[position] = True
            target = rows[position]
            saved = matrix[target].copy()
            matrix[target] = carried
            carried, position = saved, target


def _dense_matrices(responses: Responses, shape: tuple[int, int], chunk: int = CHUNK_ROWS,
                    rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Dense float32 successes and attempts (learners x items, learner k in row ``rows[k]``,
    by default row k), filled a block of rows at a time: repeated (learner, item) rows add
    up. Only the two float32 matrices are ever full-sized (no float64 or int64 copy of all
    the cells or rows); sums of repeats are exact for integer scores, and within float32
    rounding of the float64 sum otherwise. A block whose rows come from a narrow range of
    learners (a log ordered by learner, as shards usually are) is counted with
    ``np.bincount`` over those learners' cells, 5-10x faster than ``np.add.at``, which
    takes the rest; such a log's two halves are filled side by side.

    Example:
        >>> r = Responses.from_long([0, 0, 1], ["a", "a", "b"], [1.0, 0.0, 1.0])
        >>> y, n = _dense_matrices(r, (2, 2), chunk=2)
        >>> y.tolist(), n.tolist()
        ([[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 1.0]])
    """
    n_items, n_rows = shape[1], len(responses)
    successes = np.zeros(shape, dtype=np.float32)
    attempts = np.zeros(shape, dtype=np.float32)
    # A log ordered by learner is filled in two halves side by side on the worker threads:
    # they meet where a learner's rows begin, so they write different rows.
    bounds = [0, n_rows]
    if n_rows >= 2 * chunk and _ordered(responses.learner, chunk):
        middle = int(np.searchsorted(responses.learner, responses.learner[n_rows // 2]))
        bounds = [0, middle, n_rows] if 0 < middle < n_rows else bounds

    def fill(half: int) -> None:
        stop = bounds[half + 1]
        for start in range(bounds[half], stop, chunk):
            part = slice(start, min(start + chunk, stop))
            learner, item = responses.learner[part], responses.item[part]
            first, last = int(learner.min()), int(learner.max()) + 1
            cells = (last - first) * n_items
            if cells <= 8 * len(learner) + n_items:
                flat = (learner - first).astype(np.int64) * n_items + item
                target = slice(first, last) if rows is None else rows[first:last]
                for out, values in ((successes, responses.successes),
                                    (attempts, responses.trials)):  # fmt: skip
                    counts = np.bincount(flat, values[part], cells)
                    out[target] += counts.reshape(last - first, n_items)
            else:
                row = learner if rows is None else rows[learner]
                flat = row.astype(np.int64) * n_items + item
                np.add.at(successes.reshape(-1), flat, responses.successes[part].astype(np.float32))
                np.add.at(attempts.reshape(-1), flat, responses.trials[part].astype(np.float32))

    in_threads(fill, range(len(bounds) - 1))
    return successes, attempts


def _ordered(values: np.ndarray, chunk: int = CHUNK_ROWS) -> bool:
    """Whether ``values`` never decrease (checked a chunk at a time).

    Example:
        >>> _ordered(np.array([0, 0, 1, 3]), chunk=2), _ordered(np.array([0, 2, 1]), chunk=2)
        (True, False)
    """
    for start in range(0, len(values) - 1, chunk):
        part = values[start : start + chunk + 1]
        if not np.all(part[1:] >= part[:-1]):
            return False
    return True


def worker_threads() -> int:
    """Threads for blocked NumPy work: the CPUs this process may run on, at most
    ``OMP_NUM_THREADS`` when that is set (the limit BLAS keeps to as well)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        return max(1, min(cpus, int(os.environ.get("OMP_NUM_THREADS", cpus))))
    except ValueError:
        return cpus


#: Worker pools by (process id, threads): a forked child starts pools of its own, as the
#: parent's threads do not exist there.
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def in_threads(function: Callable[[int], T], starts: Iterable[int]) -> list[T]:
    """``[function(start) for start in starts]``, run on :func:`worker_threads` threads.

    For independent blocks that write disjoint slices or return partial results: NumPy
    releases the GIL inside its loops, so blocks of items or learners run side by side.
    Results come back in the order of ``starts``, so partial sums added in that order are
    the same on any number of threads.

    Example:
        >>> out = np.zeros(6)
        >>> def fill(start):
        ...     out[start : start + 2] = start
        ...     return start * 10
        >>> in_threads(fill, range(0, 6, 2))
        [0, 20, 40]
        >>> out.tolist()
        [0.0, 0.0, 2.0, 2.0, 4.0, 4.0]
    """
    threads = usable_threads()
    starts = list(starts)
    if threads == 1 or len(starts) == 1:
        # (Inside a worker, blocks run in turn: waiting on the pool from the pool could
        # leave every worker waiting for work queued behind it.)
        return [function(start) for start in starts]
    key = (os.getpid(), threads)
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = ThreadPoolExecutor(
            threads, thread_name_prefix="stepladder", initializer=_mark_worker
        )
    return list(pool.map(function, starts))  # re-raises the first error


#: Marks the pool's worker threads, and callers whose blocks run in turn (see
#: :func:`in_threads`, :func:`blocks_in_turn`).
_WORKER = threading.local()


def usable_threads() -> int:
    """The threads :func:`in_threads` would use from here: 1 inside a worker or while
    :func:`blocks_in_turn` is active, else :func:`worker_threads`."""
    return 1 if getattr(_WORKER, "busy", False) else worker_threads()


@contextmanager
def blocks_in_turn(in_turn: bool = True) -> Iterator[None]:
    """While active (and ``in_turn``), :func:`in_threads` runs this thread's blocks one after
    another: for small work, where handing blocks to the workers costs more than it saves.

    Example:
        >>> with blocks_in_turn():
        ...     in_threads(lambda start: start, range(3))
        [0, 1, 2]
    """
    before = getattr(_WORKER, "busy", False)
    _WORKER.busy = before or in_turn
    try:
        yield
    finally:
        _WORKER.busy = before


def _mark_worker() -> None:
    _WORKER.busy = True


def sum_in_threads(function: Callable[[int], Any], starts: Iterable[int], total: Any) -> Any:
    """``total`` plus ``function(start)`` for every start, added in the order of ``starts``
    (so the same on any number of threads), the calls run on :func:`worker_threads`
    threads a few at a time: at most twice as many partial results are held as there are
    threads, whatever the number of starts.

    Example:
        >>> sum_in_threads(lambda start: np.full(2, float(start)), range(5), np.zeros(2)).tolist()
        [10.0, 10.0]
    """
    starts = list(starts)
    window = 2 * worker_threads()
    for first in range(0, len(starts), window):
        for part in in_threads(function, starts[first : first + window]):
            total += part
    return total


@contextmanager
def blas_on_one_thread() -> Iterator[None]:
    """BLAS on one thread per call while the worker threads run blocks side by side.

    BLAS's own threads would compete with the workers for the same cores (and spin between
    calls): the products are split into blocks here instead, which also keeps every result
    the same on any number of threads. Needs ``threadpoolctl`` (a dependency, imported only
    here); without it BLAS keeps its threads and only the speed differs.

    Example:
        >>> with blas_on_one_thread():
        ...     float(np.ones(3) @ np.ones(3))
        3.0
    """
    if worker_threads() == 1:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; kept working without it
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield
