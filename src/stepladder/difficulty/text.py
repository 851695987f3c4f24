"""Model-free text difficulty heuristics: length, compressibility, lexical diversity, readability.

The signals follow "Beyond Random Sampling" (Zhang et al., 2025), which found compression
ratio, lexical diversity and readability the most effective model-free difficulty metrics for
ordering text; length, numbers, sentences and constraint markers are added as cheap extras.
Everything is computed per item without a model, mostly with Arrow compute kernels (RE2
regular expressions, hashing) and NumPy, so 100,000 prompts take a few seconds.

Example:
    >>> from stepladder.difficulty.text import text_difficulty, text_features
    >>> table = text_features(["Add 2 and 3.", "Prove that every bounded monotone sequence "
    ...                        "of real numbers converges, without using compactness."],
    ...                       readability="builtin")
    >>> table.column("n_words").to_pylist(), table.column("n_constraints").to_pylist()
    ([4, 13], [0, 1])
    >>> text_difficulty(table).round(2).tolist()
    [-0.57, 0.57]
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["COUNT_COLUMNS", "DEFAULT_WEIGHTS", "TEXT_FEATURES", "text_difficulty", "text_features"]

#: Columns of :func:`text_features`, in order.
TEXT_FEATURES: tuple[str, ...] = (
    "n_chars",
    "n_words",
    "n_sentences",
    "n_numbers",
    "n_constraints",
    "mean_word_length",
    "compression_ratio",
    "type_token_ratio",
    "mattr",
    "flesch_reading_ease",
    "flesch_kincaid_grade",
)

#: Count columns; :func:`text_difficulty` and the predictor use ``log1p`` of them.
COUNT_COLUMNS: tuple[str, ...] = (
    "n_chars",
    "n_words",
    "n_sentences",
    "n_numbers",
    "n_constraints",
)

#: Default weights of :func:`text_difficulty` (positive = larger value is harder).
DEFAULT_WEIGHTS: dict[str, float] = {
    "n_words": 1.0,
    "flesch_reading_ease": -1.0,
    "compression_ratio": 0.5,
    "mattr": 0.5,
    "n_constraints": 0.5,
}

Readability = Literal["auto", "textstat", "builtin"]

# Words: runs of letters, combining marks and digits, after removing apostrophes ("don't" is
# one word) and digit-internal separators ("3.14" and "1,000" are one word each).
_APOSTROPHE = r"['\x{2019}]"  # ' and the typographic apostrophe
_DIGIT_SEPARATOR = r"(\p{Nd})[.,](\p{Nd})"
_PUNCTUATION = r"[^\pL\pM\pN\s]+"  # anything but word characters and spaces
# A sentence: a stretch containing a letter, ended by a line break, a CJK full stop, or a run of
# . ! ? followed by whitespace or the end ("3.14" and "e.g.," do not end a sentence).
_STOPS = r".!?\x{3002}\x{FF01}\x{FF1F}"  # . ! ? and the CJK full stop, ! and ?
_SENTENCE = (
    r"[^\pL\pM" + _STOPS + r"\n]*[\pL\pM](?:[^" + _STOPS + r"\n]|[.!?]+[^" + _STOPS + r"\s])*"
)
_NUMBER = r"\p{Nd}+(?:[.,]\p{Nd}+)*"
# Constraint markers (heuristic): imperative requirement words and numeric bounds, matched
# case-insensitively on whole words, plus numbered or bulleted list items (one per line).
_CONSTRAINT_MARKER = (
    r"\b(?:must(?: not)?|should(?: not)?|shall|needs? to|required?|requires|exactly"
    r"|at (?:least|most)|no (?:more|less|fewer) than|without|do(?:es)? not|don['\x{2019}]?t"
    r"|never|ensure|make sure)\b"
)
_LIST_ITEM = r"(?m)^[ \t]*(?:\d{1,3}[.)]|[-*•])[ \t]+"

_EMPTY_DEFLATE = len(zlib.compress(b"", 6, -15))  # 2 bytes: block header and end code
_VOWELS = "aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ"
_VOWEL_RUN = re.compile(f"[{_VOWELS}]+")


def text_features(
    texts: Sequence[str] | np.ndarray | pa.Array | pa.ChunkedArray,
    *,
    readability: Readability = "auto",
    mattr_window: int = 50,
) -> pa.Table:
    """Per-text difficulty heuristics as an Arrow table, one row per text.

    An Arrow table keeps integer counts as integers, names every column, converts to NumPy
    per column without copying, joins with the pool's item table, and records in its schema
    metadata how readability was computed (``readability``) and the MATTR window.

    Columns (words are runs of letters, marks and digits, lower-cased, apostrophes removed,
    "3.14" and "1,000" one word each):

    - ``n_chars``, ``n_words``: characters (code points) and words.
    - ``n_sentences``: sentences ended by ``.!?`` plus whitespace, a line break or a CJK full
      stop; at least 1 when the text has a word.
    - ``n_numbers``: numbers (digit runs, with internal ``.`` or ``,``).
    - ``n_constraints``: *heuristic* count of requirements: case-insensitive markers "must",
      "should", "shall", "need(s) to", "require(d/s)", "exactly", "at least", "at most",
      "no more/less/fewer than", "without", "do(es) not", "don't", "never", "ensure",
      "make sure", plus numbered or bulleted list lines ("1.", "2)", "-", "*", "•").
    - ``mean_word_length``: characters per word.
    - ``compression_ratio``: ``(len(deflate(utf8)) - 2) / len(utf8)`` with raw DEFLATE (zlib
      level 6, no header or checksum) less the 2 bytes of an empty DEFLATE stream, so short
      texts without repetition score about 1; lower = more redundant.
    - ``type_token_ratio``: distinct words / words.
    - ``mattr``: moving-average type-token ratio (Covington & McFall 2010): the mean TTR over
      every window of ``mattr_window`` consecutive words, ``1 - sum_s R_s / (W (N - W + 1))``
      where ``R_s`` counts repeated words in window ``s``; texts of at most ``W`` words get
      their TTR. Unlike TTR it does not fall with length; unlike MTLD (used by the paper) it is
      finite for every text, including short prompts with no repeated word.
    - ``flesch_reading_ease`` = ``206.835 - 1.015 words/sentence - 84.6 syllables/word``
      (Flesch 1948) and ``flesch_kincaid_grade`` = ``0.39 words/sentence + 11.8 syllables/word
      - 15.59`` (Kincaid et al. 1975). English formulas; other scripts get finite values that
      mean little.

    ``readability="textstat"`` takes both scores from the ``textstat`` package;
    ``"builtin"`` uses the formulas above with a vowel-group syllable count (runs of vowels,
    less a silent final "e", "-ed" or "-es", at least 1 per word; a rough estimate for
    English); ``"auto"`` uses textstat when it is installed and ready offline (recent
    releases, such as 0.7.13, need NLTK's ``cmudict`` data for English, which they would
    otherwise try to download on first use), else the built-in counter. The table's metadata
    names the one used, and the built-in path is much faster.

    Every value is finite. An empty text has all counts, lengths and word ratios 0,
    ``compression_ratio`` 1 (as incompressible data) and the readability of the easiest
    possible text (one one-syllable word per sentence): 121.22 and -3.40. A text without a
    word ("!!!", emoji) gets the same word-based values and its own length and compression.

    Example:
        >>> t = text_features(["The cat sat on the mat.", ""], readability="builtin")
        >>> t.column("type_token_ratio").to_pylist(), t.column("n_sentences").to_pylist()
        ([0.8333333333333334, 0.0], [1, 0])
        >>> round(t.column("flesch_reading_ease")[0].as_py(), 2)
        116.15
        >>> t.schema.metadata[b"readability"]
        b'builtin'
    """
    if isinstance(mattr_window, bool) or not isinstance(mattr_window, int) or mattr_window < 2:
        raise ValueError(f"mattr_window must be an integer >= 2, got {mattr_window!r}")
    backend = _resolve_readability(readability)
    array = _as_text_array(texts)
    n = len(array)
    lower = pc.utf8_lower(array)

    words, parent = _words(lower)
    n_words = np.bincount(parent, minlength=n).astype(np.int64)
    encoded = pc.dictionary_encode(words)
    token = encoded.indices.to_numpy().astype(np.int64)
    vocabulary = encoded.dictionary
    word_chars = pc.utf8_length(vocabulary).to_numpy().astype(np.float64)
    mean_word_length = _ratio(np.bincount(parent, word_chars[token], minlength=n), n_words)
    types, mattr = _lexical_diversity(token, parent, n_words, len(vocabulary), mattr_window)

    n_sentences = _count(array, _SENTENCE)
    n_sentences = np.where(n_words > 0, np.maximum(n_sentences, 1), 0)
    n_bytes = pc.binary_length(array).to_numpy().astype(np.int64)
    compressed = np.fromiter(
        (len(zlib.compress(s.encode("utf-8"), 6, -15)) for s in array.to_pylist()),
        dtype=np.int64,
        count=n,
    )
    compressed -= _EMPTY_DEFLATE

    if backend == "textstat":
        ease, grade = _textstat_readability(array, n_words)
    else:
        syllables_per_word = np.array([_syllables(w) for w in vocabulary.to_pylist()], np.int64)
        syllables = np.bincount(parent, syllables_per_word[token], minlength=n)
        ease, grade = _flesch(n_words, n_sentences, syllables)

    columns = {
        "n_chars": pc.utf8_length(array).to_numpy().astype(np.int64),
        "n_words": n_words,
        "n_sentences": n_sentences.astype(np.int64),
        "n_numbers": _count(lower, _NUMBER),
        "n_constraints": _count(lower, _CONSTRAINT_MARKER) + _count(array, _LIST_ITEM),
        "mean_word_length": mean_word_length,
        "compression_ratio": np.where(n_bytes > 0, compressed / np.maximum(n_bytes, 1), 1.0),
        "type_token_ratio": _ratio(types, n_words),
        "mattr": mattr,
        "flesch_reading_ease": ease,
        "flesch_kincaid_grade": grade,
    }
    metadata = {"readability": backend, "mattr_window": str(mattr_window)}
    return pa.table({k: pa.array(columns[k]) for k in TEXT_FEATURES}, metadata=metadata)


def text_difficulty(
    texts: Sequence[str] | np.ndarray | pa.Array | pa.ChunkedArray | pa.Table,
    *,
    weights: Mapping[str, float] | None = None,
    readability: Readability = "auto",
) -> np.ndarray:
    """One model-free difficulty score per text: a weighted mean of z-scored heuristics.

    ``score = sum_k w_k z_k / sum_k |w_k|`` with ``z_k = (x_k - mean(x_k)) / std(x_k)`` over the
    texts given (0 where a feature is constant), and ``x_k = log1p(count)`` for count columns.
    Default weights (:data:`DEFAULT_WEIGHTS`): longer (``n_words``, 1) and less readable
    (``flesch_reading_ease``, -1) means harder; so, at half weight, do less compressible
    (``compression_ratio``), lexically more diverse (``mattr``) and more constrained
    (``n_constraints``). The two redundancy measures fall with length on short texts (few
    words repeat), so full weight on them would cancel the length signal.

    This is a heuristic prior for ordering items before any response is seen, not a
    calibrated difficulty: scores are relative to the texts of one call (z-scores), and their
    agreement with real pass rates depends on the domain. Pass a table from
    :func:`text_features` instead of texts to reuse computed features.

    Example:
        >>> text_difficulty(["Hi.", "Hello there, friend.", "Compute the determinant of "
        ...                  "the matrix, which must be exactly symmetric."],
        ...                 readability="builtin").round(2).tolist()
        [-0.54, -0.01, 0.55]
        >>> text_difficulty(["a b", "a b c d"], weights={"n_words": 1.0}).tolist()
        [-1.0, 1.0]
    """
    table = texts if isinstance(texts, pa.Table) else text_features(texts, readability=readability)
    weights = DEFAULT_WEIGHTS if weights is None else dict(weights)
    if not weights:
        raise ValueError("weights is empty: give at least one feature weight")
    for name, weight in weights.items():
        if name not in TEXT_FEATURES:
            raise ValueError(f"unknown feature {name!r} in weights; choose from {TEXT_FEATURES}")
        if not np.isfinite(weight):
            raise ValueError(f"weight of {name!r} must be finite, got {weight}")
        if name not in table.column_names:
            raise ValueError(f"table has no column {name!r}; columns: {table.column_names}")
    total = sum(abs(w) for w in weights.values())
    if total == 0:
        raise ValueError("weights are all zero")
    score = np.zeros(table.num_rows)
    for name, weight in weights.items():
        score += weight * _zscore(_transformed(table, name))
    return score / total


def _feature_matrix(table: pa.Table) -> np.ndarray:
    """The ``(n, len(TEXT_FEATURES))`` float matrix of a features table, counts as log1p."""
    if table.num_rows == 0:
        return np.zeros((0, len(TEXT_FEATURES)))
    return np.column_stack([_transformed(table, name) for name in TEXT_FEATURES])


def _transformed(table: pa.Table, name: str) -> np.ndarray:
    values = table.column(name).to_numpy().astype(np.float64)
    return np.log1p(values) if name in COUNT_COLUMNS else values


def _zscore(values: np.ndarray) -> np.ndarray:
    """``(x - mean) / std``, or zeros when the values are (numerically) constant."""
    if values.size == 0:
        return values
    mean, std = values.mean(), values.std()
    if std <= 1e-12 * max(1.0, abs(mean)):
        return np.zeros_like(values)
    return (values - mean) / std


def _as_text_array(texts: Any) -> pa.Array:
    """Validate ``texts`` and return a large_string Arrow array."""
    if isinstance(texts, str | bytes):
        raise ValueError("texts must be a sequence of strings, got a single string")
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        if isinstance(texts, np.ndarray):
            if texts.ndim != 1:
                raise ValueError(f"texts must be 1-D, got shape {texts.shape}")
            texts = texts.tolist()
        try:
            texts = pa.array(list(texts), type=pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
            raise ValueError(f"texts must all be strings: {error}") from None
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise ValueError(f"texts must be strings, got Arrow type {texts.type}")
    if texts.null_count:
        first = int(np.argmax(texts.is_null().to_numpy(zero_copy_only=False)))
        raise ValueError(f"texts[{first}] is missing (None); use '' for an empty text")
    return texts.cast(pa.large_string())


def _words(lower: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """All words of all texts, flattened, and the index of the text each comes from."""
    cleaned = pc.replace_substring_regex(lower, pattern=_APOSTROPHE, replacement="")
    has_separator = pc.match_substring_regex(cleaned, pattern=r"\p{Nd}[.,]\p{Nd}")
    if pc.any(has_separator).as_py():  # rewrite only the texts that need it (a slow kernel)
        joined = pc.replace_substring_regex(
            cleaned.filter(has_separator), pattern=_DIGIT_SEPARATOR, replacement=r"\1\2"
        )
        cleaned = pc.replace_with_mask(cleaned, has_separator, joined)
    # Punctuation runs become spaces, then a whitespace split: much faster than a regex split.
    cleaned = pc.replace_substring_regex(cleaned, pattern=_PUNCTUATION, replacement=" ")
    pieces = pc.utf8_split_whitespace(cleaned)
    flat = pc.list_flatten(pieces)
    parent = pc.list_parent_indices(pieces)
    keep = pc.greater(pc.binary_length(flat), 0)
    return flat.filter(keep), parent.filter(keep).to_numpy()


def _count(array: pa.Array, pattern: str) -> np.ndarray:
    counts = pc.count_substring_regex(array, pattern=pattern, ignore_case=False)
    return counts.to_numpy().astype(np.int64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with 0 where the denominator is 0."""
    return np.asarray(numerator, np.float64) / np.maximum(denominator, 1)


