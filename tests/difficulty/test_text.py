import sys
import types

import numpy as np
import pyarrow as pa
import pytest

from stepladder.difficulty import text as text_module
from stepladder.difficulty.text import (
    DEFAULT_WEIGHTS,
    TEXT_FEATURES,
    _syllables,
    text_difficulty,
    text_features,
)

ODD_TEXTS = [
    "",
    "   ",
    "!!!",
    "😀😀",
    "日本語のテキストです。次の文です。",
    "Ünïcödé wörds — naïve café",
    "x" * 3000,
    "\n\n\t",
]


def builtin(texts, **kwargs):
    return text_features(texts, readability="builtin", **kwargs)


def column(table, name):
    return table.column(name).to_numpy()


def test_columns_types_and_metadata():
    table = builtin(["One two.", "Three"])
    assert table.column_names == list(TEXT_FEATURES)
    assert pa.types.is_int64(table.schema.field("n_words").type)
    assert pa.types.is_float64(table.schema.field("mattr").type)
    assert table.schema.metadata == {b"readability": b"builtin", b"mattr_window": b"50"}


def test_counts_on_a_known_text():
    text = "Pi is 3.14, and e is about 2.718! Don't round them. Really? yes"
    row = builtin([text]).to_pylist()[0]
    # words: pi is 314 and e is about 2718 dont round them really yes
    assert row["n_words"] == 13
    assert row["n_sentences"] == 4
    assert row["n_numbers"] == 2
    assert row["n_chars"] == len(text)
    assert row["type_token_ratio"] == pytest.approx(12 / 13)
    words = ["pi", "is", "314", "and", "e", "is", "about", "2718", "dont", "round", "them"]
    lengths = [len(w) for w in [*words, "really", "yes"]]
    assert row["mean_word_length"] == pytest.approx(np.mean(lengths))


def test_constraint_markers_and_list_items_are_counted():
    text = (
        "You MUST use at least 3 steps and exactly one loop, without recursion.\n"
        "1. Read the input\n2) Print the output\n- keep it short\n* no globals"
    )
    assert column(builtin([text]), "n_constraints")[0] == 4 + 4
    assert column(builtin(["Tell me a story about a dog."]), "n_constraints")[0] == 0


def test_mattr_matches_brute_force_and_ttr_on_short_texts():
    rng = np.random.default_rng(1)
    window = 7
    sequences = []
    for _ in range(200):
        vocabulary = int(rng.integers(1, 15))
        sequences.append([f"w{v}" for v in rng.integers(0, vocabulary, int(rng.integers(0, 40)))])
    table = builtin([" ".join(s) for s in sequences], mattr_window=window)

    def mattr(seq):
        if len(seq) <= window:
            return len(set(seq)) / max(len(seq), 1)
        starts = range(len(seq) - window + 1)
        return np.mean([len(set(seq[s : s + window])) / window for s in starts])

    expected = [mattr(s) for s in sequences]
    np.testing.assert_allclose(column(table, "mattr"), expected, atol=1e-12)
    ttr = [len(set(s)) / max(len(s), 1) for s in sequences]
    np.testing.assert_allclose(column(table, "type_token_ratio"), ttr, atol=1e-12)


def test_mattr_does_not_fall_with_length_like_ttr():
    rng = np.random.default_rng(0)
    words = [f"w{v}" for v in rng.integers(0, 60, 2000)]
    table = builtin([" ".join(words[:100]), " ".join(words)])
    ttr, mattr = column(table, "type_token_ratio"), column(table, "mattr")
    assert ttr[1] < 0.5 * ttr[0]
    assert abs(mattr[1] - mattr[0]) < 0.05


