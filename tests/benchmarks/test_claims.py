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
        _, merged, *_ = claims.load(RESULTS)
    strategies = set(merged["results"])
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == sum(c.strategy in strategies for c in claims.CLAIMS)
    # the effective-ratio test is the paired per-seed difference of the saved runs
    pcl = merged["results"]["pcl"]
    base = merged["results"]["uniform"]
    mean = sum(
        p["effective_ratio"] - b["effective_ratio"] for p, b in zip(pcl, base, strict=True)
    ) / len(pcl)
    assert f"{mean:+.3f}" in next(r for r in rows if "`pcl`" in r and "effective" in r)
    assert "--out" not in text
    json.dumps(merged)  # the merged results stay plain data
