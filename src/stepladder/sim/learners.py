"""Simulated items and learners whose abilities change when they are trained.

Items carry IRT parameters; a learner answers item ``i`` correctly with probability

    P = c_i + (1 - c_i) * sigmoid(a_i * (theta[skill_i] - b_i(t)))

where ``theta[s] = global_ability + skill_offset[s]``. Training moves ``theta`` along the
gradient that the corresponding training signal gives for the learner's logit. Two optional
mechanisms (both off by default) make a learner behave more like a real network trained on a
finite pool:

- ``memorisation``: each time an item is trained on, a smaller share of its update
  generalises (moves ``theta``) and the rest is memorised (raises that training item's own
  logit only), so replaying the same items gives less held-out gain than fresh ones;
- ``interference``: an update to one skill pulls every other skill's offset down by a share of
  its size, so skills that are not practised are forgotten (the old ``decay`` forgets at a
  fixed rate per step instead).

The rules and the reasoning behind them, including why the ``grpo-math`` scenario uses both,
are in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

__all__ = ["ItemBank", "Learner"]


@dataclass
class ItemBank:
    """IRT parameters of a set of simulated items (all arrays of length ``n``).

    Attributes:
        difficulty: b, on the ability scale.
        discrimination: a > 0.
        skill: skill index per item.
        guessing: c, the success probability floor; for unlearnable items, their fixed
            success probability.
        learnable: False for items whose answer does not depend on ability (impossible items,
            wrong reference answers, noisy labels); training on them teaches nothing.
        drift: how much the item's difficulty moves per unit of ability gained
            (``b_i(t) = b_i + drift_i * progress``); zero for static items.
    """

    difficulty: np.ndarray
    discrimination: np.ndarray
    skill: np.ndarray
    guessing: np.ndarray
    learnable: np.ndarray
    drift: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.drift is None:
            self.drift = np.zeros_like(self.difficulty)

    def __len__(self) -> int:
        return len(self.difficulty)


class Learner:
    """A learner with one global ability plus an offset per skill (and, with
    ``memorisation``, an offset per trained item).

    Args:
        n_skills: number of skills.
        ability: starting ability of every skill.
        learning_rate: step size of every update (per nominal batch).
        transfer: share of each update that goes to the global ability (benefits all skills);
            the rest goes to the trained item's skill.
        decay: per-step pull of each skill offset back toward its starting value (forgetting).
        batch_size: nominal batch size; updates are sums over a batch divided by it, so the
            learning rate means the same whatever the batch holds.
        interference: share of the size of each skill's update that every *other* skill's
            offset loses (forgetting through shared weights); 0 turns it off.
        memorisation: per use of an item, the share of its remaining generalisable content
            that is used up: the ``n``-th training on an item generalises a share
            ``(1 - memorisation) ** (n - 1)`` of its update and memorises the rest; 0 turns
            it off.

    Example:
        >>> zeros, ones = np.zeros(2), np.ones(2)
        >>> bank = ItemBank(zeros, ones, zeros.astype(int), zeros, ones.astype(bool))
        >>> learner = Learner(1, ability=0.0, learning_rate=0.5, batch_size=2)
        >>> learner.p_correct(bank, np.array([0])).round(3).tolist()
        [0.5]
        >>> learner.train_rl(bank, np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 1.0]]))
        >>> round(learner.ability_of(0), 3)  # 0.5 * (sqrt(0.5 * 0.5) + 0) / 2
        0.125

        With memorisation, the second use of an item generalises half as much and the rest
        raises that item's own logit:

        >>> memo = Learner(1, ability=0.0, learning_rate=1.0, memorisation=0.5)
        >>> for _ in range(2):
        ...     memo.train_rl(bank, np.array([0]), np.array([[1.0, 0.0]]))
        >>> memo.ability_of(0), float(memo.logits(bank, np.array([0, 1]))[0])
        (0.75, 1.0)
    """

    def __init__(
        self,
        n_skills: int,
        *,
        ability: float,
        learning_rate: float,
        transfer: float = 1.0,
        decay: float = 0.0,
        batch_size: int = 1,
        interference: float = 0.0,
        memorisation: float = 0.0,
    ) -> None:
        if not 0.0 <= memorisation < 1.0:
            raise ValueError(f"Learner: memorisation must be in [0, 1), got {memorisation}")
        if interference < 0.0:
            raise ValueError(f"Learner: interference must be >= 0, got {interference}")
        self.initial_ability = float(ability)
        self.global_ability = float(ability)
        self.skill_offset = np.zeros(n_skills)
        self.learning_rate = learning_rate
        self.transfer = transfer
        self.decay = decay
        self.batch_size = batch_size
        self.interference = interference
        self.memorisation = memorisation
        # Per trained bank: (the bank, memorised logit offset per item, uses per item). The
        # bank is kept so that its id stays unique while its entry exists.
        self._memory: dict[int, tuple[ItemBank, np.ndarray, np.ndarray]] = {}

    @property
    def progress(self) -> float:
        """Mean ability gained since the start, over skills."""
        return self.global_ability + float(self.skill_offset.mean()) - self.initial_ability

    def ability_of(self, skill: int) -> float:
        """Current ability in ``skill``."""
        return self.global_ability + float(self.skill_offset[skill])

    def logits(self, bank: ItemBank, idx: np.ndarray) -> np.ndarray:
        theta = self.global_ability + self.skill_offset[bank.skill[idx]]
        current_difficulty = bank.difficulty[idx] + bank.drift[idx] * self.progress
        logits = bank.discrimination[idx] * (theta - current_difficulty)
        memory = self._memory.get(id(bank))
        return logits if memory is None else logits + memory[1][idx]

    def p_correct(self, bank: ItemBank, idx: np.ndarray) -> np.ndarray:
        """Probability of a correct answer on items ``idx``."""
        guess = bank.guessing[idx]
        learned = guess + (1.0 - guess) * expit(self.logits(bank, idx))
        return np.where(bank.learnable[idx], learned, guess)

    def train_rl(
        self,
        bank: ItemBank,
        idx: np.ndarray,
        rewards: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> None:
        """One GRPO step on groups of 0/1 rewards (rows of ``rewards``, NaN-padded).

        With k of G rollouts correct (p = k/G), group-normalised advantages give the learner's
        logit a gradient of sqrt(p(1-p)); groups with all-equal rewards give none. ``weights``
        (one per group, default 1) scale each group's loss, hence its gradient.
        """
        counts = np.sum(~np.isnan(rewards), axis=1)
        rate = np.nansum(rewards, axis=1) / np.maximum(counts, 1)
        gradient = np.sqrt(rate * (1.0 - rate)) * bank.discrimination[idx]
        self._apply(bank, idx, np.where(bank.learnable[idx], gradient, 0.0), weights)

    def train_sft(
        self,
        bank: ItemBank,
        idx: np.ndarray,
        label_is_correct: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> None:
        """One supervised step: cross-entropy on each item's label.

        The gradient of log-likelihood in the logit is (1 - p) for a correct label and -p for
        a wrong (noisy) label, scaled by discrimination. Unlearnable items with correct labels
        teach nothing. ``weights`` (one per item, default 1) scale each item's loss.
        """
        p = expit(self.logits(bank, idx))
        gradient = np.where(label_is_correct, 1.0 - p, -p) * bank.discrimination[idx]
        teaches = bank.learnable[idx] | ~label_is_correct
        self._apply(bank, idx, np.where(teaches, gradient, 0.0), weights)

    def _apply(
        self,
        bank: ItemBank,
        idx: np.ndarray,
        gradient: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> None:
        if weights is not None:
            gradient = gradient * np.asarray(weights, dtype=np.float64)
        step = self.learning_rate * gradient / self.batch_size
        if self.memorisation:
            step = self._memorise(bank, idx, step)
        self.global_ability += self.transfer * float(step.sum())
        per_skill = np.bincount(bank.skill[idx], weights=step, minlength=len(self.skill_offset))
        per_skill *= 1.0 - self.transfer
        self.skill_offset += per_skill
        if self.interference:
            size = np.abs(per_skill)
            self.skill_offset -= self.interference * (size.sum() - size)
        self.skill_offset *= 1.0 - self.decay

    def _memorise(self, bank: ItemBank, idx: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Split each item's step into the part that generalises (returned) and the part that
        is memorised (added to the item's own logit, in logit units)."""
        if id(bank) not in self._memory:
            self._memory[id(bank)] = (bank, np.zeros(len(bank)), np.zeros(len(bank)))
        _, memory, uses = self._memory[id(bank)]
        general = (1.0 - self.memorisation) ** uses[idx]
        np.add.at(memory, idx, (1.0 - general) * step * bank.discrimination[idx])
        np.add.at(uses, idx, 1.0)
        return step * general