def test_odd_and_empty_texts_are_finite_and_defined():
    table = builtin(ODD_TEXTS)
    for name in TEXT_FEATURES:
        assert np.isfinite(column(table, name).astype(float)).all(), name
    empty = table.to_pylist()[0]
    assert empty["n_words"] == empty["n_chars"] == empty["n_sentences"] == 0
    assert empty["type_token_ratio"] == empty["mattr"] == empty["mean_word_length"] == 0.0
    assert empty["compression_ratio"] == 1.0
    assert empty["flesch_reading_ease"] == pytest.approx(206.835 - 1.015 - 84.6)
    assert empty["flesch_kincaid_grade"] == pytest.approx(0.39 + 11.8 - 15.59)
    # CJK full stops end sentences; non-Latin letters are words
    assert table.to_pylist()[4]["n_sentences"] == 2
    assert table.to_pylist()[5]["n_words"] == 4


def test_no_texts_gives_an_empty_table():
    table = builtin([])
    assert table.num_rows == 0 and table.column_names == list(TEXT_FEATURES)
    assert text_difficulty([], readability="builtin").shape == (0,)


def test_compression_ratio_is_lower_for_redundant_text():
    rng = np.random.default_rng(0)
    varied = " ".join("".join(rng.choice(list("abcdefghij"), 6)) for _ in range(60))
    table = builtin(["the cat sat " * 30, varied, "Hi there."])
    ratio = column(table, "compression_ratio")
    assert ratio[0] < 0.2 < ratio[1]
    assert ratio[2] == pytest.approx(1.0, abs=0.15)  # short text: no redundancy to find


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("the", 1),
        ("cat", 1),
        ("make", 1),
        ("table", 2),
        ("jumped", 1),
        ("wanted", 2),
        ("makes", 1),
        ("boxes", 2),
        ("tables", 2),
        ("reading", 2),
        ("computer", 3),
        ("beautiful", 3),
        ("syllable", 3),
        ("2024", 1),
        ("日本語", 1),
    ],
)
def test_builtin_syllable_heuristic(word, syllables):
    assert _syllables(word) == syllables


def test_builtin_readability_follows_the_flesch_formulas():
    text = "The cat sat on the mat. It was a very happy animal."
    row = builtin([text]).to_pylist()[0]
    words, sentences = 12, 2
    syllables = sum(_syllables(w) for w in text.lower().replace(".", "").split())
    ease = 206.835 - 1.015 * words / sentences - 84.6 * syllables / words
    grade = 0.39 * words / sentences + 11.8 * syllables / words - 15.59
    assert row["flesch_reading_ease"] == pytest.approx(ease)
    assert row["flesch_kincaid_grade"] == pytest.approx(grade)
    hard = builtin(
        [
            "Notwithstanding considerable methodological heterogeneity, "
            "contemporaneous investigations substantiate extraordinary variability."
        ]
    )
    assert column(hard, "flesch_reading_ease")[0] < 0 < row["flesch_reading_ease"]


def fake_textstat(monkeypatch):
    """Stand-in for the textstat module (real textstat needs NLTK data that CI cannot fetch)."""
    calls = []

    def ease(text):
        calls.append(text)
        return 42.0

    module = types.ModuleType("textstat")
    module.flesch_reading_ease = ease
    module.flesch_kincaid_grade = lambda text: 7.0
    monkeypatch.setitem(sys.modules, "textstat", module)
    return calls


def test_textstat_path_takes_both_scores_from_textstat(monkeypatch):
    calls = fake_textstat(monkeypatch)
    table = text_features(["Some words here.", "", "Two more."], readability="textstat")
    assert table.schema.metadata[b"readability"] == b"textstat"
    np.testing.assert_allclose(column(table, "flesch_reading_ease"), [42.0, 121.22, 42.0])
    np.testing.assert_allclose(column(table, "flesch_kincaid_grade"), [7.0, -3.4, 7.0])
    assert calls == ["Some words here.", "Two more."]  # texts without words are not sent


def test_textstat_failures_are_handled(monkeypatch):
    fake_textstat(monkeypatch)

    def no_words(text):
        raise ZeroDivisionError

    sys.modules["textstat"].flesch_reading_ease = no_words
    table = text_features(["(a)"], readability="textstat")
    assert column(table, "flesch_reading_ease")[0] == pytest.approx(121.22)

    def no_data(text):
        raise LookupError("Resource cmudict not found")

    sys.modules["textstat"].flesch_reading_ease = no_data
    with pytest.raises(RuntimeError, match="cmudict"):
        text_features(["Some words."], readability="textstat")


