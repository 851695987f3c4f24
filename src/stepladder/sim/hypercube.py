"""The toy learner of the teacher literature: a continuous task space of hypercubes.

After the toy environment of "Teacher algorithms for curriculum learning of Deep RL in
continuously parameterized environments" (Portelas et al., 2019): tasks are points of
``[0, 1]^d`` (``d = 2`` by default), split into ``cubes`` cells per dimension. The rule
implemented here (our own simplification, chosen to be fast and seeded):

- Each cell ``k`` has a competence ``c_k`` in ``[0, 1]``, 0 at the start. A fraction
  ``unlearnable`` of the cells (never the start cell ``(0, ..., 0)``) can never be learnt.
- A cell is on the *frontier* when it is learnable, not yet mastered (``c_k < 1``), and is
  either the start cell or a face neighbour of a mastered cell. An episode on a task in a
  frontier cell raises ``c_k`` by ``learning_rate``; an episode anywhere else teaches nothing
  (too hard, already known, or unlearnable). Updates of a batch apply after the whole batch.
- The episode reward is ``clip(c_k + noise * N(0, 1), 0, 1)`` (normalised return).
- "% of tasks mastered" = share of a fixed test set of 1,000 uniform points (drawn from the
  world seed) whose cell has ``c_k = 1``. Cells behind walls of unlearnable cells may be
  unreachable, so 100 % is not always attainable (``masterable`` says how much is).

The teacher sees a :class:`~stepladder.tasks.BoxTasks` pool of ``n_candidates`` Sobol points
whose groups are the Manhattan band of their cell (``sum`` of cell coordinates, the prior
difficulty; groups ordered easiest first), so group- and difficulty-based teachers work too.

Example:
    >>> result = run_teacher("domain_randomization", episodes=400, seed=0)
    >>> result == run_teacher("domain_randomization", episodes=400, seed=0)
    True
    >>> 0.0 <= result["mastered"] <= result["masterable"] <= 1.0
    True
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from stepladder.curriculum import Curriculum
from stepladder.outcomes import Outcomes
from stepladder.tasks import BoxTasks

__all__ = ["DEFAULT_TEACHERS", "HypercubeLearner", "compare", "format_table", "run_teacher"]


class HypercubeLearner:
    """Competence per hypercube cell, grown by practice on the frontier (see the module doc).

    Example:
        >>> learner = HypercubeLearner(dim=2, cubes=4, unlearnable=0.0, seed=0, noise=0.0)
        >>> learner.train(np.array([[0.1, 0.1]] * 2))  # start cell: learnable from the start
        array([0., 0.])
        >>> float(learner.competence[0, 0])
        0.5
    """

    def __init__(
        self,
        *,
        dim: int = 2,
        cubes: int = 10,
        unlearnable: float = 0.2,
        learning_rate: float = 0.25,
        noise: float = 0.1,
        seed: int = 0,
        test_size: int = 1000,
    ) -> None:
        self.dim, self.cubes = int(dim), int(cubes)
        self.learning_rate, self.noise = float(learning_rate), float(noise)
        world, self._noise_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
        )
        shape = (self.cubes,) * self.dim
        self.competence = np.zeros(shape)
        cells = self.cubes**self.dim
        blocked = world.choice(np.arange(1, cells), size=round(unlearnable * cells), replace=False)
        self.learnable = np.ones(cells, dtype=bool)
        self.learnable[blocked] = False
        self.learnable = self.learnable.reshape(shape)
        self.test_cells = self.cell_of(world.random((test_size, self.dim)))
        self.masterable = float(self._reachable()[self.test_cells].mean())

    def cell_of(self, tasks: np.ndarray) -> tuple[np.ndarray, ...]:
        """Cell coordinates (a tuple of index arrays) of tasks ``(n, d)`` in ``[0, 1]^d``."""
        coords = np.clip((np.asarray(tasks) * self.cubes).astype(np.int64), 0, self.cubes - 1)
        return tuple(coords.T)

    def _neighbour_mastered(self, mastered: np.ndarray) -> np.ndarray:
        near = np.zeros_like(mastered)
        for axis in range(self.dim):
            for shift in (1, -1):
                moved = np.roll(mastered, shift, axis=axis)
                edge = [slice(None)] * self.dim
                edge[axis] = 0 if shift == 1 else -1
                moved[tuple(edge)] = False
                near |= moved
        return near

    def frontier(self) -> np.ndarray:
        """Cells where practice raises competence (bool array of the grid's shape)."""
        mastered = self.competence >= 1.0
        open_ = self._neighbour_mastered(mastered)
        open_[(0,) * self.dim] = True
        return open_ & self.learnable & ~mastered

    def _reachable(self) -> np.ndarray:
        reach = np.zeros_like(self.learnable)
        reach[(0,) * self.dim] = True
        while True:
            grown = (reach | self._neighbour_mastered(reach)) & self.learnable
            if (grown == reach).all():
                return reach
            reach = grown

    def train(self, tasks: np.ndarray) -> np.ndarray:
        """Play one episode per task ``(n, d)``; return the rewards, then learn."""
        cells = self.cell_of(tasks)
        noise = self._noise_rng.normal(size=len(tasks)) * self.noise
        rewards = np.clip(self.competence[cells] + noise, 0.0, 1.0)
        gain = np.where(self.frontier()[cells], self.learning_rate, 0.0)
        np.add.at(self.competence, cells, gain)
        np.minimum(self.competence, 1.0, out=self.competence)
        return rewards

    def mastered(self) -> float:
        """Share of the fixed test set whose cell is mastered."""
        return float((self.competence[self.test_cells] >= 1.0).mean())


def hypercube_pool(dim: int = 2, cubes: int = 10, n_candidates: int = 4096, seed: int = 0):
    """Sobol candidates of ``[0, 1]^d`` sorted by cell band; groups = band, difficulty = band."""
    points = BoxTasks(np.zeros(dim), np.ones(dim)).candidates(n_candidates, seed)
    band = np.clip((points * cubes).astype(np.int64), 0, cubes - 1).sum(axis=1)
    order = np.argsort(band, kind="stable")
    from stepladder.pool import ItemPool

    return ItemPool(
        size=n_candidates,
        features=points[order],
        groups=band[order],
        difficulty=band[order].astype(np.float64),
    )


def run_teacher(
    name: str,
    episodes: int = 4000,
    seed: int = 0,
    *,
    batch: int = 10,
    dim: int = 2,
    cubes: int = 10,
    n_candidates: int = 4096,
    eval_every: int = 500,
    learner: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Train a fresh hypercube learner for ``episodes`` episodes with teacher ``name``.

    Returns a dict: ``teacher``, ``seed``, ``episodes``, ``mastered`` (final share of the
    test set mastered), ``masterable`` (the most attainable), ``curve`` (``[episode,
    mastered]`` every ``eval_every`` episodes), ``params``. The world depends on
    ``seed`` only; the teacher's generator is seeded with ``seed`` too.
    """
    world = HypercubeLearner(dim=dim, cubes=cubes, seed=seed, **(learner or {}))
    pool = hypercube_pool(dim, cubes, n_candidates, seed)
    cur = Curriculum(pool, name, seed=seed, **params)
    done, curve = 0, []
    while done < episodes:
        proposal = cur.propose(min(batch, episodes - done))
        rewards = world.train(pool.features[proposal.indices])
        cur.observe(Outcomes(proposal.indices, rewards))
        done += len(proposal)
        if done % eval_every == 0 or done == episodes:
            curve.append([done, world.mastered()])
    return {
        "teacher": name,
        "seed": seed,
        "episodes": episodes,
        "mastered": world.mastered(),
        "masterable": world.masterable,
        "curve": curve,
        "params": dict(params),
    }


#: Teachers compared by :func:`compare` (name, parameters).
DEFAULT_TEACHERS: list[tuple[str, dict[str, Any]]] = [
    ("domain_randomization", {}),
    ("learning_progress", {"arms": "groups"}),
    ("learning_progress", {"arms": "groups", "mode": "window"}),
    ("learning_progress", {"arms": "groups", "mode": "sampling"}),
    ("mastering_rate", {}),
    ("alp_gmm", {}),
    ("plr", {}),
    ("riac", {}),
    ("covar_gmm", {}),
    ("adr", {}),
    ("sequential", {}),
    ("sequential", {"until": "episodes", "threshold": 300}),
]


def compare(
    teachers: Sequence[tuple[str, dict[str, Any]]] = DEFAULT_TEACHERS,
    seeds: Sequence[int] = (0, 1, 2),
    episodes: int = 4000,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """One row per teacher: mean and std over ``seeds`` of the final % mastered, and time."""
    rows = []
    for name, params in teachers:
        start = time.perf_counter()
        results = [run_teacher(name, episodes, s, **kwargs, **params) for s in seeds]
        finals = np.array([r["mastered"] for r in results]) * 100
        rows.append(
            {
                "teacher": name,
                "params": params,
                "mastered_mean": float(finals.mean()),
                "mastered_std": float(finals.std()),
                "per_seed": finals.round(1).tolist(),
                "masterable_mean": float(np.mean([r["masterable"] for r in results]) * 100),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`compare` rows."""
    lines = [
        "| teacher | params | % mastered (mean ± std) | per seed | masterable % | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "defaults"
        lines.append(
            f"| {row['teacher']} | {params} | {row['mastered_mean']:.1f} ± "
            f"{row['mastered_std']:.1f} | {row['per_seed']} | {row['masterable_mean']:.1f} | "
            f"{row['seconds']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # comparison: python -m stepladder.sim.hypercube
    print(format_table(compare()))
