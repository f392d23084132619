"""Pooling: one vector per sequence from a recurrent layer's outputs at every step.

Each pooling reads ``outputs (B, T, H)`` and ``lengths (B,)`` and looks at valid steps
only: whatever sits past a sequence's end (zeros from :class:`~seqlearn.nn.Recurrent`, or
anything else) never changes the result, and a zero-length sequence pools to zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import uniform_init_
from seqlearn.nn.lengths import check_lengths, valid_steps
from seqlearn.nn.registry import register

__all__ = [
    "AttentionPooling",
    "Pooling",
    "bidirectional_final",
    "last_valid",
    "max_pool",
    "mean_pool",
]

Pooling = Callable[[Tensor, Tensor], Tensor]
"""Any ``(outputs (B, T, H), lengths (B,)) -> (B, P)``: :func:`last_valid`, :func:`mean_pool`,
:func:`max_pool`, an :class:`AttentionPooling` module, or your own.

Example:
    >>> import torch
    >>> from torch import Tensor
    >>> def first_step(outputs: Tensor, lengths: Tensor) -> Tensor:
    ...     return outputs[:, 0]  # (B, H)
    >>> outputs = torch.arange(12.0).reshape(2, 3, 2)  # (B, T, H)
    >>> pools: list[Pooling] = [first_step, last_valid, mean_pool]
    >>> [pool(outputs, torch.tensor([3, 1])).tolist() for pool in pools]
    [[[0.0, 1.0], [6.0, 7.0]], [[4.0, 5.0], [6.0, 7.0]], [[2.0, 3.0], [6.0, 7.0]]]
"""


def _valid_steps(outputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Check the inputs; return the ``(B, T)`` mask of valid steps and the outputs zeroed
    past each end (so no gradient or NaN flows from padding)."""
    outputs, lengths = _checked(outputs, lengths)
    mask = valid_steps(lengths, outputs.size(1))  # (B, T)
    return mask, torch.where(mask.unsqueeze(2), outputs, 0.0)


@register("seqlearn.nn.last_valid")
def last_valid(outputs: Tensor, lengths: Tensor) -> Tensor:
    """The output at each sequence's last valid step.

    Args:
        outputs: Outputs at every step.
        lengths: Valid length of each sequence.

    Returns:
        ``outputs[b, lengths[b] - 1]`` for each row ``b``; zeros where ``lengths[b] == 0``.

    Raises:
        ValueError: If ``outputs`` is not 3-D or ``lengths`` does not fit it.
        TypeError: If ``outputs`` is not floating point or ``lengths`` not integer.

    Shape:
        - ``outputs``: ``(B, T, H)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - result: ``(B, H)``.

    Example:
        >>> outputs = torch.arange(12.0).view(2, 3, 2)
        >>> last_valid(outputs, torch.tensor([2, 0]))
        tensor([[2., 3.],
                [0., 0.]])
    """
    outputs, lengths = _checked(outputs, lengths)
    return _at_last_step(outputs, lengths)


@register("seqlearn.nn.bidirectional_final")
def bidirectional_final(outputs: Tensor, lengths: Tensor) -> Tensor:
    """Both directions' final states, from a :class:`~seqlearn.nn.Bidirectional` encoder
    whose outputs are the two directions side by side (its default merge).

    The first half of the features is the forward direction's output at each sequence's
    last valid step (its state after reading the whole sequence); the second half is the
    backward direction's output at step 0 (its state after reading the whole sequence from
    the end). Their concatenation is what ``torch.nn.GRU(bidirectional=True)`` returns as
    ``h_n`` and what Keras's ``Bidirectional(GRU(...))`` gives: with
    :func:`last_valid` instead, the backward half would have read only the last token.

    Args:
        outputs: Outputs at every step, forward features first.
        lengths: Valid length of each sequence.

    Returns:
        ``[outputs[b, lengths[b] - 1, :H/2]; outputs[b, 0, H/2:]]`` for each row ``b``;
        zeros where ``lengths[b] == 0``.

    Raises:
        ValueError: If ``outputs`` is not 3-D with an even feature size, or ``lengths``
            does not fit it.
        TypeError: If ``outputs`` is not floating point or ``lengths`` not integer.

    Shape:
        - ``outputs``: ``(B, T, H)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - result: ``(B, H)``.

    Example:
        >>> outputs = torch.arange(12.0).view(2, 3, 2)  # forward 1 feature, backward 1
        >>> bidirectional_final(outputs, torch.tensor([2, 0]))
        tensor([[2., 1.],
                [0., 0.]])
    """
    outputs, lengths = _checked(outputs, lengths)
    if outputs.size(2) % 2:
        raise ValueError(
            f"expected outputs with an even feature size (two directions side by side), "
            f"got {outputs.size(2)}"
        )
    half = outputs.size(2) // 2
    forward = _at_last_step(outputs[:, :, :half], lengths)  # (B, H/2)
    if outputs.size(1) == 0:
        return torch.cat((forward, forward), dim=1)
    backward = torch.where((lengths > 0).unsqueeze(1), outputs[:, 0, half:], 0.0)  # (B, H/2)
    return torch.cat((forward, backward), dim=1)


