"""HTML report of a real training run, read from its outcome journal.

How the curriculum behaved over time: which groups it selected, the observed pass rates of
what it selected (does it keep prompts near p = 0.5?), the effective ratio (share of groups
with mixed rewards, the ones that carry a GRPO gradient), the rollouts spent, the items
never or most often selected, and the strategy's own metrics when the journal holds them.

The journal stores item indices only. Pass the pool (``pool=``, or ``--items`` on the
command line) for item ids and groups. Steps are grouped into at most ``windows`` windows
of equal length for the charts over time. Everything is vectorised over the journal's Arrow
columns: a journal of a million steps takes seconds.

Example:
    >>> import tempfile, pathlib
    >>> from stepladder import Curriculum, Outcomes, read_journal
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.journal"
    >>> cur = Curriculum(20, "uniform", seed=0, journal=path)
    >>> for _ in range(4):
    ...     batch = cur.propose(5)
    ...     cur.observe(Outcomes(batch.indices, [[1, 0], [1, 1], [0, 0], [1, 0], [0, 1]]))
    >>> summary = summarise_journal(read_journal(path))
    >>> summary.steps, summary.rollouts, round(summary.effective_ratio, 2)
    (4, 40, 0.6)
    >>> render_run_report(read_journal(path)).startswith("<!DOCTYPE html>")
    True
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stepladder.io import state_from_bytes
from stepladder.report.charts import (
    Series,
    heatmap_svg,
    histogram_svg,
    line_chart_svg,
    stacked_area_svg,
)
from stepladder.report.page import document, facts

if TYPE_CHECKING:
    from stepladder.pool import ItemPool

__all__ = ["JournalSummary", "render_run_report", "summarise_journal"]

#: Groups drawn separately in the selection chart; the rest are summed as "other groups".
TOP_GROUPS = 9
#: Rows of the table of most often selected items.
TOP_ITEMS = 15
PASS_BINS = np.linspace(0.0, 1.0, 11)


@dataclass
class JournalSummary:
    """What the run report draws, computed from a journal table.

    Per-window arrays have one entry per step window (``window_edges`` has one more).
    """

    strategy: str
    params: dict[str, Any]
    pool_size: int
    records: int
    kinds: dict[str, int]
    steps: int
    rollouts: int
    effective_ratio: float | None
    window_edges: np.ndarray
    window_rollouts: np.ndarray
    window_items: np.ndarray
    window_mixed: np.ndarray  # share of groups (2+ rollouts) with mixed rewards
    window_solved: np.ndarray  # share of observed items with every rollout rewarded 1
    window_failed: np.ndarray  # share with every rollout rewarded 0
    window_mean_pass: np.ndarray
    pass_heat: np.ndarray  # [pass-rate bin, window]: share of the window's observed items
    rewards_outside: int  # rewards outside [0, 1] (clipped for the pass-rate charts)
    selected: np.ndarray  # times each item was selected (proposed, or observed if never)
    selection_source: str  # "proposals" or "observations"
    item_rollouts: np.ndarray  # rollouts observed per item
    item_successes: np.ndarray  # summed rewards per item
    item_last: np.ndarray  # last step an item was selected (-1: never)
    selected_windows: np.ndarray  # window of each selection
    selected_items: np.ndarray  # item of each selection
    metrics: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (steps, values)


def _list_values(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(lengths per row, flattened values) of a list column whose nulls count as empty."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    return lengths.astype(np.int64), pc.list_flatten(column).to_numpy(zero_copy_only=False)


def _start_state(table: pa.Table) -> dict[str, Any]:
    kinds = table.column("kind").to_pylist()[:1]
    if kinds != ["start"]:
        raise ValueError("the journal does not begin with a start record")
    state = state_from_bytes(table.column("state")[0].as_py())
    if not isinstance(state, dict):
        raise ValueError("the journal's start record holds no curriculum state")
    return state


def _windows(first: int, last: int, windows: int) -> np.ndarray:
    """Window edges over steps ``first..last`` (integers, at least one step per window)."""
    span = last - first + 1
    count = max(1, min(windows, span))
    return np.unique(np.round(np.linspace(first, last + 1, count + 1)).astype(np.int64))


def _per_window(window: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    return np.bincount(window, weights=weights, minlength=count)[:count].astype(np.float64)


def _share(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _metrics(table: pa.Table, steps: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Metrics journaled in a ``metrics`` column (map or struct of numbers), if any; the
    curriculum's ``step`` counter is the x axis, not a metric."""
    if "metrics" not in table.column_names:
        return {}
    out: dict[str, tuple[list[float], list[float]]] = {}
    for step, value in zip(steps.tolist(), table.column("metrics").to_pylist(), strict=True):
        pairs = value.items() if isinstance(value, dict) else (value or [])
        for name, number in pairs:
            if name == "step":
                continue
            if isinstance(number, int | float) and not isinstance(number, bool):
                xs, ys = out.setdefault(str(name), ([], []))
                xs.append(float(step))
                ys.append(float(number))
    return {k: (np.array(x), np.array(y)) for k, (x, y) in sorted(out.items())}


