"""Time the curriculum hot path: ``propose(batch)`` + ``observe(batch x rollouts rewards)``.

Two parts, both measured in CPU time (``time.process_time``) on pools of 10^4 to 10^7 items:

- Every registered strategy (or those given with ``--strategies``), and by default the
  NumPy path of the mixture teachers (``DEFAULT_VARIANTS``): CPU milliseconds per step
  (median and 95th percentile), the one-off setup (binding to the pool), and the size of the
  checkpoint (``save_state`` of ``state_dict()``) after the run. A step is the one of
  :func:`stepladder.testing.time_steps`: rewards plus the advantages, losses or signals the
  strategy declares in ``feedback``. Pools have 8 groups, a normal difficulty and 2-D uniform
  features (task parameters) per item, stored by ``ItemPool`` as float64 (24 bytes per item).
  Each (strategy, size) cell is capped by steps and by a CPU budget, so slow strategies cost
  at most a few seconds each.
- The floor comparison: ``uniform`` (without replacement, the default, and with
  ``replace=True``) against a straightforward pure-Python peer that keeps per-item statistics
  in Python lists, with the naive/stepladder ratio (the headline: absolute times on a shared
  machine are noisy), how the step time grows with the batch size at the largest pool, and
  the memory per item.

The tables are printed and written between the ``hot_path`` markers of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/hot_path.py [--sizes N ...] [--strategies a,b] [--budget S]
    .venv/bin/python benchmarks/hot_path.py --quick          # smoke run, writes nothing

Rewards are generated before the timed region; building the ``Outcomes`` from the proposed
indices is part of the step, as it is in a training loop.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    update_section,
)

from stepladder import Curriculum, ItemPool, Outcomes, save_state, strategies
from stepladder.testing import time_steps as time_strategy_steps

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- hot_path:start -->"
END = "<!-- hot_path:end -->"
DEFAULT_SIZES = (10**4, 10**5, 10**6, 10**7)
QUICK_SIZES = (10**3, 10**4)
STRATEGY_STEPS = 20  # timed steps per (strategy, size) cell, at most
STRATEGY_WARMUP = 2
BUDGET_S = 3.0  # CPU seconds per (strategy, size) cell, warm-up included
TARGET_MS = 5.0
#: Rows with options timed beside every registered strategy by default: the mixture
#: teachers' NumPy path (the plain rows fit compiled where numba is installed)
DEFAULT_VARIANTS = ("alp_gmm:engine=numpy", "covar_gmm:engine=numpy")
TARGET_SIZE = 10**7
REWARD_BATCHES = 16  # distinct pre-generated reward arrays, cycled through the steps
MIB = 2**20
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Run:
    """One timed series: a peer on one pool size and batch size."""

    peer: str
    size: int
    batch: int
    setup_ms: float
    step_ms: np.ndarray
    allocated_bytes: int  # bytes the peer allocates for the pool and its per-item state
    rss_after_setup: int | None  # resident-set growth caused by setup, bytes
    rss_after_steps: int | None  # resident-set growth after warm-up and timed steps, bytes

    @property
    def median(self) -> float:
        return float(np.median(self.step_ms))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.step_ms, 95))

    @property
    def steps(self) -> int:
        return len(self.step_ms)


class NaiveCurriculum:
    """The straightforward pure-Python peer: per-item statistics in Python lists.

    Proposes ``batch`` distinct items with ``random.sample`` (distinct within a batch only,
    unlike stepladder's ``uniform``, which visits every item once per epoch) and updates the
    statistics with a loop over items and rollouts.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.attempts = [0] * size
        self.successes = [0.0] * size
        self.last_step = [-1] * size
        self.step = 0
        self.rng = random.Random(seed)

    def propose(self, n: int) -> list[int]:
        chosen: list[int] = []
        while len(chosen) < n:  # a batch larger than the pool takes several samples
            chosen += self.rng.sample(range(self.size), min(n - len(chosen), self.size))
        return chosen

    def observe(self, indices: list[int], rewards: list[list[float]]) -> None:
        for item, row in zip(indices, rewards, strict=True):
            for reward in row:
                self.attempts[item] += 1
                self.successes[item] += reward
            self.last_step[item] = self.step
        self.step += 1

    @property
    def nbytes(self) -> int:
        """Bytes of the three lists (pointer slots; touched items add their own objects)."""
        return sum(sys.getsizeof(x) for x in (self.attempts, self.successes, self.last_step))


def current_rss() -> int | None:
    """Resident set size of this process in bytes, or None where /proc is unavailable."""
    try:
        with open("/proc/self/statm", encoding="ascii") as stream:
            resident_pages = int(stream.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int | None:
    """Peak resident set size of this process in bytes, or None where unavailable."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _growth(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def _array_bytes(obj: Any) -> int:
    return sum(v.nbytes for v in vars(obj).values() if isinstance(v, np.ndarray))


def make_rewards(batch: int, rollouts: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 2, (batch, rollouts)).astype(np.float64) for _ in range(count)]


def time_steps(step: Callable[[int], None], warmup: int, steps: int) -> np.ndarray:
    """CPU ms per call of ``step(i)`` for ``steps`` calls after ``warmup`` untimed ones."""
    for i in range(warmup):
        step(i)
    times = np.empty(steps)
    clock = time.process_time_ns
    for i in range(steps):
        start = clock()
        step(warmup + i)
        times[i] = clock() - start
    return times / 1e6


def run_stepladder(
    size: int, batch: int, rollouts: int, steps: int, warmup: int, seed: int, replace: bool
) -> Run:
    rewards = make_rewards(batch, rollouts, min(REWARD_BATCHES, steps + warmup), seed)
    gc.collect()
    rss_before = current_rss()
    start = time.process_time()
    cur = Curriculum(ItemPool(size=size), "uniform", seed=seed, replace=replace)
    setup_ms = (time.process_time() - start) * 1e3
    rss_setup = current_rss()

    def step(i: int) -> None:
        proposal = cur.propose(batch)
        cur.observe(Outcomes(proposal.indices, rewards[i % len(rewards)]))

    times = time_steps(step, warmup, steps)
    allocated = cur.pool.nbytes + _array_bytes(cur.stats) + _array_bytes(cur.strategy)
    return Run(
        peer="uniform, replace=True" if replace else "uniform",
        size=size,
        batch=batch,
        setup_ms=setup_ms,
        step_ms=times,
        allocated_bytes=allocated,
        rss_after_setup=_growth(rss_before, rss_setup),
        rss_after_steps=_growth(rss_before, current_rss()),
    )


def run_naive(size: int, batch: int, rollouts: int, steps: int, warmup: int, seed: int) -> Run:
    reward_lists = [
        r.tolist() for r in make_rewards(batch, rollouts, min(REWARD_BATCHES, steps + warmup), seed)
    ]
    gc.collect()
    rss_before = current_rss()
    start = time.process_time()
    naive = NaiveCurriculum(size, seed)
    setup_ms = (time.process_time() - start) * 1e3
    rss_setup = current_rss()

    def step(i: int) -> None:
        indices = naive.propose(batch)
        naive.observe(indices, reward_lists[i % len(reward_lists)])

    times = time_steps(step, warmup, steps)
    return Run(
        peer="naive",
        size=size,
        batch=batch,
        setup_ms=setup_ms,
        step_ms=times,
        allocated_bytes=naive.nbytes,
        rss_after_setup=_growth(rss_before, rss_setup),
        rss_after_steps=_growth(rss_before, current_rss()),
    )


@dataclass
class Cell:
    """One strategy on one pool size: setup, CPU time per step, checkpoint size."""

    strategy: str
    size: int
    setup_ms: float = math.nan
    step_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    state_bytes: int | None = None
    error: str | None = None

    @property
    def median(self) -> float:
        return float(np.median(self.step_ms)) if self.step_ms.size else math.nan

    @property
    def p95(self) -> float:
        return float(np.percentile(self.step_ms, 95)) if self.step_ms.size else math.nan

    @property
    def steps(self) -> int:
        return len(self.step_ms)


def bench_pool(size: int, seed: int) -> ItemPool:
    """8 groups, a normal difficulty and 2-D uniform features (task parameters) per item."""
    rng = np.random.default_rng(seed)
    return ItemPool(
        size=size,
        groups=np.arange(size, dtype=np.int64) % 8,
        difficulty=rng.normal(size=size),
        features=rng.random((size, 2)),
    )


def checkpoint_bytes(cur: Curriculum) -> int:
    """Bytes of the file ``save_state`` writes for ``cur.state_dict()``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.npz"
        save_state(path, cur.state_dict())
        return path.stat().st_size


def strategy_entry(entry: str) -> tuple[str, dict[str, Any]]:
    """(strategy name, options) of a ``--strategies`` entry: ``name`` or
    ``name:option=value[:option=value]``, values ``true``/``false``, numbers or text.

    Example:
        >>> strategy_entry("alp_gmm:warm_start=true:fit_every=100")
        ('alp_gmm', {'warm_start': True, 'fit_every': 100})
    """
    name, *pairs = entry.split(":")
    options: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not key or not equals:
            raise ValueError(f"strategy option {pair!r} in {entry!r}: expected option=value")
        value: Any = {"true": True, "false": False}.get(text.lower(), text)
        if isinstance(value, str):
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    pass
        options[key] = value
    return name, options


def run_strategy(
    name: str,
    pool: ItemPool,
    *,
    batch: int,
    rollouts: int,
    steps: int,
    warmup: int,
    budget_s: float,
    seed: int,
) -> Cell:
    """Time one strategy on one pool; an error is recorded in the cell, not raised.

    ``name`` may carry options (:func:`strategy_entry`): the row is labelled with the entry.
    """
    cell = Cell(name, pool.size)
    gc.collect()
    try:
        strategy, options = strategy_entry(name)
        start = time.process_time()
        cur = Curriculum(pool, strategy, seed=seed, **options)
        cell.setup_ms = (time.process_time() - start) * 1e3
        times = time_strategy_steps(
            cur,
            batch=batch,
            rollouts=rollouts,
            steps=steps,
            warmup=warmup,
            budget_s=budget_s,
            seed=seed,
        )
        cell.step_ms = times * 1e3
        cell.state_bytes = checkpoint_bytes(cur)
    except Exception as error:  # a failing strategy is reported in its row
        cell.error = f"{type(error).__name__}: {error}"
    return cell


@dataclass
class Results:
    sizes: list[int]
    batch: int
    rollouts: int
    steps: int
    naive_steps: int
    warmup: int
    uniform: dict[int, Run]
    replace: dict[int, Run]
    naive: dict[int, Run]
    scaling: list[Run]
    peak_rss: int | None
    cells: dict[str, dict[int, Cell]]
    strategy_steps: int
    strategy_warmup: int
    budget_s: float


def measure(
    sizes: Sequence[int],
    *,
    batch: int,
    rollouts: int,
    steps: int,
    naive_steps: int,
    warmup: int,
    scaling_batches: Sequence[int],
    seed: int,
    log: Callable[[str], None],
    names: Sequence[str] = (),
    strategy_steps: int = STRATEGY_STEPS,
    strategy_warmup: int = STRATEGY_WARMUP,
    budget_s: float = BUDGET_S,
) -> Results:
    uniform: dict[int, Run] = {}
    replace: dict[int, Run] = {}
    naive: dict[int, Run] = {}
    cells: dict[str, dict[int, Cell]] = {name: {} for name in names}
    if any(name.split(":")[0] in ("alp_gmm", "covar_gmm") for name in names):
        compile_mixture_fits()
    for size in sizes:
        log(f"pool of {size:,} items")
        pool = bench_pool(size, seed)
        for name in names:
            cell = run_strategy(
                name,
                pool,
                batch=batch,
                rollouts=rollouts,
                steps=strategy_steps,
                warmup=strategy_warmup,
                budget_s=budget_s,
                seed=seed,
            )
            cells[name][size] = cell
            log(
                f"  {name}: {cell.error}"
                if cell.error
                else f"  {name}: {_ms(cell.median)} ms median over {cell.steps} steps"
            )
        del pool
        gc.collect()
        uniform[size] = run_stepladder(size, batch, rollouts, steps, warmup, seed, replace=False)
        replace[size] = run_stepladder(size, batch, rollouts, steps, warmup, seed, replace=True)
        naive[size] = run_naive(size, batch, rollouts, naive_steps, warmup, seed)
        gc.collect()
    largest = max(sizes)
    log(f"batch scaling at {largest:,} items")
    scaling = [
        run_stepladder(largest, b, rollouts, steps, warmup, seed, replace=False)
        for b in scaling_batches
    ]
    return Results(
        sizes=list(sizes),
        batch=batch,
        rollouts=rollouts,
        steps=steps,
        naive_steps=naive_steps,
        warmup=warmup,
        uniform=uniform,
        replace=replace,
        naive=naive,
        scaling=scaling,
        peak_rss=peak_rss(),
        cells=cells,
        strategy_steps=strategy_steps,
        strategy_warmup=strategy_warmup,
        budget_s=budget_s,
    )


def _ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value < 1:
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f}"


def interpretation(res: Results) -> list[str]:
    """Sentences derived from the measured numbers (nothing here is decided in advance)."""
    sentences = []
    if TARGET_SIZE in res.uniform:
        run = res.uniform[TARGET_SIZE]
        verdict = "meets" if run.median < TARGET_MS else "misses"
        tail = "under" if run.p95 < TARGET_MS else "over"
        sentences.append(
            f"At {TARGET_SIZE:,} items a `uniform` step took {_ms(run.median)} ms (median), "
            f"which {verdict} the {TARGET_MS:g} ms target; the 95th percentile, "
            f"{_ms(run.p95)} ms, is {tail} it."
        )
    else:
        sentences.append(
            f"The {TARGET_MS:g} ms target is set for {TARGET_SIZE:,} items, which this run "
            f"did not measure (largest pool: {max(res.sizes):,} items)."
        )
    ratios = [res.naive[s].median / res.uniform[s].median for s in res.sizes]
    replace_ratios = [res.naive[s].median / res.replace[s].median for s in res.sizes]
    sentences.append(
        f"The pure-Python loop needed {_span(ratios)} the median step time of `uniform` "
        f"({_span(replace_ratios)} that of `replace=True`), so "
        + (
            f"both were {_faster(ratios)}."
            if _faster(ratios) == _faster(replace_ratios)
            else f"`uniform` was {_faster(ratios)} and `replace=True` {_faster(replace_ratios)}."
        )
    )
    if len(res.sizes) > 1:
        small, large = min(res.sizes), max(res.sizes)
        parts = []
        for label, runs in (("`uniform`", res.uniform), ("`replace=True`", res.replace)):
            growth = runs[large].median / runs[small].median
            medians = {size: runs[size].median for size in res.sizes}
            slowest, fastest = (
                max(medians, key=medians.__getitem__),
                min(medians, key=medians.__getitem__),
            )
            text = f"{growth:.2f} for {label}"
            if medians[slowest] / medians[fastest] >= 1.5:
                text += (
                    f" (not monotonic in between: slowest at {slowest:,} items, "
                    f"{medians[slowest] / medians[fastest]:.1f}{TIMES} the fastest, at "
                    f"{fastest:,})"
                )
            parts.append((growth, text))
        grows = max(g for g, _ in parts) >= 2
        verdict = "grew with the pool size" if grows else "did not grow with the pool size"
        sentences.append(
            f"From {small:,} to {large:,} items ({large / small:,.0f}{TIMES} the pool) the median "
            f"step time changed by a factor of {' and '.join(t for _, t in parts)}: it {verdict}."
        )
    if len(res.scaling) > 1:
        first, last = res.scaling[0], res.scaling[-1]
        fold = last.batch / first.batch
        growth = last.median / first.median
        batch_verdict = "no faster than" if growth <= 1.25 * fold else "faster than"
        sentences.append(
            f"Growing the batch {fold:g}-fold (at {last.size:,} items) multiplied the median "
            f"step time by {growth:.1f}, {batch_verdict} the batch size."
        )
    run = res.uniform[max(res.sizes)]
    if run.rss_after_setup is not None and run.rss_after_steps is not None:
        grew = run.rss_after_steps > max(2 * run.rss_after_setup, MIB)
        reason = ", as observations of random items touch pages across the arrays" if grew else ""
        sentences.append(
            f"Setting up {run.size:,} items made {_mib(run.rss_after_setup)} MiB resident of the "
            f"{_mib(run.allocated_bytes)} MiB allocated (zeroed arrays are mapped lazily); "
            f"after {res.warmup + run.steps} steps of {run.batch} random items it was "
            f"{_mib(run.rss_after_steps)} MiB{reason}."
        )
    return sentences


def _span(values: Sequence[float]) -> str:
    low, high = f"{min(values):.1f}{TIMES}", f"{max(values):.1f}{TIMES}"
    return low if low == high else f"{low} to {high}"


def _spread(values: Sequence[float]) -> float:
    return max(values) / min(values)


def _faster(ratios: Sequence[float]) -> str:
    if min(ratios) > 1:
        return "faster than the loop at every pool size measured"
    if max(ratios) < 1:
        return "slower than the loop at every pool size measured"
    return "faster than the loop at some pool sizes and slower at others"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _cell_text(cell: Cell, steps: int) -> str:
    if cell.error:
        return "error"
    text = f"{_ms(cell.median)} / {_ms(cell.p95)}"
    return text if cell.steps >= steps else f"{text} ({cell.steps})"


def _kib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1024:,.1f}"


