import re
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest

from stepladder.report import (
    back_to_back_svg,
    histogram_svg,
    icc_items,
    render_grading_report,
)
from stepladder.report.charts import bin_values

SVG = re.compile(r"<svg.*?</svg>", re.S)
NUMBER_ATTR = re.compile(r'\b(?:x|y|x1|x2|y1|y2|width|height|points|transform)="([^"]*)"')


def _check_svg(svg: str) -> ET.Element:
    """Well-formed XML whose coordinates are all finite numbers."""
    root = ET.fromstring(svg)
    for value in NUMBER_ATTR.findall(svg):
        assert not re.search(r"nan|inf", value, re.I), value
    return root


def _check_page(html: str) -> list[str]:
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svgs = SVG.findall(html)
    for svg in svgs:
        _check_svg(svg)
    return svgs


DEGENERATE = {
    "empty": [],
    "all nan": [np.nan, np.nan],
    "one value": [0.7],
    "all equal": [2.0] * 50,
    "all zero": [0.0, 0.0],
    "with inf": [1.0, np.inf, -np.inf, 2.0],
    "huge": [-1e308, 0.0, 1e308],
    "tiny spread": [1.0, 1.0 + 1e-12],
}


@pytest.mark.parametrize("values", DEGENERATE.values(), ids=DEGENERATE.keys())
def test_histograms_stay_finite_on_degenerate_input(values):
    _check_svg(histogram_svg(values, title="t", x_label="x"))
    _check_svg(histogram_svg(values, title="t", x_label="x", limits=(-6, 6)))
    _check_svg(
        back_to_back_svg(values, [0.5], title="t", scale_label="s", left_label="l", right_label="r")
    )
    _check_svg(
        back_to_back_svg(
            [], values, title="t", scale_label="s", left_label="l", right_label="r", limits=(-6, 6)
        )
    )


def test_bins_are_round_and_count_every_finite_value():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(size=1000), [np.nan, 50.0, -40.0]])
    binned = bin_values(values, limits=(-6, 6))
    assert binned.counts.sum() == 1002 and binned.dropped == 1
    assert binned.below == 1 and binned.above == 1
    width = binned.edges[1] - binned.edges[0]
    assert np.allclose(np.diff(binned.edges), width)
    assert binned.edges[0] >= -6 - 1e-9 and binned.edges[-1] <= 6 + 1e-9
    assert len(binned.counts) <= 60
    assert bin_values([np.nan]) is None


def test_histogram_notes_clipped_and_dropped_values():
    svg = histogram_svg([-50.0, 0.0, 0.1, np.nan], title="t", x_label="x", limits=(-6, 6))
    assert "1 below" in svg and "1 non-finite value left out" in svg
    assert 'fill-opacity="0.5"' in svg  # the end bin holding the clipped value is lighter


def test_back_to_back_puts_both_sides_on_one_scale():
    svg = back_to_back_svg(
        [0.0, 0.1, 0.2],
        [-1.0, 1.0, 1.0, 3.0],
        title="map",
        scale_label="θ",
        left_label="learners",
        right_label="items",
    )
    root = _check_svg(svg)
    bars = [
        r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("{*}title") is not None
    ]
    tips = [r.find("{*}title").text for r in bars]
    assert sum(t.startswith("learners") for t in tips) >= 1
    assert sum(t.startswith("items") for t in tips) >= 2
    assert "medians (learners 0.1, items 1.0)" in svg


def _irt_items(n: int = 30) -> pa.Table:
    rng = np.random.default_rng(1)
    outfit = rng.lognormal(0, 0.3, n)
    outfit[3] = np.nan
    return pa.table(
        {
            "item_id": [f"item-{k}" for k in range(n)],
            "n_responses": np.full(n, 40.0),
            "p_correct": rng.uniform(size=n),
            "difficulty": np.linspace(-2, 2, n),
            "se_difficulty": np.full(n, 0.2),
            "discrimination": rng.lognormal(0, 0.3, n),
            "infit": rng.lognormal(0, 0.2, n),
            "outfit": outfit,
        }
    )


def _learners(n: int = 25, scale: float = 1.0, shift: float = 0.0) -> pa.Table:
    ability = np.random.default_rng(2).normal(shift, scale, n)
    return pa.table({"learner_id": [f"m{k}" for k in range(n)], "ability": ability})