def test_auto_uses_textstat_only_when_it_is_ready(monkeypatch):
    fake_textstat(monkeypatch)
    monkeypatch.setattr(text_module, "_textstat_ready", lambda: True)
    assert text_features(["a b"]).schema.metadata[b"readability"] == b"textstat"
    monkeypatch.setattr(text_module, "_textstat_ready", lambda: False)
    assert text_features(["a b"]).schema.metadata[b"readability"] == b"builtin"


def test_textstat_missing_raises_an_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "textstat", None)
    assert text_module._textstat_ready() is False
    with pytest.raises(ImportError, match=r"stepladder\[grading\]"):
        text_features(["a"], readability="textstat")


@pytest.mark.skipif(not text_module._textstat_ready(), reason="textstat or its cmudict missing")
def test_real_textstat_agrees_with_textstat():
    import textstat

    text = "The quick brown fox jumps over the lazy dog. It was not amused."
    row = text_features([text], readability="textstat").to_pylist()[0]
    assert row["flesch_reading_ease"] == pytest.approx(textstat.flesch_reading_ease(text))
    assert row["flesch_kincaid_grade"] == pytest.approx(textstat.flesch_kincaid_grade(text))


def test_inputs_as_arrow_numpy_and_lists_agree():
    texts = ["First text.", "Second, longer text with more words!", ""]
    expected = builtin(texts)
    for given in (pa.array(texts), pa.chunked_array([texts[:1], texts[1:]]), np.array(texts)):
        assert builtin(given).equals(expected)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("just one string", "single string"),
        (["ok", None], r"texts\[1\] is missing"),
        (["ok", 3], "must all be strings"),
        (pa.array([1, 2]), "must be strings"),
        (np.array([["a"], ["b"]]), "1-D"),
    ],
)
def test_bad_texts_raise_value_errors(texts, message):
    with pytest.raises(ValueError, match=message):
        builtin(texts)


def test_bad_options_raise_value_errors():
    with pytest.raises(ValueError, match="readability"):
        text_features(["a"], readability="fancy")
    with pytest.raises(ValueError, match="mattr_window"):
        builtin(["a"], mattr_window=1)


def test_text_difficulty_orders_obviously_harder_texts_higher():
    texts = [
        "Add one and two.",
        "What is the capital of France?",
        "Prove that every continuous function on a compact metric space is uniformly "
        "continuous, and you must state exactly which completeness axioms are required.",
    ]
    scores = text_difficulty(texts, readability="builtin")
    assert scores.argmax() == 2
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, text_difficulty(builtin(texts)))


def test_text_difficulty_is_a_weighted_mean_of_z_scores():
    table = builtin(["a", "a b c", "a b c d e f g h"])
    n = np.log1p(column(table, "n_words").astype(float))
    z = (n - n.mean()) / n.std()
    np.testing.assert_allclose(text_difficulty(table, weights={"n_words": 2.0}), z)
    ease = column(table, "flesch_reading_ease")
    both = text_difficulty(table, weights={"n_words": 1.0, "flesch_reading_ease": -1.0})
    np.testing.assert_allclose(both, (z - (ease - ease.mean()) / ease.std()) / 2)
    assert set(DEFAULT_WEIGHTS) <= set(TEXT_FEATURES)


def test_text_difficulty_of_identical_texts_is_zero():
    np.testing.assert_array_equal(text_difficulty(["same"] * 3, readability="builtin"), 0.0)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "empty"),
        ({"height": 1.0}, "unknown feature 'height'"),
        ({"n_words": float("nan")}, "finite"),
        ({"n_words": 0.0}, "all zero"),
    ],
)
def test_text_difficulty_rejects_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        text_difficulty(["a b", "c"], weights=weights, readability="builtin")
