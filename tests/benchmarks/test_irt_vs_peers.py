"""benchmarks/irt_vs_peers.py: a missing R peer is a clear row, and the 3PL yardstick."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.benchmarks.conftest import load_script


def test_missing_rscript_is_reported_not_raised():
    with load_script("irt_vs_peers") as script:
        version, problem = script.r_package_version("/nonexistent/Rscript", "mirt")
    assert version is None
    assert problem == "not installed (no Rscript found; --rscript names one)"


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_missing_r_package_names_r_libs(tmp_path, monkeypatch):
    monkeypatch.setenv("R_LIBS", str(tmp_path))
    with load_script("irt_vs_peers") as script:
        version, problem = script.r_package_version("Rscript", "surelynotapackage")
    assert version is None
    assert problem.startswith("not installed (R package surelynotapackage is not in R's ")
    assert f"R_LIBS is {tmp_path}" in problem


def test_exact_loglik_of_a_one_item_log():
    # One item with a = 1, b = 0, c = 0.2: P(correct) integrates to 0.2 + 0.8 * 0.5 = 0.6
    # by symmetry, so 3 right and 1 wrong have log-likelihood 3 log 0.6 + log 0.4.
    patterns, counts = np.array([[1.0], [0.0]]), np.array([3.0, 1.0])
    estimates = {"difficulty": np.zeros(1), "discrimination": np.ones(1)}
    estimates["guessing"] = np.full(1, 0.2)
    with load_script("irt_vs_peers") as script:
        value = script.exact_loglik((patterns, counts), estimates)
    assert value == pytest.approx(3 * np.log(0.6) + np.log(0.4), abs=1e-9)


def test_3pl_log_is_complete_and_seeded():
    with load_script("irt_vs_peers") as script:
        first, again = script.simulate_3pl(30, 4, seed=1), script.simulate_3pl(30, 4, seed=1)
    assert first["matrix"].shape == (30, 4) and len(first["correct"]) == 120
    assert np.array_equal(first["matrix"], again["matrix"])
    assert np.array_equal(first["matrix"][first["learner"], first["item"]], first["correct"])
    assert ((first["c"] > 0) & (first["c"] < 1)).all()
