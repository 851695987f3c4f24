"""NumPy <-> Arrow without pandas: the same arrays as PyArrow's own conversions."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import stepladder
from stepladder._arrow import from_numpy, strings, to_numpy

SRC = str(Path(stepladder.__file__).resolve().parents[1])


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16", "float32", "float64"])
def test_from_numpy_equals_pa_array_and_shares_memory(dtype):
    values = np.array([0, 1, 5, 2], dtype=dtype)
    ours, theirs = from_numpy(values), pa.array(values)
    assert ours.type == theirs.type and ours.equals(theirs) and ours.null_count == 0
    values[0] = 7  # zero copy, as pa.array of a NumPy array
    assert ours[0].as_py() == theirs[0].as_py() == 7


def test_from_numpy_keeps_nan_as_a_value_and_strided_input():
    values = np.array([0.5, np.nan, 2.0, 3.0])[::2]
    column = from_numpy(values, pa.float64())
    assert column.to_pylist() == [0.5, 2.0]
    nan = from_numpy(np.array([np.nan]))
    assert nan.null_count == 0 and np.isnan(nan[0].as_py())


def test_from_numpy_other_dtypes_go_through_pa_array_and_its_checks():
    assert from_numpy(np.array([1, 2]), pa.float64()).to_pylist() == [1.0, 2.0]
    assert from_numpy(np.array([True, False])).type == pa.bool_()
    with pytest.raises(pa.ArrowInvalid):
        from_numpy(np.array([2**40]), pa.int32())


def test_to_numpy_equals_to_numpy_for_slices_chunks_and_nulls():
    array = pa.array(np.arange(10, dtype=np.int32)).slice(3, 4)
    np.testing.assert_array_equal(to_numpy(array), array.to_numpy())
    assert not to_numpy(array).flags.writeable
    chunked = pa.chunked_array([pa.array([1.5, 2.5])])
    np.testing.assert_array_equal(to_numpy(chunked), [1.5, 2.5])
    two = pa.chunked_array([pa.array([1, 2]), pa.array([3])])
    np.testing.assert_array_equal(to_numpy(two), [1, 2, 3])
    with_nulls = pa.array([1.0, None])
    np.testing.assert_array_equal(to_numpy(with_nulls), [1.0, np.nan])
    assert to_numpy(pa.array([], pa.int64())).dtype == np.int64
    assert to_numpy(pa.array([True, False])).tolist() == [True, False]


@pytest.mark.parametrize("values", [["all correct", None, "all wrong", None], [], [None],
                                    ["é", "", "no responses"]])  # fmt: skip
def test_strings_equal_pa_array(values):
    ours = strings(values)
    assert ours.type == pa.string()
    assert ours.equals(pa.array(values, pa.string()))
    assert ours.null_count == values.count(None)


def test_fitting_and_writing_tables_import_no_pandas(tmp_path):
    """pa.array and Array.to_numpy import pandas (0.2 s) on their first call."""
    code = f"""
import json, sys
import numpy as np, pyarrow.parquet as pq
from stepladder._arrow import from_numpy
from stepladder.difficulty import IRT, Responses
rng = np.random.default_rng(0)
learner, item = (a.ravel().astype(np.int32) for a in np.meshgrid(np.arange(60), np.arange(8),
                                                                 indexing="ij"))
correct = (rng.random(len(learner)) < 0.5).astype(np.float32)
log = Responses(learner, item, correct, np.ones_like(correct), from_numpy(np.arange(60)),
                from_numpy(np.arange(8)))
model = IRT("2pl").fit(log)
pq.write_table(model.item_table(), {str(tmp_path / "items.parquet")!r})
pq.write_table(model.learner_table(), {str(tmp_path / "learners.parquet")!r})
json.dumps(model.summary(), default=float)
print(json.dumps(sorted(sys.modules)))
"""
    env = {"PYTHONPATH": SRC, "PATH": "", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env)  # fmt: skip
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "stepladder.difficulty.irt" in loaded
    assert "pandas" not in loaded
