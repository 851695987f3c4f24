"""ALP-GMM: absolute learning progress with Gaussian mixtures (Portelas et al., CoRL 2019)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stepladder._checks import choice, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._engines import checked_engine, compiled_module, numba_installed
from stepladder.strategies._gmm import WarmStarts, best_mixture
from stepladder.strategies._registry import register
from stepladder.strategies._teacher_tools import Segments, Snap, episode_scores, segments
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["ALPGMM"]

#: Tasks first played in a batch that are compared with every earlier one of the batch: those
#: farthest from every task played before it (the others meet few pairs of batch tasks).
_FAR_ROWS = 8


def _tree(points: np.ndarray) -> Any:
    """A kd-tree built for speed (sliding-midpoint splits, no node compaction)."""
    from scipy.spatial import cKDTree

    return cKDTree(points, balanced_tree=False, compact_nodes=False)


def evenly_spread(unit: np.ndarray, bins: int = 32, spread: float = 4.0) -> bool:
    """Whether the tasks fill the unit box about evenly, as a uniform grid needs: along each
    dimension, the widths of the ``bins`` quantile bins (of at most 65,536 tasks, evenly
    strided) lie within ``spread`` times each other.

    Where they do not (say normal parameters: the tails' bins are 40 times the centre's),
    the first plays that land in sparse parts would ask many rings of a uniform grid, and
    kd-trees answer faster.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> evenly_spread(rng.random((10_000, 2))), evenly_spread(rng.beta(5, 5, (10_000, 2)))
        (True, False)
    """
    sample = unit[:: max(1, len(unit) // 65_536)]
    if len(sample) < 2 * bins:
        return True  # too few tasks to tell; any structure is fast on so few
    edges = np.quantile(sample, np.linspace(0.0, 1.0, bins + 1), axis=0)
    widths = np.diff(edges, axis=0)
    return bool((widths.max(axis=0) <= spread * widths.min(axis=0)).all())


class _PlayedTasks:
    """Distinct played tasks, in order of first play, for exact nearest-earlier queries.

    :meth:`first_plays` gives each task played for the first time its nearest task played
    before it (the history, then the batch's earlier first plays; ties go to the task played
    first) and adds it. Two structures give the same answers:

    - compiled (numba installed, at most ``Snap.GRID_DIMENSIONS`` dimensions, tasks spread
      about evenly: :func:`evenly_spread`): a grid of cells over the unit cube
      (``_nearest_numba``), each first play asks the rings of cells around its own, then
      joins the grid, one at a time;
    - NumPy: the tasks are split into consecutive parts, each with its own kd-tree; a new
      part is merged with the one before while it holds at least a quarter as many tasks
      (the logarithmic method), so there are O(log tasks) trees, a task is re-indexed
      O(log tasks) times in all, and a query asks every tree. A part keeps its tasks'
      coordinates, so a merge reads no pool rows. The batch's earlier first plays are
      searched by :func:`_nearest_earlier`.

    Nothing scans the played tasks. The state (the tasks and the parts' sizes, which both
    structures keep) loads into either.
    """

    def __init__(self, unit: np.ndarray, engine: str = "numpy") -> None:
        self.unit = unit
        self.grid = (  # the compiled grid (numba imported on first use), else kd-trees
            engine != "numpy"
            and numba_installed()
            and unit.shape[1] <= Snap.GRID_DIMENSIONS
            and evenly_spread(unit)
        )
        self.sizes: list[int] = []  # tasks per part (the logarithmic method's parts)
        self.parts: list[np.ndarray] = []  # kd-trees: the tasks of each part
        self.points: list[np.ndarray] = []  # their coordinates (a merge reads no ``unit``)
        self.trees: list[Any] = []
        self.order = np.zeros(0, dtype=np.int64)  # grid: the tasks (room for more)
        self.coordinates = np.zeros((0, unit.shape[1]))  # their coordinates
        self.side, self.head, self.following = 0, np.zeros(0), np.zeros(0)

    def __len__(self) -> int:
        return sum(self.sizes)

    def first_plays(self, tasks: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The nearest earlier task (-1: none) of each task played for the first time, in
        order of first play (``points``: their rows of ``unit``); they join the played."""
        if not self.grid:
            best, nearest = self.nearest(points)
            closer, position = _nearest_earlier(points, best)
            use = closer < best  # ties go to the task played first
            nearest[use] = tasks[position[use]]
            self.add(tasks, points)
            return nearest
        count, m = len(self), len(tasks)
        compiled = compiled_module("numba", "_nearest_numba")
        side = compiled.side_for(count + m, self.unit.shape[1])
        if count + m > len(self.order):  # room for more: double, at most every task
            room = min(max(count + m, 2 * len(self.order)), len(self.unit))
            self.order = np.resize(self.order, room)
            self.coordinates = np.resize(self.coordinates, (room, self.unit.shape[1]))
            self.side = 0  # the links grow with the room
        self.order[count : count + m] = tasks
        self.coordinates[count : count + m] = points
        if side != self.side:
            self.head, self.following = compiled.rebuild(self.coordinates, count, side)
            self.side = side
        found = np.empty(m, dtype=np.int64)
        compiled.nearest_then_add(self.coordinates, count, self.head, self.following, side, found)
        self._grow(m)
        return np.where(found >= 0, self.order[np.maximum(found, 0)], -1)

    def _grow(self, new: int) -> None:
        """Count a new part of ``new`` tasks, merged with the parts before it while it holds
        at least a quarter as many as the one before."""
        self.sizes.append(new)
        while len(self.sizes) >= 2 and 4 * self.sizes[-1] >= self.sizes[-2]:
            self.sizes[-2:] = [self.sizes[-2] + self.sizes[-1]]

    def add(self, tasks: np.ndarray, points: np.ndarray | None = None) -> None:
        """Append tasks played for the first time, in order of first play, to the kd-trees
        (``points``: their rows of ``unit``, where the caller has them)."""
        if not len(tasks):
            return
        self.parts.append(np.asarray(tasks, dtype=np.int64))
        self.points.append(np.take(self.unit, tasks, axis=0) if points is None else points)
        self._grow(len(tasks))
        while len(self.parts) > len(self.sizes):
            self.parts[-2:] = [np.concatenate(self.parts[-2:])]
            self.points[-2:] = [np.concatenate(self.points[-2:])]
        self.trees[len(self.parts) - 1 :] = [_tree(self.points[-1])]

    def nearest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance, task) of the nearest played task to each point in the kd-trees (inf,
        -1 when none).

        Ties go to the task played first: the older tree, then, within a tree, the first of
        the tasks at the same distance (a query for two neighbours finds the ties; the rare
        tied points ask the tree for every task at that distance). The trees are asked
        oldest (largest) first; the later ones only for tasks nearer than the farthest found
        so far (``distance_upper_bound``: a shorter search).
        """
        best = np.full(len(points), np.inf)
        task = np.full(len(points), -1, dtype=np.int64)
        for part, coordinates, tree in zip(self.parts, self.points, self.trees, strict=True):
            if len(part) < 2:
                distance, position = tree.query(points, distance_upper_bound=best.max())
            else:
                distances, positions = tree.query(points, k=2, distance_upper_bound=best.max())
                distance, position = distances[:, 0].copy(), positions[:, 0].copy()
                tied = (distances[:, 1] == distance) & np.isfinite(distance)
                for row in np.flatnonzero(tied):
                    near = np.asarray(tree.query_ball_point(points[row], distance[row] * 1.001))
                    pairs = zip(coordinates[near].T, points[row], strict=True)
                    gaps = np.sqrt(sum((c - x) ** 2 for c, x in pairs))
                    position[row] = near[gaps == distance[row]].min()
            closer = distance < best
            best[closer], task[closer] = distance[closer], part[position[closer]]
        return best, task

    def state_dict(self) -> dict[str, Any]:
        if self.grid:
            tasks = self.order[: len(self)].copy()
        else:
            tasks = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int64)
        return {"tasks": tasks, "sizes": np.array(self.sizes, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        tasks = np.asarray(state["tasks"], dtype=np.int64).reshape(-1)
        sizes = np.asarray(state["sizes"], dtype=np.int64).reshape(-1)
        if sizes.sum() != len(tasks) or (sizes <= 0).any():
            raise ValueError("played tasks: part sizes do not add up to the tasks")
        if len(tasks) and (tasks.min() < 0 or tasks.max() >= len(self.unit)):
            raise ValueError(f"played tasks outside 0..{len(self.unit) - 1}")
        self.sizes = sizes.tolist()
        if self.grid:  # the grid is built at the next first plays
            self.order = tasks
            self.coordinates = np.take(self.unit, tasks, axis=0)
            self.side = 0
            return
        self.parts = np.split(tasks, np.cumsum(sizes)[:-1]) if len(sizes) else []
        self.points = [np.take(self.unit, part, axis=0) for part in self.parts]
        self.trees = [_tree(points) for points in self.points]


def _nearest_earlier(points: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, position) of the nearest point before each, where closer than ``bound``.

    (inf, -1) where none is; ties go to the first point. The points whose bound is among
    the ``_FAR_ROWS`` largest are compared with every point before them; for the others,
    the pairs of points within the largest of their bounds (``cKDTree.query_pairs``:
    few once many tasks were played, as the bounds shrink) hold every candidate.
    """
    m = len(points)
    best = np.full(m, np.inf)
    found = np.full(m, -1, dtype=np.int64)
    if m < 2:  # the first point has no earlier one
        return best, found
    finite = bound[np.isfinite(bound)]
    radius = -np.inf  # rows with larger bounds: compared with every earlier point
    if len(finite) > _FAR_ROWS:
        cut = len(finite) - _FAR_ROWS - 1
        radius = np.partition(finite, cut)[cut]
        pairs = _tree(points).query_pairs(radius, output_type="ndarray")
        before, row = pairs[:, 0], pairs[:, 1]  # before < row
        distance = np.sqrt(sum((c[row] - c[before]) ** 2 for c in points.T))
        keep = (distance < bound[row]) & (bound[row] <= radius)
        row, before, distance = row[keep], before[keep], distance[keep]
        first = np.lexsort((before, distance, row))  # by row, nearest, earliest
        first = first[np.r_[True, row[first][1:] != row[first][:-1]]] if len(first) else first
        best[row[first]], found[row[first]] = distance[first], before[first]
    far = np.flatnonzero(bound > radius)
    far = far[far > 0]
    for start in range(0, len(far), 256):
        rows = far[start : start + 256]
        last = int(rows.max())  # each row against every point before it
        squares = np.zeros((len(rows), last))
        for column in points.T:  # a sum over a short last axis is slow in NumPy
            squares += (column[rows, None] - column[None, :last]) ** 2
        distances = np.sqrt(squares)
        distances[np.arange(last)[None, :] >= rows[:, None]] = np.inf
        nearest = np.argmin(distances, axis=1)
        closest = distances[np.arange(len(rows)), nearest]
        hit = closest < bound[rows]
        best[rows[hit]], found[rows[hit]] = closest[hit], nearest[hit]
    return best, found


