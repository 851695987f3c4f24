"""What every benchmark script shares: the machine line and its section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import shlex
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import stepladder
from stepladder.io import atomic_write

HEADER = (
    "# Benchmarks\n\n"
    "Each section below is written by the script it names; rerun that script to refresh it.\n"
)


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as stream:
            for line in stream:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / 2**30
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_description(*, memory: bool = False) -> str:
    """CPU model, core count (and RAM), OS, Python, NumPy and stepladder versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as stream:
            models = [
                line.split(":", 1)[1].strip() for line in stream if line.startswith("model name")
            ]
        if models:
            cpu = models[0]
    except OSError:
        pass
    gib = _memory_gib() if memory else None
    ram = f", {gib:.0f} GiB RAM" if gib else ""
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{ram}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"stepladder {stepladder.__version__}"
    )


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1
) -> str:
    """A markdown table; columns from ``right_from`` on are right-aligned."""
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, align, *rows])


def update_section(path: Path, section: str, start: str, end: str, header: str = HEADER) -> None:
    """Replace the text between ``start`` and ``end`` in ``path``, atomically.

    Creates the file (with ``header``) or appends the markers when they are missing; refuses
    a file with only one of them.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else header
    block = f"{start}\n{section.rstrip()}\n{end}"
    first = text.find(start)
    last = text.find(end, first + len(start)) if first != -1 else -1
    if first != -1 and last != -1:
        text = text[:first] + block + text[last + len(end) :]
    elif first == -1 and end not in text:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        raise ValueError(f"{path} has only one of the markers {start} and {end}; fix it by hand")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as stream:
        stream.write(text.encode("utf-8"))


def result_args(argv: Sequence[str], options: Sequence[str] = ("--out",)) -> list[str]:
    """``argv`` without ``options`` and their values: the arguments that shape the results,
    not where they are written."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in options:
            skip = True
        elif not word.startswith(tuple(f"{option}=" for option in options)):
            kept.append(word)
    return kept


def reproduce_command(script: str, argv: Sequence[str] | None) -> str:
    """How a section was made, as it is shown in the markdown: the script and its arguments."""
    words = [".venv/bin/python", f"benchmarks/{script}", *(argv or ())]
    return "`" + " ".join(shlex.quote(word) for word in words) + "`"
