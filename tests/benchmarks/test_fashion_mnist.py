"""Smoke test of benchmarks/fashion_mnist.py: label noise, paired intervals, one quick run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks.conftest import load_script


def test_symmetric_noise_moves_exactly_the_fraction_to_other_classes() -> None:
    y = np.random.default_rng(5).integers(0, 10, size=1000)
    with load_script("fashion_mnist") as script:
        noisy20, flipped20 = script.symmetric_noise(y, 0.2)
        noisy40, flipped40 = script.symmetric_noise(y, 0.4)
    assert flipped20.sum() == 200 and flipped40.sum() == 400
    assert (noisy20 != y).sum() == 200 and (noisy40[flipped40] != y[flipped40]).all()
    assert (noisy40[~flipped40] == y[~flipped40]).all()
    assert (flipped40 | ~flipped20).all()  # nested: flipped at 20% => flipped at 40%
    assert (noisy40[flipped20] == noisy20[flipped20]).all()
    # The new class is spread over the 9 others: each offset 1..9 appears about 400/9 times.
    counts = np.bincount((noisy40[flipped40] - y[flipped40]) % 10, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 20


def test_paired_interval_and_conditions() -> None:
    with load_script("fashion_mnist") as script:
        # diffs 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 (tables) -> half-width 2.4841
        mean, low, high = script.paired_difference(np.array([2.0, 4, 6]), np.array([1.0, 2, 3]))
        assert mean == 2.0 and math.isclose(high - mean, 4.302653 / math.sqrt(3), rel_tol=1e-5)
        assert script.verdict(low, high) == "no clear difference"
        assert script.verdict(0.1, 0.5) == "better" and script.verdict(-0.5, -0.1) == "worse"
        budget = script.for_condition(script.Config(), "budget10")
        assert (budget.steps, budget.eval_every, budget.noise) == (200, 10, 0.0)
        assert script.markers("noise40") == (
            "<!-- fashion_mnist_noise40:start -->",
            "<!-- fashion_mnist_noise40:end -->",
        )
        assert script.markers("clean") == (script.START, script.END)
        with pytest.raises(ValueError, match="noise0"):
            script.parse_condition("noise0")


def test_quick_run_writes_one_section_per_condition(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STEPLADDER_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "benchmarks.md"
    with load_script("fashion_mnist") as script:
        if not all((script.DATA_DIR / name).exists() for name in script.FILES.values()):
            pytest.skip("dataset-fashion-mnist is not installed")
        # --quick made smaller still, so that the test takes seconds
        tiny = script.Config(n_train=1000, n_probe=100, steps=40, eval_every=10, seeds=2,
                             crowd_folds=2, crowd_budgets=(10, 30), crowd_repeats=1)  # fmt: skip
        monkeypatch.setattr(script, "QUICK", tiny)
        args = ["--quick", "--threads", "1", "--seeds", "2", "--schedules", "constant"]
        args += ["--strategies", "uniform,self_paced", "--conditions", "noise40,budget10"]
        resume = tmp_path / "runs.jsonl"
        assert script.main([*args, "--out", str(out), "--resume", str(resume)]) == 0
        first = out.read_text(encoding="utf-8")
        assert len(resume.read_text(encoding="utf-8").splitlines()) == 8  # 2 x 2 x 2 runs
        # A rerun reuses every saved run: same tables, nothing appended.
        assert script.main([*args, "--out", str(out), "--resume", str(resume)]) == 0
        assert len(resume.read_text(encoding="utf-8").splitlines()) == 8
    text = out.read_text(encoding="utf-8")
    tables = [part.split("Reading")[0].split("### ")[1:] for part in (first, text)]
    assert tables[0] == tables[1]
    for key in ("fashion_mnist_noise40", "fashion_mnist_budget10"):
        assert text.count(f"<!-- {key}:start -->") == 1 and text.count(f"<!-- {key}:end -->") == 1
    assert "<!-- fashion_mnist:start -->" not in text
    assert "40% symmetric label noise" in text and "10% of the training steps" in text
    assert "--conditions noise40" in text and "| `self_paced` |" in text
    noise = text.split("fashion_mnist_noise40:start")[1].split("fashion_mnist_noise40:end")[0]
    assert "noisy %" in noise and "beat uniform beyond seed noise" in noise
