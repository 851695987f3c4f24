"""Atomic file writes and state_dict persistence (NumPy arrays + JSON, no pickle)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["atomic_write", "load_state", "save_state", "write_json"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_write(target) as f:
        ...     _ = f.write(b"done")
        >>> target.read_bytes()
        b'done'
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600; match a plain open()
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_write(path) as stream:
        stream.write(json.dumps(data, indent=2, allow_nan=False).encode() + b"\n")


def _split(state: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """Replace arrays in a nested state by placeholders; collect the arrays."""
    if isinstance(state, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = state
        return {"__array__": key}
    if isinstance(state, dict):
        if not all(isinstance(k, str) for k in state):
            raise TypeError(f"state keys must be strings at {prefix or 'top level'}")
        return {k: _split(v, arrays, f"{prefix}/{k}") for k, v in state.items()}
    if isinstance(state, list | tuple):
        return [_split(v, arrays, f"{prefix}[{i}]") for i, v in enumerate(state)]
    if isinstance(state, np.generic):
        return state.item()
    if state is None or isinstance(state, bool | int | float | str):
        return state
    raise TypeError(f"cannot save {type(state).__name__} at {prefix or 'top level'}")


def _join(state: Any, arrays: Any) -> Any:
    if isinstance(state, dict):
        if set(state) == {"__array__"}:
            return arrays[state["__array__"]]
        return {k: _join(v, arrays) for k, v in state.items()}
    if isinstance(state, list):
        return [_join(v, arrays) for v in state]
    return state


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Save a nested state dict (arrays, numbers, strings, lists) to one ``.npz`` file, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> from stepladder import Curriculum
        >>> cur = Curriculum(10, seed=1)
        >>> _ = cur.propose(3)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "cur.npz"
        >>> save_state(path, cur.state_dict())
        >>> fresh = Curriculum(10, seed=99)
        >>> fresh.load_state_dict(load_state(path))
        >>> fresh.propose(3).indices.tolist() == cur.propose(3).indices.tolist()
        True
    """
    arrays: dict[str, np.ndarray] = {}
    skeleton = _split(state, arrays, "")
    buffer = io.BytesIO()
    np.savez(
        buffer, __state__=np.frombuffer(json.dumps(skeleton).encode(), dtype=np.uint8), **arrays
    )
    with atomic_write(path) as stream:
        stream.write(buffer.getvalue())


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load what :func:`save_state` wrote."""
    with np.load(path, allow_pickle=False) as archive:
        skeleton = json.loads(archive["__state__"].tobytes().decode())
        arrays = {k: archive[k] for k in archive.files if k != "__state__"}
    return _join(skeleton, arrays)
