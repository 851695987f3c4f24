"""Teacher algorithms for deep RL: choose the next tasks (levels, environment parameters).

Items of the pool are tasks (see :mod:`stepladder.tasks`); feedback is one episode per
item: ``Outcomes(indices, rewards)`` with the normalised episode return or success in
``[0, 1]`` (several rollouts per task are averaged into one episode score), and optionally
``signals`` (a per-episode scalar such as mean |GAE|, used by ``plr``). One module per
teacher; this module gathers their public names.

- ``domain_randomization``: uniform over tasks (the baseline), :mod:`.domain_randomization`.
- ``learning_progress``: Teacher-Student Curriculum Learning (Matiisen et al.),
  :mod:`.learning_progress`.
- ``mastering_rate``: Mastering Rate based Curriculum Learning (Willems et al.), simplified,
  :mod:`.mastering_rate`.
- ``alp_gmm``: absolute learning progress + Gaussian mixtures (Portelas et al., 2019),
  :mod:`.alp_gmm`.
- ``plr``: Prioritized Level Replay (Jiang et al., 2021), :mod:`.plr`.
- ``sequential``: stages in order, advanced by a stopping condition, :mod:`.sequential`.

Example:
    >>> from stepladder import Curriculum, Outcomes
    >>> cur = Curriculum(5, "plr", seed=0)
    >>> batch = cur.propose(3)
    >>> cur.observe(Outcomes(batch.indices, rewards=[1.0, 0.0, 0.5]))
    >>> cur.metrics()["plr/seen_fraction"]
    0.6
"""

from stepladder.strategies.alp_gmm import ALPGMM
from stepladder.strategies.domain_randomization import DomainRandomization
from stepladder.strategies.learning_progress import LearningProgress
from stepladder.strategies.mastering_rate import MasteringRate
from stepladder.strategies.plr import PrioritizedLevelReplay, plr_distribution
from stepladder.strategies.sequential import Sequential

__all__ = [
    "ALPGMM",
    "DomainRandomization",
    "LearningProgress",
    "MasteringRate",
    "PrioritizedLevelReplay",
    "Sequential",
    "plr_distribution",
]