def strategy_table(res: Results) -> str:
    """Strategy x pool size (median / p95 CPU ms per step), the target, checkpoint, setup."""
    largest = max(res.sizes)
    rows = []
    for name, by_size in res.cells.items():
        last = by_size[largest]
        meets = "n/a" if last.error else ("yes" if last.median < TARGET_MS else "no")
        rows.append(
            [
                f"`{name}`",
                *(_cell_text(by_size[size], res.strategy_steps) for size in res.sizes),
                meets,
                _kib(last.state_bytes),
                _ms(last.setup_ms),
            ]
        )
    return markdown_table(
        [
            "strategy",
            *(f"{size:,}" for size in res.sizes),
            f"median < {TARGET_MS:g} ms at {largest:,}",
            f"checkpoint at {largest:,} (KiB)",
            f"setup at {largest:,} (ms)",
        ],
        rows,
    )


def strategy_reading(res: Results) -> list[str]:
    """Sentences derived from the per-strategy cells."""
    if not res.cells:
        return []
    largest, smallest = max(res.sizes), min(res.sizes)
    ok = {n: c for n, c in res.cells.items() if not c[largest].error}
    meets = sorted(n for n, c in ok.items() if c[largest].median < TARGET_MS)
    misses = sorted(ok, key=lambda n: -ok[n][largest].median)
    misses = [n for n in misses if n not in meets]
    at = "the target size" if largest == TARGET_SIZE else f"{largest:,} items (not the target size)"
    plain = [n for n in res.cells if ":" not in n]  # rows with options are variants
    plain_meets = [n for n in meets if ":" not in n]
    variants = len(res.cells) - len(plain)
    sentences = [
        f"At {at}, {len(plain_meets)} of {len(plain)} strategies took under {TARGET_MS:g} ms "
        "CPU per step (median)"
        + (
            f" (and {len(meets) - len(plain_meets)} of {variants} rows with options)"
            if variants
            else ""
        )
        + (
            "; over it: "
            + ", ".join(f"`{n}` ({_ms(ok[n][largest].median)} ms)" for n in misses)
            + "."
            if misses
            else "."
        )
    ]
    if len(res.sizes) > 1:
        growing = sorted(
            (
                (c[largest].median / c[smallest].median, n)
                for n, c in ok.items()
                if not c[smallest].error and c[smallest].median > 0
            ),
            reverse=True,
        )
        grew = [(g, n) for g, n in growing if g >= 2]
        sentences.append(
            f"From {smallest:,} to {largest:,} items the median step time grew at least "
            f"2{TIMES} for {len(grew)} strategies"
            + (": " + ", ".join(f"`{n}` ({g:.0f}{TIMES})" for g, n in grew) + "." if grew else ".")
        )
    sizes = sorted(
        ((c[largest].state_bytes, n) for n, c in ok.items() if c[largest].state_bytes), reverse=True
    )
    if sizes:
        sentences.append(
            f"Checkpoints at {largest:,} items ranged from {_kib(sizes[-1][0])} KiB "
            f"(`{sizes[-1][1]}`) to {_kib(sizes[0][0])} KiB (`{sizes[0][1]}`)."
        )
    if any(n.split(":")[0] in ("alp_gmm", "covar_gmm") for n in res.cells):
        sentences.append(_engine_note())
    errors = [f"`{n}` at {s:,} items: {c.error}" for n, cs in res.cells.items()
              for s, c in cs.items() if c.error]  # fmt: skip
    if errors:
        sentences.append("Errors: " + "; ".join(errors) + ".")
    return sentences


