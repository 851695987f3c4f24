"""Smoke test of benchmarks/sim_vs_real.py: saved real results against a short simulation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_script

pytest.importorskip("torch")  # benchmarks/_grpo_common.py imports it


def uniform_finals(paths: list[Path]) -> dict[int, float]:
    """uniform's final held-out accuracy per seed, from every saved run file."""
    finals: dict[int, float] = {}
    for path in paths:
        out = json.loads(path.read_text())["out"]
        seeds = out.get("seeds") or range(len(out["warm"]))
        for seed, run in zip(seeds, out["results"]["uniform"], strict=True):
            finals.setdefault(seed, run["final"])
    return finals


def test_quick_run_writes_its_section(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    with load_script("sim_vs_real") as script:
        real, seeds = script.real_measures(script.SAVED)
        uniform = uniform_finals(script.SAVED)  # read straight from the saved files
        assert seeds == len(uniform) >= 3 and len(real) == 16
        assert real["uniform"][0] == pytest.approx(sum(uniform.values()) / len(uniform))
        assert script.main(["--quick", "--out", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        assert text.count(script.START) == 1 and text.count(script.END) == 1
    assert "| final accuracy, same steps | before (`grpo-math-v1`) |" in text
    assert "| `pcl` |" in text and "Kendall tau" in text


def test_correlations_of_identical_rankings_are_one() -> None:
    with load_script("sim_vs_real") as script:
        real = {"a": (0.1, 0.5), "b": (0.2, 0.4), "c": (0.3, 0.3)}
        sim = {"a": (1.0, 3.0), "b": (2.0, 2.0), "c": (3.0, 1.0)}
        assert script.correlations(real, sim) == [(1.0, 1.0), (1.0, 1.0)]
