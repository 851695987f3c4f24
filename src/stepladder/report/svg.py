"""Deprecated alias of :mod:`stepladder.report.charts`, the one chart module of the reports.

Kept only so that imports of ``stepladder.report.svg`` keep working; import from
``stepladder.report.charts`` instead. This module draws nothing itself.
"""

from stepladder.report.charts import (
    PALETTE,
    Series,
    format_tick,
    line_chart_svg,
    nice_ticks,
    series_style,
)

__all__ = ["PALETTE", "Series", "format_tick", "line_chart_svg", "nice_ticks", "series_style"]
