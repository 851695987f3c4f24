import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from stepladder.report import line_chart_svg
from stepladder.report.charts import (
    Series,
    dot_plot_svg,
    format_tick,
    heatmap_svg,
    nice_ticks,
    series_style,
    stacked_area_svg,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
NUMBER_ATTRS = ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height")


def _check(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    for el in root.iter():
        for attr in NUMBER_ATTRS:
            if attr in el.attrib:
                assert math.isfinite(float(el.attrib[attr])), (el.tag, attr, el.attrib[attr])
        for pair in el.attrib.get("points", "").split():
            assert all(math.isfinite(float(v)) for v in pair.split(","))
        attrs = " ".join(el.attrib.values()).lower()
        assert "nan" not in attrs and "inf" not in attrs
    return root


def _chart(series, **kw):
    return line_chart_svg(series, title="t", x_label="x", y_label="y", **kw)


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0, 200), (0.31, 0.64), (-3, 7), (0, 102400)])
def test_nice_ticks_are_round_and_cover_range(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert 4 <= len(ticks) <= 9
    assert ticks[0] <= lo and ticks[-1] >= hi
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5))


def test_nice_ticks_zero_width_range():
    ticks = nice_ticks(5.0, 5.0)
    assert ticks[0] < 5.0 < ticks[-1]
    assert nice_ticks(0.0, 0.0)[0] < 0.0


def test_format_tick():
    assert format_tick(0.30000000000000004, 0.1) == "0.3"
    assert format_tick(200.0, 50.0) == "200"
    assert format_tick(-1e-17, 0.1) == "0.0"


def test_basic_chart_elements():
    s = Series("a<&>", [0, 1, 2], [0.1, 0.5, 0.7], [0.0, 0.4, 0.6], [0.2, 0.6, 0.8])
    svg = _chart([s], hline=0.6, hline_label="target")
    root = _check(svg)
    polylines = root.findall(f".//{SVG_NS}polyline")
    assert len(polylines) == 1
    group = root.find(f".//{SVG_NS}g[@class='series']")
    assert group.find(f"{SVG_NS}title").text == "a<&>"
    data = json.loads(root.find(f"{SVG_NS}desc").text)
    assert data == [{"name": "a<&>", "x": [0.0, 1.0, 2.0], "y": [0.1, 0.5, 0.7]}]
    assert len(root.findall(f".//{SVG_NS}polygon")) == 1
    assert "a&lt;&amp;&gt;" in svg
    assert "target" in svg and 'stroke-dasharray="6 4"' in svg


def test_degenerate_inputs():
    _check(_chart([]))
    _check(_chart([], hline=0.5, hline_label="h"))
    root = _check(_chart([Series("one", [3], [0.5])]))
    (dot,) = root.findall(f".//{SVG_NS}polyline")
    assert dot.attrib["data-dot"] == "1" and dot.attrib["stroke-linecap"] == "round"
    _check(_chart([Series("flat", [0, 1, 2], [0.4, 0.4, 0.4])]))
    _check(_chart([Series("zero-width-x", [2, 2, 2], [0.1, 0.2, 0.3])]))
    _check(_chart([Series("all-nan", [0, 1], [math.nan, math.nan])], hline=math.nan))
    _check(_chart([Series("inf", [0, 1, 2], [0.1, math.inf, 0.3])]))


def test_nan_breaks_line():
    s = Series(
        "gappy",
        [0, 1, 2, 3, 4],
        [0.1, 0.2, math.nan, 0.4, 0.5],
        [0.0, 0.1, math.nan, 0.3, 0.4],
        [0.2, 0.3, 0.4, 0.5, 0.6],
    )
    root = _check(_chart([s]))
    assert len(root.findall(f".//{SVG_NS}polyline")) == 2
    assert len(root.findall(f".//{SVG_NS}polygon")) == 2


def test_many_series_cycle_styles_and_legend_grows():
    series = [Series(f"s{i}", [0, 1], [i / 30, i / 29]) for i in range(30)]
    styles = {series_style(i) for i in range(30)}
    assert len(styles) == 30
    root = _check(_chart(series))
    assert float(root.attrib["height"]) > 420
    legend_names = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert all(f"s{i}" in legend_names for i in range(30))


def test_baseline_is_drawn_last_in_black_and_listed_first():
    series = [Series("a", [0, 1], [0.1, 0.2]), Series("base", [0, 1], [0.3, 0.3], emphasis=True)]
    root = _check(_chart(series))
    groups = root.findall(f".//{SVG_NS}g[@class='series']")
    assert groups[-1].find(f"{SVG_NS}title").text == "base"  # on top
    assert groups[-1].find(f"{SVG_NS}polyline").attrib["stroke"] == "#000000"
    keys = [
        k.find(f"{SVG_NS}title").text for k in root.iter(f"{SVG_NS}g") if k.get("class") == "key"
    ]
    assert keys == ["base", "a"]
    plot = json.loads(root.attrib["data-plot"])
    assert plot["x"] == [0.0, 1.0] and plot["y"][0] <= 0.1 and plot["y"][1] >= 0.3


def test_stacked_area_heatmap_and_dot_plot():
    svg = stacked_area_svg(
        [0, 1, 2], [("a", [0.5, 0.2, np.nan]), ("b", [0.5, 0.8, 1.0])], title="t",
        x_label="x", y_label="share",
    )  # fmt: skip
    root = _check(svg)
    tips = [p.find(f"{SVG_NS}title").text for p in root.iter(f"{SVG_NS}polygon")]
    assert tips == ["a: mean 0.233", "b: mean 0.767"]
    heat = _check(
        heatmap_svg([0, 5, 10], [0.0, 0.5, 1.0], np.array([[0.25, np.nan], [0.75, 1.0]]),
                    title="t", x_label="step", y_label="p")
    )  # fmt: skip
    cells = [r.find(f"{SVG_NS}title").text for r in heat.iter(f"{SVG_NS}rect")
             if r.find(f"{SVG_NS}title") is not None]  # fmt: skip
    assert cells[0] == "step 0 to 5, p 0 to 0.5: share 0.250" and len(cells) == 3
    _check(heatmap_svg([0, 1], [0, 1], np.array([[np.nan]]), title="t", x_label="x", y_label="y"))
    dots = _check(
        dot_plot_svg([("x<y", [0.5, 0.7], "#123456"), ("z", [], "#000")], title="t",
                     x_label="v", reference=0.6, reference_label="base")
    )  # fmt: skip
    assert len(list(dots.iter(f"{SVG_NS}circle"))) == 2
    assert "x&lt;y: mean 0.6000 (min 0.5000, max 0.7000)" in dot_plot_svg(
        [("x<y", [0.5, 0.7], "#123456")], title="t", x_label="v"
    )
