"""Run strategies on scenarios and collect the comparison metrics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stepladder.batching import fill_batch
from stepladder.curriculum import Curriculum
from stepladder.outcomes import Outcomes
from stepladder.sim.scenarios import Scenario, get_scenario
from stepladder.strategies import Proposal, Strategy, create

__all__ = ["RunResult", "compare", "run", "unsupported"]


@dataclass
class RunResult:
    """One strategy on one seeded world.

    ``steps_to_target``/``rollouts_to_target`` are None when the target was never reached;
    ``effective_ratio`` is the share of proposed groups of 2+ rollouts whose rewards were not
    all equal (None in supervised scenarios).
    """

    strategy: str
    steps_to_target: int | None
    rollouts_to_target: int | None
    final_accuracy: float
    effective_ratio: float | None
    rollouts_used: int
    wall_seconds: float
    eval_steps: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    rollouts: list[int] = field(default_factory=list)


def split_safety(params: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` split into the strategy's and the curriculum's safety net's
    (``uniform_mix``, ``cover_groups``), which belong to the Curriculum.

    Example:
        >>> split_safety({"tau": 0.5, "uniform_mix": 0})
        ({'tau': 0.5}, {'uniform_mix': 0})
    """
    own = dict(params or {})
    return own, {key: own.pop(key) for key in ("uniform_mix", "cover_groups") if key in own}


def run(
    scenario: Scenario | str,
    strategy: str,
    *,
    seed: int = 0,
    repeat: int = 0,
    steps: int | None = None,
    params: Mapping[str, Any] | None = None,
    eval_every: int = 5,
    max_rounds: int = 4,
) -> RunResult:
    """Train a fresh simulated learner with ``strategy`` and measure it.

    The world (items, learner, answers) depends on ``(seed, repeat)`` only, so every strategy
    faces the same items; the curriculum's generator is seeded independently of the world's.
    Each step fills a batch with :func:`~stepladder.batching.fill_batch`: strategies that
    filter groups generate again, up to ``max_rounds`` rounds, and pay for every rollout.
    What a strategy proposes is applied: per-item rollout counts in RL scenarios, loss weights
    (``Proposal.weights``) in every training step. A strategy whose output a scenario would
    ignore (rollout counts in an SFT scenario) is refused with ``ValueError``. ``params``
    may hold the curriculum's safety net (``uniform_mix``, ``cover_groups``) besides the
    strategy's parameters.

    Example:
        >>> result = run("grpo-math", "uniform", seed=0, steps=20)
        >>> 0.0 < result.final_accuracy < 1.0, result.rollouts_used
        (True, 10240)
    """
    scenario = get_scenario(scenario) if isinstance(scenario, str) else scenario
    steps = scenario.steps if steps is None else steps
    world_seed, curriculum_seed = np.random.SeedSequence([seed, repeat]).spawn(2)
    started = time.perf_counter()
    world = scenario.make_world(world_seed)
    params, safety = split_safety(params)
    chosen = create(strategy, **params)
    reason = unsupported(scenario, chosen)
    if reason is not None:
        raise ValueError(reason)
    curriculum = Curriculum(
        world.pool, chosen, seed=int(curriculum_seed.generate_state(1)[0]), **safety
    )
    weight_of: dict[int, float] = {}  # latest loss weight proposed per item

    def generate(proposal: Proposal) -> Outcomes:
        if proposal.weights is not None:
            weight_of.update(zip(proposal.indices.tolist(), proposal.weights.tolist(), strict=True))
        return world.generate(proposal)

    eval_steps, accuracy, cumulative = [0], [world.accuracy()], [0]
    rollouts_used = groups = mixed_groups = 0
    reached_step = reached_rollouts = None
    if accuracy[0] >= scenario.target:
        reached_step, reached_rollouts = 0, 0
    for step in range(1, steps + 1):
        batch = fill_batch(curriculum, generate, scenario.batch_size, max_rounds=max_rounds)
        weights = None
        if weight_of:
            weights = np.array([weight_of.get(i, 1.0) for i in batch.kept.indices.tolist()])
            weight_of.clear()
        world.train(batch.kept, weights)
        rollouts_used += batch.rollouts
        groups += batch.generated_groups
        mixed_groups += batch.mixed_groups
        if step % eval_every == 0 or step == steps:
            acc = world.accuracy()
            eval_steps.append(step)
            accuracy.append(acc)
            cumulative.append(rollouts_used)
            if reached_step is None and acc >= scenario.target:
                reached_step, reached_rollouts = step, rollouts_used
    return RunResult(
        strategy=strategy,
        steps_to_target=reached_step,
        rollouts_to_target=reached_rollouts,
        final_accuracy=accuracy[-1],
        effective_ratio=mixed_groups / groups if groups and scenario.mode == "rl" else None,
        rollouts_used=rollouts_used,
        wall_seconds=time.perf_counter() - started,
        eval_steps=eval_steps,
        accuracy=accuracy,
        rollouts=cumulative,
    )


