import numpy as np
import pyarrow as pa
import pytest

from stepladder import ItemPool


def test_range_ids_cost_no_memory_and_map_to_themselves():
    pool = ItemPool(size=1000)
    assert len(pool) == 1000 and pool.nbytes == 0
    np.testing.assert_array_equal(pool.index_of([5, 0, 999]), [5, 0, 999])
    assert pool.ids([3, 4]) == [3, 4]


def test_integer_ids_in_range_order_are_recognised_as_dense():
    assert ItemPool(np.arange(10)).nbytes == 0


def test_sparse_integer_ids_are_looked_up_by_binary_search():
    pool = ItemPool([100, 7, 42])
    np.testing.assert_array_equal(pool.index_of([42, 100, 7]), [2, 0, 1])
    assert pool.ids([1]) == [7]
    with pytest.raises(KeyError, match="unknown item id 8"):
        pool.index_of([7, 8])


def test_string_ids():
    pool = ItemPool(["a", "b", "c"])
    np.testing.assert_array_equal(pool.index_of(["c", "a"]), [2, 0])
    assert pool.ids() == ["a", "b", "c"]
    with pytest.raises(KeyError, match="'zz'"):
        pool.index_of(["zz"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ids": [1, 2, 2]}, "distinct; 2 repeats"),
        ({"ids": ["a", "b", "a"]}, "distinct; 'a' repeats"),
        ({"ids": [1, "a"]}, "one type"),
        ({"ids": ["a", None]}, "missing value at position 1"),
        ({"ids": []}, "empty"),
        ({}, "needs ids or size"),
        ({"size": 0}, "size must be positive"),
        ({"size": 3, "difficulty": [1.0, 2.0]}, "difficulty must have one row per item"),
        ({"size": 2, "difficulty": [1.0, np.inf]}, "finite.*item 1"),
        ({"size": 2, "difficulty": ["x", "y"]}, "difficulty must be numeric"),
        ({"size": 2, "groups": ["a"]}, "groups has 1 labels"),
        ({"size": 2, "groups": ["a", None]}, "missing label at position 1"),
        ({"size": 2, "features": np.zeros((3, 2))}, "features must have one row"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ItemPool(**kwargs)


def test_unknown_difficulty_may_be_nan():
    pool = ItemPool(size=2, difficulty=[np.nan, 1.0])
    assert np.isnan(pool.difficulty[0])


def test_groups_are_encoded_in_first_appearance_order():
    pool = ItemPool(size=5, groups=["b", "a", "b", "c", "a"])
    assert pool.group_names == ["b", "a", "c"] and pool.n_groups == 3
    assert pool.groups.dtype == np.int32
    np.testing.assert_array_equal(pool.members(0), [0, 2])
    np.testing.assert_array_equal(pool.members(1), [1, 4])
    np.testing.assert_array_equal(pool.group_sizes(), [2, 2, 1])
    with pytest.raises(ValueError, match="out of range"):
        pool.members(3)


def test_pool_without_groups_has_one_group_of_everything():
    pool = ItemPool(size=3)
    assert pool.n_groups == 1
    np.testing.assert_array_equal(pool.members(0), [0, 1, 2])


def test_from_table_reads_columns():
    table = pa.table({"item_id": ["x", "y"], "src": ["s1", "s2"], "b": [0.5, 1.5], "f": [1.0, 2.0]})
    pool = ItemPool.from_table(
        table, group_column="src", difficulty_column="b", feature_columns=["f"]
    )
    assert pool.ids() == ["x", "y"] and pool.group_names == ["s1", "s2"]
    np.testing.assert_array_equal(pool.features, [[1.0], [2.0]])
    with pytest.raises(ValueError, match="no column 'nope'"):
        ItemPool.from_table(table, difficulty_column="nope")


def test_ten_million_items_fit_in_little_memory():
    n = 10_000_000
    pool = ItemPool(size=n, groups=np.arange(n, dtype=np.int32) % 4, difficulty=np.zeros(n))
    assert pool.nbytes / n <= 12  # int32 group codes + float64 difficulty


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ids": [1.0, np.nan]}, "ids contains NaN at position 1"),
        ({"ids": np.array([0.5, np.nan, 2.0])}, "ids contains NaN at position 1"),
        ({"size": 3, "groups": [1.0, 2.0, np.nan]}, "groups contains NaN at position 2"),
        ({"ids": np.array([1, 2**63 + 5], dtype=np.uint64)}, "ids must fit in int64"),
        ({"ids": "abc"}, "ids must be a sequence of ids, got the str 'abc'"),
        ({"ids": b"abc"}, "got the bytes"),
    ],
)
def test_silent_garbage_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ItemPool(**kwargs)


def test_huge_unsigned_ids_are_unknown_not_wrapped():
    pool = ItemPool([5, 9])
    with pytest.raises(KeyError, match="unknown item id 18446744073709551615"):
        pool.index_of(np.array([2**64 - 1], dtype=np.uint64))


def test_fingerprint_names_each_column_and_is_cached():
    base = {"groups": ["a", "b", "a"], "difficulty": [0.0, 1.0, 2.0], "features": np.eye(3)}
    pool = ItemPool(["x", "y", "z"], **base)
    same = ItemPool(pa.array(["w", "x", "y", "z"]).slice(1), **base)  # sliced Arrow ids
    assert pool.fingerprint() == same.fingerprint()
    changes = {
        "ids": ItemPool(["x", "y", "q"], **base),
        "groups": ItemPool(["x", "y", "z"], **{**base, "groups": ["a", "b", "b"]}),
        "difficulty": ItemPool(["x", "y", "z"], **{**base, "difficulty": [0.0, 1.0, 2.5]}),
        "features": ItemPool(["x", "y", "z"], **{**base, "features": np.ones((3, 3))}),
    }
    for column, other in changes.items():
        differs = [k for k, v in other.fingerprint().items() if v != pool.fingerprint()[k]]
        assert differs == [column]
    assert ItemPool(size=3).fingerprint()["groups"] != pool.fingerprint()["groups"]
    assert ItemPool(size=3).fingerprint()["difficulty"] == "none"
    assert ItemPool(size=3).fingerprint()["ids"] != ItemPool(size=4).fingerprint()["ids"]
    assert ItemPool([3, 1]).fingerprint() != ItemPool([1, 3]).fingerprint()
    assert pool._fingerprint is not None  # computed once, then cached