def summarise_journal(table: pa.Table, *, windows: int = 50) -> JournalSummary:
    """Everything the run report shows, from :func:`stepladder.read_journal`'s table."""
    if table.num_rows == 0:
        raise ValueError("the journal holds no complete record")
    state = _start_state(table)
    pool_size = int(state.get("pool_size", 0))
    kind = table.column("kind")
    observe = table.filter(pc.equal(kind, "observe"))
    propose = table.filter(pc.equal(kind, "propose"))
    kinds = dict(Counter(kind.to_pylist()))

    obs_steps = observe.column("step").to_numpy().astype(np.int64)
    obs_lengths, obs_items = _list_values(observe.column("indices"))
    item_rows, flat_rewards = _list_values(pc.list_flatten(observe.column("rewards")))
    if len(item_rows) != len(obs_items):  # some observations without rewards: none used
        item_rows, flat_rewards = np.zeros(len(obs_items), np.int64), np.zeros(0)
    has_rewards = bool(item_rows.sum())
    obs_record = np.repeat(np.arange(len(observe)), obs_lengths)

    prop_steps = propose.column("step").to_numpy().astype(np.int64)
    prop_lengths, prop_items = _list_values(propose.column("indices"))
    source = "proposals" if len(prop_items) else "observations"
    sel_items = prop_items if len(prop_items) else obs_items
    sel_steps = np.repeat(prop_steps, prop_lengths) if len(prop_items) else obs_steps[obs_record]

    all_steps = np.concatenate([obs_steps, prop_steps])
    first, last = (int(all_steps.min()), int(all_steps.max())) if len(all_steps) else (0, 0)
    edges = _windows(first, last, windows)
    count = len(edges) - 1

    def window_of(steps: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, count - 1)

    item_window = window_of(obs_steps[obs_record]) if len(obs_items) else np.zeros(0, np.int64)
    # Per observed item: rollouts, summed rewards, min and max reward.
    sums = np.zeros(len(obs_items))
    lows = np.zeros(len(obs_items))
    highs = np.zeros(len(obs_items))
    nonempty = item_rows > 0
    outside = int(np.count_nonzero((flat_rewards < 0) | (flat_rewards > 1)))
    if has_rewards and nonempty.any():
        starts = (np.cumsum(item_rows) - item_rows)[nonempty]
        sums[nonempty] = np.add.reduceat(flat_rewards, starts)
        lows[nonempty] = np.minimum.reduceat(flat_rewards, starts)
        highs[nonempty] = np.maximum.reduceat(flat_rewards, starts)
    rollouts = item_rows.astype(np.float64)
    passing = np.clip(_share(sums, rollouts), 0.0, 1.0)
    grouped = item_rows >= 2
    mixed = grouped & (lows != highs)
    solved = nonempty & (lows >= 1.0)
    failed = nonempty & (highs <= 0.0)

    observed = _per_window(item_window, nonempty.astype(np.float64), count)
    window_pass_sum = _per_window(item_window, np.nan_to_num(passing), count)
    pass_bin = np.clip(np.searchsorted(PASS_BINS, np.nan_to_num(passing), side="right") - 1, 0, 9)
    heat = np.zeros((10, count))
    np.add.at(heat, (pass_bin[nonempty], item_window[nonempty]), 1.0)
    heat = _share(heat, observed[None, :]) if has_rewards else np.full((10, count), np.nan)

    size = max(pool_size, int(sel_items.max()) + 1 if len(sel_items) else 0)
    selected = np.bincount(sel_items, minlength=size)
    item_last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(item_last, sel_items, sel_steps)
    total_groups = int(np.count_nonzero(grouped))
    return JournalSummary(
        strategy=str(state.get("strategy", "?")),
        params=dict(state.get("params") or {}),
        pool_size=pool_size,
        records=table.num_rows,
        kinds=kinds,
        steps=len(observe),
        rollouts=int(item_rows.sum()),
        effective_ratio=int(np.count_nonzero(mixed)) / total_groups if total_groups else None,
        window_edges=edges,
        window_rollouts=_per_window(item_window, rollouts, count),
        window_items=_per_window(item_window, np.ones(len(obs_items)), count),
        window_mixed=_share(
            _per_window(item_window, mixed.astype(np.float64), count),
            _per_window(item_window, grouped.astype(np.float64), count),
        ),
        window_solved=_share(_per_window(item_window, solved.astype(float), count), observed),
        window_failed=_share(_per_window(item_window, failed.astype(float), count), observed),
        window_mean_pass=_share(window_pass_sum, observed),
        pass_heat=heat,
        rewards_outside=outside,
        selected=selected,
        selection_source=source,
        item_rollouts=np.bincount(obs_items, weights=rollouts, minlength=size),
        item_successes=np.bincount(obs_items, weights=sums, minlength=size),
        item_last=item_last,
        selected_windows=window_of(sel_steps) if len(sel_items) else np.zeros(0, np.int64),
        selected_items=sel_items.astype(np.int64),
        metrics=_metrics(observe, obs_steps),
    )


