import json
import os
import subprocess
import sys

import numpy as np
import pytest

from stepladder import io
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


def _good_state(path):
    save_state(path, {"a": np.arange(1000), "b": {"c": 1}})
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_text("just some notes\n"), "not a .npz archive"),
        (lambda p: p.write_bytes(_good_state(p)[:300]), "not a .npz archive, or a truncated"),
        (lambda p: p.write_bytes(_good_state(p)[:-30]), "not a .npz archive, or a truncated"),
        (lambda p: np.save(p.with_suffix(".npy"), [1]) or p.with_suffix(".npy").rename(p), ".npy"),
        (lambda p: np.savez(p, x=np.arange(3)), "without a stepladder state"),
        (lambda p: p.mkdir(), "it is a directory"),
    ],
)
def test_load_state_names_the_file_and_the_problem(tmp_path, make, message):
    path = tmp_path / "state.npz"
    make(path)
    with pytest.raises(ValueError, match=message) as error:
        load_state(path)
    text = str(error.value)
    assert text.startswith(f"cannot load state from {path}: ") and "\n" not in text
    assert not any(word in text for word in ("pickle", "BadZipFile", "EOF", "zip file"))


def test_corrupt_entries_are_reported_as_corrupt(tmp_path):
    path = tmp_path / "state.npz"
    data = bytearray(_good_state(path))
    data[len(data) // 2] ^= 0xFF  # inside an array's bytes: the CRC fails on read
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path}: truncated or corrupt"):
        load_state(path)


def test_leftovers_of_interrupted_saves_are_removed_on_the_next_save(tmp_path):
    target = tmp_path / "ckpt.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = [
        tmp_path / f".ckpt.npz.{dead.stdout.strip()}.x1y2z3.tmp",
        tmp_path / ".ckpt.npz.a1b2.tmp",
    ]
    live = tmp_path / f".ckpt.npz.{os.getppid()}.abc.tmp"  # a running process's write
    other = tmp_path / ".other.npz.1.abc.tmp"
    for path in [*stale, live, other]:
        path.write_bytes(b"half a file")
    save_state(target, {"x": 1})
    assert load_state(target) == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.npz", live.name, other.name])


def test_save_state_writes_straight_to_the_temporary_file(tmp_path, monkeypatch):
    streams = []
    write = io._write_state
    monkeypatch.setattr(io, "_write_state", lambda s, state: streams.append(s) or write(s, state))
    save_state(tmp_path / "s.npz", {"a": np.arange(5)})
    assert load_state(tmp_path / "s.npz")["a"].tolist() == [0, 1, 2, 3, 4]
    assert len(streams) == 1 and isinstance(streams[0], io.io.BufferedWriter)  # the temp file
