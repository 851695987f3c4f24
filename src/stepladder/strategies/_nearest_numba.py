"""Nearest earlier point, one point at a time, in a grid of cells compiled with numba.

ALP-GMM's learning progress compares each first play of a task with the nearest task played
before it. Here the played points, in order of first play, live in a uniform grid over the
unit cube (a linked list of points per cell, about two points per cell): each new point asks
the rings of cells around its own, nearest first, until no unseen cell can hold a nearer
point, then joins the grid. Ties go to the point played first. Where the played tasks are
spread about evenly (``alp_gmm.evenly_spread``), this costs a few candidates a point, against
a query of O(log tasks) kd-trees on the NumPy path.

Imported by ``alp_gmm`` only where numba is installed (``_engines.compiled_module``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Most cells a grid gets (its ``head`` array: 8 bytes a cell).
MAX_CELLS = 1 << 22


def side_for(points: int, dimensions: int) -> int:
    """Cells per side of the grid for ``points`` points: a power of 2, about two points per
    cell, at most :data:`MAX_CELLS` cells.

    Example:
        >>> side_for(1, 2), side_for(1000, 2), side_for(10**9, 3)
        (1, 16, 128)
    """
    side = 1
    while (2 * side) ** dimensions * 2 <= points and (2 * side) ** dimensions <= MAX_CELLS:
        side *= 2
    return side


@njit(cache=True, error_model="numpy")
def _cell(point: np.ndarray, side: int) -> int:
    cell = 0
    for a in range(point.size):
        cell = cell * side + min(int(point[a] * side), side - 1)
    return cell


@njit(cache=True, error_model="numpy")
def rebuild(points: np.ndarray, count: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(head, next) of the grid with ``side`` cells per side holding ``points[:count]``:
    ``head[cell]`` is the last point of the cell (-1: none), ``next[p]`` the point before
    ``p`` in its cell."""
    head = np.full(side ** points.shape[1], -1, dtype=np.int64)
    following = np.full(points.shape[0], -1, dtype=np.int64)
    for p in range(count):
        cell = _cell(points[p], side)
        following[p] = head[cell]
        head[cell] = p
    return head, following


@njit(cache=True, error_model="numpy")
def nearest_then_add(
    points: np.ndarray,
    count: int,
    head: np.ndarray,
    following: np.ndarray,
    side: int,
    found: np.ndarray,
) -> None:
    """For ``p = count, count + 1, ..``, as many as ``found`` holds: the nearest of
    ``points[:p]`` to ``points[p]`` (Euclidean) into ``found`` (-1: none), then ``points[p]``
    joins the grid. Ties go to the lower index."""
    d = points.shape[1]
    centre = np.empty(d, dtype=np.int64)
    offset = np.empty(d, dtype=np.int64)
    for step in range(found.size):
        p = count + step
        point = points[p]
        for a in range(d):
            centre[a] = min(int(point[a] * side), side - 1)
        reach = 0  # rings needed to cover the grid
        for a in range(d):
            reach = max(reach, centre[a], side - 1 - centre[a])
        best, nearest = np.inf, -1
        for ring in range(reach + 1):
            # unseen cells lie at least `ring - 1` cells away: stop once nearer than that
            if nearest >= 0 and best * side < (ring - 1) * (1.0 - 1e-9):
                break
            offset[:] = -ring
            while True:  # every cell of the cube of side 2 ring + 1, its surface only
                on_surface, inside, cell = False, True, 0
                for a in range(d):
                    on_surface |= abs(offset[a]) == ring
                    at = centre[a] + offset[a]
                    inside &= 0 <= at < side
                    cell = cell * side + at
                if on_surface and inside:
                    q = head[cell]
                    while q >= 0:
                        total = 0.0
                        for a in range(d):
                            total += (points[q, a] - point[a]) ** 2
                        distance = math.sqrt(total)
                        if distance < best or (distance == best and q < nearest):
                            best, nearest = distance, q
                        q = following[q]
                a = d - 1  # next offset, the last axis fastest
                while a >= 0 and offset[a] == ring:
                    offset[a] = -ring
                    a -= 1
                if a < 0:
                    break
                offset[a] += 1
        found[step] = nearest
        cell = _cell(point, side)
        following[p] = head[cell]
        head[cell] = p
