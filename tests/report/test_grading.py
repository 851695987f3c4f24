import re
import xml.etree.ElementTree as ET
from html import escape

import numpy as np
import pyarrow as pa
import pytest

from stepladder.report import (
    back_to_back_svg,
    grading,
    histogram_svg,
    icc_items,
    render_grading_report,
)
from stepladder.report.charts import bin_values
from stepladder.report.grading import TABLE_SCRIPT, warnings

SVG = re.compile(r"<svg.*?</svg>", re.S)
NUMBER_ATTR = re.compile(r'\b(?:x|y|x1|x2|y1|y2|width|height|points|transform)="([^"]*)"')


def _check_svg(svg: str) -> ET.Element:
    """Well-formed XML whose coordinates are all finite numbers."""
    root = ET.fromstring(svg)
    for value in NUMBER_ATTR.findall(svg):
        assert not re.search(r"nan|inf", value, re.I), value
    return root


def _check_page(html: str) -> list[str]:
    """Offline page: the chart and table scripts inline, no address but the SVG namespace."""
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("<script") == 2 and TABLE_SCRIPT in html and "<script src" not in html
    assert "<input" not in html  # the filter box comes with the script: none without it
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")
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
    html = render_grading_report(items, _learners(), summary, icc=icc, trace=[-900, -820, -812.5])
    svgs = _check_page(html)
    assert len(svgs) == 4  # histogram, Wright map, convergence trace, ICCs
    assert "Warnings" not in html  # nothing to warn about
    assert "from -900.000 to -812.500" in html and "it never fell" in html
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


def _rows(html: str, heading: str) -> list[list[str]]:
    """The cells of the table under ``heading``."""
    table = html[html.index(heading) :]
    table = table[table.index("<tbody>") : table.index("</table>")]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]


def _constant_fit():
    """A real 2PL fit of 40 learners on 12 items, two of them answered all alike."""
    from stepladder.difficulty import Responses
    from stepladder.grading import make_grader

    rng = np.random.default_rng(0)
    theta, b = rng.normal(size=40), np.linspace(-1.5, 1.5, 12)
    correct = (rng.random((12, 40)) < 1 / (1 + np.exp(-(theta - b[:, None])))).astype(float)
    correct[0], correct[1] = 1.0, 0.0
    grader = make_grader("2pl").fit(Responses.from_matrix(correct))
    return grader


def test_a_fit_with_constant_items_warns_and_names_them():
    grader = _constant_fit()
    items, learners, summary = grader.item_table(), grader.learner_table(), grader.summary()
    html = render_grading_report(items, learners, summary, trace=grader.report_.loglik_history)
    _check_page(html)
    warned = html[html.index('<section class="warnings"') : html.index("</section>")]
    assert html.index("Warnings (") < html.index("<h2>Fit</h2>")  # at the top
    assert (
        "2 items left out of the fit (1 all correct, 1 all wrong): &quot;0&quot;, &quot;1&quot;"
        in warned
    )
    advice = summary["diagnostics"]["advice"]
    assert advice.startswith("the data cannot support a 2pl")  # 40 learners, 2 slopes each
    assert escape(advice[0].upper() + advice[1:]) in warned and "use --model 1pl" in warned
    assert "responses per item parameter" in warned
    assert "NaN standard error" not in warned  # the excluded items' NaN are not warned about
    assert "Objective per iteration" in html
    assert "Did not converge" not in warned


def test_convergence_warnings():
    items = pa.table({"item_id": ["q"], "difficulty": [0.0]})
    stopped = {"model": "2pl", "converged": False, "monotone": True, "iterations": 5}
    assert warnings(items, stopped) == [
        (
            "convergence",
            "Did not converge within 5 iterations: raise --max-iter, or try --method map.",
        )
    ]
    fell = {**stopped, "monotone": False, "largest_decrease": 0.25}
    [(topic, text)] = warnings(items, fell)
    assert topic == "convergence" and "fell by 0.25 between iterations" in text
    assert warnings(items, {**stopped, "converged": True}) == []
    html = render_grading_report(items, None, fell)
    assert "Warnings (1)" in html and "fell by 0.25" in html


def test_standard_errors_that_are_nan_are_warned_about_except_for_elo():
    items = pa.table(
        {
            "item_id": ["ok", "lost", "out"],
            "difficulty": [0.0, 1.0, np.nan],
            "se_difficulty": [0.1, 0.2, np.nan],
            "se_discrimination": [0.3, np.nan, np.nan],
        }
    )
    [(topic, text)] = warnings(items, {"model": "2pl"})
    assert topic == "standard errors" and text.startswith("1 item with an estimate but a NaN")
    assert '"lost"' in text and '"out"' not in text and '"ok"' not in text
    elo = items.drop_columns(["se_discrimination"]).set_column(
        2, "se_difficulty", pa.array([np.nan] * 3)
    )
    assert warnings(elo, {"model": "elo"}) == []


