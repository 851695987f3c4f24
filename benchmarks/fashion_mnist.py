"""Supervised curricula on real data: Fashion-MNIST, a small MLP in PyTorch on CPU.

Difficulty comes from an artificial crowd (PUDF): the same MLP trained for several step
budgets on 5 folds answers the held-out items, and a 1PL IRT model fitted to those answers
(``stepladder.grade``) gives each training item its difficulty. The crowd is computed once
and cached under ``$STEPLADDER_BENCH_CACHE`` (default: the system temp dir) with a content
hash of the data and the crowd settings. Then every strategy trains the MLP from the same
initialisations (one per seed) for a fixed number of optimizer steps, with a constant and
with a cosine-decaying learning rate, through ``stepladder.integrations.torch.
CurriculumSampler``. The table (final test accuracy, accuracy along the way, steps to reach
uniform's final accuracy, paired per-seed differences from uniform with a 95% confidence
interval) is written between the ``fashion_mnist`` markers of docs/benchmarks.md.

Conditions (``--conditions``, default all four; each writes its own marked section), the
settings where *When Do Curricula Work?* (Wu, Dyer and Neyshabur, ICLR 2021) finds curricula
help, and self-paced learning's target:

- ``clean``: the labels as published (markers ``fashion_mnist``);
- ``noiseNN``: symmetric label noise, NN% of the training labels (pool and probe) replaced by
  a uniformly random *other* class (markers ``fashion_mnist_noiseNN``). The corrupted set is
  fixed by the data seed: one noisy label set per condition, the same for every training seed
  and strategy (so per-seed differences are paired on the same data), and the items flipped
  at 20% are among those flipped at 40%. The crowd grades the noisy set, as a user's would,
  and its difficulty is cached per condition (the labels are part of the cache key). Test
  accuracy is always on the clean test set;
- ``budgetNN``: NN% of the default optimizer steps (markers ``fashion_mnist_budgetNN``), with
  every schedule (pacing, self-paced lambda steps, learning-rate decay, evaluation interval)
  scaled to the shorter run, as a user who knows the budget would set them. The crowd's cost
  is not counted in the budget.

Data: the Debian package ``dataset-fashion-mnist`` (IDX files under
/usr/share/datasets/fashion-mnist; ``apt-get install -y dataset-fashion-mnist``), or the
directory in ``$FASHION_MNIST_DIR``. Nothing is downloaded.

    .venv/bin/python benchmarks/fashion_mnist.py [--quick] [--seeds 3] [--strategies a,b]
        [--conditions clean,noise20,noise40,budget10]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _markdown import machine_description, markdown_table, update_section
from scipy import stats
from torch import nn
from torch.nn import functional as F

import stepladder
from stepladder import ItemPool
from stepladder.difficulty.crowd import artificial_crowd
from stepladder.integrations.torch import CurriculumSampler

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- fashion_mnist:start -->", "<!-- fashion_mnist:end -->"
DATA_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}
INSTALL_HINT = (
    "Fashion-MNIST not found in {dir}. Install the Debian package (no download from this "
    "script):\n    apt-get install -y dataset-fashion-mnist\n"
    "or point FASHION_MNIST_DIR at a directory holding " + ", ".join(FILES.values())
)
STRATEGIES = (
    "uniform",
    "easy_to_hard",
    "hard_to_easy",
    "competence",
    "baby_steps",
    "cyclical",
    "mixed",
    "reweight",
    "self_paced",
    "spdcl",
    "dds_mae",
    "adcl",
)
SCHEDULES = ("constant", "cosine")
CONDITIONS = ("clean", "noise20", "noise40", "budget10")
DATA_SEED = 0  # picks the training subset and, under noise, the corrupted labels
N_CLASSES = 10


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark run."""

    n_train: int = 20000  # training subset (items of the curriculum pool)
    n_probe: int = 1000  # held-out probe set for dds_mae's ability estimates
    steps: int = 2000  # optimizer steps per run
    batch: int = 100
    eval_every: int = 100
    lr: float = 0.05
    seeds: int = 3
    crowd_folds: int = 5
    crowd_budgets: tuple[int, ...] = (25, 50, 100, 200, 400)  # optimizer steps
    crowd_repeats: int = 2
    noise: float = 0.0  # fraction of training labels replaced by another class
    budget: float = 1.0  # fraction of the default steps (``steps`` is already scaled by it)


