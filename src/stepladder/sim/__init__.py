"""Simulated learners and scenarios for fast, seeded comparisons of strategies.

Example:
    >>> from stepladder import sim
    >>> result = sim.run("grpo-math", "uniform", seed=0, steps=10)
    >>> result.steps_to_target is None or result.steps_to_target <= 10
    True
"""

from stepladder.sim.learners import ItemBank, Learner
from stepladder.sim.runner import RunResult, compare, run, unsupported
from stepladder.sim.scenarios import SCENARIOS, Scenario, World, get_scenario, scenario_names

__all__ = [
    "SCENARIOS",
    "ItemBank",
    "Learner",
    "RunResult",
    "Scenario",
    "World",
    "compare",
    "get_scenario",
    "run",
    "scenario_names",
    "unsupported",
]