def test_irt_report_has_every_section():
    items = _irt_items()
    theta = np.linspace(-4, 4, 81)
    icc = [
        (label, theta, 1 / (1 + np.exp(-(theta - items["difficulty"][row].as_py()))))
        for label, row in icc_items(items)
    ]
    summary = {
        "model": "2pl",
        "method": "mml",
        "n_items": 30,
        "loglik": -812.5,
        "priors": {"a": [1, 3]},
        "seconds": 0.123456,
        "input": "log.csv",
    }
    html = render_grading_report(items, _learners(), summary, icc=icc)
    svgs = _check_page(html)
    assert len(svgs) == 3  # histogram, Wright map, ICCs
    assert "<dt>loglik</dt><dd>-812.5</dd>" in html and "<dd>0.12</dd>" in html
    assert "log.csv" in html and "2PL IRT" in html
    for label, _, _ in icc:
        assert label in html
    table = html[html.index("Worst-fitting items") :]
    rows = re.findall(r"<tr><td>(item-\d+)</td>", table)
    assert len(rows) == 20
    outfit = items["outfit"].to_numpy(zero_copy_only=False)
    expected = [f"item-{k}" for k in np.argsort(-np.nan_to_num(outfit, nan=-np.inf))[:20]]
    assert rows == expected and "item-3" not in rows  # NaN outfit sorts last


def test_icc_items_roles():
    items = _irt_items(5)
    labels = [label for label, _ in icc_items(items)]
    assert labels[0].startswith("easiest") and "item-0" in labels[0]
    assert any(label.startswith("hardest") and label.endswith("item-4") for label in labels)
    assert any("highest a" in label for label in labels)
    rasch = items.set_column(5, "discrimination", pa.array([1.0] * 5))
    assert [label.split(":")[0] for label, _ in icc_items(rasch)] == [
        "easiest",
        "median",
        "hardest",
    ]
    nan = items.set_column(3, "difficulty", pa.array([np.nan] * 5))
    assert all("easiest" not in label for label, _ in icc_items(nan))


def test_passrate_report_explains_the_missing_map():
    items = pa.table(
        {
            "item_id": ["a", "b"],
            "difficulty": [0.2, 0.9],
            "n_responses": [4.0, 4.0],
            "p_correct": [0.8, 0.1],
        }
    )
    learners = pa.table({"learner_id": ["x"], "ability": [0.5]})
    html = render_grading_report(items, learners, {"model": "passrate"})
    assert len(_check_page(html)) == 1
    assert "Not drawn: pass-rate grading has no shared latent scale" in html
    assert "Worst-fitting" not in html and "characteristic" not in html


def test_rating_report_draws_ratings_on_one_scale():
    items = pa.table(
        {
            "item_id": [1, 2, 3],
            "difficulty": [1400.0, 1500.0, 1650.0],
            "n_responses": [3.0] * 3,
            "p_correct": [0.9, 0.5, 0.2],
        }
    )
    html = render_grading_report(items, _learners(10, 150, 1500), {"model": "elo"})
    assert len(_check_page(html)) == 2 and "10:1 odds" in html


@pytest.mark.parametrize("model", ["1pl", "elo", "passrate"])
def test_degenerate_tables_render(model):
    one = pa.table(
        {
            "item_id": ["only"],
            "difficulty": [np.nan],
            "n_responses": [1.0],
            "p_correct": [1.0],
            "infit": [np.nan],
            "outfit": [np.nan],
        }
    )
    html = render_grading_report(one, None, {"model": model, "loglik": float("nan")})
    _check_page(html)
    assert "None of the 1 difficulties is finite" in html
    flat = pa.table(
        {
            "item_id": ["a", "b"],
            "difficulty": [0.5, 0.5],
            "n_responses": [2.0, 2.0],
            "p_correct": [0.5, 0.5],
        }
    )
    learners = pa.table({"learner_id": ["x", "y"], "ability": [0.5, 0.5]})
    _check_page(render_grading_report(flat, learners, {"model": model}))


def test_icc_values_that_are_not_finite_are_skipped():
    theta = np.linspace(-4, 4, 5)
    icc = [("broken: q", theta, np.array([0.1, np.nan, 0.5, np.inf, 0.9]))]
    items = pa.table({"item_id": ["q"], "difficulty": [0.0]})
    _check_page(render_grading_report(items, None, {"model": "2pl"}, icc=icc))


def test_ids_and_summary_values_are_escaped():
    items = pa.table({"item_id": ["<b>&"], "difficulty": [0.0], "outfit": [2.0], "infit": [1.0]})
    html = render_grading_report(items, None, {"model": "2pl", "input": "<x>.csv"})
    assert "<b>&" not in html and "&lt;b&gt;&amp;" in html and "&lt;x&gt;.csv" in html
