import numpy as np
import pytest

from stepladder import Curriculum, Outcomes
from stepladder.batching import fill_batch
from stepladder.strategies import Proposal, Strategy


class KeepMixed(Strategy):
    """Test double: uniform with replacement, keeping only mixed groups."""

    filters = True

    def propose(self, n: int) -> Proposal:
        return Proposal(self.rng.integers(0, self.pool.size, n))

    def keep(self, outcomes: Outcomes) -> np.ndarray:
        return outcomes.mixed


def generate(proposal: Proposal) -> Outcomes:
    """Even items give mixed groups, odd items all-zero groups."""
    rewards = np.zeros((len(proposal), 4))
    rewards[proposal.indices % 2 == 0, :2] = 1.0
    return Outcomes(proposal.indices, rewards)


def test_refills_until_the_batch_is_full():
    cur = Curriculum(100, KeepMixed(), seed=0)
    batch = fill_batch(cur, generate, 16, max_rounds=10)
    assert len(batch.kept) == 16 and (batch.kept.indices % 2 == 0).all()
    assert batch.rounds > 1 and batch.generated_groups > 16
    assert batch.rollouts == 4 * batch.generated_groups
    assert cur.step == batch.rounds  # every round's feedback was observed


def test_stops_at_max_rounds_with_a_partial_batch():
    cur = Curriculum(100, KeepMixed(), seed=0)
    batch = fill_batch(cur, lambda p: Outcomes(p.indices, np.zeros((len(p), 4))), 8, max_rounds=2)
    assert len(batch.kept) == 0 and batch.rounds == 2 and batch.generated_groups == 16


def test_non_filtering_strategy_needs_one_round():
    cur = Curriculum(50, "uniform", seed=0)
    batch = fill_batch(cur, generate, 10)
    assert batch.rounds == 1 and len(batch.kept) == 10


def test_ragged_groups_from_several_rounds_are_concatenated():
    def ragged(proposal):
        return Outcomes.from_groups(
            proposal.indices, [[1, 0] * (1 + i % 2) for i in proposal.indices]
        )

    cur = Curriculum(100, KeepMixed(), seed=1)
    batch = fill_batch(cur, ragged, 30, oversample=1.5, max_rounds=5)
    assert len(batch.kept) == 30 and set(batch.kept.rollouts.tolist()) <= {2, 4}


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"max_rounds": 0}, "max_rounds"), ({"oversample": 0.5}, "oversample")]
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fill_batch(Curriculum(10), generate, 4, **kwargs)