QUICK = Config(n_train=3000, n_probe=300, steps=150, eval_every=25, seeds=1, crowd_budgets=(20, 60))


# -- data --------------------------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed) as a uint8 array of its declared shape."""
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(directory: Path = DATA_DIR) -> dict[str, np.ndarray]:
    """Train and test images (float32 in [0, 1], flattened) and labels (int64)."""
    missing = [name for name in FILES.values() if not (directory / name).exists()]
    if missing:
        raise FileNotFoundError(INSTALL_HINT.format(dir=directory))
    data = {key: _read_idx(directory / name) for key, name in FILES.items()}
    for part in ("train", "test"):
        data[f"{part}_x"] = data[f"{part}_x"].reshape(len(data[f"{part}_x"]), -1) / 255.0
        data[f"{part}_x"] = data[f"{part}_x"].astype(np.float32)
        data[f"{part}_y"] = data[f"{part}_y"].astype(np.int64)
    return data


def parse_condition(name: str) -> tuple[float, float]:
    """``(noise, budget)`` of a condition name: ``clean``, ``noiseNN``, ``budgetNN`` (NN in %).

    >>> parse_condition("noise20"), parse_condition("budget10"), parse_condition("clean")
    ((0.2, 1.0), (0.0, 0.1), (0.0, 1.0))
    """
    if name == "clean":
        return 0.0, 1.0
    match = re.fullmatch(r"noise(\d+)|budget(\d+)", name)
    if match is None:
        raise ValueError(f"--conditions: unknown condition {name!r} (clean, noiseNN, budgetNN)")
    noise, budget = match.groups()
    if noise is not None:
        if not 0 < int(noise) < 100:
            raise ValueError(f"--conditions: {name!r} needs a noise percentage in 1..99")
        return int(noise) / 100, 1.0
    if not 0 < int(budget) <= 100:
        raise ValueError(f"--conditions: {name!r} needs a budget percentage in 1..100")
    return 0.0, int(budget) / 100


def for_condition(cfg: Config, name: str) -> Config:
    """``cfg`` under condition ``name``: label noise, or steps and evaluation scaled."""
    noise, budget = parse_condition(name)
    return replace(
        cfg,
        noise=noise,
        budget=budget,
        steps=max(round(cfg.steps * budget), 1),
        eval_every=max(round(cfg.eval_every * budget), 1),
    )


def symmetric_noise(
    y: np.ndarray, fraction: float, seed: int = DATA_SEED, n_classes: int = N_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``round(fraction * len(y))`` of them moved to a uniformly random other class.

    Returns the noisy labels and the mask of the changed items. The same ``seed`` flips nested
    sets: the items changed at a smaller fraction are changed, to the same class, at a larger.

    >>> noisy, flipped = symmetric_noise(np.arange(10) % 10, 0.3)
    >>> int(flipped.sum()), bool((noisy[flipped] != np.arange(10)[flipped]).all())
    (3, True)
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    offset = rng.integers(1, n_classes, size=len(y))  # 1..n_classes-1: never the same class
    flipped = np.zeros(len(y), dtype=bool)
    flipped[order[: round(fraction * len(y))]] = True
    noisy = np.where(flipped, (y + offset) % n_classes, y).astype(y.dtype)
    return noisy, flipped


# -- model and training --------------------------------------------------------------------------


def make_model(seed: int) -> nn.Module:
    """784-256-128-10 MLP with ReLU, initialised from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted classes, in chunks."""
    model.eval()
    out = torch.cat([model(x[i : i + 5000]).argmax(1) for i in range(0, len(x), 5000)])
    model.train()
    return out


def crowd_fit_predict(
    x: torch.Tensor, y: torch.Tensor, lr: float, batch: int
) -> Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]:
    """The crowd's ``fit_predict``: the MLP trained for ``budget`` SGD steps (uniform batches).

    Budgets of one fold and seed grow, so the model of a smaller budget is kept and trained on:
    each crowd member is a snapshot of one training run, as in PUDF (models after 1, 2, ...
    epochs), at the cost of the largest budget only.
    """
    runs: dict[tuple[bytes, int], tuple[nn.Module, torch.optim.Optimizer, np.random.Generator]]
    runs = {}
    done: dict[tuple[bytes, int], int] = {}

    def fit_predict(
        train_idx: np.ndarray, predict_idx: np.ndarray, budget: int, seed: int
    ) -> np.ndarray:
        key = (hashlib.sha1(train_idx.tobytes()).digest(), seed)
        if key not in runs or done[key] > budget:
            model = make_model(10_000 + seed)
            runs[key] = (
                model,
                torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9),
                np.random.default_rng(seed),
            )
            done[key] = 0
        model, opt, rng = runs[key]
        for _ in range(budget - done[key]):
            idx = torch.from_numpy(rng.choice(train_idx, size=batch, replace=False))
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        done[key] = budget
        chosen = torch.from_numpy(predict_idx)
        return (predict(model, x[chosen]) == y[chosen]).numpy()

    return fit_predict