def _checked(outputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Check the inputs; return them with the lengths on the outputs' device, clamped to
    ``[0, T]`` (inside a checked forward they already are)."""
    if not isinstance(outputs, Tensor) or outputs.dim() != 3:
        shape = tuple(outputs.shape) if isinstance(outputs, Tensor) else type(outputs).__name__
        raise ValueError(f"expected outputs of shape (B, T, H), got {shape}")
    if not outputs.is_floating_point():
        raise TypeError(f"expected floating point outputs, got dtype {outputs.dtype}")
    batch_size, steps = outputs.shape[:2]
    lengths = check_lengths(lengths, batch_size, steps).to(outputs.device)
    return outputs, lengths.clamp(0, steps)


def _at_last_step(outputs: Tensor, lengths: Tensor) -> Tensor:
    """``outputs[b, lengths[b] - 1]`` (zeros for zero lengths) with one gather: the one
    step it reads is valid, so nothing past the ends needs masking."""
    if outputs.size(1) == 0:
        return outputs.new_zeros(outputs.size(0), outputs.size(2))
    index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.size(2))
    last = outputs.gather(1, index).squeeze(1)  # (B, H)
    return torch.where((lengths > 0).unsqueeze(1), last, 0.0)  # padding may hold NaN


@register("seqlearn.nn.mean_pool")
def mean_pool(outputs: Tensor, lengths: Tensor) -> Tensor:
    """The mean of each sequence's outputs over its valid steps.

    Args:
        outputs: Outputs at every step.
        lengths: Valid length of each sequence.

    Returns:
        The mean over ``outputs[b, :lengths[b]]``; zeros where ``lengths[b] == 0``.

    Raises:
        ValueError: If ``outputs`` is not 3-D or ``lengths`` does not fit it.
        TypeError: If ``outputs`` is not floating point or ``lengths`` not integer.

    Shape:
        - ``outputs``: ``(B, T, H)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - result: ``(B, H)``.

    Example:
        >>> outputs = torch.tensor([[[1.0], [3.0], [99.0]], [[5.0], [99.0], [99.0]]])
        >>> mean_pool(outputs, torch.tensor([2, 0]))
        tensor([[2.],
                [0.]])
    """
    mask, outputs = _valid_steps(outputs, lengths)
    counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(outputs.dtype)  # (B, 1)
    return outputs.sum(dim=1) / counts


@register("seqlearn.nn.max_pool")
def max_pool(outputs: Tensor, lengths: Tensor) -> Tensor:
    """The element-wise maximum of each sequence's outputs over its valid steps.

    Args:
        outputs: Outputs at every step.
        lengths: Valid length of each sequence.

    Returns:
        The maximum over ``outputs[b, :lengths[b]]``; zeros where ``lengths[b] == 0``.

    Raises:
        ValueError: If ``outputs`` is not 3-D or ``lengths`` does not fit it.
        TypeError: If ``outputs`` is not floating point or ``lengths`` not integer.

    Shape:
        - ``outputs``: ``(B, T, H)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - result: ``(B, H)``.

    Example:
        >>> outputs = torch.tensor([[[-1.0], [-3.0], [99.0]], [[5.0], [99.0], [99.0]]])
        >>> max_pool(outputs, torch.tensor([2, 0]))
        tensor([[-1.],
                [ 0.]])
    """
    mask, outputs = _valid_steps(outputs, lengths)
    if outputs.size(1) == 0:
        return outputs.new_zeros(outputs.size(0), outputs.size(2))
    lowest = torch.finfo(outputs.dtype).min
    peak = torch.where(mask.unsqueeze(2), outputs, lowest).amax(dim=1)  # (B, H)
    return torch.where(mask.any(dim=1, keepdim=True), peak, 0.0)


@register("seqlearn.nn.AttentionPooling")
@final
class AttentionPooling(nn.Module):
    r"""A weighted mean of each sequence's outputs, with weights from a learned query.

    .. math::
        s_t = v^\top \tanh(W h_t + b), \qquad
        \alpha_t = \frac{\exp s_t}{\sum_{u < L} \exp s_u} \ (t < L), \qquad
        \text{result} = \sum_{t < L} \alpha_t h_t

    where ``L`` is the sequence's length: padding gets weight 0 and a zero-length sequence
    pools to zeros.

    Args:
        hidden_size: Size ``H`` of each output ``h_t``.
        attention_size: Size ``A`` of ``W h_t``; defaults to ``H``.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is not a positive int.

    Shape:
        - ``outputs``: ``(B, T, H)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - result: ``(B, H)``; :meth:`weights`: ``(B, T)``.

    Example:
        >>> pool = AttentionPooling(4)
        >>> outputs, lengths = torch.randn(2, 3, 4), torch.tensor([3, 1])
        >>> pool(outputs, lengths).shape
        torch.Size([2, 4])
        >>> pool.weights(outputs, lengths)[1]
        tensor([1., 0., 0.], grad_fn=<SelectBackward0>)
    """

    def __init__(
        self,
        hidden_size: int,
        *,
        attention_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        attention_size = hidden_size if attention_size is None else attention_size
        for name, value in [("hidden_size", hidden_size), ("attention_size", attention_size)]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.hidden_size = hidden_size
        self.attention_size = attention_size
        self.projection = nn.Linear(hidden_size, attention_size)  # W, b
        self.query = nn.Parameter(torch.empty(attention_size))  # v
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw ``W``, ``b`` from ``U(-1/sqrt(H), 1/sqrt(H))`` and ``v`` from
        ``U(-1/sqrt(A), 1/sqrt(A))``, like :class:`torch.nn.Linear`.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        uniform_init_([self.projection.weight, self.projection.bias], self.hidden_size, generator)
        uniform_init_([self.query], self.attention_size, generator)

    def weights(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """The attention weights ``alpha``: a softmax over each sequence's valid steps.

        Args:
            outputs: Outputs at every step.
            lengths: Valid length of each sequence.

        Returns:
            ``(B, T)`` weights summing to 1 over valid steps, 0 on padding (all 0 for a
            zero-length sequence).

        Raises:
            ValueError: If ``outputs`` is not ``(B, T, H)`` or ``lengths`` does not fit it.
            TypeError: If ``outputs`` is not floating point or ``lengths`` not integer.
        """
        return self._weights(*self._prepare(outputs, lengths))

    def _prepare(self, outputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        mask, outputs = _valid_steps(outputs, lengths)
        if outputs.size(2) != self.hidden_size:
            raise ValueError(
                f"expected outputs of shape (B, T, {self.hidden_size}), got {tuple(outputs.shape)}"
            )
        return mask, outputs

    def _weights(self, mask: Tensor, outputs: Tensor) -> Tensor:
        keys = torch.tanh(cast(Tensor, self.projection(outputs)))  # (B, T, A)
        scores = keys @ self.query  # (B, T)
        scores = torch.where(mask, scores, float("-inf"))
        scores = torch.where(mask.any(dim=1, keepdim=True), scores, 0.0)  # no all -inf rows
        return torch.softmax(scores, dim=1) * mask.to(scores.dtype)

    @override
    def forward(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """Pool each sequence's outputs with its attention weights.

        Args:
            outputs: Outputs at every step.
            lengths: Valid length of each sequence.

        Returns:
            ``(B, H)``, the weighted sums; zeros for zero-length sequences.

        Raises:
            ValueError: If ``outputs`` is not ``(B, T, H)`` or ``lengths`` does not fit it.
            TypeError: If ``outputs`` is not floating point or ``lengths`` not integer.
        """
        mask, outputs = self._prepare(outputs, lengths)
        alpha = self._weights(mask, outputs)  # (B, T)
        return torch.einsum("bt,bth->bh", alpha, outputs)

    @override
    def extra_repr(self) -> str:
        return f"{self.hidden_size}, attention_size={self.attention_size}"
