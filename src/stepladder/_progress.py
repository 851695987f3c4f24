"""Progress bars that cost nothing to import: tqdm loads when the first bar is made.

``tqdm.auto`` costs 50-70 ms to import (it pulls in asyncio), more than the whole fit of a
small log; the command line only ever shows a bar on a terminal. :func:`tqdm` builds the
bar ``tqdm.auto`` would (a notebook widget inside Jupyter, a text bar elsewhere) without
the asyncio layer, which no stepladder bar uses, and builds a hidden bar from
``tqdm.std`` without looking for a notebook at all.

Example:
    >>> bar = tqdm(total=3, disable=True)
    >>> bar.update(2)
    >>> bar.disable, type(bar).__module__
    (True, 'tqdm.std')
    >>> bar.close()
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["tqdm"]


def tqdm(*args: Any, disable: bool = False, **kwargs: Any) -> Any:
    """A tqdm progress bar: the arguments are tqdm's."""
    if disable:
        from tqdm.std import tqdm as bar
    else:
        from tqdm.std import TqdmExperimentalWarning

        with warnings.catch_warnings():  # as tqdm.auto: notebook mode without the warning
            warnings.simplefilter("ignore", category=TqdmExperimentalWarning)
            from tqdm.autonotebook import tqdm as bar
    return bar(*args, disable=disable, **kwargs)
