"""Smoke test of benchmarks/verl_gpu_check.py on CPU: it builds its inputs and skips clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_script

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")


def test_inputs_build_and_a_machine_without_gpu_is_told_why(tmp_path: Path, capsys, monkeypatch):
    with load_script("verl_gpu_check") as check:
        check.tiny_model(tmp_path)
        assert (tmp_path / "config.json").exists() and (tmp_path / "tokenizer.json").exists()
        train, val = check.data(tmp_path, n=8)
        assert train.exists() and val.exists()
        lacks = check.missing()
        monkeypatch.setattr(sys, "argv", ["verl_gpu_check.py"])
        if lacks:  # this machine: no GPU (and no vLLM)
            assert check.main() == 2
            assert "verl GPU check skipped: this machine lacks" in capsys.readouterr().out
