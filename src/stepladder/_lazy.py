"""Package attributes that import their module on first use (PEP 562), written once for
the packages that keep their import light (``stepladder``, ``stepladder.difficulty``).

Example:
    >>> namespace = {}
    >>> getattr_, dir_ = lazy_attributes("json", {"dumps": "json"}, namespace)
    >>> getattr_("dumps")([1, 2]), "dumps" in namespace, dir_()
    ('[1, 2]', True, ['dumps'])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, where: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each public
    name to the module that defines it (the module itself when it is ``package.name``); a
    name is imported on first use and then kept in ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        target = where.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(target)
        value = module if target == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
