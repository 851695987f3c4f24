"""Smoke test of benchmarks/hot_path.py: tiny runs that write and rewrite its section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from stepladder import strategies
from tests.benchmarks.conftest import load_script


@pytest.fixture(scope="module")
def hot_path() -> Iterator[ModuleType]:
    with load_script("hot_path") as module:
        yield module


QUICK = ["--quick", "--sizes", "500", "3000", "--steps", "3", "--batch", "32", "--rollouts", "4"]
TWO = [*QUICK, "--strategies", "uniform,knapsack"]


def test_quick_run_writes_and_replaces_its_section(hot_path: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    assert hot_path.main([*TWO, "--out", str(out)]) == 0
    first = out.read_text(encoding="utf-8")
    assert first.startswith("# Benchmarks\n")
    assert first.count(hot_path.START) == 1 and first.count(hot_path.END) == 1
    section = first[first.index(hot_path.START) : first.index(hot_path.END)]
    assert "| strategy | 500 | 3,000 | median < 5 ms at 3,000 |" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0] for row in rows] == ["| `uniform`", "| `knapsack`"]
    assert all(row.split(" | ")[3] in ("yes", "no") for row in rows)
    assert "| pool items |" in section and "| --- |" in section
    assert "| 3,000 |" in section  # one row per pool size in the floor comparison
    assert "benchmarks/hot_path.py" in section and "NumPy" in section
    assert "--strategies uniform,knapsack" in section  # the reproduce command

    # Text outside the markers survives; a rerun replaces the section instead of adding one.
    out.write_text(first + "\nWritten by hand.\n", encoding="utf-8")
    assert hot_path.main([*TWO, "--out", str(out)]) == 0
    second = out.read_text(encoding="utf-8")
    assert second.count(hot_path.START) == 1 and second.count(hot_path.END) == 1
    assert second.count("## Hot path") == 1
    assert second.rstrip().endswith("Written by hand.")


def test_quick_run_of_every_strategy_writes_nothing(
    hot_path: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(hot_path, "DEFAULT_OUT", tmp_path / "never.md")
    assert hot_path.main(QUICK) == 0
    assert not (tmp_path / "never.md").exists()
    printed = capsys.readouterr().out
    for name in strategies.available():
        row = next(line for line in printed.splitlines() if line.startswith(f"| `{name}` |"))
        assert "error" not in row, row


def test_a_cell_is_capped_by_steps_and_by_cpu_budget(hot_path: ModuleType) -> None:
    pool = hot_path.bench_pool(2000, seed=0)
    assert pool.features.shape == (2000, 2) and len(pool.group_names) == 8
    capped = hot_path.run_strategy(
        "uniform", pool, batch=16, rollouts=2, steps=4, warmup=1, budget_s=60.0, seed=0
    )
    assert capped.steps == 4 and capped.error is None and capped.state_bytes > 0
    tight = hot_path.run_strategy(
        "uniform", pool, batch=16, rollouts=2, steps=10**6, warmup=1, budget_s=0.05, seed=0
    )
    assert 1 <= tight.steps < 10**6


def test_errors_are_reported_in_the_table(hot_path: ModuleType) -> None:
    cell = hot_path.Cell("broken", 100, error="ValueError: no")
    ok = hot_path.Cell("fine", 100, setup_ms=1.0, step_ms=np.array([1.0, 2.0]), state_bytes=2048)
    res = hot_path.Results(
        sizes=[100], batch=8, rollouts=2, steps=1, naive_steps=1, warmup=0, uniform={},
        replace={}, naive={}, scaling=[], peak_rss=None, cells={"broken": {100: cell},
        "fine": {100: ok}}, strategy_steps=2, strategy_warmup=0, budget_s=1.0,
    )  # fmt: skip
    table = hot_path.strategy_table(res)
    assert "| `broken` | error | n/a | n/a | n/a |" in table
    assert "| `fine` | 1.50 / 1.95 | yes | 2.0 | 1.00 |" in table
    assert "Errors: `broken` at 100 items: ValueError: no." in " ".join(
        hot_path.strategy_reading(res)
    )


def test_unknown_strategies_are_refused(hot_path: ModuleType) -> None:
    with pytest.raises(SystemExit):
        hot_path.parse_args(["--quick", "--strategies", "uniform,nope"])
    assert hot_path.parse_args(["--quick", "--strategies", "none"]).names == []