def test_identifiability_and_misfit_warnings_from_the_diagnostics():
    items = pa.table({"item_id": ["q"], "difficulty": [0.0]})
    diagnostics = {"fitted_items": 10, "slopes_on_prior": 3, "responses_per_parameter": 41.6,
                   "negative_slopes": 1, "difficulties_beyond_6": 0, "misfitting_items": 2,
                   "advice": None}  # fmt: skip
    found = warnings(items, {"model": "2pl", "diagnostics": diagnostics})
    assert found == [
        ("identifiability", "3 of 10 discriminations rest mostly on their prior rather than "
         "the data (42 responses per item parameter)."),
        ("identifiability", "1 fitted item with a negative discrimination."),
        ("misfit", "2 fitted items misfitting (infit or outfit above 2)."),
    ]  # fmt: skip


def test_learners_are_ranked_by_ability():
    learners = pa.table(
        {
            "learner_id": ["mid", "<low>", "top", "none"],
            "ability": [0.1, -2.0, 1.5, np.nan],
            "n_responses": [4, 5, 6, 0],
            "se_ability": [0.3, 0.4, 0.5, np.nan],
        }
    )
    items = pa.table({"item_id": ["q"], "difficulty": [0.0]})
    html = render_grading_report(items, learners, {"model": "1pl"})
    rows = _rows(html, "<h2>Learners</h2>")
    assert [row[1] for row in rows] == ["top", "mid", "&lt;low&gt;", "none"]
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    assert rows[0][1:] == ["top", "1.5", "0.5", "6"]  # ability, se ability, n responses
    assert rows[3][2] == "—"
    head = html[html.index("<h2>Learners</h2>") :]
    head = head[: head.index("</thead>")]
    assert re.findall(r"<th(?: [^>]*)?>(.*?)</th>", head) == [
        "rank",
        "learner id",
        "ability",
        "se ability",
        "n responses",
    ]


@pytest.mark.parametrize("model", ["2pl", "elo", "passrate"])
def test_every_model_gets_the_full_sortable_item_table(model):
    items = pa.table(
        {
            "item_id": ["b", "a", "c"],
            "difficulty": [0.25, 0.5, np.nan],
            "n_responses": pa.array([3, 4, 0], pa.int64()),
            "flag": [None, None, "no responses"],
        }
    )
    html = render_grading_report(items, None, {"model": model})
    _check_page(html)
    assert "<h2>All items (3)</h2>" in html
    assert _rows(html, "<h2>All items") == [
        ["b", "0.25", "3", ""],
        ["a", "0.5", "4", ""],
        ["c", "—", "0", "no responses"],
    ]
    table = html[html.index("<h2>All items") :]
    assert '<table class="sortable">' in table
    assert (
        '<thead><tr><th>item id</th><th data-sort="number">difficulty</th>'
        '<th data-sort="number">n responses</th><th>flag</th></tr></thead>' in table
    )
    assert "keyed.sort" in TABLE_SCRIPT and 'createElement("input")' in TABLE_SCRIPT


def test_long_tables_are_cut_and_say_so(monkeypatch):
    monkeypatch.setattr(grading, "TABLE_ROWS", 3)
    items = pa.table({"item_id": [f"q{k}" for k in range(5)], "difficulty": np.arange(5.0)})
    html = render_grading_report(items, None, {"model": "1pl"})
    assert len(_rows(html, "<h2>All items (5)</h2>")) == 3
    assert "Showing the first 3 of 5 items" in html


def test_a_trace_too_short_to_draw_says_so():
    items = pa.table({"item_id": ["q"], "difficulty": [0.0]})
    html = render_grading_report(items, None, {"model": "1pl"}, trace=[-10.0])
    assert "Not drawn: the fit recorded 1 finite value" in html
    assert "Convergence trace" not in render_grading_report(items, None, {"model": "1pl"})


def test_auto_selection_reason_is_shown():
    items = pa.table({"item_id": ["q"], "difficulty": [0.0]})
    reason = "auto chose 1pl: lowest BIC (1pl 10, 2pl <12>)"
    html = render_grading_report(items, None, {"model": "1pl", "selection": {"reason": reason}})
    assert "auto chose 1pl: lowest BIC (1pl 10, 2pl &lt;12&gt;)." in html
