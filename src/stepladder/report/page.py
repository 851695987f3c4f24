"""The page shell shared by the reports: one offline HTML file with inline CSS and script.

Nothing is fetched: no external addresses, fonts or libraries. Every text that comes from
data (strategy names, item ids, group names, paths) is HTML-escaped where it is written.

Example:
    >>> html = document("t <1>", "<p>body</p>")
    >>> html.startswith("<!DOCTYPE html>") and "t &lt;1&gt;" in html and "<script>" in html
    True
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from stepladder.report.charts import SCRIPT, STYLE

__all__ = ["CSS", "document", "facts", "run_metadata"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1.2rem;
           margin: .6rem 0 1rem; font-size: .92rem; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin: 1rem 0 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .45rem; text-align: right; }
td { white-space: nowrap; } td.name { white-space: normal; min-width: 8rem; }
.scroll { overflow-x: auto; } .scroll table { font-size: .82rem; }
th:first-child, td:first-child, td.name { text-align: left; overflow-wrap: anywhere; }
th { background: #f4f4f4; position: sticky; top: 0; } tr:hover td { background: #fafafa; }
tr.baseline td { background: #f3f3f3; font-weight: 600; }
td small { color: #777; display: block; font-weight: normal; }
td.better { color: #117733; } td.worse { color: #b00; }
figure { margin: 1.2rem 0; } svg { max-width: 100%; height: auto; }
figcaption, p.note { color: #555; font-size: .92rem; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
         gap: .5rem 1rem; }
.grid2 figure { margin: .4rem 0; }
footer { border-top: 1px solid #ddd; margin-top: 2rem; padding-top: .8rem; color: #555; }
code { background: #f4f4f4; padding: .15rem .3rem; border-radius: 3px; word-break: break-all; }
"""


def document(title: str, body: str, *, interactive: bool = True) -> str:
    """A complete HTML5 page: ``body`` (already escaped markup) under an escaped ``title``.

    ``interactive`` adds the chart script (see :mod:`stepladder.report.charts`).
    """
    script = f"<script>{SCRIPT}</script>\n" if interactive else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n{script}</body>\n</html>\n"
    )


def facts(pairs: Mapping[str, Any]) -> str:
    """A definition list of the pairs whose value is not None, keys and values escaped."""
    rows = "".join(
        f"<dt>{escape(str(key))}</dt><dd>{escape(str(value))}</dd>"
        for key, value in pairs.items()
        if value is not None and value != ""
    )
    return f'<dl class="facts">{rows}</dl>'


def _git_commit() -> str | None:
    """The commit of the stepladder checkout this code runs from, or None (an install)."""
    source = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def run_metadata(command: Sequence[str] | None = None) -> dict[str, Any]:
    """Facts about this run for a report: version, git commit, date, machine, command.

    Example:
        >>> meta = run_metadata(["stepladder", "simulate", "--scenario", "sft"])
        >>> meta["command"], sorted(meta)
        ('stepladder simulate --scenario sft', ['command', 'date', 'git_commit', 'machine', \
'stepladder_version'])
    """
    from stepladder import __version__

    machine = (
        f"{platform.node() or 'unknown host'} ({platform.system()} {platform.machine()}, "
        f"{os.cpu_count() or '?'} CPUs, Python {platform.python_version()})"
    )
    return {
        "stepladder_version": __version__,
        "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine,
        "command": shlex.join(command) if command is not None else None,
    }
