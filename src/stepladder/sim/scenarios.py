"""Simulated training scenarios: an item pool, a learner, a held-out set and a target.

Each scenario builds a :class:`World` from a seed. The world answers proposals with sampled
rewards (and losses), trains its learner on them, and reports held-out accuracy. The item
parameters, learning rules and their calibration are described in docs/simulator.md.

``grpo-math`` learns per difficulty level, with interference between levels and
memorisation of prompts trained on again (:data:`GRPO_RULE`), because with one shared
ability its ranking of strategies was the opposite of real GRPO training's; its first rule
is kept as ``grpo-math-v1`` (docs/simulator.md, "Why grpo-math changed").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np

from stepladder.outcomes import Outcomes
from stepladder.pool import ItemPool
from stepladder.sim.learners import ItemBank, Learner
from stepladder.strategies import Proposal

__all__ = ["SCENARIOS", "Scenario", "World", "get_scenario", "scenario_names"]

Mode = Literal["rl", "sft"]


@cache
def calibration() -> dict:
    """The Rasch calibration of the real LLM response matrix (see scripts/calibrate_sim.py)."""
    text = resources.files("stepladder.sim").joinpath("data/irt_on_bench.json").read_text()
    return json.loads(text)


def sample_real_difficulties(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw difficulties from the calibrated distribution (inverse CDF between quantiles)."""
    quantiles = np.asarray(calibration()["difficulty_quantiles"])
    levels = np.linspace(0.0, 1.0, len(quantiles))
    return np.interp(rng.random(n), levels, quantiles)


class World:
    """A learner, the items it trains on and a held-out evaluation set.

    Args:
        train: items the curriculum chooses from.
        heldout: evaluation items (accuracy is measured on the learnable ones).
        learner: the simulated learner.
        prior_difficulty: the difficulty estimate the curriculum is given (noisy, static).
        groups: group label per training item (level, source or skill).
        mode: ``"rl"`` (G rollouts per prompt, GRPO update) or ``"sft"`` (one labelled example
            per item, cross-entropy update; items with ``label_noise`` carry a wrong label).
        rollouts: default rollouts per prompt in RL mode.
        label_noise: per-item flag, SFT mode only.
        rng: generator for sampled answers.
    """

    def __init__(
        self,
        *,
        train: ItemBank,
        heldout: ItemBank,
        learner: Learner,
        prior_difficulty: np.ndarray,
        groups: list[str],
        mode: Mode,
        rollouts: int,
        rng: np.random.Generator,
        label_noise: np.ndarray | None = None,
    ) -> None:
        self.train_items = train
        self.heldout = heldout
        self.learner = learner
        # Content features a value model can learn from: one noisy view of the crowd's
        # difficulty and three uninformative columns.
        features = np.column_stack(
            [prior_difficulty + rng.normal(0.0, 0.5, len(train)), rng.normal(size=(len(train), 3))]
        )
        self.pool = ItemPool(
            size=len(train), groups=groups, difficulty=prior_difficulty, features=features
        )
        self.mode = mode
        self.rollouts = rollouts
        self.rng = rng
        self.label_noise = np.zeros(len(train), bool) if label_noise is None else label_noise
        self._heldout_idx = np.flatnonzero(heldout.learnable)

    def accuracy(self) -> float:
        """Expected held-out accuracy on learnable items (exact, no sampling noise)."""
        return float(self.learner.p_correct(self.heldout, self._heldout_idx).mean())

    def step(self, proposal: Proposal) -> Outcomes:
        """Answer and train on one proposal (its rollout counts and loss weights applied);
        return the feedback a trainer would see."""
        outcomes = self.generate(proposal)
        self.train(outcomes, proposal.weights)
        return outcomes

    def generate(self, proposal: Proposal) -> Outcomes:
        """Answer a proposal without training: G rollouts per prompt (RL) or a loss (SFT)."""
        idx = proposal.indices
        if len(idx) == 0:
            return Outcomes.empty()
        p = self.learner.p_correct(self.train_items, idx)
        if self.mode == "sft":
            if proposal.rollouts is not None:
                raise ValueError(
                    "this SFT scenario trains on one labelled example per item and would ignore "
                    "the proposal's rollout counts: run rollout-allocating strategies in an RL "
                    "scenario"
                )
            noisy = self.label_noise[idx]
            # The loss of the label the item carries: -log p for a correct label, -log(1-p) else.
            logit = self.learner.logits(self.train_items, idx)
            losses = np.logaddexp(0.0, np.where(noisy, logit, -logit))
            correct = (self.rng.random(len(idx)) < p).astype(np.float64)
            return Outcomes(idx, correct, losses=losses)
        counts = (
            np.full(len(idx), self.rollouts) if proposal.rollouts is None else proposal.rollouts
        )
        width = int(counts.max())
        draws = (self.rng.random((len(idx), width)) < p[:, None]).astype(np.float64)
        draws[np.arange(width)[None, :] >= counts[:, None]] = np.nan
        return Outcomes(idx, draws, counts=counts)

    def train(self, outcomes: Outcomes, weights: np.ndarray | None = None) -> None:
        """One training step on the given feedback (a GRPO step, or an SFT step), with
        optional per-item loss ``weights`` (a proposal's ``weights``)."""
        if len(outcomes) == 0:
            return
        if self.mode == "sft":
            self.learner.train_sft(
                self.train_items, outcomes.indices, ~self.label_noise[outcomes.indices], weights
            )
        else:
            self.learner.train_rl(self.train_items, outcomes.indices, outcomes.rewards, weights)