def _lexical_diversity(
    token: np.ndarray, parent: np.ndarray, n_words: np.ndarray, vocabulary: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct words per text and MATTR, for all texts at once.

    ``prev[j]`` is the position of the previous occurrence of word ``j`` in the same text (or
    -1). A window starting at ``s`` holds ``W - R_s`` types, where ``R_s`` counts positions
    ``j`` in the window with ``prev[j] >= s``; so each repeat ``(p, j)`` adds 1 to every window
    start ``s`` with ``j - W + 1 <= s <= p`` and ``0 <= s <= N - W``.
    """
    n = len(n_words)
    if token.size == 0:
        return np.zeros(n, np.int64), np.zeros(n)
    key = parent * vocabulary + token
    order = np.argsort(key, kind="stable")
    same = key[order[1:]] == key[order[:-1]]
    prev = np.full(token.size, -1, np.int64)
    prev[order[1:][same]] = order[:-1][same]
    types = np.bincount(parent[prev < 0], minlength=n).astype(np.int64)

    start = np.concatenate(([0], np.cumsum(n_words)[:-1]))
    repeat = np.flatnonzero(prev >= 0)
    text = parent[repeat]
    j = repeat - start[text]
    p = prev[repeat] - start[text]
    last_start = n_words[text] - window
    covered = np.minimum(p, last_start) - np.maximum(j - window + 1, 0) + 1
    covered = np.where(last_start > 0, np.maximum(covered, 0), 0)
    repeats = np.bincount(text, covered, minlength=n)
    long = n_words > window
    windows = np.maximum(n_words - window + 1, 1)
    mattr = np.where(long, 1.0 - repeats / (window * windows), _ratio(types, n_words))
    return types, mattr


def _syllables(word: str) -> int:
    """Vowel-group syllable estimate for one lower-case word (at least 1)."""
    count = len(_VOWEL_RUN.findall(word))
    if count > 1:
        consonant_le = len(word) >= 3 and word[-2] == "l" and word[-3] not in _VOWELS
        if word.endswith("e") and word[-2] not in _VOWELS and not consonant_le:
            count -= 1  # silent final e: "make", but not "table"
        elif word.endswith("ed") and len(word) >= 3 and word[-3] not in _VOWELS + "td":
            count -= 1  # "jumped", but not "wanted"
        elif word.endswith("es") and len(word) >= 3 and word[-3] not in _VOWELS + "sxzhcgl":
            count -= 1  # "makes", but not "boxes" or "tables"
    return max(count, 1)


def _flesch(
    n_words: np.ndarray, n_sentences: np.ndarray, syllables: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flesch reading ease and Flesch-Kincaid grade; texts without words count as 1 and 1."""
    has_words = n_words > 0
    words_per_sentence = np.where(has_words, n_words / np.maximum(n_sentences, 1), 1.0)
    syllables_per_word = np.where(has_words, syllables / np.maximum(n_words, 1), 1.0)
    ease = 206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word
    grade = 0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59
    return ease, grade


def _resolve_readability(readability: str) -> str:
    if readability == "builtin":
        return "builtin"
    if readability == "textstat":
        try:
            import textstat  # noqa: F401
        except ImportError:
            raise ImportError(
                "readability='textstat' needs textstat: pip install 'stepladder[grading]'"
            ) from None
        return "textstat"
    if readability == "auto":
        return "textstat" if _textstat_ready() else "builtin"
    raise ValueError(f"readability must be 'auto', 'textstat' or 'builtin', got {readability!r}")


def _textstat_ready() -> bool:
    """Whether textstat is installed and can score English text without a download."""
    try:
        import textstat  # noqa: F401
    except ImportError:
        return False
    try:
        import nltk
    except ImportError:
        return True  # textstat versions before the NLTK pronouncing dictionary
    try:
        nltk.data.find("corpora/cmudict")
    except LookupError:
        return False
    return True


def _textstat_readability(array: pa.Array, n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import textstat

    ease, grade = _flesch(np.zeros(1), np.zeros(1), np.zeros(1))
    eases = np.full(len(array), ease[0])
    grades = np.full(len(array), grade[0])
    for i, text in enumerate(array.to_pylist()):
        if n_words[i] == 0:
            continue
        try:
            eases[i] = textstat.flesch_reading_ease(text)
            grades[i] = textstat.flesch_kincaid_grade(text)
        except ZeroDivisionError:
            continue  # textstat found no word: keep the no-word values
        except LookupError as error:
            raise RuntimeError(
                "textstat needs NLTK's 'cmudict' data for English and could not load it "
                "(python -m nltk.downloader cmudict); or use readability='builtin'"
            ) from error
    return eases, grades
