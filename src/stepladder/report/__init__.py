"""Offline HTML/SVG reports for simulation and grading runs."""

from stepladder.report.charts import back_to_back_svg, histogram_svg
from stepladder.report.grading import icc_items, render_grading_report
from stepladder.report.html import render_simulation_report
from stepladder.report.svg import line_chart_svg

__all__ = [
    "back_to_back_svg",
    "histogram_svg",
    "icc_items",
    "line_chart_svg",
    "render_grading_report",
    "render_simulation_report",
]