@dataclass(frozen=True)
class Scenario:
    """A named, seeded experimental setting for comparing strategies."""

    name: str
    description: str
    build: Callable[[np.random.Generator], World]
    batch_size: int
    rollouts: int
    steps: int
    target: float
    mode: Mode

    def make_world(self, seed: int | np.random.SeedSequence) -> World:
        """Build a fresh world; the same seed gives the same items, learner and answers."""
        return self.build(np.random.default_rng(seed))


# Modelling constants (see docs/simulator.md for the reasoning).
N_TRAIN, N_HELDOUT = 5_000, 2_000
#: Error of the prior difficulty a curriculum is given, relative to the crowd's (ability units).
PRIOR_NOISE = 0.3
#: Spread of the learner's own item-specific logit offset (what this learner happens to know).
RESIDUAL_SD = 2.0
#: Slope factor that keeps the population-average curve equal to the calibrated Rasch curve:
#: E[sigmoid(k x + e)] ~ sigmoid(x) for e ~ N(0, s^2) when k = sqrt(1 + pi s^2 / 8).
RESIDUAL_SLOPE = float(np.sqrt(1.0 + np.pi * RESIDUAL_SD**2 / 8.0))


def _items(
    rng: np.random.Generator,
    crowd_difficulty: np.ndarray,
    *,
    skill: np.ndarray | None = None,
    learnable: np.ndarray | None = None,
    drift_sd: float = 0.0,
) -> tuple[ItemBank, ItemBank, np.ndarray]:
    """Training items, held-out items, and the prior difficulty of the training items.

    The learner's logit on item i is ``k a_i (theta - b_i) + e_i`` with crowd difficulty
    ``b_i``, ``a_i ~ LogNormal(0, 0.3)`` and a learner-specific offset ``e_i ~ N(0, 2^2)``;
    the curriculum's prior is the crowd difficulty plus grading noise.
    """
    n = len(crowd_difficulty)
    base = rng.lognormal(0.0, 0.3, n)
    residual = rng.normal(0.0, RESIDUAL_SD, n)
    discrimination = RESIDUAL_SLOPE * base
    bank = ItemBank(
        difficulty=crowd_difficulty - residual / discrimination,
        discrimination=discrimination,
        skill=np.zeros(n, np.int64) if skill is None else skill,
        guessing=np.zeros(n),
        learnable=np.ones(n, bool) if learnable is None else learnable,
        drift=rng.normal(0.0, drift_sd, n),
    )
    train, heldout = _split(bank, N_TRAIN)
    prior = crowd_difficulty[:N_TRAIN] + rng.normal(0.0, PRIOR_NOISE, N_TRAIN)
    return train, heldout, prior


def _split(bank: ItemBank, n_train: int) -> tuple[ItemBank, ItemBank]:
    def part(sl: slice) -> ItemBank:
        return ItemBank(*(getattr(bank, f)[sl] for f in ItemBank.__dataclass_fields__))

    return part(slice(0, n_train)), part(slice(n_train, None))


