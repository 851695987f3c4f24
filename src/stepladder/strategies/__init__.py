"""Curriculum strategies: the decision rules, registered by name.

Example:
    >>> from stepladder import strategies
    >>> s = strategies.create("hard_to_easy")
    >>> s.name, "uniform" in strategies.available()
    ('hard_to_easy', True)
"""

# Importing each family module registers its strategies.
from stepladder.strategies import (  # noqa: F401
    adr,
    alp_gmm,
    bandits,
    baselines,
    budget,
    covar_gmm,
    domain_randomization,
    filtering,
    irt_pacing,
    learned,
    learning_progress,
    mastering_rate,
    mixture,
    pacing,
    plr,
    posterior,
    riac,
    self_paced,
    sequential,
    targeting,
)
from stepladder.strategies._registry import available, create, get, register
from stepladder.strategies.base import Proposal, Strategy

__all__ = ["Proposal", "Strategy", "available", "create", "get", "register"]
