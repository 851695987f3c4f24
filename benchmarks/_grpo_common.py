"""What benchmarks/grpo_cpu.py and grpo_gpu.py share: the task, the policy, GRPO, the report.

A character-level transformer trained from scratch learns multi-digit addition: a supervised
warm-up on a mix of levels (level = digits of the larger operand) stopped once it partly
solves them, then GRPO with a verifiable reward (1 if every answer digit is right) on a pool
of additions, where a curriculum strategy chooses the prompts of every step (and, for the
budget allocators, how many rollouts each gets). Every strategy goes through ``fill_batch``,
so filters regenerate for dropped groups and pay for every rollout they generate.

Two pools (``--regime``): (a) the additions of levels 1 to ``width``; (b) the same pool padded
with items the warmed-up policy never solves (see :data:`REGIME_B`), so that most GRPO groups
have all-equal rewards, as in LLM RL pools. Both regimes share the warm-up checkpoint of a
seed and the held-out test (levels 1 to ``width``), so they measure the same skill.

The comparison is paired: every strategy of one seed starts from the same warm-up checkpoint,
and each is compared with ``uniform`` of the same seed, at the same number of steps and, when
it generates more or fewer rollouts, with a *rollout-matched* ``uniform`` that takes more (or
fewer) prompts per step so that both generate the same rollouts.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _markdown import (
    machine_description,
    markdown_table,
    reproduce_command,
    result_args,
    update_section,
)
from scipy import stats
from torch import nn

from stepladder import Curriculum, ItemPool, Outcomes
from stepladder.batching import fill_batch
from stepladder.safety import SafetyNet
from stepladder.strategies import Proposal, create

# Every strategy that learns from GRPO rewards to choose prompts or rollout budgets (see
# docs/benchmarks.md for why the others are left out): prompt selection, the filters and the
# budget allocators, from section C of ALGORITHMS.md.
RL_STRATEGIES = [
    "uniform",
    # filters: drop groups, fill_batch regenerates
    "dynamic_sampling", "range_filter", "balanced_filter", "vcrl",
    # prompt selection from learned pass rates or difficulties
    "mopps", "cures", "pcl", "adarft", "cdas", "gain",
    # bandits over difficulty levels
    "dump", "sec",
    # budget allocators: rollouts per prompt
    "knapsack", "gfpo", "dart",
]  # fmt: skip
FILTERS = ("dynamic_sampling", "range_filter", "balanced_filter", "vcrl")
WHY = (
    "Why this setup: an earlier version (150 pool items per level, a warm-up of 90% 1-2 digit "
    "items, 16 prompts x 8 rollouts, lr 3e-4) did not improve the policy at all (`uniform` "
    "0.553 -> 0.549), so its table compared noise. Measured causes: the tiny pool was "
    "memorised (3-digit greedy accuracy on the pool rose 0.10 -> 0.33 while held-out fell "
    "0.11 -> 0.07); the warm-up left no band of partly solved items (1-2 digits solved, "
    "4 digits never seen and at 0, the tens digit of 3-digit sums at chance), so about 80% of "
    "groups had all-equal rewards; two of four levels sat at ceiling or floor; and batch 16 "
    "at lr 3e-4 was slow while lr 1e-3 was unstable. Hence about 2,000 items per level, a "
    "warm-up that sees every level and stops at 0.6, 32 x 8 and lr 5e-4. Two trainer bugs "
    "were fixed on the way: log-probabilities are now taken at the sampling temperature, and "
    "kept groups are matched to their completions through `fill_batch`'s keep masks instead "
    "of serial numbers in `Outcomes.signals` (which `gain` and `plr` would read as a model "
    "signal)."
)
WHICH = (
    "Which strategies: the RL ones, i.e. every registered strategy whose `observe` learns "
    "from GRPO rewards to choose prompts or rollout budgets (section C of the algorithm "
    "notes): the filters `dynamic_sampling`, `range_filter`, `balanced_filter`, `vcrl` "
    "(through `fill_batch`, paying for every regenerated rollout); prompt selection from "
    "learned pass rates or difficulties `mopps`, `cures`, `pcl`, `adarft`, `cdas`, `gain`; "
    "the bandits over difficulty levels `dump`, `sec`; the budget allocators `knapsack`, "
    "`gfpo`, `dart`; and `uniform`, the control. Left out: the supervised schedules and "
    "loss-driven curricula (`competence`, `baby_steps`, `cyclical`, `mixed`, `reweight`, "
    "`easy_to_hard`, `hard_to_easy`, `self_paced`, `spdcl`, `adcl`, `dds_mae`), which follow "
    "a fixed pace or per-item losses rather than rewards, and the deep-RL teachers "
    "(`domain_randomization`, `learning_progress`, `mastering_rate`, `alp_gmm`, `plr`, "
    "`sequential`), which pick tasks for one episode each and are compared in "
    "`gym_teachers.py` (they run here too with `--strategies`)."
)
REGIME_B = (
    "Regime (b) pads the pool of regime (a) with {ratio:g} times as many items that the "
    "warmed-up policy never solves: three-operand sums `a+b+c=` laid out in the same "
    "{prompt_len} prompt positions ({widths} digits; answer = the sum, {answer_len} digits "
    "least significant first), a level beyond the warm-up, which never sees a second `+`. "
    "Their exact probability of being solved by one rollout of a seed-0 checkpoint averaged "
    "2e-5 (3,000 items, largest 0.02; greedy exact match 0; measured "
    "on the CPU configuration), so their groups are all wrong "
    "and stay so (a group never holds a lucky success to learn from). Items the policy "
    "always solves could not be built for this policy: at temperature 1 even the easiest "
    "items, 1-digit sums, came out right in all 8 rollouts of a group only 77% of the time, "
    "and `x+0` in 3% (per-item probabilities from the same checkpoint), because the warm-up "
    "stops at 0.6 accuracy, before the policy is sharp; the all-correct groups of regime (b) "
    "are those of regime (a)'s pool. The padded items form one more `ItemPool` group (the "
    "bandits' arm `3 operands`) with features digit counts, level {pad_level} and carries, "
    "and prior difficulty {pad_level} plus carries, the hardest, as a grader would mark "
    "them. The held-out test is regime (a)'s (levels 1-{width}); the padded level's own "
    "held-out accuracy ({pad_test} fresh three-operand items) is reported apart. The real "
    "LLM response matrix in `shared/data/irt-on-bench` (22 models, 2,854 questions) does "
    "not calibrate this share: it holds one answer per model, and the share of questions "
    "that every model or no model answered is 5%, a spread across models rather than the "
    "rollout-to-rollout spread of one policy."
)
PLUS, EQUALS = 10, 11  # tokens 0-9 are digits
VOCAB = 12
MATCH_TOLERANCE = 0.05  # a strategy whose rollouts differ more from uniform's gets a control


@dataclass
class Config:
    """Everything a run depends on; the two scripts differ only in these values."""

    seeds: int = 5
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1 (to split a run)
    # 300 steps: `uniform` gains 12-24 held-out points by then on every seed (measured), at
    # half the CPU of the 600 first planned, so 5 seeds x 16 strategies fit `make bench`
    steps: int = 300
    batch: int = 32  # prompts (kept groups) per GRPO step
    rollouts: int = 8  # rollouts per prompt (budget allocators split the same total)
    max_rounds: int = 3  # fill_batch rounds for the filters
    eval_every: int = 25
    lr: float = 5e-4
    temperature: float = 1.0
    width: int = 4  # digits of the larger operand at the hardest level
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    warmup_mix: dict[int, float] = field(default_factory=lambda: {1: 0.2, 2: 0.5, 3: 0.25, 4: 0.05})
    warmup_target: float = 0.6  # stop the warm-up at this mean per-level validation accuracy
    warmup_max_steps: int = 4000
    warmup_check: int = 10  # validate every this many warm-up steps
    warmup_batch: int = 128
    warmup_lr: float = 2e-3
    per_level: int = 2000  # pool items per level (level 1 has only 100 distinct sums)
    test_per_level: int = 200
    validation_per_level: int = 200  # drawn from the pool, for the warm-up stop only
    threads: int = 2
    device: str = "cpu"
    strategies: list[str] = field(default_factory=lambda: list(RL_STRATEGIES))
    matched: bool = True  # run rollout-matched uniform controls
    regime: str = "a"  # "a": the pool above; "b": padded with never-solved items (REGIME_B)
    pad_ratio: float = 2.0  # regime b: padded items per item of the regime-a pool
    # The Curriculum safety net for every strategy but uniform; None: each strategy's default
    # (Strategy.default_safety_net), 0: off.
    uniform_mix: float | None = None
    cover_groups: int | None = None
    window: int = 50  # steps per diagnostics window

    @property
    def pad_level(self) -> int:
        """The level of the padded (three-operand) items of regime (b)."""
        return self.width + 1

    @property
    def pad_widths(self) -> tuple[int, int, int]:
        return pad_widths(self.width)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(range(1, self.width + 1))

    @property
    def prompt_len(self) -> int:
        return 2 * self.width + 2

    @property
    def answer_len(self) -> int:
        return self.width + 1


# ----------------------------------------------------------------------------- the task


def pad_widths(width: int) -> tuple[int, int, int]:
    """Digits of the three operands of a padded prompt: ``2 * width - 1`` in all, so that
    ``a+b+c=`` fills the prompt positions of ``a+b=``."""
    half = (width + 1) // 2
    return width - 1, half, width - half


def random_operands(rng: np.random.Generator, level: int, n: int) -> np.ndarray:
    """``n`` pairs whose larger operand has exactly ``level`` digits, shape (n, 2)."""
    low = 0 if level == 1 else 10 ** (level - 1)
    big = rng.integers(low, 10**level, n)
    small_digits = rng.integers(1, level + 1, n)
    small = rng.integers(0, 10**small_digits)
    swap = rng.random(n) < 0.5
    return np.stack([np.where(swap, small, big), np.where(swap, big, small)], axis=1)


def carries(pairs: np.ndarray) -> np.ndarray:
    """Number of carries in each addition."""
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    count, carry = np.zeros(len(pairs), dtype=np.int64), np.zeros(len(pairs), dtype=np.int64)
    while np.any(a | b | carry):
        carry = ((a % 10 + b % 10 + carry) >= 10).astype(np.int64)
        count += carry
        a, b = a // 10, b // 10
    return count


def digits(values: np.ndarray, width: int, *, reverse: bool) -> np.ndarray:
    """Decimal digits of ``values``, zero-padded to ``width``, shape (n, width)."""
    powers = 10 ** np.arange(width, dtype=np.int64)  # least significant first
    out = (values[:, None] // powers) % 10
    return out if reverse else out[:, ::-1]


def encode_prompts(pairs: np.ndarray, width: int) -> torch.Tensor:
    """``a+b=`` with both operands zero-padded to ``width`` digits."""
    n = len(pairs)
    tokens = np.concatenate(
        [
            digits(pairs[:, 0], width, reverse=False),
            np.full((n, 1), PLUS),
            digits(pairs[:, 1], width, reverse=False),
            np.full((n, 1), EQUALS),
        ],
        axis=1,
    )
    return torch.as_tensor(tokens, dtype=torch.long)


def encode_answers(pairs: np.ndarray, width: int) -> torch.Tensor:
    """The sum as ``width + 1`` digits, least significant first ("95300" for 359); also
    of three operands, shape (n, 3)."""
    return torch.as_tensor(digits(pairs.sum(axis=1), width + 1, reverse=True), dtype=torch.long)


def random_triples(rng: np.random.Generator, widths: tuple[int, int, int], n: int) -> np.ndarray:
    """``n`` distinct three-operand items, operand i below ``10 ** widths[i]``, shape (n, 3)."""
    found = np.zeros((0, 3), dtype=np.int64)
    while len(found) < n:
        more = np.stack([rng.integers(0, 10**w, 2 * n) for w in widths], axis=1)
        found = np.unique(np.concatenate([found, more]), axis=0)
    return found[rng.permutation(len(found))[:n]]


def encode_triples(triples: np.ndarray, widths: tuple[int, int, int]) -> torch.Tensor:
    """``a+b+c=`` with operand i zero-padded to ``widths[i]`` digits."""
    n = len(triples)
    parts = []
    for i, w in enumerate(widths):
        sign = PLUS if i < 2 else EQUALS
        parts += [digits(triples[:, i], w, reverse=False), np.full((n, 1), sign)]
    return torch.as_tensor(np.concatenate(parts, axis=1), dtype=torch.long)


@dataclass
class Task:
    """The training pool (levels, features), a validation sample of it and the test set.

    The pool is ``pairs`` (levels 1 to ``width``) followed, in regime (b), by ``pad``
    (three-operand items of level ``width + 1``); ``levels`` covers both, ``prompts`` and
    ``answers`` hold every pool item's tokens. ``pad_test`` are held-out padded items.
    """

    width: int
    pairs: np.ndarray
    levels: np.ndarray
    test_pairs: np.ndarray
    test_levels: np.ndarray
    validation: np.ndarray  # pool rows used to stop the warm-up
    pad: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    pad_test: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    prompts: torch.Tensor = field(init=False)
    answers: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        widths = pad_widths(self.width)
        self.prompts = torch.cat([encode_prompts(self.pairs, self.width),
                                  encode_triples(self.pad, widths)])  # fmt: skip
        self.answers = torch.cat([encode_answers(self.pairs, self.width),
                                  encode_answers(self.pad, self.width)])  # fmt: skip
        if len(self.levels) == len(self.pairs) and len(self.pad):
            self.levels = np.concatenate([self.levels, np.full(len(self.pad), self.pad_level)])

    @property
    def pad_level(self) -> int:
        return self.width + 1

    def label(self, level: int) -> str:
        """The ``ItemPool`` group of a level."""
        return "3 operands" if level == self.pad_level else f"{level} digits"

    @classmethod
    def build(cls, cfg: Config, seed: int = 0) -> Task:
        rng = np.random.default_rng(seed)
        pool, test, pool_levels, test_levels = [], [], [], []
        for level in cfg.levels:
            want = cfg.per_level + cfg.test_per_level
            pairs = np.unique(random_operands(rng, level, 3 * want), axis=0)
            pairs = pairs[rng.permutation(len(pairs))]
            n_test = min(cfg.test_per_level, len(pairs) // 2)
            n_pool = min(cfg.per_level, len(pairs) - n_test)
            test.append(pairs[:n_test])
            pool.append(pairs[n_test : n_test + n_pool])
            test_levels += [level] * n_test
            pool_levels += [level] * n_pool
        levels = np.array(pool_levels)
        validation = np.concatenate([
            rng.permutation(np.flatnonzero(levels == level))[: cfg.validation_per_level]
            for level in cfg.levels
        ])  # fmt: skip
        base = np.concatenate(pool)
        pad = pad_test = np.zeros((0, 3), dtype=np.int64)
        if cfg.regime == "b":  # drawn after regime (a)'s pool, from a generator of its own
            n_pad = round(cfg.pad_ratio * len(base))
            triples = random_triples(np.random.default_rng([seed, 2]), pad_widths(cfg.width),
                                     n_pad + cfg.test_per_level)  # fmt: skip
            pad, pad_test = triples[:n_pad], triples[n_pad:]
        return cls(cfg.width, base, levels, np.concatenate(test), np.array(test_levels),
                   validation, pad, pad_test)  # fmt: skip

    def item_pool(self) -> ItemPool:
        """Groups = levels (the bandits' arms); features (``pcl``) = digit counts of both
        operands, level and carries; prior difficulty (``adarft``, ``gain``, ``cdas``'s
        start) = level plus a fraction for the carries. A padded item a+b+c counts as the
        pair (a, b + c) for its digit counts and carries."""
        pad_pairs = np.stack([self.pad[:, 0], self.pad[:, 1] + self.pad[:, 2]], axis=1)
        pairs = np.concatenate([self.pairs, pad_pairs])
        count = [np.char.str_len(pairs[:, i].astype(str)) for i in (0, 1)]
        carry = carries(pairs)
        features = np.stack([count[0], count[1], self.levels, carry], axis=1).astype(float)
        difficulty = self.levels + carry / (self.width + 2)
        groups = [self.label(level) for level in self.levels]
        return ItemPool(size=len(self.levels), groups=groups, features=features,
                        difficulty=difficulty.astype(np.float32))  # fmt: skip


# ----------------------------------------------------------------------------- the policy


class Block(nn.Module):
    """A pre-norm transformer block with causal self-attention and an optional key/value
    cache, so that sampling runs the prompt once and then one position per new token."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor, cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        n, length, d = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).view(n, length, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )  # fmt: skip
        if cache is not None:
            if cache:  # earlier positions: attend to all of them, no mask needed
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        causal = cache is None or k.shape[2] == length
        att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.out(att.transpose(1, 2).reshape(n, length, d))
        return x + self.mlp(self.norm2(x))


class Policy(nn.Module):
    """A pre-norm causal transformer over the prompt and answer; predicts answer digits."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.prompt_len, self.answer_len = cfg.prompt_len, cfg.answer_len
        d_model = cfg.d_model
        self.embed = nn.Embedding(VOCAB, d_model)
        self.position = nn.Parameter(torch.randn(self.prompt_len + self.answer_len, d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(d_model, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 10)  # only digits are ever predicted

    def forward(
        self, tokens: torch.Tensor, start: int = 0, caches: list[list] | None = None
    ) -> torch.Tensor:
        """Digit logits at every position of ``tokens``, which start at position ``start``
        (later than 0 only with ``caches`` holding the keys and values of the earlier ones)."""
        x = self.embed(tokens) + self.position[start : start + tokens.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.norm(x))

    def answer_logits(self, prompts: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        """Logits of each answer digit given the prompt and the digits before it."""
        tokens = torch.cat([prompts, answers[:, :-1]], dim=1)
        return self(tokens)[:, self.prompt_len - 1 :]

    @torch.no_grad()
    def sample(
        self, prompts: torch.Tensor, temperature: float, gen: torch.Generator | None
    ) -> torch.Tensor:
        """Answers, shape (n, answer_len); greedy when ``temperature`` is 0."""
        caches: list[list] = [[] for _ in self.blocks]
        logits = self(prompts, 0, caches)[:, -1]
        out = []
        for i in range(self.answer_len):
            if temperature == 0:
                nxt = logits.argmax(dim=-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
            out.append(nxt)
            if i + 1 < self.answer_len:
                logits = self(nxt[:, None], self.prompt_len + i, caches)[:, -1]
        return torch.stack(out, dim=1)


def exact(policy: Policy, pairs: np.ndarray, width: int, device: str) -> np.ndarray:
    """Greedy exact-match correctness of each pair."""
    policy.eval()
    answers = policy.sample(encode_prompts(pairs, width).to(device), 0.0, None)
    return (answers.cpu() == encode_answers(pairs, width)).all(dim=1).numpy()


def solve_probability(
    policy: Policy, prompts: torch.Tensor, answers: torch.Tensor, cfg: Config, chunk: int = 4096
) -> np.ndarray:
    """Exact probability that one rollout at ``cfg.temperature`` answers each prompt right:
    the product of the teacher-forced probabilities of the right digits."""
    policy.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(prompts), chunk):
            p, a = prompts[lo : lo + chunk].to(cfg.device), answers[lo : lo + chunk].to(cfg.device)
            logits = policy.answer_logits(p, a) / cfg.temperature
            logp = torch.log_softmax(logits, dim=-1).gather(2, a[..., None]).squeeze(2)
            out.append(logp.sum(dim=1).exp().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def start_profile(policy: Policy, task: Task, cfg: Config) -> dict[str, Any]:
    """The pool as the warmed-up policy sees it: per level, the mean probability of solving
    an item in one rollout and the expected share of all-equal groups of ``cfg.rollouts``
    rollouts (E[p^G + (1 - p)^G]), and the share over the whole pool (uniform's at step 0)."""
    p = solve_probability(policy, task.prompts, task.answers, cfg)
    equal = p**cfg.rollouts + (1 - p) ** cfg.rollouts
    levels = sorted({int(lv) for lv in task.levels})
    return {
        "all_equal": float(equal.mean()),
        "levels": {lv: {"p": float(p[task.levels == lv].mean()),
                        "all_equal": float(equal[task.levels == lv].mean())} for lv in levels},
    }  # fmt: skip


def padded_accuracy(policy: Policy, task: Task, cfg: Config) -> float:
    """Greedy exact match on the held-out padded items of regime (b)."""
    policy.eval()
    prompts = encode_triples(task.pad_test, pad_widths(cfg.width)).to(cfg.device)
    answers = policy.sample(prompts, 0.0, None).cpu()
    return float((answers == encode_answers(task.pad_test, cfg.width)).all(dim=1).float().mean())


def accuracy_by_level(
    policy: Policy, pairs: np.ndarray, levels: np.ndarray, cfg: Config
) -> dict[int, float]:
    right = exact(policy, pairs, cfg.width, cfg.device)
    return {level: float(right[levels == level].mean()) for level in cfg.levels}


def warm_up(cfg: Config, task: Task, seed: int) -> tuple[Policy, int]:
    """Supervised training from scratch on fresh random items mixed as ``cfg.warmup_mix``,
    stopped at the first check where the mean per-level accuracy on the validation sample
    (pool items) reaches ``cfg.warmup_target``; returns the policy and the steps taken."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(10_000 + seed)
    policy = Policy(cfg).to(cfg.device)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=cfg.warmup_lr, weight_decay=0.01)
    mix_levels, mix_p = list(cfg.warmup_mix), np.array(list(cfg.warmup_mix.values()))
    val_pairs, val_levels = task.pairs[task.validation], task.levels[task.validation]
    for step in range(1, cfg.warmup_max_steps + 1):
        policy.train()
        level = rng.choice(mix_levels, cfg.warmup_batch, p=mix_p / mix_p.sum())
        pairs = np.concatenate([random_operands(rng, lv, int(np.sum(level == lv)))
                                for lv in mix_levels])  # fmt: skip
        answers = encode_answers(pairs, cfg.width).to(cfg.device)
        logits = policy.answer_logits(encode_prompts(pairs, cfg.width).to(cfg.device), answers)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 10), answers.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % cfg.warmup_check == 0:
            by_level = accuracy_by_level(policy, val_pairs, val_levels, cfg)
            if np.mean(list(by_level.values())) >= cfg.warmup_target:
                return policy, step
    return policy, cfg.warmup_max_steps


# ----------------------------------------------------------------------------- GRPO


class KeepRecorder:
    """Stands in for the curriculum inside ``fill_batch`` and remembers each round's keep
    mask, so the trainer knows which generated groups were kept without tagging them."""

    def __init__(self, curriculum: Curriculum, diagnostics: Diagnostics | None = None) -> None:
        self.curriculum = curriculum
        self.diagnostics = diagnostics
        self.masks: list[np.ndarray] = []

    def propose(self, n: int) -> Proposal:
        return self.curriculum.propose(n)

    def observe(self, outcomes: Outcomes) -> None:
        if self.diagnostics is not None:  # before the strategy learns from them
            self.diagnostics.observe(outcomes)
        self.curriculum.observe(outcomes)

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        mask = np.asarray(self.curriculum.keep(outcomes), dtype=bool)
        self.masks.append(mask)
        return mask


CALIBRATION_BINS = 10  # of pcl's predicted pass rate, over [0, 1]


class Diagnostics:
    """What one run's strategy did, per window of ``cfg.window`` steps, read from the
    generated groups and the strategy's public methods only:

    - ``selection``: generated groups per level (``levels``), ``groups`` and ``mixed``
      (mixed-reward groups: the effective ratio), ``distinct`` items per window;
    - ``top1_share``: share of all picks that went to the 1% most picked pool items;
    - ``calibration`` (strategies with ``predict(indices)``, i.e. ``pcl``): per window and
      bin of the predicted pass rate, [groups, sum of predicted, sum of observed], the
      prediction taken just before the strategy observes the group;
    - ``arms`` (strategies with ``arm_probabilities()``, i.e. ``dump``, ``sec``): the arm
      probabilities per level at the end of each window;
    - ``bank`` (``vcrl``): at the end of each window, the replay bank's size, its items per
      level and their observed pass rate so far (from ``state_dict()['bank_items']`` and
      the curriculum's item statistics).
    """

    def __init__(self, curriculum: Curriculum, task: Task, window: int) -> None:
        self.cur, self.window = curriculum, window
        self.levels = levels = sorted({int(lv) for lv in task.levels})
        self.position = np.searchsorted(levels, task.levels)  # item -> level column
        strategy = curriculum.strategy
        self.predict = getattr(strategy, "predict", None)
        self.arm_probabilities = getattr(strategy, "arm_probabilities", None)
        self.vcrl = strategy.name == "vcrl"
        column = {task.label(lv): i for i, lv in enumerate(levels)}
        self.arm_columns = [column[name] for name in curriculum.pool.group_names]
        self.picks = np.zeros(curriculum.pool.size, dtype=np.int64)
        self.record: dict[str, list] = {"selection": [], "groups": [], "mixed": [],
                                        "distinct": []}  # fmt: skip
        if self.predict is not None:
            self.record["calibration"] = []
        if self.arm_probabilities is not None:
            self.record["arms"] = []
        if self.vcrl:
            self.record["bank"] = []
        self._open()

    def _open(self) -> None:
        self._selection = np.zeros(len(self.levels), dtype=np.int64)
        self._groups = self._mixed = 0
        self._items: set[int] = set()
        self._bins = np.zeros((CALIBRATION_BINS, 3))

    def observe(self, outcomes: Outcomes) -> None:
        idx = outcomes.indices
        self._selection += np.bincount(self.position[idx], minlength=len(self.levels))
        self._groups += len(idx)
        self._mixed += int(np.count_nonzero(outcomes.mixed))
        self._items.update(idx.tolist())
        np.add.at(self.picks, idx, 1)
        if self.predict is not None and len(idx):
            predicted, observed = np.asarray(self.predict(idx), float), outcomes.pass_rate
            ok = ~np.isnan(observed)
            bins = np.minimum((predicted * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
            np.add.at(self._bins, bins[ok], np.stack([np.ones(ok.sum()), predicted[ok],
                                                      observed[ok]], axis=1))  # fmt: skip

    def end_step(self, step: int, last: bool) -> None:
        if step % self.window and not last:
            return
        if self._groups == 0 and not last:
            return
        self.record["selection"].append(self._selection.tolist())
        self.record["groups"].append(self._groups)
        self.record["mixed"].append(self._mixed)
        self.record["distinct"].append(len(self._items))
        if self.predict is not None:
            self.record["calibration"].append(self._bins.round(6).tolist())
        if self.arm_probabilities is not None:
            by_level = np.zeros(len(self.levels))
            np.add.at(by_level, self.arm_columns, np.asarray(self.arm_probabilities(), float))
            self.record["arms"].append(by_level.round(6).tolist())
        if self.vcrl:
            items = np.asarray(self.cur.strategy.state_dict()["bank_items"], dtype=np.int64)
            rate = self.cur.stats.mean_reward(items) if len(items) else np.zeros(0)
            self.record["bank"].append({
                "size": len(items),
                "levels": np.bincount(self.position[items], minlength=len(self.levels)).tolist(),
                "pass_rate": float(np.nanmean(rate)) if np.any(~np.isnan(rate)) else None,
            })  # fmt: skip
        self._open()

    def result(self) -> dict[str, Any]:
        top = max(1, math.ceil(0.01 * len(self.picks)))
        total = int(self.picks.sum())
        share = float(np.sort(self.picks)[::-1][:top].sum() / total) if total else math.nan
        return {"window": self.window, "levels": self.levels, "top1_share": share,
                "items_picked": int(np.count_nonzero(self.picks)), **self.record}  # fmt: skip


def safety_net(cfg: Config) -> dict[str, Any]:
    """The ``Curriculum`` keywords of the generic safety net, where set (None: the strategy's
    default); a clear error if this stepladder's ``Curriculum`` does not take them yet."""
    wanted = {}
    if cfg.uniform_mix is not None:
        wanted["uniform_mix"] = cfg.uniform_mix
    if cfg.cover_groups is not None:
        wanted["cover_groups"] = cfg.cover_groups
    missing = [k for k in wanted if k not in inspect.signature(Curriculum).parameters]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise ValueError(f"{flags}: this stepladder's Curriculum has no {', '.join(missing)} "
                         "parameter yet (the safety net is not merged)")  # fmt: skip
    return wanted


class Generator:
    """The trainer's ``generate``: samples completions, scores them, remembers each round."""

    def __init__(self, policy: Policy, task: Task, cfg: Config, gen: torch.Generator) -> None:
        self.policy, self.task, self.cfg, self.gen = policy, task, cfg, gen
        self.rounds: list[
            tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor, np.ndarray]
        ] = []

    def __call__(self, proposal: Proposal) -> Outcomes:
        items = proposal.indices
        sizes = (
            np.full(len(items), self.cfg.rollouts)
            if proposal.rollouts is None
            else np.asarray(proposal.rollouts, dtype=np.int64)
        )
        rows = torch.as_tensor(np.repeat(items, sizes))
        prompts = self.task.prompts[rows].to(self.cfg.device)
        self.policy.eval()
        answers = self.policy.sample(prompts, self.cfg.temperature, self.gen)
        truth = self.task.answers[rows].to(self.cfg.device)
        rewards = (answers == truth).all(dim=1).float().cpu().numpy()
        self.rounds.append((items, sizes, prompts, answers, rewards))
        if np.all(sizes == sizes[0]):
            return Outcomes(items, rewards.reshape(len(items), -1))
        return Outcomes.from_groups(items, np.split(rewards, np.cumsum(sizes)[:-1]))

    def training_batch(
        self, masks: list[np.ndarray], batch: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
        """Prompts, answers and group-normalised advantages of the kept groups, taken as
        ``fill_batch`` takes them (the first kept of each round until ``batch`` are found);
        also the kept items, to check against ``fill_batch``'s own."""
        prompts, answers, advantages, kept, found = [], [], [], [], 0
        for (items, sizes, p, a, rewards), mask in zip(self.rounds, masks, strict=True):
            taken = np.flatnonzero(mask)[: batch - found]
            found += len(taken)
            kept.append(items[taken])
            starts = np.concatenate([[0], np.cumsum(sizes)])
            for g in taken:
                lo, hi = starts[g], starts[g + 1]
                r = rewards[lo:hi]
                advantages.append((r - r.mean()) / (r.std() + 1e-4))
                prompts.append(p[lo:hi])
                answers.append(a[lo:hi])
        self.rounds.clear()
        adv = torch.as_tensor(np.concatenate(advantages), dtype=torch.float32)
        return torch.cat(prompts), torch.cat(answers), adv.to(self.cfg.device), np.concatenate(kept)


def strategy_params(name: str, cfg: Config) -> dict[str, Any]:
    """Non-default parameters: the budget allocators split ``batch x rollouts``."""
    if name == "knapsack":
        return {"rollouts": cfg.rollouts, "min_rollouts": 2, "max_rollouts": 4 * cfg.rollouts}
    if name in ("gfpo", "cures", "pcl"):
        return {"rollouts": cfg.rollouts}
    return {}


def grpo_run(
    name: str, warm: Policy, task: Task, pool: ItemPool, cfg: Config, seed: int, batch: int
) -> dict[str, Any]:
    """GRPO from the warm-up checkpoint with ``name`` choosing ``batch`` prompts per step."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    policy = copy.deepcopy(warm)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    net = {} if name == "uniform" else safety_net(cfg)  # not for uniform and its controls
    curriculum = Curriculum(pool, name, seed=seed, **strategy_params(name, cfg), **net)
    gen = torch.Generator(device=cfg.device).manual_seed(1_000 + seed)
    generate = Generator(policy, task, cfg, gen)
    diagnostics = Diagnostics(curriculum, task, cfg.window)
    curve: dict[str, list] = {"step": [], "rollouts": [], "accuracy": [], "levels": []}
    if len(task.pad_test):
        curve["padded"] = []
    rollouts = groups = mixed = 0

    def evaluate(step: int) -> None:
        by_level = accuracy_by_level(policy, task.test_pairs, task.test_levels, cfg)
        curve["step"].append(step)
        curve["rollouts"].append(rollouts)
        curve["accuracy"].append(float(np.mean(list(by_level.values()))))
        curve["levels"].append(by_level)
        if "padded" in curve:
            curve["padded"].append(padded_accuracy(policy, task, cfg))

    evaluate(0)
    for step in range(1, cfg.steps + 1):
        recorder = KeepRecorder(curriculum, diagnostics)
        filled = fill_batch(recorder, generate, batch, max_rounds=cfg.max_rounds)  # type: ignore[arg-type]
        rollouts += filled.rollouts
        groups += filled.generated_groups
        mixed += filled.mixed_groups
        if len(filled.kept):
            prompts, answers, advantages, kept = generate.training_batch(recorder.masks, batch)
            if not np.array_equal(kept, filled.kept.indices):
                raise RuntimeError("kept groups do not match fill_batch's")
            policy.train()
            logits = policy.answer_logits(prompts, answers) / cfg.temperature
            logp = torch.log_softmax(logits, dim=-1).gather(2, answers[..., None]).squeeze(2)
            loss = -(advantages[:, None] * logp).mean()  # one on-policy update: no clipping
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimiser.step()
        else:
            generate.rounds.clear()
        diagnostics.end_step(step, last=step == cfg.steps)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluate(step)
    return {
        "batch": batch,
        "curve": curve,
        "rollouts": rollouts,
        "groups": groups,
        "effective_ratio": mixed / max(groups, 1),
        "final": curve["accuracy"][-1],
        "seconds": time.perf_counter() - started,
        "diagnostics": diagnostics.result(),
        "safety": curriculum.safety.get_params(),
    }


NET_OFF = SafetyNet().get_params()
#: A pool with groups, as the benchmark's always has (the net's default coverage needs them).
_GROUPED = ItemPool(size=2, groups=[0, 1])


def net_of(name: str, cfg: Config) -> dict[str, Any]:
    """The safety net ``name`` runs with under ``cfg`` (uniform and its controls: none), as
    ``Curriculum.safety.get_params()`` reports it: resolved by the ``Curriculum``'s own rule."""
    if name == "uniform" or name.startswith("uniform@"):
        return dict(NET_OFF)
    net = SafetyNet.for_strategy(create(name), _GROUPED, cfg.uniform_mix, cfg.cover_groups)
    return net.get_params()


def control_name(batch: int) -> str:
    return f"uniform@{batch}"


def run(
    cfg: Config, log: Any = sys.stderr, on_seed: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Every strategy on every seed, plus rollout-matched uniform controls; ``on_seed`` gets
    the results so far after each seed (to save them while a long run goes on).

    A strategy whose rollouts differ from ``uniform``'s by more than ``MATCH_TOLERANCE`` on a
    seed gets, on that seed, a ``uniform`` run with ``round(batch x ratio)`` prompts per step
    (shared by strategies that need the same batch).
    """
    torch.set_num_threads(cfg.threads)
    task = Task.build(cfg)
    pool = task.item_pool()
    names = ["uniform", *[n for n in cfg.strategies if n != "uniform"]]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    controls: list[dict[str, dict[str, Any]]] = []  # per seed: control name -> run
    matched: dict[str, list[str | None]] = {name: [] for name in names}
    warm_info: list[dict[str, Any]] = []
    per_level = {lv: int(np.sum(task.levels == lv)) for lv in sorted(set(task.levels.tolist()))}
    out = {"results": results, "controls": controls, "matched": matched, "warm": warm_info,
           "pool_size": pool.size, "test_size": len(task.test_pairs),
           "pool_per_level": per_level, "seeds": []}  # fmt: skip
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        started = time.perf_counter()
        warm, warm_steps = warm_up(cfg, task, seed)
        test = accuracy_by_level(warm, task.test_pairs, task.test_levels, cfg)
        warm_info.append({"steps": warm_steps, "test": test,
                          "seconds": time.perf_counter() - started,
                          "start": start_profile(warm, task, cfg)})  # fmt: skip
        print(f"seed {seed}: warm-up {warm_steps} steps, {warm_info[-1]['seconds']:.0f} s, "
              f"test accuracy by level {test}, expected all-equal groups at the start "
              f"{warm_info[-1]['start']['all_equal']:.3f}", file=log, flush=True)  # fmt: skip
        by_seed: dict[str, dict[str, Any]] = {}
        for name in names:
            result = grpo_run(name, warm, task, pool, cfg, seed, cfg.batch)
            results[name].append(result)
            print(f"  {name}: final {result['final']:.3f}, rollouts {result['rollouts']}, "
                  f"effective {result['effective_ratio']:.2f}, {result['seconds']:.0f} s",
                  file=log, flush=True)  # fmt: skip
        base = results["uniform"][-1]["rollouts"]
        for name in names:
            ratio = results[name][-1]["rollouts"] / base
            if not cfg.matched or abs(ratio - 1) <= MATCH_TOLERANCE:
                matched[name].append(None)
                continue
            batch = max(1, round(cfg.batch * ratio))
            key = control_name(batch)
            if key not in by_seed:
                by_seed[key] = grpo_run("uniform", warm, task, pool, cfg, seed, batch)
                print(f"  {key} (matches {name}): final {by_seed[key]['final']:.3f}, "
                      f"rollouts {by_seed[key]['rollouts']}, {by_seed[key]['seconds']:.0f} s",
                      file=log, flush=True)  # fmt: skip
            matched[name].append(key)
        controls.append(by_seed)
        out["seeds"].append(seed)
        if on_seed is not None:
            on_seed(out)
    return out


# ----------------------------------------------------------------------------- statistics


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval over seeds (NaN bounds with fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else math.nan
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def accuracy_at(curve: dict[str, list], rollouts: float) -> float:
    """Held-out accuracy after ``rollouts`` rollouts, linear between evaluations; NaN past
    the end of the run."""
    x, y = np.asarray(curve["rollouts"], float), np.asarray(curve["accuracy"], float)
    if rollouts > x[-1] + 1e-9:
        return math.nan
    return float(np.interp(rollouts, x, y))


def area(curve: dict[str, list], budget: float) -> float:
    """Mean held-out accuracy over rollouts 0..``budget`` (area under the accuracy-vs-rollouts
    curve divided by ``budget``); a run that ended earlier keeps its final accuracy."""
    x, y = np.asarray(curve["rollouts"], float), np.asarray(curve["accuracy"], float)
    grid = np.linspace(0.0, budget, 201)
    values = np.interp(grid, x, y)  # np.interp holds the last value past the end
    return float(np.trapezoid(values, grid) / budget)


def rollouts_to(curve: dict[str, list], level: float) -> float:
    """Rollouts at the first evaluation whose accuracy reached ``level`` (NaN if none)."""
    for rollouts, accuracy in zip(curve["rollouts"], curve["accuracy"], strict=True):
        if accuracy >= level - 1e-12:
            return float(rollouts)
    return math.nan


def summarise(out: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per strategy: paired differences with uniform and with its matched control."""
    results, controls, matched = out["results"], out["controls"], out["matched"]
    base = results["uniform"]
    rows = []
    for name, runs in results.items():
        finals = np.array([r["final"] for r in runs])
        base_finals = np.array([r["final"] for r in base])
        budgets = [float(b["rollouts"]) for b in base]
        ratio = np.array([r["rollouts"] / b for r, b in zip(runs, budgets, strict=True)])
        at_budget = np.array(
            [accuracy_at(r["curve"], b) for r, b in zip(runs, budgets, strict=True)]
        )
        auc = np.array([area(r["curve"], b) for r, b in zip(runs, budgets, strict=True)])
        base_auc = np.array([area(b["curve"], rb) for b, rb in zip(base, budgets, strict=True)])
        reach = np.array([rollouts_to(r["curve"], b["final"])
                          for r, b in zip(runs, base, strict=True)])  # fmt: skip
        keys = matched.get(name, [None] * len(runs))
        control = [None if k is None else controls[s][k] for s, k in enumerate(keys)]
        versus = np.array(
            [
                f - (c["final"] if c is not None else b)
                for f, c, b in zip(finals, control, base_finals, strict=True)
            ]
        )
        # within the rollouts uniform used, accuracy at equal rollouts: interpolate
        # strategies that spent more; a cheaper one is compared where it ended
        equal = np.where(np.isnan(at_budget), finals, at_budget)
        rows.append({
            "name": name,
            "final": float(finals.mean()),
            "final_sd": float(finals.std(ddof=1)) if len(finals) > 1 else math.nan,
            "gain": t_interval(finals - np.array([r["curve"]["accuracy"][0] for r in runs])),
            "vs_uniform": t_interval(finals - base_finals),
            "per_seed": (finals - base_finals).tolist(),
            "ratio": float(ratio.mean()),
            "ratio_range": (float(ratio.min()), float(ratio.max())),
            "matched": any(k is not None for k in keys),
            "control_batches": sorted({c["batch"] for c in control if c is not None}),
            "vs_matched": t_interval(versus),
            "vs_equal_rollouts": t_interval(equal - base_finals),
            "auc": float(auc.mean()),
            "vs_auc": t_interval(auc - base_auc),
            "reach": float(np.nanmean(reach)) if np.any(~np.isnan(reach)) else math.nan,
            "reach_ratio": float(np.nanmean(reach / np.array(budgets)))
            if np.any(~np.isnan(reach)) else math.nan,
            "reached": int(np.sum(~np.isnan(reach))),
            "levels": {lv: float(np.mean([r["curve"]["levels"][-1][lv] for r in runs]))
                       for lv in runs[0]["curve"]["levels"][-1]},
            "effective": float(np.mean([r["effective_ratio"] for r in runs])),
            "seconds": float(np.mean([r["seconds"] for r in runs])),
        })  # fmt: skip
    return rows


def verdict(row: dict[str, Any]) -> str:
    """Better or worse only when the 95% interval of the fair comparison excludes 0: against
    the rollout-matched control when the rollouts differ, else against uniform."""
    _, low, high = row["vs_matched"]
    if math.isnan(low):
        return "n/a"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no difference shown"


# ----------------------------------------------------------------------------- report

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def _f(value: float, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _ci(interval: tuple[float, float, float]) -> str:
    mean, low, high = interval
    if math.isnan(low):
        return f"{mean:+.3f}"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def results_table(rows: list[dict[str, Any]], seeds: int) -> str:
    body = []
    for r in rows:
        if r["name"] == "uniform":
            body.append([
                "`uniform`", f"{r['final']:.3f} ± {_f(r['final_sd'], '.3f')}", "-", "1.00",
                "-", "-", f"{r['auc']:.3f}", "-", f"{r['effective']:.2f}", "(baseline)",
            ])  # fmt: skip
            continue
        lo, hi = r["ratio_range"]
        ratio = f"{r['ratio']:.2f}" + (f" ({lo:.2f}-{hi:.2f})" if hi - lo >= 0.01 else "")
        matched = _ci(r["vs_matched"]) if r["matched"] else "= same steps"
        if r["matched"]:
            matched += f" (batch {', '.join(map(str, r['control_batches']))})"
        reach = "-" if math.isnan(r["reach"]) else f"{r['reach_ratio']:.2f}"
        body.append([
            f"`{r['name']}`", f"{r['final']:.3f} ± {_f(r['final_sd'], '.3f')}",
            _ci(r["vs_uniform"]), ratio, matched, _ci(r["vs_equal_rollouts"]),
            f"{r['auc']:.3f} ({_ci(r['vs_auc'])})", f"{reach} ({r['reached']}/{seeds})",
            f"{r['effective']:.2f}", verdict(r),
        ])  # fmt: skip
    return markdown_table(
        ["strategy", "final accuracy (mean ± sd)", "minus uniform, same steps [95% CI]",
         "rollouts / uniform's", "minus rollout-matched uniform [95% CI]",
         "minus uniform at uniform's rollouts [95% CI]",
         "mean accuracy over uniform's rollouts (minus uniform's)",
         "rollouts to uniform's final / uniform's total (seeds reached)", "effective ratio",
         "verdict"],
        body,
    )  # fmt: skip


def controls_table(out: dict[str, Any]) -> str:
    """The rollout-matched controls themselves, per seed."""
    body = []
    for row, by_seed in enumerate(out["controls"]):
        base = out["results"]["uniform"][row]
        for key, result in sorted(by_seed.items(), key=lambda kv: kv[1]["batch"]):
            users = [n for n, keys in out["matched"].items() if keys[row] == key]
            ratio = result["rollouts"] / base["rollouts"]
            body.append([str(out["seeds"][row]), f"`{key}`", f"{ratio:.2f}",
                         f"{result['final']:.3f}", f"{result['final'] - base['final']:+.3f}",
                         ", ".join(f"`{u}`" for u in users)])  # fmt: skip
    if not body:
        return "No strategy's rollouts differed from uniform's by more than 5%."
    return markdown_table(
        ["seed", "control (prompts per step)", "rollouts / uniform's", "final accuracy",
         "minus uniform", "matches"], body)  # fmt: skip


def levels_table(rows: list[dict[str, Any]], out: dict[str, Any]) -> str:
    levels = list(rows[0]["levels"])
    warm = [np.mean([w["test"][lv] for w in out["warm"]]) for lv in levels]
    body = [["warm-up checkpoint", *[f"{w:.3f}" for w in warm]]]
    body += [[f"`{r['name']}`", *[f"{r['levels'][lv]:.3f}" for lv in levels]] for r in rows]
    return markdown_table(["strategy", *[f"{lv}-digit" for lv in levels]], body)


def rollout_curve_table(out: dict[str, Any], points: int = 7) -> str:
    """Mean held-out accuracy at equal rollouts (fractions of uniform's total), interpolated
    between evaluations; '-' once a run has stopped."""
    base = out["results"]["uniform"]
    fractions = [*np.linspace(0.0, 1.0, points).tolist(), 1.5, 2.0]
    body = []
    for name, runs in out["results"].items():
        cells = []
        for frac in fractions:
            values = [accuracy_at(r["curve"], frac * b["rollouts"])
                      for r, b in zip(runs, base, strict=True)]  # fmt: skip
            cells.append("-" if any(math.isnan(v) for v in values) else f"{np.mean(values):.3f}")
        body.append([f"`{name}`", *cells])
    total = np.mean([b["rollouts"] for b in base])
    header = [f"{f:.2g}x ({f * total / 1000:,.0f}k)" for f in fractions]
    return markdown_table(["strategy", *header], body)


def step_curve_table(out: dict[str, Any], columns: int = 7) -> str:
    results = out["results"]
    steps = results["uniform"][0]["curve"]["step"]
    shown = sorted({round(i * (len(steps) - 1) / (columns - 1)) for i in range(columns)})
    body = []
    for name, runs in results.items():
        accuracy = np.mean([r["curve"]["accuracy"] for r in runs], axis=0)
        body.append([f"`{name}`", *[f"{accuracy[i]:.3f}" for i in shown]])
    return markdown_table(["strategy", *[f"step {steps[i]}" for i in shown]], body)


def _phases(windows: int, parts: int = 4) -> list[np.ndarray]:
    """The window indices split into at most ``parts`` consecutive, nearly equal phases."""
    return [c for c in np.array_split(np.arange(windows), min(parts, windows)) if len(c)]


def _arrow(values: list[float], spec: str = ".2f") -> str:
    return " → ".join(_f(v, spec) for v in values)


def _share(part: float, whole: float) -> float:
    return part / whole if whole else math.nan


def diagnosis(out: dict[str, Any], rows: list[dict[str, Any]], cfg: Config) -> str:
    """A compact diagnosis of every strategy whose mean rollout-matched difference is below
    uniform's, from the diagnostics saved with each run ('' when no run saved them; runs
    saved before they existed are left out of the diagnostics, not of the accuracies)."""
    results = out["results"]
    recorded = [s for s, r in zip(out["seeds"], results["uniform"], strict=True)
                if "diagnostics" in r]  # fmt: skip
    if not recorded:
        return ""
    behind = [r["name"] for r in rows if r["name"] != "uniform" and r["vs_matched"][0] < 0]
    losing = [n for n in behind if any("diagnostics" in r for r in results[n])]
    diags = {name: [r["diagnostics"] for r in results[name] if "diagnostics" in r]
             for name in ["uniform", *losing]}  # fmt: skip
    first = diags["uniform"][0]
    if len(recorded) < len(out["seeds"]):
        seeds_note = f" Diagnostics exist for seeds {', '.join(map(str, recorded))} only."
    else:
        seeds_note = ""
    levels, window = first["levels"], first["window"]
    names = [_level_name(cfg, lv) for lv in levels]
    phases = _phases(len(first["groups"]))
    ends = [min(window * (c[-1] + 1), cfg.steps) for c in phases]
    parts = [
        "### Diagnosis of the strategies behind uniform",
        "",
        "For every strategy whose mean final accuracy is below its rollout-matched `uniform` "
        "(whether or not the interval excludes 0), with `uniform` as the reference, recorded "
        f"during the runs in windows of {window} steps and shown over the run's phases (steps "
        f"up to {', '.join(map(str, ends))}; a → b means phase 1, then phase 2), pooled or "
        "averaged over seeds. Selection = generated groups (filters' regenerated ones "
        "included); effective ratio = share of them with mixed rewards." + seeds_note,
        "",
    ]
    if not losing:
        return "\n".join([*parts, "No strategy is behind uniform on this table."])
    body = []
    for name, runs in diags.items():
        sel = np.sum([d["selection"] for d in runs], axis=0)
        groups = np.sum([d["groups"] for d in runs], axis=0)
        mixed = np.sum([d["mixed"] for d in runs], axis=0)
        distinct = np.mean([d["distinct"] for d in runs], axis=0)
        cells = [_arrow([_share(sel[c, j].sum(), sel[c].sum()) for c in phases])
                 for j in range(len(levels))]  # fmt: skip
        body.append([f"`{name}`", *cells,
                     _arrow([_share(mixed[c].sum(), groups[c].sum()) for c in phases]),
                     _arrow([float(distinct[c].mean()) for c in phases], ".0f"),
                     f"{np.mean([d['top1_share'] for d in runs]):.3f}"])  # fmt: skip
    parts += [
        "Selection share per level, effective ratio, distinct items per window and the share "
        "of all picks that went to the 1% most picked items:",
        "",
        markdown_table(
            [
                "strategy",
                *names,
                "effective ratio",
                f"distinct items / {window} steps",
                "top-1% share",
            ],
            body,
        ),
        "",
    ]
    parts += [_accuracy_over_time(out, ["uniform", *losing], cfg), ""]
    if "pcl" in losing and "calibration" in diags["pcl"][0]:
        parts += [_calibration(diags["pcl"], phases), ""]
    if "vcrl" in losing and "bank" in diags["vcrl"][0]:
        parts += [_bank(diags["vcrl"], phases, names), ""]
    bandits = [n for n in losing if "arms" in diags[n][0]]
    if bandits:
        body = []
        for name in bandits:
            arms = np.mean([d["arms"] for d in diags[name]], axis=0)
            body.append([f"`{name}`", *[_arrow([arms[c[-1], j] for c in phases])
                                        for j in range(len(levels))]])  # fmt: skip
        parts += ["Bandit arm probabilities per level at the end of each phase (mean over "
                  "seeds):", "", markdown_table(["strategy", *names], body), ""]  # fmt: skip
    return "\n".join(parts).rstrip()


def _accuracy_over_time(out: dict[str, Any], names: list[str], cfg: Config) -> str:
    """Held-out accuracy per level at four evaluations (mean over seeds)."""
    steps = out["results"]["uniform"][0]["curve"]["step"]
    shown = sorted({round(i * (len(steps) - 1) / 3) for i in range(4)})
    levels = list(out["results"]["uniform"][0]["curve"]["levels"][0])
    padded = "padded" in out["results"]["uniform"][0]["curve"]
    body = []
    for name in names:
        runs = out["results"][name]
        cells = [_arrow([np.mean([list(r["curve"]["levels"][i].values())[j] for r in runs])
                         for i in shown]) for j in range(len(levels))]  # fmt: skip
        if padded:
            cells.append(_arrow([np.mean([r["curve"]["padded"][i] for r in runs]) for i in shown]))
        body.append([f"`{name}`", *cells])
    header = [_level_name(cfg, lv) for lv in levels] + (["3-operand (padded)"] if padded else [])
    return "\n".join([
        f"Held-out accuracy per level at steps {', '.join(str(steps[i]) for i in shown)} "
        "(mean over seeds):", "", markdown_table(["strategy", *header], body),
    ])  # fmt: skip


def _calibration(runs: list[dict[str, Any]], phases: list[np.ndarray]) -> str:
    """``pcl``'s value model: predicted against observed pass rate, binned by prediction."""
    bins = np.sum([d["calibration"] for d in runs], axis=0)  # windows x bins x 3
    whole = bins.sum(axis=0)
    body = []
    for b, (n, predicted, observed) in enumerate(whole):
        if n == 0:
            continue
        share = _arrow([_share(bins[c, b, 0].sum(), bins[c, :, 0].sum()) for c in phases])
        body.append([f"{b / CALIBRATION_BINS:.1f}-{(b + 1) / CALIBRATION_BINS:.1f}", f"{n:,.0f}",
                     f"{predicted / n:.2f}", f"{observed / n:.2f}", share])  # fmt: skip
    return "\n".join([
        "`pcl`'s value model, predicted pass rate (just before observing a group) against the "
        "group's observed pass rate, binned by prediction, all seeds pooled:", "",
        markdown_table(["predicted", "groups", "mean predicted", "mean observed",
                        "share of groups per phase"], body),
    ])  # fmt: skip


def _mean_known(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else math.nan


def _bank(runs: list[dict[str, Any]], phases: list[np.ndarray], names: list[str]) -> str:
    """``vcrl``'s replay bank at the end of each phase (mean over seeds)."""
    body = []
    for c in phases:
        snaps = [d["bank"][c[-1]] for d in runs]
        counts = np.sum([s["levels"] for s in snaps], axis=0)
        body.append([f"{c[-1] + 1}", f"{np.mean([s['size'] for s in snaps]):.0f}",
                     *[_f(_share(k, counts.sum()), ".2f") for k in counts],
                     _f(_mean_known([s["pass_rate"] for s in snaps]), ".2f")])  # fmt: skip
    return "\n".join([
        "`vcrl`'s replay bank at the end of each phase (mean over seeds): its size, the share "
        "of its prompts per level and their observed pass rate so far:", "",
        markdown_table(["after window", "prompts", *names, "pass rate"], body),
    ])  # fmt: skip


def uniform_seeds(out: dict[str, Any]) -> str:
    """Uniform's start and end per seed."""
    parts = []
    for seed, r in zip(out["seeds"], out["results"]["uniform"], strict=True):
        acc = r["curve"]["accuracy"]
        parts.append(f"seed {seed}: {acc[0]:.3f} -> {acc[-1]:.3f} ({acc[-1] - acc[0]:+.3f})")
    return "; ".join(parts)


def interpret(rows: list[dict[str, Any]]) -> str:
    """A plain reading of the table, generated from the numbers."""
    by = {r["name"]: r for r in rows}
    base = by["uniform"]
    gain, low, high = base["gain"]
    parts = [
        f"GRPO with `uniform` moved held-out accuracy by {gain:+.3f} (95% CI "
        f"[{_f(low, '+.3f')}, {_f(high, '+.3f')}]) over the warm-up checkpoint, so the "
        "strategies are compared on a policy that learns."
    ]
    for label in ("better", "worse"):
        names = [r for r in rows if r is not base and verdict(r) == label]
        if names:
            parts.append(
                f"{label.capitalize()} than uniform at matched rollouts (95% interval excludes "
                "0): " + ", ".join(f"`{r['name']}` ({_ci(r['vs_matched'])})" for r in names) + "."
            )
    unclear = [r["name"] for r in rows if r is not base and verdict(r) == "no difference shown"]
    if unclear:
        parts.append(
            "Not distinguishable from uniform at matched rollouts (interval includes 0): "
            + ", ".join(f"`{n}`" for n in unclear)
            + "."
        )
    steps_only = [r for r in rows if r["matched"] and r["vs_uniform"][1] > 0
                  and verdict(r) != "better"]  # fmt: skip
    if steps_only:
        parts.append(
            "Above uniform per step but not at matched rollouts (their gain is bought with "
            "extra rollouts): "
            + ", ".join(f"`{r['name']}` ({r['ratio']:.2f}x rollouts)" for r in steps_only)
            + "."
        )
    return " ".join(parts)


# ----------------------------------------------------------------------------- the command line


def quick(cfg: Config) -> Config:
    """A seconds-long smoke configuration (tests the plumbing, measures nothing)."""
    cfg.seeds, cfg.steps, cfg.batch, cfg.rollouts, cfg.eval_every = 2, 2, 4, 4, 1
    cfg.per_level, cfg.test_per_level, cfg.validation_per_level = 40, 10, 10
    cfg.warmup_max_steps, cfg.warmup_check, cfg.d_model, cfg.layers = 3, 1, 16, 1
    cfg.window = 1
    return cfg


def describe(cfg: Config, out: dict[str, Any], label: str) -> str:
    """The configuration paragraph of a section."""
    warm_steps = [w["steps"] for w in out["warm"]]
    per_level = ", ".join(f"{_level_name(cfg, lv)} {n:,}"
                          for lv, n in out["pool_per_level"].items())  # fmt: skip
    return (
        f"**{label}.** Task: `a+b=` with both operands zero-padded to {cfg.width} digits, answer "
        f"as {cfg.width + 1} digits least significant first; level = digits of the larger "
        f"operand (1-{cfg.width}). Pool: {out['pool_size']:,} items ({per_level}; 1-digit sums "
        f"are exhausted at 100), `ItemPool` groups = level (the bandits' arms), features = "
        f"digit counts of both operands, level and carries (`pcl`), prior difficulty = level "
        f"plus carries / {cfg.width + 2} (`adarft`, `gain`). Held-out test: "
        f"{out['test_size']} items (up to {cfg.test_per_level} per level, disjoint from the "
        f"pool), greedy decoding, exact match; accuracy = mean of the per-level accuracies. "
        f"Policy: causal transformer, {cfg.layers} layers, d_model {cfg.d_model}, {cfg.heads} "
        f"heads, trained from scratch. Warm-up: supervised steps of {cfg.warmup_batch} fresh "
        f"random items, levels mixed as {cfg.warmup_mix}, AdamW lr {cfg.warmup_lr}, stopped at "
        f"the first check (every {cfg.warmup_check} steps) where the mean per-level accuracy "
        f"on {cfg.validation_per_level} pool items per level reached {cfg.warmup_target} "
        f"(took {min(warm_steps)}-{max(warm_steps)} steps); one checkpoint per seed, shared by "
        f"all strategies of that seed. GRPO: {cfg.steps} steps of {cfg.batch} kept groups x "
        f"{cfg.rollouts} rollouts (the budget allocators `knapsack`, `gfpo`, `cures` split the "
        f"same {cfg.batch} x {cfg.rollouts}; `dart` sets its own trials), temperature "
        f"{cfg.temperature} (log-probabilities taken at the same temperature), reward 1 if "
        f"every answer digit is right, advantages (r - mean) / (std + 1e-4) within each group, "
        f"loss = -mean over kept rollouts and answer tokens of advantage x log-probability (one "
        f"on-policy update per batch, so no ratio clipping, no KL term), gradient norm clipped "
        f"at 1, AdamW lr {cfg.lr}. Every strategy goes through "
        f"`fill_batch(max_rounds={cfg.max_rounds})` and every generated rollout is counted. "
        f"Default strategy parameters otherwise. Seeds: {cfg.seeds} (seed = warm-up "
        f"initialisation, sampling and curriculum seed; the task is the same). Held-out "
        f"accuracy every {cfg.eval_every} steps."
        + regime_text(cfg, out)
        + epoch_text(cfg, out)
        + net_text(cfg)
    )


def _level_name(cfg: Config, level: int | str) -> str:
    return "3-operand (padded)" if int(level) == cfg.pad_level else f"{level}-digit"


def uninformative_start(out: dict[str, Any]) -> str:
    """Uniform's share of all-equal groups at the start: expected at step 0 from the
    checkpoint's exact solve probabilities, and measured in its first diagnostics window."""
    parts = []
    expected = [w["start"]["all_equal"] for w in out["warm"] if "start" in w]
    if expected:
        parts.append(f"expected over the pool at step 0 (E[p^G + (1 - p)^G], p = the warm-up "
                     f"checkpoint's exact probability of solving an item in one rollout) "
                     f"{np.mean(expected):.2f}")  # fmt: skip
    first = [r["diagnostics"] for r in out["results"]["uniform"] if "diagnostics" in r]
    if first:
        share = np.mean([1 - d["mixed"][0] / max(d["groups"][0], 1) for d in first])
        parts.append(f"measured in `uniform`'s first {first[0]['window']} steps {share:.2f}")
    if not parts:
        return ""
    return " Share of all-equal groups under `uniform` at the start (mean over seeds): " + (
        "; ".join(parts) + "."
    )


def regime_text(cfg: Config, out: dict[str, Any]) -> str:
    start = uninformative_start(out)
    if cfg.regime == "a":
        return start
    return " " + REGIME_B.format(
        ratio=cfg.pad_ratio, prompt_len=cfg.prompt_len, answer_len=cfg.answer_len,
        widths="+".join(map(str, cfg.pad_widths)), pad_level=cfg.pad_level, width=cfg.width,
        pad_test=cfg.test_per_level,
    ) + start  # fmt: skip


def epoch_text(cfg: Config, out: dict[str, Any]) -> str:
    """When `uniform`'s seeded pass over the pool starts again: before that, the per-prompt
    budget allocators (which choose prompts as `uniform` does and size a prompt's group from
    its own past rewards) have no estimate for any prompt they are given."""
    epoch = math.ceil(out["pool_size"] / cfg.batch)  # steps to draw every prompt once
    allocators = "the per-prompt budget allocators `knapsack`, `gfpo` and `dart`"
    if cfg.steps <= epoch:
        return (
            f" Epochs: the run draws {cfg.steps * cfg.batch:,} prompts from a pool of "
            f"{out['pool_size']:,}, each at most once (a seeded pass without replacement, as "
            f"`uniform` draws them), so {allocators}, which choose prompts the same way and "
            "size a prompt's group from that prompt's own past rewards, never see a prompt "
            f"twice: every prompt gets the default {cfg.rollouts} rollouts, and their runs "
            "equal `uniform`'s exactly, by construction."
        )
    return (
        f" Epochs: a seeded pass over the pool takes {epoch} steps; until the second pass "
        f"(step {epoch + 1}), {allocators} have no estimate for the prompts they are given "
        f"and give each the default {cfg.rollouts} rollouts."
    )


def net_text(cfg: Config) -> str:
    if cfg.uniform_mix is None and cfg.cover_groups is None:
        netted = [n for n in cfg.strategies if net_of(n, cfg) != NET_OFF]
        if not netted:
            return " Safety net: none (every strategy here has it off by default)."
        settings = ", ".join(f"{k}={v}" for k, v in net_of(netted[0], cfg).items())
        return (
            f" Safety net: each strategy at its default, so {', '.join(f'`{n}`' for n in netted)}"
            f" run with `Curriculum(..., {settings})` (their default) and the others without."
        )
    if not cfg.uniform_mix and not cfg.cover_groups:
        return (" Safety net: off for every strategy (`uniform_mix=0, cover_groups=0`), so "
                "each runs as its paper describes it.")  # fmt: skip
    return (
        f" Safety net: every strategy but `uniform` (and its rollout-matched controls) runs "
        f"as `Curriculum(..., uniform_mix={cfg.uniform_mix or 0:g}, "
        f"cover_groups={cfg.cover_groups or 0})`."
    )


def net_effect_text(out: dict[str, Any]) -> str:
    """Each netted strategy against its own runs without the net, paired by seed."""
    parts = []
    for name, rows in out["results"].items():
        base = out.get("without_net", {}).get(name, {})
        pairs = [(r["final"], base[s]) for r, s in zip(rows, out["seeds"], strict=True)
                 if s in base]  # fmt: skip
        if name == "uniform" or len(pairs) < 2:
            continue
        mean, low, high = t_interval(np.array([a - b for a, b in pairs]))
        parts.append(f"`{name}` {mean:+.3f} [{low:+.3f}, {high:+.3f}] ({len(pairs)} seeds)")
    if not parts:
        return ""
    return ("The safety net's effect: final accuracy minus the same strategy's without the "
            "net, paired by seed, mean [95% CI]: " + "; ".join(parts) + ".")  # fmt: skip


def incomplete_text(out: dict[str, Any]) -> str:
    missing = out.get("incomplete") or {}
    text = ""
    if out.get("seeds_left_out"):
        text += (f" Seeds {', '.join(map(str, out['seeds_left_out']))} are left out: not every "
                 "strategy here was run on them.")  # fmt: skip
    if not missing:
        return text
    return text + (
        " Left out for lack of seeds (seeds they have): "
        + "; ".join(f"`{n}` ({', '.join(map(str, s)) or 'none'})" for n, s in missing.items())
        + "."
    )


def render(
    out: dict[str, Any], cfg: Config, elapsed: float, command: str, *, quick_run: bool,
    note: str = "", title: str = "",
) -> str:  # fmt: skip
    """The whole section, from the raw results."""
    rows = summarise(out)
    label = "Quick smoke configuration (not a result)" if quick_run else "Configuration"
    strategies = ", ".join(f"`{r['name']}`" for r in rows)
    return "\n".join([
        f"## {title}",
        "",
        f"Made with {command} on {date.today().isoformat()}: {machine_description()}; "
        f"PyTorch {torch.__version__}, {cfg.threads} thread(s), device {cfg.device}. "
        f"Whole run: {elapsed / 60:.1f} min wall.{note} This table covers the strategies "
        f"{strategies} on seeds {', '.join(map(str, out['seeds']))}.{incomplete_text(out)}",
        "",
        describe(cfg, out, label),
        "",
        WHY,
        "",
        WHICH,
        "",
        f"`uniform` per seed, warm-up checkpoint -> after GRPO: {uniform_seeds(out)}.",
        "",
        *([effect, ""] if (effect := net_effect_text(out)) else []),
        "How to read the table. Every difference is paired by seed (same warm-up checkpoint) "
        "and given as the mean with a 95% t interval over seeds. *Same steps*: final accuracy "
        "minus `uniform`'s after the same number of steps. *Rollout-matched*: minus a "
        "`uniform` run that takes round(batch x ratio) prompts per step, so that it generates "
        "as many rollouts as the strategy did on that seed (run for every strategy whose "
        "rollouts differ from `uniform`'s by more than 5%; otherwise `uniform` itself is the "
        "match). *At uniform's rollouts*: the strategy's accuracy (interpolated between "
        "evaluations) when it had generated as many rollouts as `uniform` did in its whole run. "
        "*Mean accuracy over uniform's rollouts*: the area under the accuracy-vs-rollouts "
        "curve from 0 to `uniform`'s total, divided by that total (a run that ended earlier "
        "holds its final accuracy). *Rollouts to uniform's final*: rollouts generated at the "
        "first evaluation reaching `uniform`'s final accuracy of the same seed, as a share of "
        "`uniform`'s total (mean over the seeds that reached it). *Effective ratio*: share of "
        "generated groups with mixed rewards. *Verdict*: `better` or `worse` only when the "
        "rollout-matched interval excludes 0.",
        "",
        results_table(rows, cfg.seeds),
        "",
        "Rollout-matched `uniform` controls:",
        "",
        controls_table(out),
        "",
        "Held-out accuracy against rollouts generated (mean over seeds; columns are multiples "
        "of `uniform`'s total, '-' once a run has stopped):",
        "",
        rollout_curve_table(out),
        "",
        "Held-out accuracy against GRPO steps (mean over seeds):",
        "",
        step_curve_table(out),
        "",
        "Final accuracy by level (mean over seeds):",
        "",
        levels_table(rows, out),
        "",
        "**Reading** (generated from the numbers above): " + interpret(rows),
        *(["", text] if (text := diagnosis(out, rows, cfg)) else []),
    ])  # fmt: skip


def parser(defaults: Config, doc: str) -> argparse.ArgumentParser:
    """The command line both scripts share."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--seeds", type=int, default=defaults.seeds)
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch", type=int, default=defaults.batch)
    p.add_argument("--rollouts", type=int, default=defaults.rollouts)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--eval-every", type=int, default=defaults.eval_every)
    p.add_argument("--strategies", default=",".join(defaults.strategies))
    p.add_argument("--no-matched", action="store_true", help="skip rollout-matched controls")
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--save", type=Path, help="also write the raw results as JSON here")
    p.add_argument("--first-seed", type=int, default=defaults.first_seed)
    p.add_argument(
        "--render-from",
        type=Path,
        nargs="+",
        help="rewrite the section from saved JSON (several: their seeds merged)",
    )
    p.add_argument("--note", default="", help="a sentence added to the section's first line")
    p.add_argument("--regime", choices=("a", "b"), default=defaults.regime,
                   help="a: the addition pool; b: padded with never-solved items")  # fmt: skip
    p.add_argument("--uniform-mix", type=float, default=defaults.uniform_mix,
                   help="Curriculum(uniform_mix=...) for every strategy but uniform "
                        "(default: each strategy's own; 0: off)")  # fmt: skip
    p.add_argument("--cover-groups", type=int, default=defaults.cover_groups,
                   help="Curriculum(cover_groups=...) for every strategy but uniform "
                        "(default: each strategy's own; 0: off)")  # fmt: skip
    return p


def configure(args: argparse.Namespace, defaults: Config) -> Config:
    """``defaults`` changed by the command line (a copy)."""
    cfg = copy.deepcopy(defaults)
    cfg.seeds, cfg.steps, cfg.batch, cfg.rollouts = (
        args.seeds,
        args.steps,
        args.batch,
        args.rollouts,
    )
    cfg.lr, cfg.eval_every, cfg.threads = args.lr, args.eval_every, args.threads
    cfg.first_seed = args.first_seed
    cfg.strategies, cfg.matched = args.strategies.split(","), not args.no_matched
    cfg.regime, cfg.uniform_mix, cfg.cover_groups = args.regime, args.uniform_mix, args.cover_groups
    safety_net(cfg)  # fail now, not after the first warm-up
    return quick(cfg) if args.quick else cfg


def saved_net(name: str, result: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """The safety net a saved run ran with: recorded with the run, or (older files, from
    before per-strategy defaults) the file's settings, which then applied to every strategy
    but uniform, with 0 and None meaning off."""
    if "safety" in result:
        return result["safety"]
    if name == "uniform":
        return dict(NET_OFF)
    return {"uniform_mix": float(cfg.get("uniform_mix") or 0.0),
            "cover_groups": cfg.get("cover_groups") or None}  # fmt: skip


def load(
    paths: list[Path], uniform_mix: float | None = None, cover_groups: int | None = None
) -> tuple[Config, dict[str, Any], float, str, bool]:
    """Saved results of one configuration, merged from several runs: runs of different
    seeds (e.g. side by side with ``--first-seed``) and runs of different strategies on the
    same seeds (each with its own ``uniform``, which must agree: runs are deterministic).
    A run stopped early saved the seeds it finished. The wall time is the longest run's.

    Safety net: only the runs whose net is the one ``uniform_mix``/``cover_groups`` give each
    strategy (None: its default; see :func:`net_of`) are kept, so one folder can hold runs
    with and without the net. Where the kept runs have a net, the same strategies' runs
    without it (the papers' methods) go to ``out["without_net"]`` (name -> seed -> final)."""
    saved = [json.loads(path.read_text()) for path in paths]
    regimes = {entry["cfg"].get("regime", "a") for entry in saved}
    if len(regimes) > 1:
        raise ValueError(f"the saved runs differ in regime ({', '.join(sorted(regimes))})")
    mode = Config(**{**saved[0]["cfg"], "uniform_mix": uniform_mix, "cover_groups": cover_groups})
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    matched: dict[str, dict[int, str | None]] = {}
    controls: dict[int, dict[str, Any]] = {}
    warm: dict[int, dict[str, Any]] = {}
    without: dict[str, dict[int, float]] = {}
    commands: list[str] = []
    for entry in saved:
        part = entry["out"]
        seeds = part.get("seeds", list(range(len(part["warm"]))))  # older files: 0, 1, ...
        used = False
        for row, seed in enumerate(seeds):
            warm.setdefault(seed, part["warm"][row])
            controls.setdefault(seed, {}).update(part["controls"][row])
            for name, results in part["results"].items():
                net, want = saved_net(name, results[row], entry["cfg"]), net_of(name, mode)
                if net != want:
                    if net == NET_OFF:
                        without.setdefault(name, {})[seed] = results[row]["final"]
                    continue
                used = True
                known = runs.setdefault(name, {}).get(seed)
                if known is not None and known["final"] != results[row]["final"]:
                    raise ValueError(f"two saved runs disagree on {name}, seed {seed}")
                if known is None or "diagnostics" not in known:  # keep a run's diagnostics
                    runs[name][seed] = results[row]
                matched.setdefault(name, {})[seed] = part["matched"][name][row]
        if used and entry["command"] not in commands:
            commands.append(entry["command"])
    # The seeds every strategy has (a strategy on fewer than 2 seeds is left out instead).
    names = sorted(runs, key=lambda n: [*RL_STRATEGIES, n].index(n))
    incomplete = [n for n in names if n != "uniform" and len(runs[n]) < 2]
    names = [n for n in names if n not in incomplete]
    order = sorted(set.intersection(*(set(runs[n]) for n in names)))
    out = dict(saved[0]["out"])
    out["incomplete"] = {n: sorted(runs[n]) for n in incomplete}
    out["seeds_left_out"] = sorted(set(runs.get("uniform", {})) - set(order))
    out["results"] = {n: [runs[n][s] for s in order] for n in names}
    out["matched"] = {n: [matched[n][s] for s in order] for n in names}
    out["controls"] = [controls[s] for s in order]
    out["warm"] = [warm[s] for s in order]
    out["seeds"] = order
    out["without_net"] = {n: without[n] for n in names if n in without}
    cfg = mode
    cfg.warmup_mix = {int(level): share for level, share in cfg.warmup_mix.items()}
    cfg.seeds, cfg.strategies = len(order), names
    elapsed = max(s["elapsed"] for s in saved)
    return cfg, out, elapsed, " and ".join(commands), saved[0]["quick"]


def variant(cfg: Config, title: str) -> tuple[str, str]:
    """The section's marker suffix and title: every strategy at its default keeps the
    original sections (regime (a), and ``_b``); the net off for all (``_nonet``: the papers'
    methods) or set for all (``_net``) get sections of their own."""
    suffix = "" if cfg.regime == "a" else f"_{cfg.regime}"
    if cfg.regime != "a":
        title += f", regime ({cfg.regime}): pool padded with never-solved items"
    if cfg.uniform_mix is None and cfg.cover_groups is None:
        return suffix, title
    if not cfg.uniform_mix and not cfg.cover_groups:
        return suffix + "_nonet", title + ", without the safety net (the papers' methods)"
    return suffix + "_net", (
        title + f", safety net on every strategy (uniform_mix {cfg.uniform_mix or 0:g}, "
        f"cover_groups {cfg.cover_groups or 'off'})"
    )


def main_for(
    script: str, defaults: Config, doc: str, start: str, end: str, title: str,
    argv: list[str] | None = None,
) -> None:  # fmt: skip
    """Parse, run (or reload), write the section; shared by grpo_cpu.py and grpo_gpu.py."""
    args = parser(defaults, doc).parse_args(argv)
    if args.render_from:
        cfg, out, elapsed, command, quick_run = load(
            args.render_from, args.uniform_mix, args.cover_groups
        )
    else:
        cfg, quick_run = configure(args, defaults), args.quick
        command = reproduce_command(
            script,
            result_args(sys.argv[1:] if argv is None else argv, ("--out", "--save", "--note")),
        )
        started = time.perf_counter()

        def save(out: dict[str, Any]) -> None:
            if args.save:
                elapsed = time.perf_counter() - started
                args.save.write_text(json.dumps({"out": out, "cfg": asdict(cfg),
                                                 "elapsed": elapsed, "command": command,
                                                 "quick": quick_run}))  # fmt: skip

        out = run(cfg, on_seed=save)
        elapsed = time.perf_counter() - started
    loadavg = os.getloadavg()[0]
    note = args.note
    if not quick_run and (cfg.seeds < defaults.seeds or cfg.steps < defaults.steps
                          or set(cfg.strategies) < set(defaults.strategies)):  # fmt: skip
        note += (
            f" **A reduced run**: the full run (part of `make bench`) is `.venv/bin/python "
            f"benchmarks/{script}`, {defaults.seeds} seeds x {defaults.steps} steps x all "
            f"{len(defaults.strategies)} strategies below plus their rollout-matched controls, "
            "and has not been made yet."
        )
    if not args.render_from and loadavg > (os.cpu_count() or 1):
        note += (
            f" The 1-minute load average at the end was {loadavg:.1f} on {os.cpu_count()} CPUs: "
            "other jobs shared the machine, so the run time is an upper bound."
        )
    suffix, title = variant(cfg, title)
    start, end = (marker.replace(":", f"{suffix}:", 1) for marker in (start, end))
    section = render(out, cfg, elapsed, command, quick_run=quick_run, note=note,
                     title=title)  # fmt: skip
    update_section(args.out, section, start, end)
    print(f"wrote {args.out} ({elapsed:.0f} s)", file=sys.stderr)