def crowd_difficulty_cached(x: np.ndarray, y: np.ndarray, cfg: Config) -> tuple[np.ndarray, float]:
    """1PL difficulty of every item from the artificial crowd, cached by content hash.

    Returns the difficulties and the seconds spent computing them (0 when cached).
    """
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    settings = {
        "folds": cfg.crowd_folds,
        "budgets": list(cfg.crowd_budgets),
        "repeats": cfg.crowd_repeats,
        "lr": cfg.lr,
        "batch": cfg.batch,
        "model": "mlp-784-256-128-10",
        "torch": torch.__version__,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    cache = Path(os.environ.get("STEPLADDER_BENCH_CACHE", tempfile.gettempdir()))
    path = cache / "stepladder-bench" / f"fashion_mnist_crowd_{digest.hexdigest()[:20]}.npy"
    if path.exists():
        print(f"crowd difficulty: cached {path}", flush=True)
        return np.load(path), 0.0
    began = time.perf_counter()
    fit_predict = crowd_fit_predict(torch.from_numpy(x), torch.from_numpy(y), cfg.lr, cfg.batch)
    crowd = artificial_crowd(
        fit_predict,
        len(y),
        folds=cfg.crowd_folds,
        budgets=cfg.crowd_budgets,
        repeats=cfg.crowd_repeats,
        seed=0,
    )
    accuracy = ", ".join(f"{a:.3f}" for a in crowd.accuracy())
    print(f"crowd members' held-out accuracy: {accuracy}", flush=True)
    difficulty = crowd.difficulty("1pl")
    seconds = time.perf_counter() - began
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, difficulty)
    print(f"crowd difficulty: {seconds:.1f} s, cached in {path}", flush=True)
    return difficulty, seconds


