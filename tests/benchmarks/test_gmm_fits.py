"""Smoke test of benchmarks/gmm_fits.py: a quick run, and its section."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_script


def test_quick_run_prints_without_writing(tmp_path: Path, capsys) -> None:
    pytest.importorskip("sklearn")
    with load_script("gmm_fits") as script:
        assert script.main(["--quick", "--out", str(tmp_path / "benchmarks.md")]) == 0
    assert not (tmp_path / "benchmarks.md").exists()
    table = capsys.readouterr().out
    assert "| `alp_gmm` | scikit-learn |" in table
    assert "| `covar_gmm` | stepladder, NumPy |" in table


def test_section_between_markers(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "benchmarks.md"
    with load_script("gmm_fits") as script:
        rows = script.measure(windows=1, repeats=1)
        # the same fits as scikit-learn, to rounding, and the same chosen k
        assert all(row["means_gap"] < 1e-9 and row["same_k"] == 1 for row in rows)
        script.update_section(out, script.section(rows, ["--windows", "1"], 1),
                              script.START, script.END)  # fmt: skip
    text = out.read_text(encoding="utf-8")
    assert text.count(script.START) == 1 and "gmm_fits.py --windows 1" in text
