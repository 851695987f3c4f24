"""Progress bars: tqdm's, loaded only when a bar is shown."""

import io
import json
import subprocess
import sys
from pathlib import Path

import tqdm.std

import stepladder
from stepladder._progress import tqdm as progress

SRC = str(Path(stepladder.__file__).resolve().parents[1])


def test_a_shown_bar_is_tqdms_and_writes_progress():
    stream = io.StringIO()
    with progress(total=4, desc="fit", disable=False, file=stream) as bar:
        bar.update(2)
        bar.set_postfix(objective="1.0")
        assert isinstance(bar, tqdm.std.tqdm) and bar.n == 2
    assert "fit" in stream.getvalue() and "objective=1.0" in stream.getvalue()


def test_a_hidden_bar_iterates_and_ignores_updates():
    bar = progress(range(3), total=3, disable=True)
    assert list(bar) == [0, 1, 2]
    bar.update(5)
    bar.set_postfix(loss="0")
    bar.set_postfix_str("x")
    bar.close()
    with progress(disable=True) as empty:
        assert list(empty) == []


def test_a_hidden_bar_loads_no_tqdm():
    code = (
        "import json, sys\nfrom stepladder._progress import tqdm\n"
        "tqdm(total=3, disable=True).update()\nprint(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": SRC, "PATH": ""})  # fmt: skip
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert not [name for name in loaded if name.split(".")[0] in ("tqdm", "asyncio")]
