"""stepladder: decide what a model should learn next.

The public names load on first use (PEP 562), so ``stepladder grade`` or a script that
needs only :mod:`stepladder.difficulty` does not pay for the strategies, the journal or
the safety net; ``from stepladder import Curriculum`` and ``stepladder.Curriculum`` work
as usual.

Example:
    >>> import stepladder
    >>> cur = stepladder.Curriculum(stepladder.ItemPool(size=1000), "uniform", seed=0)
    >>> len(cur.propose(32))
    32
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepladder._lazy import lazy_attributes

if TYPE_CHECKING:
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

#: Public name -> the module that defines it (a submodule itself when the name is one).
_WHERE = {
    "Curriculum": "stepladder.curriculum",
    "ItemPool": "stepladder.pool",
    "ItemStats": "stepladder.stats",
    "Outcomes": "stepladder.outcomes",
    "Proposal": "stepladder.strategies",
    "SafetyNet": "stepladder.safety",
    "Strategy": "stepladder.strategies",
    "grade": "stepladder.grading",
    "load_state": "stepladder.io",
    "read_journal": "stepladder.journal",
    "recover": "stepladder.journal",
    "save_state": "stepladder.io",
    "strategies": "stepladder.strategies",
}

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


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals())
