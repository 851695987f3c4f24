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
