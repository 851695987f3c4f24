"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
# Blocks preceded by a "readme-test: skip" comment are excerpts that need a model or data.
BLOCKS = re.findall(r"(?<!-->\n)```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code):
    exec(compile(code, str(README), "exec"), {})


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def _commands() -> list[str]:
    """The README's ``stepladder`` command lines, in order, continuations joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("stepladder "):
                commands.append(line)
    return commands


def test_readme_commands_run_from_a_fresh_clone(tmp_path, monkeypatch):
    """Every `stepladder ...` line of the README, run in order where a user would run it:
    in the clone's root (here a copy of it holding only examples/), with exit code 0."""
    import shlex

    from stepladder.cli import main

    (tmp_path / "examples").symlink_to(README.parent / "examples")
    monkeypatch.chdir(tmp_path)
    commands = _commands()
    assert any(c.startswith("stepladder grade examples/") for c in commands)
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