def _task_features(strategy: Strategy) -> np.ndarray:
    features = strategy.pool.features
    if features is None:
        raise ValueError(
            f"{strategy.name} needs task parameters: build the pool with features "
            "(e.g. stepladder.tasks.BoxTasks(...).pool())"
        )
    features = features.reshape(strategy.pool.size, -1)
    if np.isnan(features).any():
        raise ValueError(f"{strategy.name}: pool features (task parameters) must not be NaN")
    return features


@register("alp_gmm")
class ALPGMM(Strategy):
    """Absolute learning progress with Gaussian mixtures over (task parameters, ALP).

    From "Teacher algorithms for curriculum learning of Deep RL in continuously parameterized
    environments" (Portelas, Colas, Hofmann and Oudeyer, CoRL 2019). Task parameters are the
    pool's ``features``, rescaled to ``[0, 1]`` per dimension by the pool's min and max.

    - ALP of an episode on task ``x`` with reward ``r``: ``alp = |r - r_nn|`` where ``r_nn``
      is the reward of the nearest previously seen task (Euclidean; 0 for the first
      episode); (x, r) then joins the history. Decision: for a task played before (distance
      0) ``r_nn`` is its own latest reward, and a task's latest reward is the one its
      neighbours compare with. Ties go to the task played first. The nearest is exact and
      nothing scans the history (``_PlayedTasks``): with numba (``engine``, below; up to 3
      task dimensions, spread about evenly), the played tasks live in a grid of cells and
      each first play asks the cells around it, one at a time, compiled; else in kd-trees
      of geometrically shrinking sizes (the logarithmic method), and tasks first played
      earlier in the same batch are found among the pairs of batch tasks closer than their
      distance to the history. Both give the same ALPs.
    - Every ``fit_every`` episodes, fit a Gaussian mixture with ``k`` components (full
      covariances) for ``k`` in ``min_components .. max_components`` on the last
      ``fit_every`` points ``(x, alp)`` (then dropped) and keep the lowest AIC
      (``criterion="bic"``: BIC). A batch that completes several windows is fitted once, on
      the last complete window: the earlier fits would be replaced before any proposal.
      The fits are scikit-learn's ``GaussianMixture(k, covariance_type="full",
      random_state=seed)``, as the authors' code, reproduced (``_gmm``: the same fits to
      rounding, no scikit-learn needed); a ``k`` whose fit meets a singular covariance is
      skipped (scikit-learn raises). ``engine="auto"`` compiles the fits and the nearest
      task search with numba where it is installed (``pip install 'stepladder[fast]'``:
      about 1.3 ms of CPU for the 9 fits), else runs them in NumPy (about 9 ms);
      ``"numba"`` or ``"numpy"`` insist. The fits agree to rounding, so a proposal can
      differ between the engines only at a near-tie (as k-means on lattice tasks).
      ``warm_start=True`` is the authors' ``warm_start`` parameter (off there too): each
      ``k`` keeps its ``GaussianMixture(warm_start=True)``, so each fit after its first
      starts EM from that ``k``'s previous fit instead of k-means (``_gmm.WarmStarts``; a
      ``k`` whose fit failed starts from k-means again). The previous fits are learned state.
    - Proposal: before the first fit, uniform; else with probability ``random_fraction``
      uniform, otherwise pick Gaussian ``i`` with ``P(i) ∝ mean ALP of i`` (its mean's last
      coordinate), draw ``(x, alp) ~ N(mu_i, Sigma_i)``, clip ``x`` to ``[0, 1]^d`` and snap it
      to the nearest candidate task of the pool (``Snap``: a grid of cells, O(1) per point).

    Decisions: each mixture's seed comes from the shared generator, so runs are
    deterministic; several rollouts per task count as one episode (their mean reward).
    A step costs O(batch log tasks) plus, every ``fit_every`` episodes, one fit.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> from stepladder.tasks import BoxTasks
        >>> cur = Curriculum(BoxTasks([0.0], [1.0]).pool(64), "alp_gmm", seed=0)
        >>> cur.observe(Outcomes([0, 1], rewards=[0.0, 1.0]))
        >>> cur.strategy.alps.tolist()
        [0.0, 1.0]
    """

    family = "teachers"
    feedback = ("rewards",)
    learned = (
        "episodes",
        "tasks",
        "alps",
        "latest",
        "known",
        "played",
        "means",
        "covariances",
        "previous_fits",
    )

    def __init__(
        self,
        *,
        fit_every: int = 250,
        min_components: int = 2,
        max_components: int = 10,
        criterion: str = "aic",
        random_fraction: float = 0.2,
        warm_start: bool = False,
        engine: str = "auto",
    ) -> None:
        self.fit_every = positive_int("fit_every", fit_every)
        self.min_components = positive_int("min_components", min_components)
        self.max_components = positive_int("max_components", max_components)
        if self.max_components < self.min_components:
            raise ValueError("max_components must be >= min_components")
        self.criterion = choice("criterion", criterion, ("aic", "bic"))
        self.random_fraction = number("random_fraction", random_fraction, low=0.0, high=1.0)
        if not isinstance(warm_start, bool):
            raise ValueError(f"warm_start must be True or False, got {warm_start!r}")
        self.warm_start = warm_start
        self.engine = checked_engine(engine)

    def _setup(self) -> None:
        features = _task_features(self)
        low, high = features.min(axis=0), features.max(axis=0)
        self._unit = (features - low) / np.where(high > low, high - low, 1.0)
        self._snap = Snap(self._unit)
        d = self._unit.shape[1] + 1
        self.episodes = 0
        self.tasks = np.zeros(0, dtype=np.int64)  # episodes since the last fit (< fit_every)
        self.alps = np.zeros(0)  # their ALP
        self.latest = np.zeros(self.pool.size)  # latest reward of each task, where known
        self.known = np.zeros(self.pool.size, dtype=bool)  # played before
        self.played = _PlayedTasks(self._unit, self.engine)
        self.means = np.zeros((0, d))
        self.covariances = np.zeros((0, d, d))
        self._factors = np.zeros((0, d, d))
        self.previous_fits = WarmStarts(d)  # the last fit of each count (warm_start=True)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._factors = np.linalg.cholesky(self.covariances)  # derived: Cholesky factors

    def _alps(self, tasks: np.ndarray, rewards: np.ndarray, s: Segments) -> np.ndarray:
        """ALP of each episode, in episode order, as if observed one by one; the tasks played
        for the first time join the played ones. ``s`` groups the batch by task."""
        m = len(tasks)
        # latest reward of task u before episode i: its last occurrence before i in the
        # batch, else its latest reward before the batch
        occurrences = tasks[s.order] * (m + 1) + s.order

        def latest_before(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            at = np.searchsorted(occurrences, u * (m + 1) + i) - 1
            inside = (at >= 0) & (tasks[s.order][np.maximum(at, 0)] == u)
            return np.where(inside, rewards[s.order][np.maximum(at, 0)], self.latest[u])

        within = np.empty(m, dtype=np.int64)
        within[s.order] = s.within
        played = (within > 0) | self.known[tasks]
        reference = tasks.copy()  # a replayed task is its own nearest neighbour
        fresh = np.flatnonzero(~played)  # first plays, in episode order
        if len(fresh):
            points = np.take(self._unit, tasks[fresh], axis=0)  # faster than [...]
            reference[fresh] = self.played.first_plays(tasks[fresh], points)
        alps = np.zeros(m)
        known = reference >= 0
        positions = np.flatnonzero(known)
        alps[known] = np.abs(rewards[known] - latest_before(reference[known], positions))
        return alps

    def observe(self, outcomes: Outcomes) -> None:
        tasks, rewards = episode_scores(outcomes)
        if not len(tasks):
            return
        s = segments(tasks)
        alps = self._alps(tasks, rewards, s)
        self.latest[s.keys] = rewards[s.order[np.cumsum(s.lengths) - 1]]
        self.known[s.keys] = True
        pending_tasks = np.concatenate([self.tasks, tasks])
        pending_alps = np.concatenate([self.alps, alps])
        before, self.episodes = self.episodes, self.episodes + len(tasks)
        boundary = self.episodes - self.episodes % self.fit_every
        if boundary > before:  # one fit, on the last complete window
            end = len(pending_tasks) - (self.episodes - boundary)
            start = end - self.fit_every
            self._fit(pending_tasks[start:end], pending_alps[start:end])
            pending_tasks, pending_alps = pending_tasks[end:], pending_alps[end:]
        self.tasks, self.alps = pending_tasks, pending_alps

    def _fit(self, tasks: np.ndarray, alps: np.ndarray) -> None:
        data = np.column_stack([self._unit[tasks], alps])
        counts = range(self.min_components, min(self.max_components, len(data)) + 1)
        warm = self.previous_fits if self.warm_start else None
        best = best_mixture(
            data, counts, self.rng, criterion=self.criterion, warm_start=warm, engine=self.engine
        )
        if best is not None:
            self.means = best.means
            self.covariances = best.covariances
            self._factors = np.linalg.cholesky(self.covariances)

    def propose(self, n: int) -> Proposal:
        out = self.rng.integers(0, self.pool.size, size=n).astype(np.int64)
        if len(self.means) == 0 or n == 0:
            return Proposal(out)
        guided = np.flatnonzero(self.rng.random(n) >= self.random_fraction)
        weights = np.maximum(self.means[:, -1], 0.0)
        p = (
            weights / weights.sum()
            if weights.sum() > 0
            else np.full(len(weights), 1 / len(weights))
        )
        components = self.rng.choice(len(p), size=len(guided), p=p)
        # (x, alp) ~ N(mu, Sigma) as mu + L z, L the Cholesky factor: the same normals, in the
        # same order, as one rng.multivariate_normal(..., method="cholesky") call per slot
        z = self.rng.standard_normal((len(guided), self.means.shape[1]))
        samples = self.means[components] + np.einsum("kij,kj->ki", self._factors[components], z)
        if len(guided):
            points = np.clip(samples[:, : self._unit.shape[1]], 0.0, 1.0)
            out[guided] = self._snap(points)
        return Proposal(out)

    def metrics(self) -> dict[str, float]:
        return {
            "episodes": float(self.episodes),
            "components": float(len(self.means)),
            "alp_mean": float(self.alps.mean()) if len(self.alps) else 0.0,
        }
