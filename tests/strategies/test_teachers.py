"""The teacher family: every teacher registered, and the family module's re-exports."""

from __future__ import annotations

from stepladder import strategies
from stepladder.strategies import teachers

TEACHERS = [
    "alp_gmm",
    "domain_randomization",
    "learning_progress",
    "mastering_rate",
    "plr",
    "sequential",
]


def test_teachers_are_registered() -> None:
    assert set(TEACHERS) <= set(strategies.available())


def test_family_module_re_exports_the_teachers() -> None:
    for name in TEACHERS:
        assert any(getattr(teachers, cls).name == name for cls in teachers.__all__[:-1])
    assert callable(teachers.plr_distribution)
