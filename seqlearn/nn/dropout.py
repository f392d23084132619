"""Dropout for sequences: one mask per sequence (locked), and whole words of an embedding."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.registry import register

__all__ = ["LockedDropout", "locked_dropout", "word_dropout"]


def _check_p(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a float in [0, 1), got {p!r}")
    return float(p)


def locked_dropout(
    x: Tensor, p: float, *, training: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    r"""Dropout with one mask per sequence, the same at every time step (variational dropout).

    .. math::
        y_{b,t,h} = \frac{m_{b,h}}{1 - p}\, x_{b,t,h}, \qquad
        m_{b,h} \sim \mathrm{Bernoulli}(1 - p)

    Padding stays zero. With ``training=False`` or ``p == 0`` it returns ``x`` itself.

    Args:
        x: A padded batch of sequences.
        p: Probability of zeroing a feature of a sequence.
        training: Whether to drop (``False``: the identity).
        generator: Random generator for the mask; ``None`` uses PyTorch's default.

    Returns:
        ``x`` with the mask applied.

    Raises:
        ValueError: If ``p`` is outside ``[0, 1)`` or ``x`` is not 3-D.

    Shape:
        - ``x``: ``(B, T, H)``; output: ``(B, T, H)``; the mask is ``(B, 1, H)``.

    Example:
        >>> import torch
        >>> y = locked_dropout(torch.ones(2, 4, 3), 0.5, generator=torch.Generator().manual_seed(0))
        >>> bool((y == y[:, :1]).all())  # the same mask at every step
        True
        >>> locked_dropout(torch.ones(2, 4, 3), 0.5, training=False).unique().tolist()
        [1.0]
    """
    p = _check_p(p)
    if x.dim() != 3:
        raise ValueError(f"expected input of shape (B, T, H), got {tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1.0 - p, generator=generator)
    return x * mask.div_(1.0 - p)  # (B, T, H)


@register("seqlearn.nn.LockedDropout")
@final
class LockedDropout(nn.Module):
    r"""Locked (variational) dropout as a module: :func:`locked_dropout` in training mode,
    the identity in evaluation mode.

    Put it on a model's inputs or outputs, or between stacked layers
    (:class:`~seqlearn.nn.StackedLayers` takes ``locked=True`` for that), as AWD-LSTM does.

    Args:
        p: Probability of zeroing a feature of a sequence (for all its steps).
        generator: Random generator for the masks; ``None`` uses PyTorch's default.

    Raises:
        ValueError: If ``p`` is outside ``[0, 1)``.

    Shape:
        - ``x``: ``(B, T, H)``; output: ``(B, T, H)``.

    Example:
        >>> import torch
        >>> drop = LockedDropout(0.3)
        >>> y = drop(torch.ones(2, 5, 4))
        >>> bool((y == y[:, :1]).all()), drop.eval()(torch.ones(2, 5, 4)).sum().item()
        (True, 40.0)
    """

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = _check_p(p)
        self.generator = generator

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Apply one mask per sequence (training mode only).

        Args:
            x: ``(B, T, H)``.

        Returns:
            ``(B, T, H)``.
        """
        return locked_dropout(x, self.p, training=self.training, generator=self.generator)

    @override
    def extra_repr(self) -> str:
        return f"p={self.p}"


def word_dropout(
    embedding: nn.Embedding,
    ids: Tensor,
    p: float,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Look ``ids`` up in ``embedding`` with whole words dropped: each row of the embedding
    matrix (a token type) is zeroed with probability ``p`` and the others scaled by
    ``1 / (1 - p)``, so every occurrence of a dropped word in the batch is zero.

    .. math::
        e(w) = \frac{m_w}{1 - p}\, E_w, \qquad m_w \sim \mathrm{Bernoulli}(1 - p)

    The embedding's options (``padding_idx``, ``max_norm``, ...) apply as in its own
    forward. With ``training=False`` or ``p == 0`` it is ``embedding(ids)``.

    Args:
        embedding: The embedding, ``(V, E)``.
        ids: Token ids in ``[0, V)``.
        p: Probability of dropping a word.
        training: Whether to drop.
        generator: Random generator for the mask; ``None`` uses PyTorch's default.

    Returns:
        The vectors.

    Raises:
        ValueError: If ``p`` is outside ``[0, 1)``.

    Shape:
        - ``ids``: ``(...)``; output: ``(..., E)``; the mask is ``(V, 1)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> embedding = nn.Embedding(10, 3)
        >>> ids = torch.tensor([[1, 2, 1, 1]])
        >>> vectors = word_dropout(embedding, ids, 0.5)
        >>> bool(torch.equal(vectors[0, 0], vectors[0, 2]))  # one word, one fate
        True
    """
    p = _check_p(p)
    if not training or p == 0.0:
        return embedding(ids)  # type: ignore[no-any-return]
    weight = embedding.weight  # (V, E)
    mask = weight.new_empty(weight.size(0), 1).bernoulli_(1.0 - p, generator=generator)
    return nn.functional.embedding(
        ids,
        weight * mask.div_(1.0 - p),
        embedding.padding_idx,
        embedding.max_norm,
        embedding.norm_type,
        embedding.scale_grad_by_freq,
        embedding.sparse,
    )
