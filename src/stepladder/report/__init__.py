"""Offline HTML reports: simulation runs, training runs (from the journal) and grading."""

from stepladder.report.charts import back_to_back_svg, histogram_svg, line_chart_svg
from stepladder.report.grading import icc_items, render_grading_report
from stepladder.report.html import render_simulation_report
from stepladder.report.run import render_run_report

__all__ = [
    "back_to_back_svg",
    "histogram_svg",
    "icc_items",
    "line_chart_svg",
    "render_grading_report",
    "render_run_report",
    "render_simulation_report",
]
