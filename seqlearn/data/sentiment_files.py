"""Reading sentiment files: Kaggle's movie-review TSV and the Stanford Sentiment Treebank.

Two formats carry the same phrases:

* a **Kaggle TSV** ("Sentiment Analysis on Movie Reviews"): a header
  ``PhraseId<TAB>SentenceId<TAB>Phrase<TAB>Sentiment`` and one phrase a line, labels 0-4;
  a test file has no ``Sentiment`` column. Read it with :func:`read_kaggle_tsv`.
* **SST trees** (``trainDevTestTrees_PTB.zip``): one sentence a line as a bracketed tree
  with a 0-4 label at every node, e.g. ``(3 (2 (2 The) (2 Rock)) (4 (2 rocks) (2 .)))``.
  Read it with :func:`read_sst_trees`.

:func:`read_sentiment_file` tells them apart by their content. All readers decode UTF-8
(a leading byte-order mark is dropped), accept ``\\r\\n``, ``\\n`` or ``\\r`` line ends,
skip blank lines, and raise :class:`ValueError` naming the file and the 1-based line of the
first malformed row.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from seqlearn.data._text_file import content_lines, line_error
from seqlearn.data.sentiment import SST_CATEGORIES, SentimentPhrases
from seqlearn.data.sst_trees import read_sst_trees

__all__ = ["read_kaggle_tsv", "read_sentiment_file"]

_KAGGLE_COLUMNS = ("PhraseId", "SentenceId", "Phrase")
_LABEL = "Sentiment"
_ID = re.compile(r"[0-9]+")
_LABELS = {str(label): label for label in range(len(SST_CATEGORIES))}


def _kaggle(path: Path, rows: list[tuple[int, str]]) -> SentimentPhrases:
    """Parse a Kaggle TSV from its non-blank lines (the header first)."""
    header = rows[0][1].split("\t")
    missing = [name for name in _KAGGLE_COLUMNS if name not in header]
    if missing:
        raise line_error(
            path,
            rows[0][0],
            f"expected the header columns {', '.join(_KAGGLE_COLUMNS)} (and {_LABEL} for "
            f"labelled data), missing {', '.join(missing)} in {header}",
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise line_error(path, rows[0][0], f"repeated header columns {', '.join(repeated)}")
    phrase_col, sentence_col, text_col = (header.index(name) for name in _KAGGLE_COLUMNS)
    label_col = header.index(_LABEL) if _LABEL in header else None
    texts: list[str] = []
    labels: list[int] = []
    phrase_ids: list[int] = []
    sentence_ids: list[int] = []
    first_line: dict[int, int] = {}
    for number, row in rows[1:]:
        fields = row.split("\t")
        if len(fields) != len(header):
            raise line_error(
                path, number, f"expected {len(header)} tab-separated columns, got {len(fields)}"
            )
        ids = []
        for name, column in (("PhraseId", phrase_col), ("SentenceId", sentence_col)):
            if not _ID.fullmatch(fields[column]):
                raise line_error(
                    path, number, f"expected an integer {name}, got {fields[column]!r}"
                )
            ids.append(int(fields[column]))
        if ids[0] in first_line:
            raise line_error(
                path, number, f"PhraseId {ids[0]} repeats (first on line {first_line[ids[0]]})"
            )
        first_line[ids[0]] = number
        if label_col is not None:
            label = _LABELS.get(fields[label_col])
            if label is None:
                raise line_error(
                    path, number, f"expected a {_LABEL} label 0-4, got {fields[label_col]!r}"
                )
            labels.append(label)
        phrase_ids.append(ids[0])
        sentence_ids.append(ids[1])
        texts.append(fields[text_col])
    first_phrase: dict[int, int] = {}
    for phrase_id, sentence_id in zip(phrase_ids, sentence_ids):
        first_phrase[sentence_id] = min(phrase_id, first_phrase.get(sentence_id, phrase_id))
    return SentimentPhrases(
        texts,
        labels if label_col is not None else None,
        phrase_ids=phrase_ids,
        sentence_ids=sentence_ids,
        is_sentence=[first_phrase[s] == p for p, s in zip(phrase_ids, sentence_ids)],
    )


def read_kaggle_tsv(path: str | os.PathLike[str]) -> SentimentPhrases:
    """Read a Kaggle "Sentiment Analysis on Movie Reviews" TSV file.

    Columns are found by their header names ``PhraseId``, ``SentenceId``, ``Phrase`` and
    ``Sentiment`` (in any order; other columns are allowed and ignored). Without a
    ``Sentiment`` column (a test file) the phrases load unlabelled, for prediction. Fields
    are split at tabs with no quoting, and phrases are kept as they are. A file holding the
    header alone gives an empty dataset.

    The whole sentence of each ``SentenceId`` is taken to be its phrase with the lowest
    ``PhraseId``, as in Kaggle's files, which list each sentence first, then its phrases.
    Those files hold each distinct phrase once, so a sentence that already appeared (as a
    sentence or inside a longer one) keeps only its new phrases: it may have no row at all,
    or its lowest ``PhraseId`` may be a part of it. For exact sentence-level figures, read
    the trees (:func:`read_sst_trees`).

    Args:
        path: The ``.tsv`` file.

    Returns:
        The phrases in file order, with their ids, labelled by :data:`SST_CATEGORIES` (or
        unlabelled).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is empty or not UTF-8, the header lacks a column, or a row
            has the wrong number of columns, a non-integer id, a repeated ``PhraseId`` or a
            label other than 0-4; the message names the file and line.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> rows = ["PhraseId\\tSentenceId\\tPhrase\\tSentiment", "1\\t1\\tA good film .\\t3",
        ...         "2\\t1\\tA good film\\t3", "3\\t1\\tgood\\t3"]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = Path(tmp, "train.tsv").write_text("\\n".join(rows), encoding="utf-8")
        ...     data = read_kaggle_tsv(Path(tmp, "train.tsv"))
        >>> data.sentences().texts, data.labels
        (['A good film .'], [3, 3, 3])
    """
    file = Path(path)
    rows = content_lines(file)
    if not rows:
        raise line_error(file, 1, "empty file, expected a Kaggle TSV header")
    return _kaggle(file, rows)


def read_sentiment_file(path: str | os.PathLike[str]) -> SentimentPhrases:
    """Read a Kaggle TSV or a file of SST trees, recognised by its first non-blank line.

    A line starting with ``(`` begins SST trees, read with every phrase
    (:func:`read_sst_trees` with ``phrases=True``), like a Kaggle file; a tab-separated
    header with a ``PhraseId`` column begins a Kaggle TSV (:func:`read_kaggle_tsv`). Either
    way, :meth:`SentimentPhrases.sentences` gives the whole sentences.

    Args:
        path: The file.

    Returns:
        The file's phrases.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is empty, in neither format, or malformed (see the two
            readers); the message names the file and line.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     tsv = Path(tmp, "test.tsv")
        ...     _ = tsv.write_text("PhraseId\\tSentenceId\\tPhrase\\n7\\t2\\tGood fun .\\n")
        ...     trees = Path(tmp, "dev.txt")
        ...     _ = trees.write_text("(3 (2 Good) (3 (3 fun) (2 .)))\\n")
        ...     print(read_sentiment_file(tsv), read_sentiment_file(trees), sep="\\n")
        SentimentPhrases(1 phrases, 1 sentences, unlabelled)
        SentimentPhrases(5 phrases, 1 sentences, 5 categories)
    """
    file = Path(path)
    rows = content_lines(file)
    if not rows:
        raise line_error(file, 1, "empty file, expected a Kaggle TSV header or SST trees")
    number, first = rows[0]
    if first.lstrip().startswith("("):
        return read_sst_trees(file, phrases=True)
    if "PhraseId" in first.split("\t"):
        return _kaggle(file, rows)
    raise line_error(
        file,
        number,
        "neither a Kaggle TSV (a header PhraseId<TAB>SentenceId<TAB>Phrase[<TAB>Sentiment]) "
        "nor SST trees (lines such as '(3 (2 Good) (3 fun))'); for other delimited text "
        "use read_delimited",
    )