def _levels(prior: np.ndarray, n_levels: int = 5) -> list[str]:
    """Difficulty levels 1..n_levels from prior-difficulty quantiles (like MATH's levels)."""
    edges = np.quantile(prior, np.linspace(0, 1, n_levels + 1)[1:-1])
    return [f"level-{k + 1}" for k in np.searchsorted(edges, prior, side="right")]


def _level_index(difficulty: np.ndarray, n_train: int, n_levels: int = 5) -> np.ndarray:
    """Level 0..n_levels-1 of every item from crowd-difficulty quantiles of the training part
    (a level is a property of the item, like the digits of a sum or MATH's level)."""
    edges = np.quantile(difficulty[:n_train], np.linspace(0, 1, n_levels + 1)[1:-1])
    return np.searchsorted(edges, difficulty, side="right")


def _rl_world(rng, train, heldout, prior, learner, groups) -> World:
    return World(
        train=train, heldout=heldout, learner=learner, prior_difficulty=prior,
        groups=groups, mode="rl", rollouts=8, rng=rng,
    )  # fmt: skip


#: grpo-math's learning rule (docs/simulator.md, "Why grpo-math changed"): one skill per
#: difficulty level, 20% of each update shared by all levels, the other levels' offsets lose
#: 30% of the level's own 80% (net -4%: a level not practised slowly declines), and each use
#: of an item generalises 20% less than the last.
GRPO_RULE = {"transfer": 0.2, "interference": 0.3, "memorisation": 0.2, "learning_rate": 0.13}
N_LEVELS = 5


def _grpo_math(rng: np.random.Generator) -> World:
    difficulty = sample_real_difficulties(rng, N_TRAIN + N_HELDOUT)
    level = _level_index(difficulty, N_TRAIN, N_LEVELS)
    train, heldout, prior = _items(rng, difficulty, skill=level)
    learner = Learner(N_LEVELS, ability=-1.0, batch_size=64, **GRPO_RULE)
    groups = [f"level-{k + 1}" for k in train.skill]
    return _rl_world(rng, train, heldout, prior, learner, groups)


def _grpo_math_v1(rng: np.random.Generator) -> World:
    difficulty = sample_real_difficulties(rng, N_TRAIN + N_HELDOUT)
    train, heldout, prior = _items(rng, difficulty)
    learner = Learner(1, ability=-1.0, learning_rate=0.03, batch_size=64)
    return _rl_world(rng, train, heldout, prior, learner, _levels(prior))


SOURCES = {  # name: (share of items, mean crowd difficulty, share unlearnable)
    "arithmetic": (0.25, -1.5, 0.0),
    "algebra": (0.25, 0.0, 0.05),
    "olympiad": (0.25, 2.0, 0.1),
    "scraped": (0.25, 0.5, 0.9),
}
#: Prior difficulty graders give an unlearnable item: nobody solves it, so it looks very hard.
UNLEARNABLE_PRIOR = 4.0


def _multi_source(rng: np.random.Generator) -> World:
    n = N_TRAIN + N_HELDOUT
    names = list(SOURCES)
    shares, means, unlearnable_share = (
        np.array(column) for column in zip(*SOURCES.values(), strict=True)
    )
    source = rng.choice(len(names), size=n, p=shares / shares.sum())
    difficulty = means[source] + rng.normal(0.0, 1.0, n)
    learnable = rng.random(n) >= unlearnable_share[source]
    train, heldout, prior = _items(rng, difficulty, skill=source, learnable=learnable)
    prior = np.where(
        train.learnable, prior, UNLEARNABLE_PRIOR + rng.normal(0.0, PRIOR_NOISE, N_TRAIN)
    )
    learner = Learner(len(names), ability=-0.5, learning_rate=0.03, transfer=0.5, batch_size=64)
    return _rl_world(rng, train, heldout, prior, learner, [names[s] for s in train.skill])


#: Share of SFT training items whose label is wrong.
LABEL_NOISE = 0.2


