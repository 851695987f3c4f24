"""Domain randomization: uniform draws."""

from __future__ import annotations

import numpy as np

from stepladder import Curriculum


def test_domain_randomization_is_uniform() -> None:
    draws = Curriculum(5, "domain_randomization", seed=0).propose(50_000).indices
    np.testing.assert_allclose(np.bincount(draws) / 50_000, 0.2, atol=0.01)
