"""Every report rendered in headless Chromium: no script errors, no blank chart, no injection.

Each page gets a probe script inserted at the top of its ``<head>``: it records uncaught
errors and ``console.error`` calls, and after the load event writes, into a ``<pre>``, the
drawn marks of every ``<svg>`` (lines, areas, bars and dots with a non-empty box, laid out by
the browser) and whether the chart script initialised each interactive chart. Chromium's
``--dump-dom`` prints the DOM after that; its stderr (``--enable-logging=stderr``) is searched
for uncaught errors as a second channel. Item and strategy ids carry payloads that would set
``data-pwned`` on ``<body>`` if any of them ran.

Skipped when Chromium is missing (``apt-get install -y chromium``; ``make test`` installs it).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, read_journal
from stepladder.report import render_grading_report, render_simulation_report
from stepladder.report.run import render_run_report

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)"
)

PAYLOADS = (
    '<script>document.body.dataset.pwned="script"</script>',
    '"onload="document.body.dataset.pwned=1" x="',
    "<img src=x onerror=\"document.body.dataset.pwned='img'\">",
    "</desc></svg><script>document.body.dataset.pwned='desc'</script>",
    "'};document.body.dataset.pwned='js';//",
    "\u2028</script>",
)

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
window.addEventListener("load", function () {
  var charts = [];
  document.querySelectorAll("body svg").forEach(function (svg) {
    var marks = 0;
    svg.querySelectorAll("polyline, polygon, rect, circle, line").forEach(function (m) {
      if (m.closest("clipPath") || m.closest(".key") || m.closest(".grid")) return;
      var fill = m.getAttribute("fill"), stroke = m.getAttribute("stroke");
      if (m.tagName === "rect" && (fill === "white" || fill === "none")) return;
      if (m.tagName === "line" && (!stroke || stroke === "#e3e3e3" || stroke === "#f0f0f0")) {
        return;
      }
      var box = m.getBoundingClientRect();
      if (box.width > 0 || box.height > 0) marks += 1;
    });
    var size = svg.getBoundingClientRect();
    charts.push({title: svg.getAttribute("aria-label"), marks: marks,
                 width: size.width, height: size.height,
                 interactive: svg.hasAttribute("data-plot"),
                 ready: svg.getAttribute("data-ready") === "1"});
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({errors: window.__errors, charts: charts});
  document.body.appendChild(out);
});
</script>"""


def _render(html: str, tmp_path: Path, name: str) -> tuple[dict, str, str]:
    """(probe result, dumped DOM, Chromium's stderr) for ``html`` loaded from a file."""
    page = tmp_path / f"{name}.html"
    page.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--window-size=1200,900",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match, f"no probe output (exit {done.returncode}): {done.stderr[-2000:]}"
    text = match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text), done.stdout, done.stderr


def _check(probe: dict, dom: str, stderr: str, scripted: bool) -> None:
    """No errors, no executed payload, every chart drawn (and set up by the chart script)."""
    assert probe["errors"] == []
    assert not re.search(r"Uncaught|CONSOLE.*error", stderr), stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert "pwned" not in body
    charts = probe["charts"]
    assert charts
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["marks"] > 0, f"blank chart: {chart['title']}"
        if chart["interactive"]:
            assert chart["ready"] == scripted, f"chart script and {chart['title']}"


def _curves(level: float, repeats: int = 2) -> dict:
    steps = [0, 10, 20, 30]
    accuracy = [[level * s / 30 + 0.01 * r for s in steps] for r in range(repeats)]
    return {
        "final_accuracy": {"mean": level, "std": 0.01, "values": [level] * repeats},
        "curves": {"step": steps, "accuracy": accuracy, "rollouts": [[0, 80, 160, 240]] * 2},
    }


def test_simulation_report_in_a_browser(tmp_path):
    names = ["uniform", "range_filter", "sec", *PAYLOADS]
    strategies = {name: _curves(0.3 + 0.05 * k) for k, name in enumerate(names)}
    strategies["sec"]["curves"]["accuracy"][0][2] = math.nan
    results = {
        "scenario": PAYLOADS[0],
        "description": PAYLOADS[2],
        "repeats": 2,
        "target_accuracy": 0.4,
        "strategies": strategies,
    }
    html = render_simulation_report(results, metadata={"command": PAYLOADS[1]})
    _check(*_render(html, tmp_path, "simulation"), scripted=True)


