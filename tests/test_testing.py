"""The conformance kit itself: it passes good strategies and names what fails in bad ones."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from stepladder import ItemPool, Outcomes, strategies
from stepladder.strategies import Proposal, Strategy, _registry
from stepladder.testing import (
    StrategyTests,
    TeacherStrategyTests,
    check_step_cost,
    check_strategy,
    make_feedback,
    make_pool,
)


class Cursor(Strategy):
    """Items in index order from a cursor that moves on after each proposal."""

    feedback = ("rewards",)
    learned = ("cursor",)

    def _setup(self) -> None:
        self.cursor = 0

    def propose(self, n: int) -> Proposal:
        indices = (self.cursor + np.arange(n, dtype=np.int64)) % self.pool.size
        self.cursor = int((self.cursor + n) % self.pool.size)
        return Proposal(indices)


def _failures(target: Any, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as caught:
        check_strategy(target, **kwargs)
    return str(caught.value)


def test_a_good_strategy_passes_every_check() -> None:
    check_strategy(Cursor)


def test_a_registered_strategy_is_checked_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))

    @strategies.register("third_party_cursor")
    class ThirdParty(Cursor):
        pass

    assert ThirdParty.name == "third_party_cursor"
    check_strategy("third_party_cursor", checks=["valid_proposals", "resume", "determinism"])


def test_a_wrong_count_names_the_check_and_the_numbers() -> None:
    class TooFew(Cursor):
        def propose(self, n: int) -> Proposal:
            return Proposal(super().propose(n).indices[: max(n - 1, 0)])

    message = _failures(TooFew, checks=["valid_proposals", "determinism"])
    assert "strategy 'TooFew' failed 2 check(s)" in message
    assert "- valid_proposals: " in message and "proposed 0 items, asked 1" in message


def test_hidden_randomness_fails_determinism() -> None:
    class GlobalRandom(Cursor):
        def propose(self, n: int) -> Proposal:
            return Proposal(np.random.default_rng().integers(0, self.pool.size, n))

    message = _failures(GlobalRandom, checks=["determinism", "resume"])
    assert "- determinism: two identical runs diverged at step 0" in message
    assert "- resume: the resumed run diverged" in message


def test_state_that_grows_with_the_pool_fails_the_checkpoint_check() -> None:
    class Dense(Cursor):
        learned = ("cursor", "scores")

        def _setup(self) -> None:
            super()._setup()
            self.scores = np.arange(self.pool.size, dtype=np.float64)  # not constant: all saved

    message = _failures(Dense, checks=["checkpoint_size"])
    assert "over 49,152 (32 KiB + 512 B per item touched)" in message
    assert "state.strategy_state.scores" in message


def test_undeclared_feedback_is_caught_both_ways() -> None:
    class LossesOnly(Cursor):
        feedback = ("losses",)

        def observe(self, outcomes: Outcomes) -> None:
            if len(outcomes) and outcomes.rewards is None:
                raise ValueError("no rewards")  # yet it declared it learns from losses

    message = _failures(LossesOnly, checks=["declared_feedback"])
    assert "- declared_feedback: feedback carrying only ('losses',) was refused: no rewards" in (
        message
    )

    class Undeclared(Cursor):
        feedback = ()

    check_strategy(Undeclared, checks=["declared_feedback"])  # nothing to reject: skipped


def test_a_load_that_ignores_missing_entries_is_reported() -> None:
    class Lenient(Cursor):
        def load_state_dict(self, state: dict[str, Any]) -> None:
            self.cursor = int(state.get("cursor", 0))

    message = _failures(Lenient, checks=["failed_load_changes_nothing"])
    assert "a strategy state without 'cursor' was loaded without an error" in message


def test_filter_and_allocation_checks() -> None:
    class KeepsNothing(Cursor):
        filters = True

        def keep(self, outcomes: Outcomes) -> np.ndarray:
            return np.zeros(len(outcomes), dtype=bool)

    assert "fill_batch kept 0 of 6 groups" in _failures(KeepsNothing, checks=["fill_batch"])

    class NoRollouts(Cursor):
        allocates_rollouts = True

    assert "carries no rollouts" in _failures(NoRollouts, checks=["rollouts"])
    check_strategy("dynamic_sampling", checks=["fill_batch", "keep_mask"])
    check_strategy("knapsack", checks=["rollouts"], max_rollouts=16)


def test_an_instance_is_checked_through_fresh_copies() -> None:
    check_strategy(strategies.create("uniform", replace=True), checks=["resume"])


def test_unknown_checks_and_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        check_strategy("uniform", checks=["nope"])
    with pytest.raises(TypeError, match="strategy name or Strategy subclass"):
        check_strategy(3)


def test_make_feedback_carries_exactly_the_fields_asked_for() -> None:
    proposal = Proposal(np.array([1, 2, 3]), rollouts=np.array([1, 3, 2]))
    out = make_feedback(proposal, np.random.default_rng(0), fields=("advantages", "signals"))
    assert out.losses is None and out.signals.shape == (3,)
    assert out.rollouts.tolist() == [1, 3, 2]  # advantages bring rewards, one per rollout
    np.testing.assert_allclose(np.nansum(out.advantages, axis=1), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="unknown feedback fields"):
        make_feedback(proposal, np.random.default_rng(0), fields=("rewardz",))


# A user's pytest-style suite: pytest collects these test_* methods.
class TestCursorConforms(StrategyTests):
    strategy = Cursor


class TestCursorAsTeacherOnItsOwnPool(TeacherStrategyTests):
    strategy = Cursor

    def pool(self, size: int, seed: int) -> ItemPool:
        return ItemPool(size=size, features=np.linspace(0, 1, size))


def test_the_module_imports_and_runs_without_pytest_or_hypothesis() -> None:
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pytest", "hypothesis", "_pytest"):
                    raise ImportError(f"blocked {name}")
        sys.meta_path.insert(0, Block())
        from stepladder.testing import StrategyTests, check_strategy
        check_strategy("uniform", checks=["valid_proposals", "declared_feedback"])
        class TestUniform(StrategyTests):
            strategy = "uniform"
        TestUniform().test_declared_feedback()  # not applicable: returns without pytest
        TestUniform().test_resume()
        print("ok", "pytest" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "False"]


def test_step_cost_passes_a_constant_step_and_fails_a_pool_scan() -> None:
    cost = check_step_cost("uniform", 10**3, 10**5, batch=64, steps=10)
    assert cost.small == 10**3 and cost.large == 10**5 and cost.small_ms > 0

    class SortsThePool(Cursor):
        def propose(self, n: int) -> Proposal:
            order = np.argsort(self.pool.difficulty)  # O(pool log pool) every step
            return Proposal(order[:n].astype(np.int64))

    with pytest.raises(AssertionError, match="the step cost grows with the pool"):
        check_step_cost(SortsThePool, 10**3, 2 * 10**5, batch=64, steps=10, pool=make_pool)


@pytest.mark.bench
@pytest.mark.parametrize("name", strategies.available())
def test_step_cost_does_not_grow_with_the_pool(name: str) -> None:
    check_step_cost(name, 10**4, 10**6, steps=10)
