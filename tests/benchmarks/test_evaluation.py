"""Smoke test of benchmarks/evaluation.py: a tiny run that writes and rewrites its section."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_script

pytest.importorskip("sklearn")  # the amortized experiment trains a DifficultyPredictor


def test_quick_run_writes_and_replaces_its_section(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    with load_script("evaluation") as evaluation:
        assert evaluation.main(["--quick", "--model", "1pl", "--out", str(out)]) == 0
        assert evaluation.main(["--quick", "--model", "1pl", "--out", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        assert text.count(evaluation.START) == 1 and text.count(evaluation.END) == 1
    assert "leave one model out" in text and "| `irt_clusters` | `gp_irt` |" in text
    assert "Items needed for a mean error of 2 points" in text