#: After load: sort the learner table by ability (a click on its header, twice), filter the
#: item table by a payload's text, and write what the page then shows into a ``<pre>``.
TABLE_PROBE = """<script>
window.addEventListener("load", function () {
  var tables = document.querySelectorAll("table.sortable"), out = {};
  var learners = tables[0], items = tables[1];
  function column(table, k) {
    return Array.prototype.filter.call(table.tBodies[0].rows, function (row) {
      return !row.hidden;
    }).map(function (row) { return row.cells[k].textContent; });
  }
  out.boxes = document.querySelectorAll("p.table-filter input").length;
  out.ranked = column(learners, 1);
  learners.tHead.rows[0].cells[2].click();
  out.ascending = column(learners, 1);
  learners.tHead.rows[0].cells[2].click();
  out.descending = column(learners, 1);
  out.sort = learners.tHead.rows[0].cells[2].getAttribute("aria-sort");
  var box = items.parentNode.previousElementSibling.querySelector("input");
  box.value = "pwned='img'";
  box.dispatchEvent(new Event("input"));
  out.filtered = column(items, 0);
  var pre = document.createElement("pre");
  pre.id = "tables";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_grading_report_in_a_browser(tmp_path):
    n = 12
    items = pa.table(
        {
            "item_id": [PAYLOADS[k % len(PAYLOADS)] + str(k) for k in range(n)],
            "difficulty": np.r_[np.nan, np.linspace(-2, 2, n - 1)],
            "discrimination": np.linspace(0.5, 2, n),
            "se_difficulty": np.r_[np.nan, np.nan, np.full(n - 2, 0.3)],
            "n_responses": np.full(n, 10.0),
            "p_correct": np.linspace(0.9, 0.1, n),
            "infit": np.linspace(0.8, 1.6, n),
            "outfit": np.linspace(0.7, 2.0, n),
            "flag": [PAYLOADS[2], *[None] * (n - 1)],
        }
    )
    ability = [-1.0, 0.0, 1.5, 0.5, -0.5, 1.0]
    learners = pa.table({"learner_id": list(PAYLOADS), "ability": ability, "se_ability": [0.3] * 6})
    summary = {
        "model": "2pl",
        "input": PAYLOADS[0],
        "converged": False,
        "monotone": False,
        "largest_decrease": 0.5,
        "diagnostics": {"slopes_on_prior": 3, "fitted_items": 11, "advice": PAYLOADS[5]},
        "selection": {"reason": PAYLOADS[4]},
    }
    theta = np.linspace(-4, 4, 41)
    icc = [(PAYLOADS[3], theta, 1 / (1 + np.exp(-theta)))]
    html = render_grading_report(items, learners, summary, icc=icc, trace=[-50.0, -40.0, -40.5])
    assert "Warnings (4)" in html  # convergence, advice, flagged item, NaN standard error
    probe, dom, stderr = _render(
        html.replace("<head>", "<head>" + TABLE_PROBE, 1), tmp_path, "grading"
    )
    _check(probe, dom, stderr, scripted=True)
    assert sum(chart["interactive"] for chart in probe["charts"]) == 2  # trace and ICCs
    tables = json.loads(
        re.search(r'<pre id="tables">(.*?)</pre>', dom, re.S).group(1).replace("&lt;", "<")
        .replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )  # fmt: skip
    by_ability = [PAYLOADS[k] for k in np.argsort(ability)]
    assert tables["boxes"] == 2
    assert tables["ranked"] == by_ability[::-1]
    assert tables["ascending"] == by_ability and tables["descending"] == by_ability[::-1]
    assert tables["sort"] == "descending"
    filtered = [PAYLOADS[0] + "0", PAYLOADS[2] + "2", PAYLOADS[2] + "8"]  # item 0 by its flag
    assert tables["filtered"] == filtered


def test_run_report_in_a_browser(tmp_path):
    groups = [PAYLOADS[k % 3] for k in range(40)]
    pool = ItemPool([PAYLOADS[k % len(PAYLOADS)] + str(k) for k in range(40)], groups=groups)
    path = tmp_path / "run.journal"
    cur = Curriculum(pool, "sec", seed=0, journal=path)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = cur.propose(8)
        cur.observe(Outcomes(batch.indices, (rng.random((8, 4)) < 0.5).astype(float)))
    cur.close()
    html = render_run_report(read_journal(path), pool=pool, source=PAYLOADS[4])
    _check(*_render(html, tmp_path, "run"), scripted=True)
