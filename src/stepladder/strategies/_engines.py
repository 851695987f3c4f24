"""Which engine runs a strategy's heaviest loops: NumPy, or the same loops compiled by numba.

numba is optional (``pip install 'stepladder[fast]'``). A strategy with compiled loops takes
``engine="auto"`` (compiled where numba is installed, else NumPy), ``"numba"`` (compiled;
an ImportError without numba) or ``"numpy"``. The compiled modules import numba, so they
load on first use only.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

__all__ = ["ENGINES", "checked_engine", "compiled_module"]

ENGINES = ("auto", "numba", "numpy")


@cache
def numba_installed() -> bool:
    """Whether numba can be imported (looked up once, without importing it)."""
    return importlib.util.find_spec("numba") is not None


def compiled_module(engine: str, name: str) -> ModuleType | None:
    """The compiled module ``stepladder.strategies.<name>`` that ``engine`` asks for, or
    None for NumPy.

    Example:
        >>> compiled_module("numpy", "_gmm_numba") is None
        True
    """
    if checked_engine(engine) == "numpy" or not numba_installed():
        return None
    return importlib.import_module(f"stepladder.strategies.{name}")


def checked_engine(engine: str) -> str:
    """``engine`` once checked: one of :data:`ENGINES`, with numba installed for ``"numba"``
    (an error when the strategy is made, not at its first compiled call).

    Example:
        >>> checked_engine("auto")
        'auto'
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "numba" and not numba_installed():
        raise ImportError("engine='numba' needs numba: pip install 'stepladder[fast]'")
    return engine
