import pytest

from stepladder import strategies
from stepladder.strategies import Proposal, Strategy, register


def test_available_is_sorted_and_create_sets_name():
    names = strategies.available()
    assert names == sorted(names)
    assert strategies.create("easy_to_hard").name == "easy_to_hard"


def test_register_rejects_a_second_class_under_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):

        @register("uniform")
        class Impostor(Strategy):
            def propose(self, n: int) -> Proposal:
                raise NotImplementedError


def test_create_is_keyword_only():
    with pytest.raises(TypeError):
        strategies.create("uniform", True)
