"""Embeddings from pretrained word vectors: a GloVe row for each word of a vocabulary.

:func:`glove_embedding` builds the :class:`~torch.nn.Embedding` (PAD row zeros, a stated
policy for words the vectors lack); :func:`coverage` says how many words and tokens those are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple, TypeAlias, cast, get_args

import torch
from torch import Tensor, nn

from seqlearn.tokenize.glove import GloVe
from seqlearn.tokenize.vocab import Vocabulary

__all__ = ["Coverage", "OOVInit", "coverage", "glove_embedding"]

OOVInit: TypeAlias = Literal["zeros", "random", "mean"]
"""The rows :func:`glove_embedding` gives words the vectors lack: zeros, random normal values
with the vectors' standard deviation, or the vectors' mean.

Example:
    >>> import torch
    >>> from seqlearn.tokenize import GloVe, Vocabulary
    >>> vectors = GloVe(["good", "bad"], torch.tensor([[1.0, 3.0], [3.0, 1.0]]))
    >>> vocabulary = Vocabulary(["good", "bad", "meh"])
    >>> glove_embedding(vectors, vocabulary, oov="mean").weight[4].tolist()  # meh
    [2.0, 2.0]
"""


class Coverage(NamedTuple):
    """How much of a vocabulary, and of a corpus, pretrained vectors cover.

    Attributes:
        type_share: The share of the vocabulary's words (special tokens left out) that the
            vectors hold, in ``[0, 1]``.
        token_share: The share of a corpus's tokens that get a pretrained row: tokens that
            are words of the vocabulary and of the vectors (a token outside the vocabulary
            is encoded as UNK, so it is not covered). ``None`` without a corpus.
        missing: The vocabulary's words that the vectors lack, in id order.

    Example:
        >>> import torch
        >>> from seqlearn.tokenize import GloVe, Vocabulary
        >>> vectors = GloVe(["a", "film"], torch.zeros(2, 3))
        >>> found = coverage(vectors, Vocabulary(["a", "film", "zzz"]))
        >>> round(found.type_share, 3), found.token_share, found.missing
        (0.667, None, ('zzz',))
    """

    type_share: float
    token_share: float | None
    missing: tuple[str, ...]


def glove_embedding(
    vectors: GloVe,
    vocabulary: Vocabulary,
    *,
    oov: OOVInit = "zeros",
    freeze: bool = True,
    generator: torch.Generator | None = None,
) -> nn.Embedding:
    """An embedding whose row for each word of a vocabulary is the word's pretrained vector.

    Words are looked up exactly as spelled in the vocabulary (lowercase both alike). The PAD
    row is zeros and is the embedding's ``padding_idx``, so it stays zeros in training. UNK
    and the words the vectors lack get rows by the ``oov`` policy:

    - ``"zeros"``: zeros.
    - ``"random"``: independent normal values with mean 0 and the standard deviation of all
      the vectors' values (:meth:`GloVe.std <seqlearn.tokenize.GloVe.std>`), drawn from
      ``generator``.
    - ``"mean"``: the mean of all the vectors (:meth:`GloVe.mean
      <seqlearn.tokenize.GloVe.mean>`).

    Args:
        vectors: The pretrained vectors.
        vocabulary: The ids to build rows for.
        oov: The policy for UNK and for words the vectors lack.
        freeze: Keep the weights fixed (``requires_grad=False``); ``False`` fine-tunes them.
        generator: The random generator for ``oov="random"``; ``None`` uses torch's default.

    Returns:
        A float32 embedding of ``len(vocabulary)`` rows of size ``vectors.dim``.

    Raises:
        TypeError: If ``vectors`` is not a :class:`~seqlearn.tokenize.GloVe`, ``vocabulary``
            not a :class:`~seqlearn.tokenize.Vocabulary` or ``freeze`` not a bool.
        ValueError: If ``oov`` is unknown, or is ``"random"`` or ``"mean"`` with no vectors.

    Shape:
        weight: ``(V, D)``, ``V = len(vocabulary)``, ``D = vectors.dim``.

    Example:
        >>> from seqlearn.tokenize import GloVe, Vocabulary
        >>> vectors = GloVe(["cat", "dog"], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> embedding = glove_embedding(vectors, Vocabulary(["dog", "emu"]), oov="mean")
        >>> embedding(torch.tensor([0, 1, 2, 3]))  # <pad>, <unk>, dog, emu
        tensor([[0., 0.],
                [2., 3.],
                [3., 4.],
                [2., 3.]])
        >>> embedding.padding_idx, embedding.weight.requires_grad
        (0, False)
    """
    if not isinstance(vectors, GloVe):
        raise TypeError(f"expected GloVe vectors, got {type(vectors).__name__}")
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError(f"expected a Vocabulary, got {type(vocabulary).__name__}")
    if oov not in get_args(OOVInit):
        raise ValueError(f"oov must be one of {get_args(OOVInit)}, got {oov!r}")
    if not isinstance(freeze, bool):
        raise TypeError(f"freeze must be a bool, got {freeze!r}")
    weight = torch.zeros(len(vocabulary), vectors.dim)  # (V, D); the PAD row stays zeros
    found = [
        i for i, word in enumerate(vocabulary.words, vocabulary.num_special) if word in vectors
    ]
    weight[found] = vectors.lookup([vocabulary.id_to_token(i) for i in found])
    found_or_pad = {*found, vocabulary.pad_id}
    missing = [i for i in range(len(vocabulary)) if i not in found_or_pad]
    if missing:
        weight[missing] = _missing_rows(vectors, len(missing), oov, generator)
    embedding = nn.Embedding.from_pretrained(  # type: ignore[no-untyped-call]
        weight, freeze=freeze, padding_idx=vocabulary.pad_id
    )
    return cast(nn.Embedding, embedding)


def coverage(
    vectors: GloVe, vocabulary: Vocabulary, corpus_tokens: Iterable[Iterable[str]] | None = None
) -> Coverage:
    """How many of a vocabulary's words, and of a corpus's tokens, have pretrained vectors.

    Args:
        vectors: The pretrained vectors.
        vocabulary: The vocabulary; its special tokens are left out.
        corpus_tokens: The corpus as token lists (as given to
            :meth:`Vocabulary.from_corpus <seqlearn.tokenize.Vocabulary.from_corpus>`), or
            ``None`` to measure the vocabulary alone.

    Returns:
        The shares and the missing words.

    Raises:
        TypeError: If a text of ``corpus_tokens`` is a single string.
        ValueError: If the vocabulary has no words or the corpus no tokens.

    Example:
        >>> from seqlearn.tokenize import GloVe, Vocabulary
        >>> vectors = GloVe(["the", "cat"], torch.zeros(2, 3))
        >>> coverage(vectors, Vocabulary(["the", "cat", "purrs"]), [["the", "cat", "purrs", "the"]])
        Coverage(type_share=0.6666666666666666, token_share=0.75, missing=('purrs',))
    """
    words = vocabulary.words
    if not words:
        raise ValueError("the vocabulary has no words to cover, only special tokens")
    missing = tuple(word for word in words if word not in vectors)
    type_share = (len(words) - len(missing)) / len(words)
    if corpus_tokens is None:
        return Coverage(type_share, None, missing)
    covered_words = set(words).difference(missing)
    covered = total = 0
    for position, tokens in enumerate(corpus_tokens):
        if isinstance(tokens, str):
            raise TypeError(f"text {position} is a str; expected a list of tokens")
        for token in tokens:
            total += 1
            covered += token in covered_words
    if total == 0:
        raise ValueError("the corpus has no tokens to cover")
    return Coverage(type_share, covered / total, missing)


def _missing_rows(
    vectors: GloVe, count: int, oov: OOVInit, generator: torch.Generator | None
) -> Tensor:
    """``(count, D)`` rows for words the vectors lack, by the ``oov`` policy."""
    if oov == "zeros":
        return torch.zeros(count, vectors.dim)
    if oov == "random":
        return torch.randn(count, vectors.dim, generator=generator) * vectors.std()
    if oov == "mean":
        return vectors.mean().expand(count, vectors.dim)
    raise ValueError(f"oov must be one of {get_args(OOVInit)}, got {oov!r}")