def unsupported(scenario: Scenario | str, strategy: Strategy | str) -> str | None:
    """Why ``scenario`` would ignore what ``strategy`` proposes, or None if it applies it all.

    Example:
        >>> unsupported("sft", "knapsack")[:45]
        "strategy 'knapsack' allocates rollouts per pr"
        >>> unsupported("grpo-math", "knapsack") is None
        True
    """
    scenario = get_scenario(scenario) if isinstance(scenario, str) else scenario
    chosen = create(strategy) if isinstance(strategy, str) else strategy
    if scenario.mode == "sft" and chosen.allocates_rollouts:
        return (
            f"strategy {chosen.name!r} allocates rollouts per prompt, which scenario "
            f"{scenario.name!r} (SFT: one labelled example per item) would ignore; "
            "compare it in an RL scenario"
        )
    return None


def _summary(values: Sequence[float | None], *, count_reached: bool = False) -> dict[str, Any]:
    present = [float(v) for v in values if v is not None and not math.isnan(v)]
    summary: dict[str, Any] = {
        "mean": float(np.mean(present)) if present else None,
        "std": float(np.std(present)) if present else None,
        "min": min(present) if present else None,
        "max": max(present) if present else None,
        "values": list(values),
    }
    if count_reached:
        summary["reached"] = len(present)
    return summary


def summarise(results: Sequence[RunResult]) -> dict[str, Any]:
    """Mean and spread of each metric over repeats, plus the learning curves."""
    return {
        "steps_to_target": _summary([r.steps_to_target for r in results], count_reached=True),
        "rollouts_to_target": _summary([r.rollouts_to_target for r in results], count_reached=True),
        "final_accuracy": _summary([r.final_accuracy for r in results]),
        "effective_ratio": _summary([r.effective_ratio for r in results]),
        "rollouts_used": _summary([r.rollouts_used for r in results]),
        "wall_seconds": _summary([r.wall_seconds for r in results]),
        "curves": {
            "step": results[0].eval_steps,
            "accuracy": [r.accuracy for r in results],
            "rollouts": [r.rollouts for r in results],
        },
    }


def compare(
    scenario: Scenario | str,
    strategies: Sequence[str],
    *,
    seed: int = 0,
    repeats: int = 1,
    steps: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str, int], None] | None = None,
    starting: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Run every strategy ``repeats`` times; return the results.json content.

    ``starting(name, repeat)`` is called before each run and ``progress(name, repeat)``
    after it.

    Example:
        >>> results = compare("sft", ["uniform", "easy_to_hard"], steps=10)
        >>> sorted(results["strategies"]), results["target_accuracy"]
        (['easy_to_hard', 'uniform'], 0.5)
    """
    from stepladder import __version__

    scenario = get_scenario(scenario) if isinstance(scenario, str) else scenario
    steps = scenario.steps if steps is None else steps
    params = params or {}
    per_strategy: dict[str, Any] = {}
    for name in strategies:
        strategy_params = dict(params.get(name, {}))
        runs = []
        for repeat in range(repeats):
            if starting is not None:
                starting(name, repeat)
            runs.append(
                run(scenario, name, seed=seed, repeat=repeat, steps=steps, params=strategy_params)
            )
            if progress is not None:
                progress(name, repeat)
        own, safety = split_safety(strategy_params)
        per_strategy[name] = {
            "params": {**create(name, **own).get_params(), **safety},
            **summarise(runs),
        }
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": seed,
        "steps": steps,
        "repeats": repeats,
        "batch_size": scenario.batch_size,
        "rollouts_per_prompt": scenario.rollouts,
        "target_accuracy": scenario.target,
        "stepladder_version": __version__,
        "strategies": per_strategy,
    }
