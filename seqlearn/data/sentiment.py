"""Sentiment phrases: labelled texts that know which of them are whole sentences.

The Stanford Sentiment Treebank (SST) labels every phrase of every sentence with one of five
sentiments, and so does the Kaggle competition "Sentiment Analysis on Movie Reviews" built
on it. Training may use all phrases, while the usual figure is *sentence accuracy*: the
share of whole sentences classified right. A :class:`SentimentPhrases` keeps, beside each
text and label, its phrase id and sentence id where known and whether it is a whole
sentence, so :meth:`SentimentPhrases.sentences` gives the sentences to score.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, NamedTuple, SupportsIndex

from torch.utils.data import Dataset
from typing_extensions import final

from seqlearn.data._frames import hf_columns, pandas_columns
from seqlearn.data._labels import label_ids, texts_of
from seqlearn.data.labeled_texts import LabeledTexts

__all__ = ["SST2_CATEGORIES", "SST_CATEGORIES", "SentimentPhrase", "SentimentPhrases"]

SST_CATEGORIES: Final[tuple[str, ...]] = (
    "negative",
    "somewhat negative",
    "neutral",
    "somewhat positive",
    "positive",
)
"""The five SST (and Kaggle) sentiments; label ``i`` of the files names ``SST_CATEGORIES[i]``.

Example:
    >>> SST_CATEGORIES.index("neutral"), SST_CATEGORIES[4]
    (2, 'positive')
"""

SST2_CATEGORIES: Final[tuple[str, ...]] = ("negative", "positive")
"""The two sentiments of binary SST-2 (see :meth:`SentimentPhrases.binary`).

Example:
    >>> SST2_CATEGORIES
    ('negative', 'positive')
    >>> [SST_CATEGORIES.index(name) for name in SST2_CATEGORIES]  # the ends of the five
    [0, 4]
