"""stepladder: decide what a model should learn next.

Example:
    >>> import stepladder
    >>> cur = stepladder.Curriculum(stepladder.ItemPool(size=1000), "uniform", seed=0)
    >>> len(cur.propose(32))
    32
"""

from stepladder import strategies
from stepladder.curriculum import Curriculum
from stepladder.grading import grade
from stepladder.io import load_state, save_state
from stepladder.journal import read_journal, recover
from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.safety import SafetyNet
from stepladder.stats import ItemStats
from stepladder.strategies import Proposal, Strategy

__version__ = "0.1.0"

__all__ = [
    "Curriculum",
    "ItemPool",
    "ItemStats",
    "Outcomes",
    "Proposal",
    "SafetyNet",
    "Strategy",
    "__version__",
    "grade",
    "load_state",
    "read_journal",
    "recover",
    "save_state",
    "strategies",
]