def _sft(rng: np.random.Generator) -> World:
    difficulty = sample_real_difficulties(rng, N_TRAIN + N_HELDOUT)
    train, heldout, prior = _items(rng, difficulty)
    label_noise = rng.random(N_TRAIN) < LABEL_NOISE
    learner = Learner(1, ability=-1.0, learning_rate=0.006, batch_size=64)
    return World(
        train=train, heldout=heldout, learner=learner, prior_difficulty=prior,
        groups=_levels(prior), mode="sft", rollouts=1, rng=rng, label_noise=label_noise,
    )  # fmt: skip


def _difficulty_shift(rng: np.random.Generator) -> World:
    difficulty = sample_real_difficulties(rng, N_TRAIN + N_HELDOUT)
    train, heldout, prior = _items(rng, difficulty, drift_sd=0.6)  # grpo-math-v1's rule
    learner = Learner(1, ability=-1.0, learning_rate=0.03, batch_size=64)
    return _rl_world(rng, train, heldout, prior, learner, _levels(prior))


N_SKILLS = 4


def _forgetting(rng: np.random.Generator) -> World:
    n = N_TRAIN + N_HELDOUT
    skill = rng.integers(0, N_SKILLS, n)
    train, heldout, prior = _items(rng, sample_real_difficulties(rng, n), skill=skill)
    learner = Learner(
        N_SKILLS, ability=-1.0, learning_rate=0.03, transfer=0.2, decay=0.005, batch_size=64
    )
    groups = [f"skill-{s}" for s in train.skill]
    return _rl_world(rng, train, heldout, prior, learner, groups)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "grpo-math",
            "RL with verifiable rewards, GRPO-style: 64 prompts per step, 8 rollouts each; only "
            "prompts whose rewards are mixed teach anything. Item difficulties follow a Rasch "
            "calibration of 22 real LLMs on 2,854 benchmark questions, plus a learner-specific "
            "offset per item; the learner starts weak (ability -1), so about a third of the "
            "prompts are too hard (p < 0.05) and some too easy. One skill per difficulty level "
            "(20% of an update transfers to all levels), updates to one level erode the others, "
            "and items trained on again are partly memorised rather than generalised.",
            _grpo_math,
            batch_size=64,
            rollouts=8,
            steps=300,
            target=0.6,
            mode="rl",
        ),
        Scenario(
            "multi-source",
            "RL on four data sources of increasing difficulty (arithmetic, algebra, olympiad) "
            "plus a scraped source whose items are 90% unlearnable (wrong reference answers: "
            "never rewarded). Half of each update transfers across sources.",
            _multi_source,
            batch_size=64,
            rollouts=8,
            steps=300,
            target=0.58,
            mode="rl",
        ),
        Scenario(
            "sft",
            "Supervised fine-tuning, one example per item per step, 20% of training labels "
            "wrong; updates follow the cross-entropy gradient, and the loss of each example is "
            "reported to the curriculum.",
            _sft,
            batch_size=64,
            rollouts=1,
            steps=300,
            target=0.5,
            mode="sft",
        ),
        Scenario(
            "difficulty-shift",
            "grpo-math-v1 (one shared ability) with items whose difficulty drifts as the "
            "learner improves (drift per unit of ability ~ N(0, 0.6^2)): the static prior "
            "difficulty goes stale.",
            _difficulty_shift,
            batch_size=64,
            rollouts=8,
            steps=300,
            target=0.6,
            mode="rl",
        ),
        Scenario(
            "forgetting",
            "grpo-math-v1 over four skills; each skill's specific ability decays 0.5% per step "
            "toward its start unless practice outpaces it; 20% of an update transfers.",
            _forgetting,
            batch_size=64,
            rollouts=8,
            steps=300,
            target=0.47,
            mode="rl",
        ),
        Scenario(
            "grpo-math-v1",
            "grpo-math with its first learning rule, kept for comparison: one ability shared "
            "by every item, no memorisation and no forgetting, so every mixed group moves "
            "held-out accuracy by its sqrt(p(1-p)) gradient (docs/simulator.md says why "
            "grpo-math changed).",
            _grpo_math_v1,
            batch_size=64,
            rollouts=8,
            steps=300,
            target=0.6,
            mode="rl",
        ),
    ]
}


def scenario_names() -> list[str]:
    """Names of the built-in scenarios."""
    return list(SCENARIOS)


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ``ValueError`` listing the names if unknown."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; available: {', '.join(SCENARIOS)}") from None
