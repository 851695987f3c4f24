"""Name -> strategy class registry, filled by the ``@register`` decorator."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from stepladder.strategies.base import Strategy

StrategyType = TypeVar("StrategyType", bound=type[Strategy])

_REGISTRY: dict[str, type[Strategy]] = {}


def register(name: str) -> Callable[[StrategyType], StrategyType]:
    """Class decorator: make a strategy available to :func:`create` under ``name``."""

    def decorate(cls: StrategyType) -> StrategyType:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"strategy name {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available() -> list[str]:
    """Names of all registered strategies, sorted.

    Example:
        >>> from stepladder import strategies
        >>> {"uniform", "easy_to_hard", "hard_to_easy"} <= set(strategies.available())
        True
    """
    return sorted(_REGISTRY)


def get(name: str) -> type[Strategy]:
    """The class registered under ``name``; ``ValueError`` with suggestions if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown strategy {name!r}{hint} available: {', '.join(available())}"
        ) from None


def create(name: str, /, **params: Any) -> Strategy:
    """Instantiate the strategy registered under ``name`` with keyword parameters.

    Example:
        >>> from stepladder import strategies
        >>> strategies.create("uniform", replace=True)
        Uniform(replace=True)
    """
    cls = get(name)
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"bad parameters for strategy {name!r}: {error}") from None