def strategy_params(name: str, cfg: Config) -> dict[str, Any]:
    """Schedule lengths tied to the run length: pacing reaches the whole pool at half-way.

    Self-paced lambda grows once per pass over the pool, or per the same fraction of a
    budgeted run (10 times over the run at the default sizes).
    """
    half = max(cfg.steps // 2, 1)
    epoch_steps = max(cfg.n_train // cfg.batch, 1)
    return {
        "competence": {"pacing": "root", "start": 0.1, "total_steps": half},
        "baby_steps": {"n_buckets": 5, "steps_per_bucket": max(half // 5, 1)},
        "mixed": {"n_stages": 4, "steps_per_stage": max(half // 4, 1), "replay": 0.5},
        "reweight": {"floor": 0.1, "total_steps": half},
        "spdcl": {"total_steps": half},
        "self_paced": {"regime": "hard", "epoch_steps": max(round(epoch_steps * cfg.budget), 1)},
        "dds_mae": {"min_items": 100},
        "adcl": {"n_batches": 10},
    }.get(name, {})


def learning_rate(schedule: str, step: int, cfg: Config) -> float:
    """Constant, or cosine decay from ``cfg.lr`` to 0 over the run."""
    if schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))


def train_run(
    name: str, schedule: str, seed: int, data: dict[str, Any], cfg: Config
) -> dict[str, Any]:
    """One training run; returns the test-accuracy curve (every ``eval_every`` steps).

    Also returns ``noisy_share``: the share of the loss weight (1 per sampled item unless the
    strategy weights losses) that fell on items whose label was corrupted (0 without noise).
    """
    x, y = data["x"], data["y"]
    pool = ItemPool(size=len(y), difficulty=data["difficulty"])
    sampler = CurriculumSampler(
        pool, name, batch_size=cfg.batch, seed=seed, **strategy_params(name, cfg)
    )
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    probe_x, probe_y, probe_b = data["probe_x"], data["probe_y"], data["probe_difficulty"]
    strategy = sampler.curriculum.strategy

    def probe_update() -> int:
        correct = (predict(model, probe_x) == probe_y).numpy().astype(float)
        strategy.update_ability(correct, probe_b)
        return strategy.epoch_size

    epoch_left = probe_update() if name == "dds_mae" else 0
    stream = iter(sampler)
    epoch = 0
    curve: list[tuple[int, float]] = []
    flipped = data["flipped"]
    noisy_weight = total_weight = 0.0
    began = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        batch: list[int] = []
        while len(batch) < cfg.batch:
            try:
                batch.append(next(stream))
            except StopIteration:
                epoch += 1
                sampler.set_epoch(epoch)
                stream = iter(sampler)
        idx = torch.tensor(batch)
        for group in opt.param_groups:
            group["lr"] = learning_rate(schedule, step - 1, cfg)
        logits = model(x[idx])
        losses = F.cross_entropy(logits, y[idx], reduction="none")
        if sampler.weighted:
            weights = torch.from_numpy(sampler.weights_for(idx)).float()
            loss = (losses * weights).mean()
        else:
            weights = torch.ones(len(idx))
            loss = losses.mean()
        noisy_weight += float(weights[flipped[idx]].sum())
        total_weight += float(weights.sum())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sampler.observe(idx, losses=losses.detach(), correct=logits.argmax(1) == y[idx])
        if name == "dds_mae":
            epoch_left -= cfg.batch
            if epoch_left <= 0:
                epoch_left = probe_update()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            accuracy = float((predict(model, data["test_x"]) == data["test_y"]).float().mean())
            curve.append((step, accuracy))
    return {
        "strategy": name,
        "schedule": schedule,
        "seed": seed,
        "curve": curve,
        "seconds": time.perf_counter() - began,
        "noisy_share": noisy_weight / total_weight if total_weight > 0 else math.nan,
    }


# -- report --------------------------------------------------------------------------------------


def _steps_to(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((step for step, acc in curve if acc >= target), None)


def _accuracy_at(curve: list[tuple[int, float]], step: int) -> float:
    return min(curve, key=lambda point: abs(point[0] - step))[1]


def paired_difference(values: np.ndarray, base: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``values - base`` (paired by seed) and its 95% Student-t confidence interval.

    >>> mean, low, high = paired_difference(np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0]))
    >>> mean, round(low, 3), round(high, 3)
    (2.0, -0.484, 4.484)
    """
    diff = np.asarray(values, dtype=float) - np.asarray(base, dtype=float)
    mean = float(diff.mean())
    if len(diff) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff)))
    return mean, mean - half, mean + half


def verdict(low: float, high: float) -> str:
    """better / worse when the interval excludes 0, else no clear difference (n/a: no CI)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no clear difference"


def summarise(results: list[dict[str, Any]], cfg: Config) -> dict[str, list[dict[str, Any]]]:
    """Per schedule, per strategy: accuracies, steps to uniform's final accuracy, paired gap."""
    out: dict[str, list[dict[str, Any]]] = {}
    for schedule in SCHEDULES:
        runs = [r for r in results if r["schedule"] == schedule]
        base = {r["seed"]: r["curve"][-1][1] for r in runs if r["strategy"] == "uniform"}
        target = float(np.mean(list(base.values()))) if base else math.nan
        rows = []
        for name in dict.fromkeys(r["strategy"] for r in runs):
            mine = sorted((r for r in runs if r["strategy"] == name), key=lambda r: r["seed"])
            final = np.array([r["curve"][-1][1] for r in mine])
            paired = [r for r in mine if r["seed"] in base]
            diff = paired_difference(
                np.array([r["curve"][-1][1] for r in paired]),
                np.array([base[r["seed"]] for r in paired]),
            )
            rows.append(
                {
                    "strategy": name,
                    "n": len(mine),
                    "finals": final.tolist(),
                    "final_mean": float(final.mean()),
                    "final_sd": float(final.std(ddof=1)) if len(final) > 1 else math.nan,
                    "quarter": float(
                        np.mean([_accuracy_at(r["curve"], cfg.steps // 4) for r in mine])
                    ),
                    "half": float(
                        np.mean([_accuracy_at(r["curve"], cfg.steps // 2) for r in mine])
                    ),
                    "steps_to_target": [_steps_to(r["curve"], target) for r in mine],
                    "seconds": float(np.mean([r["seconds"] for r in mine])),
                    "noisy_share": float(np.mean([r["noisy_share"] for r in mine])),
                    "diff": diff if paired and name != "uniform" else None,
                    "target": target,
                }
            )
        out[schedule] = rows
    return out


def _title(condition: str, cfg: Config) -> str:
    if cfg.noise > 0:
        return (
            f"## Fashion-MNIST with {100 * cfg.noise:.0f}% symmetric label noise "
            f"(`benchmarks/fashion_mnist.py`, condition `{condition}`)"
        )
    if cfg.budget < 1:
        return (
            f"## Fashion-MNIST with {100 * cfg.budget:.0f}% of the training steps "
            f"(`benchmarks/fashion_mnist.py`, condition `{condition}`)"
        )
    return "## Supervised curricula on Fashion-MNIST (`benchmarks/fashion_mnist.py`)"


def _condition_text(cfg: Config, noise_auc: float | None) -> list[str]:
    crowd_steps = cfg.crowd_folds * cfg.crowd_repeats * max(cfg.crowd_budgets)
    if cfg.noise > 0:
        auc = (
            ""
            if noise_auc is None
            else f" The crowd sees the noise: a corrupted item is graded harder than a clean one "
            f"with probability {noise_auc:.3f} (AUC of the 1PL difficulty)."
        )
        return [
            "",
            f"Condition: **{100 * cfg.noise:.0f}% symmetric label noise**. "
            f"{100 * cfg.noise:.0f}% of the training labels (pool and probe set) were replaced "
            "by a uniformly random *other* class, once, by the data seed: every training seed "
            "and strategy sees the same noisy labels (so the seeds vary the initialisation and "
            "the sampler, not the corruption), and the items corrupted at 20% are among those "
            "corrupted at 40%. The artificial crowd is trained and graded on the noisy labels, "
            "as a user's would be, and cached per condition. Test accuracy is on the clean "
            "test set." + auc + " *noisy %* = share of the training loss weight (one per "
            "sampled item, or the strategy's weights) that fell on corrupted items; uniform "
            f"sampling gives about {100 * cfg.noise:.0f}%.",
        ]
    if cfg.budget < 1:
        return [
            "",
            f"Condition: **{100 * cfg.budget:.0f}% of the training steps** ({cfg.steps} steps, "
            f"{cfg.steps * cfg.batch / cfg.n_train:.1f} passes over the pool). Every schedule "
            "is scaled to the shorter run, as a user who knows the budget would set it: the "
            "pacing reaches the whole pool at half the run, self-paced lambda grows every "
            f"{max(round(cfg.n_train / cfg.batch * cfg.budget), 1)} steps, the cosine decay "
            f"ends at step {cfg.steps}, and test accuracy is taken every {cfg.eval_every} "
            "steps. The difficulty is the clean condition's (same labels, same cache); its "
            f"cost, {crowd_steps} optimizer steps of crowd training, is not counted in the "
            "budget."
            + (
                " In a single pass every item is seen once, so strategies that act on an "
                "item's own last loss cannot act yet: `self_paced` gives unseen items weight 1 "
                "(it equals uniform), and `adcl`'s first sweep keeps the difficulty order (it "
                "equals `easy_to_hard`)."
                if cfg.steps * cfg.batch <= cfg.n_train
                else ""
            ),
        ]
    return []


def render(
    summary: dict[str, list[dict[str, Any]]],
    cfg: Config,
    seconds: float,
    crowd_seconds: float,
    command: str,
    skipped: dict[str, str],
    load: float,
    note: str = "",
    condition: str = "clean",
    noise_auc: float | None = None,
) -> str:
    """The docs section: settings, one table per schedule, and a reading of the numbers."""
    noisy = cfg.noise > 0
    passes = cfg.steps * cfg.batch / cfg.n_train
    lines = [
        _title(condition, cfg),
        "",
        f"Command: `{command}`. Machine: {machine_description()}; "
        f"torch {torch.__version__}, torch threads: {torch.get_num_threads()}; load average "
        f"{load:.1f} when the run started"
        + (f" ({note}). " if note else ". ")
        + f"Wall time {seconds / 60:.1f} min (artificial crowd: "
        + (f"{crowd_seconds:.0f} s)." if crowd_seconds else "cached)."),
        *_condition_text(cfg, noise_auc),
        "",
        f"Setup: a 784-256-128-10 MLP trained with SGD (momentum 0.9, batch {cfg.batch}) for "
        f"{cfg.steps} optimizer steps on a fixed random subset of {cfg.n_train} training "
        f"images ({passes:.1f} passes); test accuracy on the "
        f"10,000 test images every {cfg.eval_every} steps; seeds: {cfg.seeds} (each seed sets "
        "the initialisation, the same for every strategy, and the sampler). Learning-rate "
        f"schedules: **constant** {cfg.lr}, and **cosine** decay from {cfg.lr} to 0 over the "
        "run. Difficulty: 1PL IRT (`stepladder.grade`) on the responses of an artificial "
        f"crowd (`stepladder.difficulty.crowd`): the same MLP trained for "
        f"{', '.join(map(str, cfg.crowd_budgets))} steps on {cfg.crowd_folds} folds x "
        f"{cfg.crowd_repeats} fold splits, each answering only its held-out fold "
        f"({len(cfg.crowd_budgets) * cfg.crowd_repeats} crowd members). `dds_mae` estimates "
        f"ability on a separate probe set of {cfg.n_probe} training images (crowd-graded, "
        "never trained on) before training and after each of its epochs. Pacing schedules "
        "reach the whole pool at half the run (competence root-2 from 10%, baby_steps 5 "
        "buckets, mixed 4 stages with 50% replay, reweight and spdcl horizons); cyclical, "
        "self_paced (hard weights, lambda x1.3 per "
        + ("pass" if cfg.budget == 1 else "tenth of the run")
        + "), adcl (10 batches, re-sorted by the last observed losses, no separate "
        "re-scoring pass) and the sweeps use their defaults.",
        "",
        "Columns: test accuracy (%) after a quarter, half and all of the steps (mean over "
        "seeds; final as mean ± sd); *vs uniform* = mean over seeds of the per-seed "
        "difference of final accuracy from uniform's (same seed, same initialisation), in "
        "points, with its 95% confidence interval (Student t), called better/worse only when "
        "the interval excludes 0; *steps to uniform* = per seed, the first evaluated step at "
        "which the run reaches uniform's mean final accuracy for that schedule (— = not "
        "reached).",
    ]
    if skipped:
        lines += ["", "Not run: " + "; ".join(f"`{k}` ({v})" for k, v in skipped.items()) + "."]
    reading: list[str] = []
    for schedule, rows in summary.items():
        if not rows:
            continue
        base = next((r for r in rows if r["strategy"] == "uniform"), None)
        table_rows = []
        for row in rows:
            steps = " / ".join("—" if s is None else str(s) for s in row["steps_to_target"])
            sd = "" if math.isnan(row["final_sd"]) else f" ± {100 * row['final_sd']:.2f}"
            gap = ""
            if row["diff"] is not None:
                mean, low, high = (100 * v for v in row["diff"])
                interval = "" if math.isnan(low) else f" [{low:+.2f}, {high:+.2f}]"
                gap = f"{mean:+.2f}{interval} {verdict(low, high)}"
            cells = [
                f"`{row['strategy']}`",
                f"{100 * row['quarter']:.2f}",
                f"{100 * row['half']:.2f}",
                f"{100 * row['final_mean']:.2f}{sd}",
                gap,
                steps,
            ]
            if noisy:
                cells.append(f"{100 * row['noisy_share']:.1f}")
            table_rows.append([*cells, f"{row['seconds']:.0f}"])
        header = [
            "strategy",
            f"@{cfg.steps // 4}",
            f"@{cfg.steps // 2}",
            f"final @{cfg.steps}",
            "vs uniform [95% CI]",
            "steps to uniform",
            *(["noisy %"] if noisy else []),
            "s/run",
        ]
        lines += [
            "",
            f"### {schedule} learning rate (uniform's final accuracy "
            f"{100 * rows[0]['target']:.2f}%)",
            "",
            markdown_table(header, table_rows),
        ]
        if base is not None:
            reading.append(_reading(schedule, rows, base))
    if reading:
        lines += ["", "Reading (computed from the numbers above):", "", *reading]
        lines += [
            "",
            f"With {cfg.seeds} seeds the intervals are wide; a gap that is not called better "
            "or worse here is not evidence of an effect either way. Where no strategy is "
            "better, curricula do not help this model and data in this condition.",
        ]
    return "\n".join(lines)


def _reading(schedule: str, rows: list[dict[str, Any]], base: dict[str, Any]) -> str:
    """One plain sentence per schedule: who beat uniform beyond noise, who lost, who is level."""
    groups: dict[str, list[str]] = {"better": [], "worse": [], "no clear difference": []}
    for row in rows:
        if row["diff"] is None:
            continue
        mean, low, high = (100 * v for v in row["diff"])
        label = verdict(low, high)
        if label in groups:
            groups[label].append(f"`{row['strategy']}` ({mean:+.2f} [{low:+.2f}, {high:+.2f}])")
    uniform_steps = [s for s in base["steps_to_target"] if s is not None]
    faster = [
        r["strategy"]
        for r in rows
        if r is not base
        and all(s is not None for s in r["steps_to_target"])
        and uniform_steps
        and np.median(r["steps_to_target"]) < np.median(uniform_steps)
    ]
    twins = []
    for i, row in enumerate(rows):
        same = next((r for r in rows[:i] if r["finals"] == row["finals"]), None)
        if same is not None:
            twins.append(f"`{row['strategy']}` equals `{same['strategy']}`")
    best = max(rows, key=lambda r: r["final_mean"])
    leader = (
        "uniform itself"
        if best is base
        else f"`{best['strategy']}` ({100 * best['final_mean']:.2f}% vs uniform "
        f"{100 * base['final_mean']:.2f}%)"
    )
    return (
        f"- **{schedule}** (uniform {100 * base['final_mean']:.2f}%): beat uniform beyond "
        "seed noise (95% CI of the paired difference above 0): "
        + (", ".join(groups["better"]) or "none")
        + "; worse: "
        + (", ".join(g.split(" (")[0] for g in groups["worse"]) or "none")
        + "; no clear difference: "
        + (", ".join(g.split(" (")[0] for g in groups["no clear difference"]) or "none")
        + f". Highest final mean: {leader}. Reached uniform's final accuracy in every seed "
        "with fewer steps (median) than uniform itself: "
        + (", ".join(f"`{k}`" for k in faster) or "none")
        + "."
        + (" Same final accuracy on every seed: " + "; ".join(twins) + "." if twins else "")
    )


def markers(condition: str) -> tuple[str, str]:
    """The section markers of a condition: ``fashion_mnist`` (clean) or ``fashion_mnist_<name>``."""
    if condition == "clean":
        return START, END
    key = f"fashion_mnist_{condition}"
    return f"<!-- {key}:start -->", f"<!-- {key}:end -->"


def _noise_auc(difficulty: np.ndarray, flipped: np.ndarray) -> float | None:
    """P(a corrupted item is graded harder than a clean one), ties half (Mann-Whitney AUC)."""
    if not flipped.any() or flipped.all():
        return None
    ranks = stats.rankdata(difficulty)
    k, m = int(flipped.sum()), int((~flipped).sum())
    return float((ranks[flipped].sum() - k * (k + 1) / 2) / (k * m))


def run_condition(
    condition: str,
    raw: dict[str, np.ndarray],
    names: list[str],
    schedules: list[str],
    base_cfg: Config,
    skipped: dict[str, str],
    resume: Path | None = None,
) -> tuple[list[dict[str, Any]], Config, float, float | None]:
    """Every strategy and schedule on one condition; returns runs, config, crowd s, noise AUC.

    With ``resume``, each finished run is appended to that JSON Lines file, and runs already
    there with the same condition, settings, stepladder and torch versions are reused.
    """
    cfg = for_condition(base_cfg, condition)
    rng = np.random.default_rng(DATA_SEED)
    chosen = rng.permutation(len(raw["train_y"]))[: cfg.n_train + cfg.n_probe]
    x_all, y_all = raw["train_x"][chosen], raw["train_y"][chosen]
    flipped = np.zeros(len(y_all), dtype=bool)
    if cfg.noise > 0:
        y_all, flipped = symmetric_noise(y_all, cfg.noise)
    # The cache key hashes the labels, so each noise level gets its own crowd.
    difficulty, crowd_seconds = crowd_difficulty_cached(x_all, y_all, cfg)
    auc = _noise_auc(difficulty, flipped)
    n = cfg.n_train
    data = {
        "x": torch.from_numpy(x_all[:n]),
        "y": torch.from_numpy(y_all[:n]),
        "flipped": torch.from_numpy(flipped[:n]),
        "difficulty": difficulty[:n],
        "probe_x": torch.from_numpy(x_all[n:]),
        "probe_y": torch.from_numpy(y_all[n:]),
        "probe_difficulty": difficulty[n:],
        "test_x": torch.from_numpy(raw["test_x"]),
        "test_y": torch.from_numpy(raw["test_y"]),
    }
    began = time.perf_counter()
    results = []
    failed: set[str] = set()
    tag = json.dumps(
        [condition, asdict(cfg), stepladder.__version__, torch.__version__], sort_keys=True
    )
    done: dict[tuple[str, str, int], dict[str, Any]] = {}
    if resume is not None and resume.exists():
        for line in resume.read_text(encoding="utf-8").splitlines():
            saved = json.loads(line)
            if saved.pop("tag") == tag:
                saved["curve"] = [tuple(point) for point in saved["curve"]]
                done[(saved["schedule"], saved["strategy"], saved["seed"])] = saved
    for schedule in schedules:
        for name in names:
            if name in failed:
                continue
            for seed in range(cfg.seeds):
                if (schedule, name, seed) in done:
                    results.append(done[(schedule, name, seed)])
                    continue
                try:
                    run = train_run(name, schedule, seed, data, cfg)
                except Exception as error:  # report and go on: one strategy must not sink all
                    skipped[name] = f"failed: {type(error).__name__}: {error}"
                    print(f"{name}: {skipped[name]}", file=sys.stderr, flush=True)
                    failed.add(name)
                    break
                results.append(run)
                if resume is not None:
                    with resume.open("a", encoding="utf-8") as stream:
                        stream.write(json.dumps({**run, "tag": tag}) + "\n")
                print(
                    f"{condition:9s} {schedule:8s} {name:13s} seed {seed}: final "
                    f"{100 * run['curve'][-1][1]:.2f}% ({run['seconds']:.1f} s; "
                    f"{(time.perf_counter() - began) / 60:.1f} min elapsed)",
                    flush=True,
                )
    return [r for r in results if r["strategy"] not in failed], cfg, crowd_seconds, auc


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write each condition's section of docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (about a minute)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy (3)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--schedules", default=",".join(SCHEDULES))
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help="clean, noiseNN (NN%% symmetric label noise), budgetNN (NN%% of the steps); "
        "each writes its own section (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-write", action="store_true", help="print, do not update the docs")
    parser.add_argument(
        "--json", type=Path, default=None, help="also save the raw curves (NAME_<condition>.json)"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="JSON Lines file: append each finished run, reuse matching runs found there",
    )
    parser.add_argument("--note", default="", help="a remark on the machine, for the docs")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: the core count)"
    )
    args = parser.parse_args(argv)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    try:
        for condition in conditions:
            parse_condition(condition)
    except ValueError as error:
        parser.error(str(error))
    cfg = QUICK if args.quick else Config()
    if args.seeds is not None:
        cfg = replace(cfg, seeds=args.seeds)
    if args.steps is not None:
        cfg = replace(cfg, steps=args.steps)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    try:
        raw = load_fashion_mnist()
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2

    available = set(stepladder.strategies.available())
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unregistered = {n: "not registered" for n in names if n not in available}
    names = [n for n in names if n in available]
    if "uniform" not in names:
        names.insert(0, "uniform")
    schedules = [s.strip() for s in args.schedules.split(",") if s.strip() in SCHEDULES]

    command = "python benchmarks/fashion_mnist.py" + (" --quick" if args.quick else "")
    if args.threads is not None:
        command += f" --threads {args.threads}"
    if args.seeds is not None:
        command += f" --seeds {args.seeds}"
    if args.steps is not None:
        command += f" --steps {args.steps}"
    if args.strategies != ",".join(STRATEGIES):
        command += f" --strategies {args.strategies}"
    if args.schedules != ",".join(SCHEDULES):
        command += f" --schedules {args.schedules}"
    for condition in conditions:
        load = os.getloadavg()[0]
        began = time.perf_counter()
        skipped = dict(unregistered)
        results, run_cfg, crowd_seconds, auc = run_condition(
            condition, raw, names, schedules, cfg, skipped, args.resume
        )
        if args.json:
            path = args.json.with_name(f"{args.json.stem}_{condition}{args.json.suffix}")
            path.write_text(json.dumps(results), encoding="utf-8")
        section = render(
            summarise(results, run_cfg),
            run_cfg,
            time.perf_counter() - began,
            crowd_seconds,
            f"{command} --conditions {condition}",
            skipped,
            load,
            args.note,
            condition,
            auc,
        )
        print(section, flush=True)
        if not args.no_write:
            update_section(args.out, section, *markers(condition))
            print(f"wrote {args.out} ({condition})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