"""

_BINARY_LABELS: Final = {0: 0, 1: 0, 3: 1, 4: 1}  # SST label -> SST-2 label; neutral dropped


class SentimentPhrase(NamedTuple):
    """One item of a :class:`SentimentPhrases`.

    Attributes:
        text: The phrase, its tokens joined by single spaces.
        label: Index into the categories, or ``None`` for unlabelled data.
        phrase_id: The file's phrase id (Kaggle's ``PhraseId``), or ``None`` where there is
            none.
        sentence_id: The sentence it belongs to (Kaggle's ``SentenceId``, or the tree's
            number in its file), or ``None`` where unknown.
        is_sentence: Whether the phrase is a whole sentence.

    Example:
        >>> SentimentPhrase("The Rock", 2, 2, 1, False).text
        'The Rock'
    """

    text: str
    label: int | None
    phrase_id: int | None
    sentence_id: int | None
    is_sentence: bool


def _optional_ints(
    name: str, values: Sequence[int | None] | None, size: int
) -> tuple[int | None, ...]:
    if values is None:
        return (None,) * size
    if len(values) != size:
        raise ValueError(f"expected {size} {name} (one per text), got {len(values)}")
    checked: list[int | None] = []
    for index, value in enumerate(values):
        if value is None:
            checked.append(None)
            continue
        if isinstance(value, bool):
            raise TypeError(f"expected int or None {name}, got {value!r} at {index}")
        try:
            checked.append(operator.index(value))
        except TypeError:
            raise TypeError(f"expected int or None {name}, got {value!r} at {index}") from None
    return tuple(checked)


@final
class SentimentPhrases(Dataset[SentimentPhrase]):
    """An immutable dataset of sentiment phrases, labelled or not, with their provenance.

    Labelled data also comes as a :class:`~seqlearn.data.LabeledTexts`
    (:meth:`labeled_texts`), the ``(text, label)`` dataset that training batches are built
    from. Build one from in-memory lists with this constructor, or read a file with
    :func:`~seqlearn.data.read_sentiment_file`, :func:`~seqlearn.data.read_kaggle_tsv` or
    :func:`~seqlearn.data.read_sst_trees`.

    Args:
        texts: The phrases.
        labels: One label per text, each in ``range(len(categories))``, or ``None`` for
            unlabelled data (a Kaggle test file, texts to predict).
        categories: The category names; the five SST sentiments unless given.
        phrase_ids: The phrase id of each text, ``None`` where unknown; all ``None`` if not
            given.
        sentence_ids: The sentence id of each text, ``None`` where unknown; all ``None`` if
            not given.
        is_sentence: Whether each text is a whole sentence; every text is one if not given.

    Raises:
        TypeError: If a text is not a ``str``, a label or id not an integer, or an
            ``is_sentence`` entry not a ``bool``.
        ValueError: If a sequence's length differs from that of ``texts``, a label is out
            of range or a category name repeats.

    Example:
        >>> data = SentimentPhrases(["A fine film .", "fine"], [3, 3], is_sentence=[True, False])
        >>> data[0].text, data[0].label, data[0].is_sentence
        ('A fine film .', 3, True)
        >>> len(data.sentences()), data.labeled_texts()[1]
        (1, ('fine', 3))
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[int] | None,
        *,
        categories: Sequence[str] = SST_CATEGORIES,
        phrase_ids: Sequence[int | None] | None = None,
        sentence_ids: Sequence[int | None] | None = None,
        is_sentence: Sequence[bool] | None = None,
    ):
        size = len(texts)
        if labels is None:
            LabeledTexts([], [], categories)  # checks the category names
            for index, text in enumerate(texts):
                if not isinstance(text, str):
                    raise TypeError(
                        f"expected texts of type str, got {type(text).__name__} at {index}"
                    )
            self._labeled: LabeledTexts | None = None
        else:
            self._labeled = LabeledTexts(texts, labels, categories)
        self._texts = tuple(texts)
        self._categories = tuple(categories)
        self._phrase_ids = _optional_ints("phrase_ids", phrase_ids, size)
        self._sentence_ids = _optional_ints("sentence_ids", sentence_ids, size)
        if is_sentence is None:
            self._is_sentence: tuple[bool, ...] = (True,) * size
        else:
            if len(is_sentence) != size:
                raise ValueError(
                    f"expected {size} is_sentence flags (one per text), got {len(is_sentence)}"
                )
            for index, flag in enumerate(is_sentence):
                if not isinstance(flag, bool):
                    raise TypeError(f"expected bool is_sentence flags, got {flag!r} at {index}")
            self._is_sentence = tuple(is_sentence)

    @classmethod
    def from_pandas(
        cls,
        frame: object,
        *,
        text_column: str,
        label_column: str | None = None,
        categories: Sequence[str] = SST_CATEGORIES,
    ) -> SentimentPhrases:
        """Phrases, and their labels if there are any, from a pandas ``DataFrame``
        (``pandas`` extra).

        Labels are ids into ``categories`` (0 negative ... 4 positive by default), names of
        ``categories``, or a categorical column whose categories are used instead. Every
        phrase counts as a whole sentence.

        Args:
            frame: The DataFrame.
            text_column: The column of phrases.
            label_column: The column of labels; ``None`` for unlabelled phrases.
            categories: The category names in label order.

        Returns:
            The phrases, in row order.

        Raises:
            ImportError: If pandas is not installed.
            TypeError: If ``frame`` is not a DataFrame, or a phrase or label has the wrong
                type; the message names the row.
            ValueError: If a column is missing or a label is not one of ``categories``.

        Example:
            >>> import pandas as pd
            >>> frame = pd.DataFrame({"review": ["A gem .", "Dull ."], "stars": [4, 0]})
            >>> phrases = SentimentPhrases.from_pandas(frame, text_column="review",
            ...                                        label_column="stars")
            >>> [(p.text, phrases.categories[p.label]) for p in phrases]
            [('A gem .', 'positive'), ('Dull .', 'negative')]
        """
        texts, values, names = pandas_columns(frame, text_column, label_column)
        return cls._from_columns(texts, values, names or categories)

    @classmethod
    def from_hf_dataset(
        cls,
        dataset: object,
        *,
        text_column: str,
        label_column: str | None = None,
        categories: Sequence[str] = SST_CATEGORIES,
    ) -> SentimentPhrases:
        """Phrases, and their labels if there are any, from a Hugging Face
        ``datasets.Dataset`` (``hf`` extra).

        A ``ClassLabel`` label feature gives the category names; other label columns are
        read as :meth:`from_pandas` reads them.

        Args:
            dataset: The dataset (one split).
            text_column: The column of phrases.
            label_column: The column of labels; ``None`` for unlabelled phrases.
            categories: The category names in label order (not with a ``ClassLabel``).

        Returns:
            The phrases, in row order.

        Raises:
            ImportError: If ``datasets`` is not installed.
            TypeError: If ``dataset`` is not a ``datasets.Dataset``, or a phrase or label
                has the wrong type; the message names the row.
            ValueError: If a column is missing or a label is not one of ``categories``.

        Example:
            >>> from datasets import Dataset
            >>> reviews = Dataset.from_dict({"sentence": ["A gem .", "Meh ."], "label": [4, 2]})
            >>> phrases = SentimentPhrases.from_hf_dataset(reviews, text_column="sentence",
            ...                                            label_column="label")
            >>> phrases.labels, phrases.categories[2]
            ([4, 2], 'neutral')
        """
        texts, values, names = hf_columns(dataset, text_column, label_column)
        return cls._from_columns(texts, values, names or categories)

    @classmethod
    def _from_columns(
        cls, texts: Sequence[object], values: Sequence[object] | None, categories: Sequence[str]
    ) -> SentimentPhrases:
        def where(index: int) -> str:
            return f"row {index}"

        if values is None:
            return cls(texts_of(texts, where), None, categories=categories)
        labels, names = label_ids(values, categories, where)
        return cls(texts_of(texts, where), labels, categories=names)

    @property
    def texts(self) -> list[str]:
        """The texts, as a new list on each access."""
        return list(self._texts)

    @property
    def labels(self) -> list[int] | None:
        """The labels as a new list, or ``None`` for unlabelled data."""
        return None if self._labeled is None else self._labeled.labels

    @property
    def categories(self) -> list[str]:
        """The category names (label ``i`` names ``categories[i]``), as a new list."""
        return list(self._categories)

    @property
    def phrase_ids(self) -> list[int | None]:
        """The phrase ids (``None`` where unknown), as a new list."""
        return list(self._phrase_ids)

    @property
    def sentence_ids(self) -> list[int | None]:
        """The sentence ids (``None`` where unknown), as a new list."""
        return list(self._sentence_ids)

    @property
    def is_sentence(self) -> list[bool]:
        """For each text, whether it is a whole sentence, as a new list."""
        return list(self._is_sentence)

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index: SupportsIndex) -> SentimentPhrase:
        """Return the item at ``index`` (negative indices count from the end).

        Raises:
            IndexError: If ``index`` is out of range.
        """
        position = operator.index(index)
        if not -len(self) <= position < len(self):
            raise IndexError(f"index {position} out of range for {len(self)} phrases")
        label = None if self._labeled is None else self._labeled[position][1]
        return SentimentPhrase(
            self._texts[position],
            label,
            self._phrase_ids[position],
            self._sentence_ids[position],
            self._is_sentence[position],
        )

    def __iter__(self) -> Iterator[SentimentPhrase]:
        return (self[index] for index in range(len(self)))

    def __repr__(self) -> str:
        labelled = "unlabelled" if self._labeled is None else f"{len(self._categories)} categories"
        return (
            f"SentimentPhrases({len(self)} phrases, {sum(self._is_sentence)} sentences, {labelled})"
        )

    def labeled_texts(self) -> LabeledTexts:
        """The ``(text, label)`` pairs, the dataset to train or evaluate on.

        Returns:
            A :class:`~seqlearn.data.LabeledTexts` with the same texts, labels and categories.

        Raises:
            ValueError: If the data is unlabelled.

        Example:
            >>> SentimentPhrases(["good"], [4]).labeled_texts().counts()["positive"]
            1
        """
        if self._labeled is None:
            raise ValueError("these phrases have no labels (an unlabelled file, for prediction)")
        return self._labeled

    def counts(self) -> dict[str, int]:
        """Count the phrases of each category (see :meth:`LabeledTexts.counts`).

        Returns:
            ``{category: count}`` in category order, including categories with no phrase.

        Raises:
            ValueError: If the data is unlabelled.

        Example:
            >>> SentimentPhrases(["good", "bad"], [1, 1], categories=["neg", "pos"]).counts()
            {'neg': 0, 'pos': 2}
        """
        return self.labeled_texts().counts()

    def subset(self, indices: Iterable[SupportsIndex]) -> SentimentPhrases:
        """Select phrases by position, keeping the categories and each item's metadata.

        Args:
            indices: Positions to keep, in the order wanted; repeats and negative positions
                are allowed.

        Returns:
            A new :class:`SentimentPhrases`.

        Raises:
            IndexError: If a position is out of range.

        Example:
            >>> data = SentimentPhrases(["a", "b", "c"], [0, 2, 4])
            >>> data.subset([2, 0]).texts
            ['c', 'a']
        """
        positions = [operator.index(index) for index in indices]
        for position in positions:
            if not -len(self) <= position < len(self):
                raise IndexError(f"index {position} out of range for {len(self)} phrases")
        labels = None if self._labeled is None else self._labeled.labels
        return self._take(positions, labels, self._categories)

    def sentences(self) -> SentimentPhrases:
        """The whole sentences only, in their order: what sentence accuracy is measured on.

        Returns:
            A new :class:`SentimentPhrases` whose items all have ``is_sentence`` true.

        Example:
            >>> data = SentimentPhrases(["Not bad .", "bad"], [3, 0], is_sentence=[True, False])
            >>> data.sentences().texts
            ['Not bad .']
        """
        return self.subset(i for i, flag in enumerate(self._is_sentence) if flag)

    def binary(self) -> SentimentPhrases:
        """Map the five sentiments to binary SST-2 and drop the neutral phrases.

        Labels 0 and 1 (negative, somewhat negative) become 0 (negative), labels 3 and 4
        (somewhat positive, positive) become 1 (positive), and phrases labelled 2 (neutral)
        are dropped; the categories become :data:`SST2_CATEGORIES`. Metadata is kept.

        Returns:
            A new :class:`SentimentPhrases`.

        Raises:
            ValueError: If the data is unlabelled or its categories are not
                :data:`SST_CATEGORIES`.

        Example:
            >>> data = SentimentPhrases(["awful", "meh", "fine", "great"], [0, 2, 3, 4])
            >>> binary = data.binary()
            >>> binary.texts, binary.labels, binary.categories
            (['awful', 'fine', 'great'], [0, 1, 1], ['negative', 'positive'])
        """
        labels = self.labeled_texts().labels
        if self._categories != SST_CATEGORIES:
            raise ValueError(
                f"expected the five SST categories {list(SST_CATEGORIES)} to map to binary, "
                f"got {list(self._categories)}"
            )
        kept = [index for index, label in enumerate(labels) if label in _BINARY_LABELS]
        binary = [_BINARY_LABELS.get(label, 0) for label in labels]
        return self._take(kept, binary, SST2_CATEGORIES)

    def _take(
        self, positions: list[int], labels: list[int] | None, categories: Sequence[str]
    ) -> SentimentPhrases:
        """The items at ``positions`` (in range), each labelled ``labels[position]``."""
        return SentimentPhrases(
            [self._texts[index] for index in positions],
            None if labels is None else [labels[index] for index in positions],
            categories=categories,
            phrase_ids=[self._phrase_ids[index] for index in positions],
            sentence_ids=[self._sentence_ids[index] for index in positions],
            is_sentence=[self._is_sentence[index] for index in positions],
        )
