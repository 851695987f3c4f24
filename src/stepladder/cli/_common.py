"""What every command shares: the input-error type, output-path checks, reading logs.

Bad input ends with a one-line ``error: ...`` on stderr and exit code 2 (see
:func:`stepladder.cli.main`); outputs are checked before any work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

if TYPE_CHECKING:
    from stepladder.difficulty import Responses


class InputError(click.ClickException):
    """Bad input: reported as one line, exit code 2."""

    exit_code = 2


def writable_directory(flag: str, directory: Path) -> None:
    """Fail now, naming ``flag`` and ``directory``, if files cannot be created there.

    Checks the nearest existing ancestor when ``directory`` does not exist yet (it is
    created only once the work succeeds), so a bad path costs nothing.
    """
    import tempfile

    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(f"{flag}: {existing} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{flag}: {directory} is not writable ({reason} in {existing})") from None


def check_outputs(input_path: Path, outputs: dict[str, Path | None]) -> None:
    """Outputs must be distinct files other than the input, in usable places."""
    seen: dict[Path, str] = {input_path.resolve(): "INPUT"}
    for flag, path in outputs.items():
        if path is None:
            continue
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"{flag}: {path} is also given as {seen[resolved]}")
        seen[resolved] = flag
        if path.is_dir():
            raise InputError(f"{flag}: {path} is a directory")
        writable_directory(flag, path.parent)


def read_log(input_path: Path, wide: bool, columns: dict[str, Any]) -> Responses:
    """Parquet files and shard directories lean (compact), other formats whole."""
    from stepladder.difficulty import ResponseLogError, read_responses, read_responses_compact

    given = {name: value for name, value in columns.items() if value is not None}
    parquet = input_path.is_dir() or input_path.name.lower().endswith(".parquet")
    try:
        if parquet and not wide:
            return read_responses_compact(input_path, **given)
        return read_responses(input_path, wide=wide, **given)
    except ResponseLogError as error:
        raise InputError(str(error)) from None


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python ones and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