# -- sections --------------------------------------------------------------------------------


def _mid(edges: np.ndarray) -> list[float]:
    """Window centres, in steps."""
    return ((edges[:-1] + edges[1:] - 1) / 2).tolist()


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def _pass_section(s: JournalSummary) -> str:
    x = _mid(s.window_edges)
    if not s.rollouts:
        return (
            "<h2>Observed pass rates</h2>\n"
            '<p class="note">The journal holds no rewards (losses or signals only), so pass '
            "rates and the effective ratio cannot be shown.</p>"
        )
    lines = line_chart_svg(
        [
            Series("mixed rewards (effective ratio)", x, s.window_mixed.tolist()),
            Series("mean pass rate", x, s.window_mean_pass.tolist()),
            Series("all rollouts rewarded 1", x, s.window_solved.tolist()),
            Series("all rollouts rewarded 0", x, s.window_failed.tolist()),
        ],
        title="What the selected items scored, per step window",
        x_label="step",
        y_label="share of observed items",
        hline=0.5,
        hline_label="p = 0.5",
    )
    heat = heatmap_svg(
        s.window_edges,
        PASS_BINS,
        s.pass_heat,
        title="Distribution of observed pass rates over time",
        x_label="step",
        y_label="pass rate",
        value_label="share",
    )
    note = (
        f" {s.rewards_outside:,} rewards outside [0, 1] were clipped for these charts."
        if s.rewards_outside
        else ""
    )
    return (
        "<h2>Observed pass rates</h2>\n"
        '<p class="note">An item\'s pass rate is its mean reward over the rollouts of one '
        "observation. Items whose rollouts all score alike (all 1 or all 0) give GRPO no "
        "gradient; the effective ratio is the share of groups of two or more rollouts with "
        f"mixed rewards (over the whole run: {_fmt(s.effective_ratio)}). A strategy that "
        f"keeps prompts near p = 0.5 shows a dark band around the middle of the heat map.{note}"
        f"</p>\n<figure>\n{lines}\n</figure>\n<figure>\n{heat}\n</figure>"
    )


