"""Shared fixtures of the strategy tests."""

import pytest

from stepladder.strategies import available, get


@pytest.fixture
def without_default_net(monkeypatch):
    """Each strategy's own rule, without the safety net a Curriculum gives it by default.

    The rule tests of the prompt-selection strategies pin the published methods; the default
    net (``Strategy.default_safety_net``) rewrites their proposals and is tested on its own in
    tests/test_safety.py.
    """
    for name in available():
        monkeypatch.setattr(get(name), "default_safety_net", {})
