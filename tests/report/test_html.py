import copy
import math
import re
import xml.etree.ElementTree as ET

import pytest

from stepladder.report import render_simulation_report
from stepladder.report.html import rank_strategies


def _metric(values, reached=None):
    done = [v for v in values if v is not None]
    summary = {
        "mean": sum(done) / len(done) if done else None,
        "std": 1.0 if done else None,
        "min": min(done) if done else None,
        "max": max(done) if done else None,
        "values": values,
    }
    if reached is not None:
        summary["reached"] = reached
    return summary


def _strategy(steps, final, curves_acc):
    n = len(curves_acc)
    return {
        "params": {"replace": False},
        "steps_to_target": _metric(steps, sum(v is not None for v in steps)),
        "rollouts_to_target": _metric(
            [None if v is None else v * 512 for v in steps], sum(v is not None for v in steps)
        ),
        "final_accuracy": _metric([final] * n),
        "effective_ratio": _metric([0.5] * n),
        "rollouts_used": _metric([102400] * n),
        "wall_seconds": _metric([1.23456] * n),
        "curves": {
            "step": [0, 10, 20],
            "accuracy": curves_acc,
            "rollouts": [[0, 5120, 10240] for _ in range(n)],
        },
    }


RESULTS = {
    "scenario": "grpo-math",
    "description": "A toy scenario.",
    "seed": 0,
    "steps": 200,
    "repeats": 3,
    "batch_size": 64,
    "rollouts_per_prompt": 8,
    "target_accuracy": 0.6,
    "stepladder_version": "0.1.0",
    "strategies": {
        "uniform": _strategy([115, 119, 126], 0.63, [[0.1, 0.4, 0.62]] * 3),
        "never": _strategy([None, None, None], 0.9, [[0.1, 0.2, 0.3]] * 3),
        "easy_to_hard": _strategy([90, 100, None], 0.61, [[0.2, 0.5, 0.7]] * 3),
        "tie_low": _strategy([115, 119, 126], 0.55, [[0.1, 0.4, 0.5]] * 3),
        "a<&>b": _strategy([200, 200, 200], 0.6, [[0.1, math.nan, 0.5]] * 3),
    },
}


def _svgs(doc: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", doc, flags=re.S)]


def _check(doc: str) -> list[ET.Element]:
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert set(re.findall(r"https?://[^\s\"'<>]+", doc)) <= {"http://www.w3.org/2000/svg"}
    assert doc.count("<script>") == 1  # the chart script, once
    svgs = _svgs(doc)
    for svg in svgs:
        for el in svg.iter():
            text = " ".join(v for k, v in el.attrib.items() if k != "aria-label").lower()
            assert "nan" not in text and "inf" not in text
    return svgs


def _row_names(doc: str) -> list[str]:
    body = doc.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r'<td class="name" title="[^"]*">(.*?)<small>', body)


def test_ranking_is_by_accuracy_over_the_matched_budget():
    ranked = rank_strategies(RESULTS)
    assert [r.name for r in ranked] == ["easy_to_hard", "uniform", "tie_low", "a<&>b", "never"]
    assert ranked[0].budget == 10240
    assert ranked[1].measure == pytest.approx(0.38)  # (0.25 + 0.51) / 2
    assert ranked[0].at_budget == pytest.approx((0.7, 0.7, 0.7))
    assert ranked[3].measure == pytest.approx(0.3)  # NaN evaluation skipped


def test_a_filter_that_spends_more_is_compared_at_the_same_cost():
    results = copy.deepcopy(RESULTS)
    spender = results["strategies"]["easy_to_hard"]
    spender["curves"]["rollouts"] = [[0, 20480, 40960]] * 3  # 4x the rollouts per step
    ranked = {r.name: r for r in rank_strategies(results)}
    assert ranked["easy_to_hard"].budget == 10240
    # at 10240 rollouts it is halfway to its first evaluation: (0.2 + 0.5) / 2
    assert ranked["easy_to_hard"].at_budget[0] == pytest.approx(0.35)
    assert ranked["easy_to_hard"].measure < ranked["uniform"].measure


def test_full_report():
    metadata = {"git_commit": "abc123", "date": "2026-01-01", "machine": "box", "command": "x y"}
    doc = render_simulation_report(RESULTS, metadata=metadata)
    _check(doc)
    for name in ("uniform", "never", "easy_to_hard", "tie_low", "a&lt;&amp;&gt;b"):
        assert name in doc
    assert "a<&>b" not in doc
    assert _row_names(doc) == ["easy_to_hard", "uniform", "tie_low", "a&lt;&amp;&gt;b", "never"]
    assert '<tr class="baseline">' in doc and "uniform (baseline)" in doc
    assert '<td class="better">+0.095</td>' in doc  # easy_to_hard vs uniform
    assert '<td class="worse">-0.180</td>' in doc  # never vs uniform
    assert "not reached (0/3)" in doc
    assert "95 ± 1 (2/3)" in doc
    assert "0.630 ± 1.000" in doc and "102,400 ± 1 (1.00x)" in doc and "1.23 ± 1.00" in doc
    assert "A toy scenario." in doc
    assert "<dd>abc123</dd>" in doc and "<dd>box</dd>" in doc and "<dd>x y</dd>" in doc
    assert "stepladder simulate --scenario grpo-math --strategies" in doc
    assert "--seed 0 --steps 200 --repeats 3 --out DIR" in doc
    assert "1 strategy beats it" in doc
    families = re.findall(r'aria-label="([^"]*) \(\d+\)"', doc)
    assert families == ["baselines", "other"]  # easy_to_hard is in baselines.py


def test_empty_strategies_and_missing_keys():
    doc = render_simulation_report({"scenario": "empty", "strategies": {}})
    _check(doc)
    assert "empty" in doc and "No strategy has a learning curve to rank" in doc
    assert "not recorded in results.json" in doc
    _check(render_simulation_report({}))


def test_one_repeat_and_missing_optional_keys():
    results = copy.deepcopy(RESULTS)
    for key in ("description", "stepladder_version"):
        del results[key]
    results["repeats"] = 1
    results["strategies"] = {"solo": _strategy([None], 0.3, [[0.1, math.nan, 0.3]])}
    for key in ("rollouts_to_target", "params"):
        del results["strategies"]["solo"][key]
    doc = render_simulation_report(results)
    svgs = _check(doc)
    assert "not reached (0/1)" in doc and "No uniform baseline in this run" in doc
    for svg in svgs:
        assert not svg.findall(".//{http://www.w3.org/2000/svg}polygon")  # no band for 1 repeat
