"""Task spaces for deep-RL teachers: discrete sets, continuous boxes and multi-discrete grids.

A teacher is an ordinary strategy over an :class:`~stepladder.pool.ItemPool` whose items are
tasks; a task space turns task parameters into such a pool (its ``features`` hold the
parameters) and encodes tasks cheaply for transport between processes:

- :class:`DiscreteTasks`: ``n`` tasks, encoded as the integer ``0 .. n-1``.
- :class:`BoxTasks`: continuous parameters in ``[low, high]``; encoded as the float vector of
  parameters rescaled to ``[0, 1]``. Its pool is a seeded finite candidate set (scrambled
  Sobol or uniform points, typically 10^4 - 10^5). Teachers that sample a point in the box
  (ALP-GMM) snap it to the nearest candidate, which converges to continuous sampling as the
  candidate set grows.
- :class:`MultiDiscreteTasks`: a grid of cells ``0 .. nvec[j]-1`` per dimension, encoded as
  the row-major integer cell id; its pool holds every cell, or a seeded sample of cells.

Example:
    >>> space = BoxTasks(low=[0.0, 10.0], high=[1.0, 20.0])
    >>> space.encode([0.5, 12.0]).tolist(), space.decode([0.5, 0.2]).tolist()
    ([0.5, 0.2], [0.5, 12.0])
    >>> pool = space.pool(n_candidates=1024, seed=0)
    >>> pool.features.shape, bool(space.contains(pool.features).all())
    ((1024, 2), True)
    >>> grid = MultiDiscreteTasks([3, 4])
    >>> grid.encode([2, 1]), grid.decode(9).tolist(), len(grid.pool())
    (9, [2, 1], 12)
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from stepladder._checks import positive_int
from stepladder.pool import ItemPool

__all__ = ["BoxTasks", "DiscreteTasks", "MultiDiscreteTasks"]


class DiscreteTasks:
    """A finite set of ``n`` tasks, encoded as integers ``0 .. n-1``.

    Args:
        n: number of tasks.
        names: optional task names (the pool's ids), one per task.
        features: optional task parameters, shape ``(n,)`` or ``(n, d)`` (for ALP-GMM).
        groups: optional group label per task (stages for ``sequential``/``mastering_rate``).
        difficulty: optional prior difficulty per task.

    Example:
        >>> space = DiscreteTasks(3, names=["easy", "mid", "hard"])
        >>> space.encode("mid"), space.decode(2)
        (1, 'hard')
        >>> space.pool().ids()
        ['easy', 'mid', 'hard']
    """

    def __init__(
        self,
        n: int,
        *,
        names: Sequence[Hashable] | None = None,
        features: Any = None,
        groups: Sequence[Hashable] | None = None,
        difficulty: Any = None,
    ) -> None:
        self.n = positive_int("n", n)
        if names is not None and len(names) != self.n:
            raise ValueError(f"names has {len(names)} entries for {self.n} tasks")
        self.names = None if names is None else list(names)
        self._index = None if names is None else {name: i for i, name in enumerate(self.names)}
        self.features, self.groups, self.difficulty = features, groups, difficulty

    def encode(self, task: Hashable) -> int:
        """Integer id of ``task`` (its name, or its integer id when the tasks have no names)."""
        if self._index is not None:
            return self._index[task]
        value = positive_int("task", task, allow_zero=True)
        if value >= self.n:
            raise ValueError(f"task {value} out of range for {self.n} tasks")
        return value

    def decode(self, code: int) -> Hashable:
        """The task (name, or integer) with integer id ``code``."""
        code = positive_int("code", code, allow_zero=True)
        if code >= self.n:
            raise ValueError(f"code {code} out of range for {self.n} tasks")
        return code if self.names is None else self.names[code]

    def pool(self) -> ItemPool:
        """An :class:`ItemPool` with one item per task (pool index = integer id)."""
        return ItemPool(
            self.names,
            size=None if self.names is not None else self.n,
            features=self.features,
            groups=self.groups,
            difficulty=self.difficulty,
        )


class BoxTasks:
    """Continuous task parameters in the box ``[low, high]`` (one bound per dimension).

    ``encode`` maps parameters to ``[0, 1]^d`` (``(x - low) / (high - low)``) and ``decode``
    maps back; both accept one task ``(d,)`` or a batch ``(n, d)``.

    Example:
        >>> box = BoxTasks([0.0], [4.0])
        >>> box.encode([[1.0], [4.0]]).ravel().tolist()
        [0.25, 1.0]
        >>> pool = box.pool(n_candidates=8, seed=1, method="uniform")
        >>> float(pool.features.min()) >= 0.0 and float(pool.features.max()) <= 4.0
        True
        >>> int(box.nearest(pool, [[0.0]])[0]) == int(np.argmin(pool.features[:, 0]))
        True
    """

    def __init__(self, low: Any, high: Any) -> None:
        self.low = np.atleast_1d(np.asarray(low, dtype=np.float64))
        self.high = np.atleast_1d(np.asarray(high, dtype=np.float64))
        if self.low.ndim != 1 or self.low.shape != self.high.shape:
            raise ValueError(f"low and high must be 1-D of one length: {self.low}, {self.high}")
        if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
            raise ValueError("low and high must be finite")
        if not (self.high > self.low).all():
            raise ValueError(f"need high > low in every dimension: {self.low}, {self.high}")

    @property
    def dim(self) -> int:
        """Number of task parameters ``d``."""
        return len(self.low)

    def encode(self, params: Any) -> np.ndarray:
        """Parameters rescaled to ``[0, 1]^d``: ``(x - low) / (high - low)``."""
        return (np.asarray(params, dtype=np.float64) - self.low) / (self.high - self.low)

    def decode(self, unit: Any) -> np.ndarray:
        """Inverse of :meth:`encode`: ``low + u * (high - low)``."""
        return self.low + np.asarray(unit, dtype=np.float64) * (self.high - self.low)

    def contains(self, params: Any) -> np.ndarray:
        """Whether each task ``(n, d)`` (or one ``(d,)``) lies inside the box."""
        x = np.asarray(params, dtype=np.float64)
        return np.all((x >= self.low) & (x <= self.high), axis=-1)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` tasks drawn uniformly from the box, shape ``(n, d)``."""
        return self.decode(rng.random((positive_int("n", n, allow_zero=True), self.dim)))

    def candidates(self, n_candidates: int, seed: int = 0, method: str = "sobol") -> np.ndarray:
        """A seeded finite set of ``n_candidates`` tasks: scrambled Sobol points or uniform."""
        n_candidates = positive_int("n_candidates", n_candidates)
        if method == "sobol":
            from scipy.stats import qmc

            with warnings.catch_warnings():  # balance warning when n is not a power of two
                warnings.simplefilter("ignore", UserWarning)
                unit = qmc.Sobol(self.dim, scramble=True, seed=seed).random(n_candidates)
        elif method == "uniform":
            unit = np.random.default_rng(seed).random((n_candidates, self.dim))
        else:
            raise ValueError(f"method must be 'sobol' or 'uniform', got {method!r}")
        return self.decode(unit)

    def pool(
        self,
        n_candidates: int = 10_000,
        seed: int = 0,
        *,
        method: str = "sobol",
        groups: Any = None,
        difficulty: Any = None,
    ) -> ItemPool:
        """A pool of :meth:`candidates` whose ``features`` are the task parameters."""
        features = self.candidates(n_candidates, seed, method)
        return ItemPool(size=len(features), features=features, groups=groups, difficulty=difficulty)

    def nearest(self, pool: ItemPool, params: Any) -> np.ndarray:
        """Pool index of the candidate nearest to each task (distance in encoded units)."""
        from scipy.spatial import cKDTree

        if pool.features is None:
            raise ValueError("the pool has no features (task parameters)")
        tree = cKDTree(self.encode(pool.features.reshape(pool.size, -1)))
        _, index = tree.query(self.encode(np.atleast_2d(params)))
        return np.asarray(index, dtype=np.int64)


class MultiDiscreteTasks:
    """A grid of tasks: cell ``(c_1, ..., c_d)`` with ``0 <= c_j < nvec[j]``.

    A cell is encoded as its row-major integer id (``np.ravel_multi_index``).

    Example:
        >>> grid = MultiDiscreteTasks([10, 10, 10])
        >>> grid.encode([[1, 2, 3], [0, 0, 9]]).tolist(), grid.size
        ([123, 9], 1000)
        >>> pool = grid.pool(n_candidates=50, seed=0)
        >>> len(pool), pool.features.shape, grid.encode(pool.features.astype(int)[:2]).tolist() \
== pool.ids([0, 1])
        (50, (50, 3), True)
    """

    def __init__(self, nvec: Sequence[int]) -> None:
        self.nvec = np.array([positive_int("nvec", int(v)) for v in nvec], dtype=np.int64)
        if self.nvec.size == 0:
            raise ValueError("nvec must name at least one dimension")

    @property
    def size(self) -> int:
        """Number of cells, ``prod(nvec)``."""
        return int(np.prod(self.nvec))

    def encode(self, cells: Any) -> Any:
        """Row-major id of one cell ``(d,)`` (an int) or of each cell of ``(n, d)`` (an array)."""
        array = np.asarray(cells, dtype=np.int64)
        ids = np.ravel_multi_index(tuple(np.moveaxis(array, -1, 0)), tuple(self.nvec))
        return int(ids) if array.ndim == 1 else np.asarray(ids, dtype=np.int64)

    def decode(self, codes: Any) -> np.ndarray:
        """Cell coordinates of one id (shape ``(d,)``) or of many (shape ``(n, d)``)."""
        coords = np.unravel_index(np.asarray(codes, dtype=np.int64), tuple(self.nvec))
        return np.stack(coords, axis=-1).astype(np.int64)

    def pool(self, n_candidates: int | None = None, seed: int = 0) -> ItemPool:
        """Every cell (pool index = cell id), or a seeded sample of ``n_candidates`` cells.

        A sampled pool's ids are the sampled cell ids; ``features`` are the cell coordinates.
        """
        if n_candidates is None or n_candidates >= self.size:
            return ItemPool(size=self.size, features=self.decode(np.arange(self.size)))
        n_candidates = positive_int("n_candidates", n_candidates)
        rng = np.random.default_rng(seed)
        if self.size <= 10 * n_candidates:
            ids = np.sort(rng.choice(self.size, size=n_candidates, replace=False))
        else:  # draw with replacement and deduplicate: avoids a permutation of a huge grid
            ids = np.unique(rng.integers(0, self.size, size=2 * n_candidates))
            ids = np.sort(rng.choice(ids, size=min(n_candidates, len(ids)), replace=False))
        return ItemPool(ids, features=self.decode(ids))