def _rollout_section(s: JournalSummary) -> str:
    x = _mid(s.window_edges)
    cumulative = np.cumsum(s.window_rollouts).tolist()
    width = np.diff(s.window_edges).astype(np.float64)
    svg = line_chart_svg(
        [
            Series("cumulative rollouts", x, cumulative),
        ],
        title=f"Rollouts spent: {s.rollouts:,} in {s.steps:,} observed steps",
        x_label="step",
        y_label="rollouts",
    )
    per_step = line_chart_svg(
        [
            Series("rollouts per step", x, (s.window_rollouts / width).tolist()),
            Series("items observed per step", x, (s.window_items / width).tolist()),
        ],
        title="Rollouts and items per step (window means)",
        x_label="step",
        y_label="per step",
    )
    return f"<h2>Rollouts</h2>\n<figure>\n{svg}\n</figure>\n<figure>\n{per_step}\n</figure>"


def _group_section(s: JournalSummary, pool: ItemPool | None) -> str:
    heading = "<h2>Selection by group</h2>\n"
    if pool is None or pool.groups is None:
        why = "no pool was given" if pool is None else "the pool has no groups"
        return heading + (
            f'<p class="note">Not drawn: {why}. The journal stores item indices only; pass '
            "the pool (<code>render_run_report(table, pool=pool)</code>, or "
            "<code>stepladder report JOURNAL --items ITEMS.parquet</code> with "
            "<code>item_id</code> and <code>group</code> columns in pool order).</p>"
        )
    count = len(s.window_edges) - 1
    codes = pool.groups[s.selected_items]
    totals = np.bincount(codes, minlength=pool.n_groups)
    order = np.argsort(-totals, kind="stable")
    top = [int(g) for g in order[:TOP_GROUPS] if totals[g] > 0]
    per_window = np.bincount(s.selected_windows, minlength=count).astype(np.float64)
    layers = []
    for g in top:
        hits = np.bincount(s.selected_windows[codes == g], minlength=count)
        layers.append((str(pool.group_names[g]), _share(hits, per_window)))
    rest = np.isin(codes, top, invert=True)
    if rest.any():
        hits = np.bincount(s.selected_windows[rest], minlength=count)
        layers.append((f"{pool.n_groups - len(top)} other groups", _share(hits, per_window)))
    svg = stacked_area_svg(
        _mid(s.window_edges),
        [(name, np.nan_to_num(v).tolist()) for name, v in layers],
        title=f"Share of {s.selection_source} per group",
        x_label="step",
        y_label="share of selections",
    )
    sizes = pool.group_sizes() if hasattr(pool, "group_sizes") else None
    rows = []
    for g in order[: max(len(top), 1)]:
        g = int(g)
        size = int(sizes[g]) if sizes is not None else 0
        share = totals[g] / max(int(totals.sum()), 1)
        pool_share = size / max(pool.size, 1)
        rows.append(
            f"<tr><td>{escape(str(pool.group_names[g]))}</td><td>{size:,}</td>"
            f"<td>{pool_share:.3f}</td><td>{int(totals[g]):,}</td><td>{share:.3f}</td></tr>"
        )
    table = (
        "<table>\n<thead><tr><th>group</th><th>items</th><th>share of pool</th>"
        "<th>selections</th><th>share of selections</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )
    return heading + f"<figure>\n{svg}\n</figure>\n{table}"


def _items_section(s: JournalSummary, pool: ItemPool | None) -> str:
    size = max(s.pool_size, len(s.selected))
    touched = int(np.count_nonzero(s.selected))
    never = size - touched
    counts = s.selected[s.selected > 0]
    svg = histogram_svg(
        counts,
        title=f"Times each selected item was selected ({touched:,} items)",
        x_label=f"times selected ({s.selection_source})",
        y_label="items",
    )
    top = np.argsort(-s.selected, kind="stable")[: min(TOP_ITEMS, touched)]
    ids: list[Hashable] = pool.ids(top) if pool is not None else top.tolist()
    groups = (
        [str(pool.group_names[g]) for g in pool.groups[top]]
        if pool is not None and pool.groups is not None
        else None
    )
    rows = []
    for k, item in enumerate(top.tolist()):
        rollouts = s.item_rollouts[item]
        rate = s.item_successes[item] / rollouts if rollouts else math.nan
        group = f"<td>{escape(groups[k])}</td>" if groups is not None else ""
        rows.append(
            f"<tr><td>{escape(str(ids[k]))}</td>{group}<td>{int(s.selected[item]):,}</td>"
            f"<td>{int(rollouts):,}</td><td>{_fmt(rate)}</td><td>{int(s.item_last[item]):,}</td>"
            "</tr>"
        )
    group_head = "<th>group</th>" if groups is not None else ""
    table = (
        f"<table>\n<thead><tr><th>item</th>{group_head}<th>times selected</th>"
        "<th>rollouts</th><th>mean reward</th><th>last selected at step</th></tr></thead>\n"
        "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )
    share = touched / size if size else 0.0
    text = (
        f"{touched:,} of {size:,} items were selected at least once ({share:.1%}); "
        f"{never:,} never. Counts are of {s.selection_source}."
    )
    return (
        f"<h2>Items never or often selected</h2>\n<p>{escape(text)}</p>\n"
        f"<figure>\n{svg}\n</figure>\n<h3>Most often selected</h3>\n{table}"
    )


def _metrics_section(s: JournalSummary) -> str:
    heading = "<h2>Strategy metrics</h2>\n"
    if not s.metrics:
        return heading + (
            '<p class="note">This journal does not record the strategy\'s own metrics '
            "(<code>Curriculum.metrics()</code>: its Q-values, pacing, thresholds ...). They "
            "would appear here if the journal stored them with each observe record, e.g. as a "
            "<code>metrics</code> column of type <code>map&lt;string, double&gt;</code>.</p>"
        )
    charts = [
        line_chart_svg(
            [Series(name, xs.tolist(), ys.tolist())],
            title=name,
            x_label="step",
            y_label=name,
            width=520,
            height=300,
        )
        for name, (xs, ys) in s.metrics.items()
    ]
    return (
        heading
        + '<div class="grid2">\n'
        + "\n".join(f"<figure>\n{svg}\n</figure>" for svg in charts)
        + "\n</div>"
    )


def render_run_report(
    table: pa.Table,
    *,
    pool: ItemPool | None = None,
    source: str = "",
    windows: int = 50,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Complete offline HTML5 page describing the run journaled in ``table``.

    Args:
        table: :func:`stepladder.read_journal`'s table.
        pool: the run's pool, for item ids and groups (its size must match the journal's).
        source: where the journal came from (shown in the header).
        windows: at most this many step windows in the charts over time.
        metadata: facts about the report (see :func:`~stepladder.report.page.run_metadata`).
    """
    s = summarise_journal(table, windows=windows)
    if pool is not None and pool.size != s.pool_size:
        raise ValueError(f"the pool has {pool.size:,} items but the journal's has {s.pool_size:,}")
    journal_id = (table.schema.metadata or {}).get(b"stepladder.journal.id", b"").decode()
    run = {
        "journal": source or None,
        "journal id": journal_id or None,
        "strategy": s.strategy,
        "parameters": json.dumps(s.params, default=str) if s.params else "none",
        "pool size": f"{s.pool_size:,}",
        "records": ", ".join(f"{n:,} {k}" for k, n in s.kinds.items()),
        "observed steps": f"{s.steps:,}",
        "rollouts": f"{s.rollouts:,}",
        "effective ratio": _fmt(s.effective_ratio),
    }
    report = {
        f"report {k.replace('_', ' ')}": v
        for k, v in (metadata or {}).items()
        if k in ("stepladder_version", "git_commit", "date", "machine", "command")
    }
    body = "\n".join(
        [
            f"<header>\n<h1>Training run: {escape(s.strategy)}</h1>\n{facts(run)}\n"
            f"{facts(report)}\n</header>",
            "<main>",
            _group_section(s, pool),
            _pass_section(s),
            _rollout_section(s),
            _items_section(s, pool),
            _metrics_section(s),
            "</main>",
            "<footer>Written by <code>stepladder report</code> from the outcome journal "
            "(<code>Curriculum(..., journal=PATH)</code>).</footer>",
        ]
    )
    return document(f"stepladder run: {s.strategy}", body)
