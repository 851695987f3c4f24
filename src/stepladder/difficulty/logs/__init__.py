"""Read response logs from CSV, JSON Lines and Parquet files into :class:`Responses`.

Formats follow the file name: ``.csv`` / ``.csv.gz`` (CSV), ``.jsonl`` / ``.ndjson`` (JSON
Lines, optionally ``.gz``), ``.parquet``, or a directory of ``*.parquet`` shards read in
sorted name order (names starting with ``.`` or ``_`` are skipped, as Spark and Hive do).

Long logs hold one response per row: learner id, item id and a score (0/1 or in [0, 1]);
with ``trials_column`` the score column counts successes out of that many attempts.
Rows repeating a (learner, item) pair are repeated attempts and count together (k of n).
Wide logs (``wide=True``) hold one row per item: the first column is the item id (each
id once), every other column one learner (the column name is the learner id), and an
empty or NaN cell is a missing response. As in :meth:`Responses.from_matrix`, ids keep
the matrix order: item i is data row i and learner k is learner column k, kept even
without a response.

Ids keep their type where the format has one: Parquet ids as stored, JSON numbers as
integers, JSON strings as strings; a JSON column that mixes strings and numbers becomes
all strings, numbers spelt as JSON writes them (``7`` and ``"7"`` are then one id). CSV
ids and the learner names in a wide header are integers when every one is written as a
plain integer (no sign other than ``-``, no leading zeros), strings otherwise, so
``"007"`` never collapses into ``7``.

Every bad input raises :class:`ResponseLogError` (a ``ValueError``) with one line naming
the file and, where there is one, the place at fault: ``line N`` in CSV and JSON Lines
files is the physical line number, counted from 1 and including the header and blank
lines; ``row N`` in Parquet files is the data row, counted from 1 within that file (the
shard, in a directory). The shapes::

    FILE: no such file or directory | file is empty | no data rows
    FILE: unknown file type '.txt'; expected .csv, .csv.gz, .jsonl, .ndjson, ...
    FILE: missing column 'correct'; columns present: 'learner_id', 'item_id', 'score'
    FILE: line N: column 'correct' is VALUE; expected a score in [0, 1]
    FILE: line N: column 'learner_id' is empty; expected an id
    FILE: line N: 2 fields where the header has 3
    FILE: line N: invalid JSON: REASON
    FILE: not a readable Parquet file: REASON
    DIR: directory holds no .parquet files
    DIR: directory holds 'part-1.csv' besides .parquet shards; only .parquet shards are read...
    SHARD: schema differs from FIRST_SHARD: column 'correct' is double here, int8 there

VALUE is what the file holds: the CSV cell as text (``'abc'``, ``'nan'``) or ``empty``,
the JSON value (``"abc"``, ``2``, ``null``) or ``missing``, the Parquet value or ``null``.
A single learner or a single item is no error here (estimators that need more say so).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = path.write_text("learner_id,item_id,correct\\nann,q1,1\\nann,q2,0\\nbob,q1,0.5\\n")
    >>> read_responses(path).item_p_correct().tolist()
    [0.75, 0.0]
    >>> _ = path.write_text("learner_id,item_id,correct\\nann,q1,1\\nann,q2,2\\n")
    >>> try:
    ...     read_responses(path)
    ... except ResponseLogError as error:
    ...     print(str(error).replace(str(path), "log.csv"))
    log.csv: line 3: column 'correct' is '2'; expected a score in [0, 1]
"""

from stepladder.difficulty.logs._common import ResponseLogError
from stepladder.difficulty.logs.compact import iter_response_batches, read_responses_compact
from stepladder.difficulty.logs.reading import read_responses
from stepladder.difficulty.logs.synthetic import write_synthetic_log

__all__ = [
    "ResponseLogError",
    "iter_response_batches",
    "read_responses",
    "read_responses_compact",
    "write_synthetic_log",
]