def compile_mixture_fits() -> None:
    """Fit one small mixture, so that numba's one-off compilation (about 8 s in a fresh
    install, then cached on disk) falls outside every timed cell and its budget."""
    from stepladder.strategies._gmm import fit_mixtures

    fit_mixtures(np.random.default_rng(0).random((50, 3)), [2], [0])


def _engine_note() -> str:
    """Which engine the mixture teachers' plain rows fitted with."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = f"numba {version('numba')} was installed, so"
    except PackageNotFoundError:
        return "numba was not installed: `alp_gmm` and `covar_gmm` fitted in NumPy."
    return (
        f"{found} `alp_gmm` and `covar_gmm` fitted their mixtures compiled (`engine='auto'`); "
        "the `engine=numpy` rows time the NumPy path."
    )


def render(res: Results, command: str) -> str:
    steps_note = (
        f"Each series: {_plural(res.warmup, 'untimed warm-up step')}, then "
        f"{_plural(res.steps, 'timed step')}"
    )
    if res.naive_steps != res.steps:
        steps_note += f" ({_plural(res.naive_steps, 'timed step')} for the naive peer)"
    step_rows = []
    setup_rows = []
    for size in res.sizes:
        u, r, n = res.uniform[size], res.replace[size], res.naive[size]
        step_rows.append(
            [
                f"{size:,}",
                _ms(u.median),
                _ms(u.p95),
                _ms(r.median),
                _ms(r.p95),
                _ms(n.median),
                _ms(n.p95),
                f"{n.median / u.median:.1f}{TIMES}",
                f"{n.median / r.median:.1f}{TIMES}",
            ]
        )
        setup_rows.append([f"{size:,}", _ms(u.setup_ms), _ms(r.setup_ms), _ms(n.setup_ms)])
    step_table = markdown_table(
        [
            "pool items",
            "`uniform` median",
            "`uniform` p95",
            "`replace=True` median",
            "`replace=True` p95",
            "naive median",
            "naive p95",
            "naive ÷ `uniform`",
            "naive ÷ `replace=True`",
        ],
        step_rows,
    )
    setup_table = markdown_table(
        ["pool items", "`uniform`", "`replace=True`", "naive"],
        setup_rows,
    )
    largest = max(res.sizes)
    base = res.scaling[0]
    scaling_table = markdown_table(
        ["batch", "median ms", "p95 ms", "µs per item (median)", f"time ÷ batch {base.batch}"],
        [
            [
                f"{run.batch:,}",
                _ms(run.median),
                _ms(run.p95),
                f"{run.median * 1e3 / run.batch:.2f}",
                f"{run.median / base.median:.1f}{TIMES}",
            ]
            for run in res.scaling
        ],
    )
    u, n = res.uniform[largest], res.naive[largest]
    memory_table = markdown_table(
        ["quantity", "stepladder `uniform`", "naive peer"],
        [
            [
                "allocated per item (bytes)",
                f"{u.allocated_bytes / largest:.1f}",
                f"{n.allocated_bytes / largest:.1f} (+ objects for touched items)",
            ],
            ["allocated in all (MiB)", _mib(u.allocated_bytes), _mib(n.allocated_bytes)],
            ["resident growth after setup (MiB)", _mib(u.rss_after_setup), _mib(n.rss_after_setup)],
            [
                "resident growth after warm-up + timed steps (MiB)",
                _mib(u.rss_after_steps),
                _mib(n.rss_after_steps),
            ],
        ],
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    parts = [
        "## Hot path: propose + observe",
        f"Reproduce with {command}. Measured {stamp} on: {machine_description()}.",
        f"One step is `propose({res.batch})` and `observe` of {res.batch} {TIMES} {res.rollouts} "
        "0/1 rewards, with the advantages, losses or signals a strategy declares in "
        "`feedback` (generated before the timed region; building `Outcomes` is timed). "
        "Times are CPU time (`time.process_time`), in milliseconds.",
    ]
    if res.cells:
        parts += [
            "### Every strategy: CPU ms per step (median / p95)",
            "Pools have 8 groups, a normal difficulty and 2-D uniform features per item, built "
            "once per size and shared. Each cell: "
            f"{_plural(res.strategy_warmup, 'untimed warm-up step')}, then up to "
            f"{_plural(res.strategy_steps, 'timed step')}, stopping once the cell has used "
            f"{res.budget_s:g} s of CPU (the number of timed steps is shown in parentheses "
            "where the budget cut them short). The target is a median under "
            f"{TARGET_MS:g} ms at {TARGET_SIZE:,} items. Setup is binding the strategy "
            "(building the curriculum on the ready pool); the checkpoint is the file "
            "`save_state(path, cur.state_dict())` writes after the run.",
            strategy_table(res),
            " ".join(strategy_reading(res)),
        ]
    parts += [
        "### Floor comparison: `uniform` against a pure-Python loop",
        f"{steps_note}. The naive peer keeps attempts, successes and last step in "
        "Python lists, proposes with `random.sample(range(N), batch)` (distinct within a "
        "batch only; `uniform` visits every item once per epoch) and updates in a loop "
        "over items and rollouts. Absolute times on a shared machine are noisy; the ratio "
        "is the headline.",
        "#### Time per step (CPU ms)",
        step_table,
        "#### One-off setup (CPU ms): building the pool and curriculum, or the naive lists",
        setup_table,
        f"#### Batch scaling of `uniform` at {largest:,} items",
        scaling_table,
        f"#### Memory at {largest:,} items",
        memory_table,
    ]
    if res.peak_rss is not None:
        parts.append(
            f"Peak resident set of the whole benchmark process: {_mib(res.peak_rss)} MiB "
            "(includes the naive peer's lists)."
        )
    parts.append("#### Reading")
    parts.append(" ".join(interpretation(res)))
    return "\n\n".join(parts) + "\n"


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="pool sizes (default 10^4 10^5 10^6 10^7)"
    )
    parser.add_argument("--steps", type=int, help="timed steps per series (default 200)")
    parser.add_argument(
        "--naive-steps", type=int, help="timed steps for the naive peer (default: --steps)"
    )
    parser.add_argument("--warmup", type=int, help="untimed warm-up steps (default 5)")
    parser.add_argument("--batch", type=int, help="items per step (default 1024)")
    parser.add_argument("--rollouts", type=int, default=8, help="rewards per item (default 8)")
    parser.add_argument(
        "--scaling-batches",
        type=int,
        nargs="+",
        help="batch sizes timed at the largest pool (default batch/4, batch, 4*batch)",
    )
    parser.add_argument(
        "--strategies",
        help="comma-separated strategies to time (default: every registered one; 'none': skip);"
        " name:option=value[:option=value] times a strategy with options, in its own row",
    )
    parser.add_argument(
        "--strategy-steps",
        type=int,
        help=f"timed steps per strategy and pool size, at most (default {STRATEGY_STEPS})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help=f"CPU seconds per strategy and pool size, warm-up included (default {BUDGET_S:g})",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        help="markdown file to update (default docs/benchmarks.md)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny smoke run (small pools, few steps); writes a file only when --out is given",
    )
    args = parser.parse_args(argv)
    args.sizes = sorted(set(args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)))
    args.steps = _default(args.steps, 5 if args.quick else 200)
    args.naive_steps = _default(args.naive_steps, args.steps)
    args.warmup = _default(args.warmup, 1 if args.quick else 5)
    args.batch = _default(args.batch, 64 if args.quick else 1024)
    args.strategy_steps = _default(args.strategy_steps, 2 if args.quick else STRATEGY_STEPS)
    args.budget = BUDGET_S / 3 if args.quick and args.budget is None else args.budget or BUDGET_S
    if args.strategies is None:
        args.names = [*strategies.available(), *([] if args.quick else DEFAULT_VARIANTS)]
    elif args.strategies == "none":
        args.names = []
    else:
        args.names = [n.strip() for n in args.strategies.split(",") if n.strip()]
        for name in args.names:
            try:
                strategy, options = strategy_entry(name)
                strategies.create(strategy, **options)
            except (ValueError, TypeError) as error:
                parser.error(str(error))
    args.scaling_batches = sorted(
        set(args.scaling_batches or (max(1, args.batch // 4), args.batch, 4 * args.batch))
    )
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    for name in ("steps", "naive_steps", "batch", "rollouts", "strategy_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if not args.budget > 0:
        parser.error("--budget must be positive")
    if min(args.sizes) < 1 or min(args.scaling_batches) < 1 or args.warmup < 0:
        parser.error("sizes and batches must be positive, --warmup non-negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started = time.perf_counter()
    results = measure(
        args.sizes,
        batch=args.batch,
        rollouts=args.rollouts,
        steps=args.steps,
        naive_steps=args.naive_steps,
        warmup=args.warmup,
        scaling_batches=args.scaling_batches,
        seed=args.seed,
        log=lambda message: print(message, file=sys.stderr, flush=True),
        names=args.names,
        strategy_steps=args.strategy_steps,
        strategy_warmup=min(args.warmup, STRATEGY_WARMUP),
        budget_s=args.budget,
    )
    script = reproduce_command("hot_path.py", argv)
    command = f"`make bench` (or {script})" if not argv else script
    section = render(results, command)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
        print(f"wrote {args.out}", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
