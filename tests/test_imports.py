"""Import costs: ``stepladder grade`` loads only what grading needs, and the package's
public names still load on first use."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import stepladder

SRC = str(Path(stepladder.__file__).resolve().parents[1])

#: Modules the grade command has no use for (each costs import time, torch most).
NOT_FOR_GRADING = (
    "stepladder.strategies",
    "stepladder.curriculum",
    "stepladder.journal",
    "stepladder.safety",
    "stepladder.evaluation",
    "stepladder.sim",
    "stepladder.integrations",
    "stepladder.cli.simulate",
    "stepladder.cli.evaluate",
    "stepladder.cli.report",
    "torch",
)

#: ... and what a 2PL run needs none of: the other graders, SciPy's special functions
#: (0.16 s) and tqdm (loaded only for a shown bar; tqdm.auto pulls in asyncio).
NOT_FOR_A_2PL = (
    "stepladder.difficulty.ratings",
    "stepladder.difficulty.passrate",
    "stepladder.difficulty.model_choice",
    "stepladder.difficulty.crowd",
    "stepladder.difficulty.predictor",
    "stepladder.difficulty.text",
    "scipy.special",
    "scipy.sparse",
    "pandas",
    "tqdm",
    "tqdm.auto",
    "asyncio",
)


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": SRC, "PATH": "", "OMP_NUM_THREADS": "1"},
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_stepladder_loads_no_submodule():
    loaded = _loaded_after("import stepladder")
    # (stepladder._lazy is the few lines that make the names load on first use)
    assert sorted(m for m in loaded if m.startswith("stepladder")) == [
        "stepladder",
        "stepladder._lazy",
    ]


def test_grade_command_loads_only_what_grading_needs(tmp_path):
    log = tmp_path / "log.csv"
    rows = [f"{learner},{item},{(learner + item) % 3 == 0:d}" for learner in range(12)
            for item in range(6)]  # fmt: skip
    log.write_text("learner_id,item_id,correct\n" + "\n".join(rows) + "\n")
    out = tmp_path / "items.parquet"
    code = (
        "from stepladder.cli import main\n"
        f"assert main(['grade', {str(log)!r}, '--model', '1pl', '--out', {str(out)!r}, "
        "'--quiet']) == 0"
    )
    loaded = _loaded_after(code)
    assert out.exists()
    assert "stepladder.difficulty.irt" in loaded  # the run did grade
    assert [m for m in NOT_FOR_GRADING if m in loaded] == []
    assert not any(m.startswith("stepladder.report") for m in loaded)


def test_grade_2pl_on_parquet_loads_no_other_grader(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    learners, items = (a.ravel() for a in np.meshgrid(np.arange(40), np.arange(6), indexing="ij"))
    correct = ((learners * 7 + items * 3) % 5 < 3).astype(np.int8)
    log = tmp_path / "log.parquet"
    pq.write_table(pa.table({"learner_id": learners, "item_id": items, "correct": correct}), log)
    out = tmp_path / "items.parquet"
    code = (
        "from stepladder.cli import main\n"
        f"assert main(['grade', {str(log)!r}, '--model', '2pl', '--out', {str(out)!r}, "
        f"'--learners-out', {str(tmp_path / 'learners.parquet')!r}, '--quiet']) == 0"
    )
    loaded = _loaded_after(code)
    assert out.exists() and "stepladder.difficulty.irt" in loaded
    assert [m for m in NOT_FOR_GRADING + NOT_FOR_A_2PL if m in loaded] == []


def test_difficulty_names_load_on_first_use():
    loaded = _loaded_after(
        "import stepladder.difficulty as d\n"
        "assert d.Elo.__name__ == 'Elo' and 'Elo' in dir(d) and set(d.__all__) <= set(dir(d))\n"
        "try:\n    d.no_such_name\nexcept AttributeError as error:\n"
        "    assert 'no_such_name' in str(error)\nelse:\n    raise AssertionError"
    )
    assert "stepladder.difficulty.ratings" in loaded
    assert "stepladder.difficulty.irt" not in loaded


def test_grade_help_loads_no_other_command():
    loaded = _loaded_after("from stepladder.cli import main\ntry:\n    main(['grade', '--help'])\n"
                           "except SystemExit:\n    pass")  # fmt: skip
    assert [m for m in NOT_FOR_GRADING if m in loaded] == []


def test_public_names_load_on_first_use():
    loaded = _loaded_after(
        "import stepladder\n"
        "from stepladder import Curriculum, ItemPool, strategies\n"
        "assert stepladder.Curriculum is Curriculum and 'uniform' in strategies.available()\n"
        "assert all(hasattr(stepladder, name) for name in stepladder.__all__)"
    )
    assert {"stepladder.curriculum", "stepladder.strategies"} <= loaded


def test_numba_loads_at_a_mixture_teachers_first_observe_only():
    # the strategies' registry and a Gaussian-mixture teacher that has only proposed: no numba
    loaded = _loaded_after(
        "import numpy as np\n"
        "from stepladder import Curriculum, ItemPool, strategies\n"
        "strategies.available()\n"
        "pool = ItemPool(size=10, features=np.linspace(0, 1, 10)[:, None])\n"
        "Curriculum(pool, 'alp_gmm', seed=0).propose(4)"
    )
    assert "stepladder.strategies.alp_gmm" in loaded
    assert not {m for m in loaded if m.startswith("numba") or m.endswith("_gmm_numba")}


def test_public_names_are_listed_and_unknown_ones_fail():
    assert set(stepladder.__all__) <= set(dir(stepladder))
    assert "Curriculum" in stepladder.__all__ and "__version__" in stepladder.__all__
    assert stepladder.strategies.Strategy is stepladder.Strategy
    try:
        stepladder.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name did not raise AttributeError")
