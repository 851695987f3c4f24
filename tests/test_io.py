import json

import numpy as np
import pytest

from stepladder.io import atomic_write, load_state, save_state, write_json


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as stream:
        stream.write(b"half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_json_refuses_nan_and_keeps_old_file(tmp_path):
    target = tmp_path / "r.json"
    write_json(target, {"a": 1})
    with pytest.raises(ValueError):
        write_json(target, {"a": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1}


def test_state_round_trip_with_nested_arrays(tmp_path):
    state = {"a": np.arange(3), "b": {"c": [1, 2.5, "x", None, True], "d": np.float64(2.0)}}
    save_state(tmp_path / "s.npz", state)
    loaded = load_state(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded["a"], state["a"])
    assert loaded["b"] == {"c": [1, 2.5, "x", None, True], "d": 2.0}


def test_unsupported_values_are_named(tmp_path):
    with pytest.raises(TypeError, match="cannot save set at /x"):
        save_state(tmp_path / "s.npz", {"x": {1}})
    assert not (tmp_path / "s.npz").exists()
