"""Offline HTML/SVG reports for simulation runs."""

from stepladder.report.html import render_simulation_report
from stepladder.report.svg import line_chart_svg

__all__ = ["line_chart_svg", "render_simulation_report"]
