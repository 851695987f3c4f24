"""benchmarks/claims.py: each claim's verdict follows its paired interval."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.benchmarks.conftest import load_script

RESULTS = sorted(
    (Path(__file__).resolve().parents[2] / "benchmarks/results/grpo_cpu").glob("*.json")
)


def test_verdict_needs_the_interval_to_exclude_zero():
    with load_script("claims") as claims:
        assert claims.reproduced((0.05, 0.01, 0.09)) == "yes"
        assert claims.reproduced((-0.05, -0.09, -0.01)) == "no"
        assert claims.reproduced((0.05, -0.01, 0.11)) == "not shown"
        assert claims.reproduced((0.05, math.nan, math.nan)).startswith("n/a")


def test_section_from_the_saved_runs(tmp_path):
    with load_script("claims") as claims:
        out = tmp_path / "b.md"
        claims.main(["--results", *map(str, RESULTS), "--out", str(out)])
        text = out.read_text()
        _, merged, *_ = claims.load(RESULTS, *claims.PAPERS_METHODS)
    strategies = set(merged["results"])
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    grpo = [row for row in rows if "Fashion-MNIST" not in row]
    assert len(grpo) == sum(c.strategy in strategies for c in claims.CLAIMS)
    # one supervised row per saved condition and learning-rate schedule
    assert len(rows) - len(grpo) == 2 * sum(
        (claims.FASHION / f).exists() for _, files in claims.SUPERVISED_CLAIMS for f in files
    )
    # the effective-ratio test is the paired per-seed difference of the saved runs
    pcl = merged["results"]["pcl"]
    base = merged["results"]["uniform"]
    mean = sum(
        p["effective_ratio"] - b["effective_ratio"] for p, b in zip(pcl, base, strict=True)
    ) / len(pcl)
    assert f"{mean:+.3f}" in next(r for r in rows if "`pcl`" in r and "effective" in r)
    assert "--out" not in text
    json.dumps(merged)  # the merged results stay plain data


def test_supervised_claim_is_the_paired_difference_in_points(tmp_path):
    runs = [
        {"strategy": name, "schedule": "constant", "seed": seed, "curve": [[10, acc]]}
        for seed, (base, other) in enumerate([(0.80, 0.82), (0.81, 0.82), (0.79, 0.82)])
        for name, acc in (("uniform", base), ("self_paced", other))
    ]
    (tmp_path / "fm_noise20.json").write_text(json.dumps(runs))
    with load_script("claims") as claims:
        (row,) = claims.fashion_rows(tmp_path)
    # differences 2, 1, 3 points: mean 2, t(2) = 4.303, sd 1 -> half-width 2.48
    assert row[0] == "`self_paced`" and "noise20, constant" in row[3]
    assert row[4].startswith("+2.00 [-0.48, +4.48]") and row[5] == "not shown"
