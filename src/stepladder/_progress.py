"""Progress bars that cost nothing to import: tqdm loads when the first shown bar is made.

``tqdm.auto`` costs 50-70 ms to import (it pulls in asyncio) and even ``tqdm.std`` 15 ms,
more than the whole fit of a small log, while the command line shows a bar only on a
terminal. :func:`tqdm` builds the bar ``tqdm.auto`` would (a notebook widget inside
Jupyter, a text bar elsewhere) without the asyncio layer, which no stepladder bar uses;
a hidden bar (``disable=True``) is a stand-in that takes the same calls and shows nothing.

Example:
    >>> with tqdm(range(3), total=3, disable=True) as bar:
    ...     seen = [i for i in bar]
    ...     bar.update(3)
    ...     bar.set_postfix(loss="0.1")
    >>> seen
    [0, 1, 2]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["tqdm"]


def tqdm(iterable: Iterable[Any] | None = None, *args: Any, disable: bool | None = False,
         **kwargs: Any) -> Any:  # fmt: skip
    """A tqdm progress bar (the arguments are tqdm's); a hidden one when ``disable`` is True
    (``None`` lets tqdm hide it off a terminal)."""
    if disable is True:
        return _Hidden(iterable)
    from tqdm.std import TqdmExperimentalWarning

    with warnings.catch_warnings():  # as tqdm.auto does: notebook bars without the warning
        warnings.simplefilter("ignore", category=TqdmExperimentalWarning)
        from tqdm.autonotebook import tqdm as bar
    return bar(iterable, *args, disable=disable, **kwargs)


class _Hidden:
    """What ``tqdm(..., disable=True)`` does for the calls stepladder makes: iterate, and
    ignore updates."""

    def __init__(self, iterable: Iterable[Any] | None) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self) -> _Hidden:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: float = 1) -> None:
        """Nothing to show."""

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to show."""

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""
