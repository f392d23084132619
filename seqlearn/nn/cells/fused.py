"""torch.nn's fused recurrent kernels, called on packed sequences for seqlearn's cells.

A cell that computes exactly what one of torch's kernels computes describes itself as a
:class:`FusedLayer`: the kernel's name and the weights in the kernel's order. Layers of one
kind and size run as one multi-layer kernel call (a stack), and two of them as one
bidirectional call, as ``torch.nn.GRU(num_layers=..., bidirectional=...)`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

__all__ = ["FusedLayer", "FusedMode", "call_kernel", "one_call"]

FusedMode = Literal["RNN_TANH", "RNN_RELU", "GRU", "LSTM"]
"""The torch.nn recurrent kernels a :class:`~seqlearn.nn.FusedCell` can run on.

Example:
    >>> from seqlearn.nn import ElmanCell, GRUCell
    >>> GRUCell(3, 4).fused_mode, ElmanCell(3, 4, nonlinearity="relu").fused_mode
    ('GRU', 'RNN_RELU')
"""


class FusedLayer(NamedTuple):
    """One layer of a torch.nn recurrent kernel: which kernel, and its weights.

    Attributes:
        mode: The kernel.
        weights: ``[w_ih, w_hh, b_ih, b_hh]`` in torch.nn's layout, then ``w_hr`` for an
            LSTM with a projection.

    Example:
        >>> from seqlearn.nn import GRUCell
        >>> (layer,) = GRUCell(3, 4).fused_layers()
        >>> layer.mode, [tuple(w.shape) for w in layer.weights]
        ('GRU', [(12, 3), (12, 4), (12,), (12,)])
    """

    mode: FusedMode
    weights: list[Tensor]


def one_call(layers: Sequence[FusedLayer]) -> bool:
    """Whether ``layers`` can run as one multi-layer call: one kernel, one hidden size and
    no projections (torch.lstm takes a projection in every layer or none)."""
    first = layers[0]
    return all(
        layer.mode == first.mode
        and len(layer.weights) == 4
        and layer.weights[1].shape == first.weights[1].shape
        for layer in layers
    )


def call_kernel(
    layers: Sequence[FusedLayer],
    data: Tensor,
    batch_sizes: Tensor,
    states: Sequence[Any],
    *,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
) -> tuple[Tensor, list[Any]]:
    """Call the kernel of ``layers`` (one per layer, two per layer if bidirectional) on
    packed data; returns the output data and each layer's final state.

    With ``bidirectional``, ``layers`` alternate forward and backward and the output holds
    both directions side by side, as torch.nn's bidirectional modules give it. ``dropout``
    applies between layers in training. For an LSTM with a projection, the weights end
    with ``w_hr`` and ``h0`` is ``(B, P)`` while ``c0`` is ``(B, H)``; torch.lstm tells the
    two layouts apart by those sizes, which is why :class:`~seqlearn.nn.LSTMCell` requires
    ``P < H``.

    Shape:
        - data: ``(N, I)``, packed; batch_sizes: ``(T,)`` on the CPU.
        - output: ``(N, O)`` (``(N, 2 O)`` bidirectional).
    """
    params = [weight for layer in layers for weight in layer.weights]
    mode = layers[0].mode
    depth = len(layers) // 2 if bidirectional else len(layers)
    options = (True, depth, dropout, training, bidirectional)  # biases, layers, ...
    if mode == "LSTM":
        h0 = torch.stack([state.h for state in states])  # (L, B, O)
        c0 = torch.stack([state.c for state in states])  # (L, B, H)
        out, h, c = torch.lstm(data, batch_sizes, [h0, c0], params, *options)
        return out, [type(states[0])(h[i], c[i]) for i in range(len(layers))]
    hx = torch.stack(list(states))  # (L, B, H)
    if mode == "GRU":
        out, h = torch.gru(data, batch_sizes, hx, params, *options)
    elif mode == "RNN_RELU":
        out, h = torch.rnn_relu(data, batch_sizes, hx, params, *options)
    else:
        out, h = torch.rnn_tanh(data, batch_sizes, hx, params, *options)
    return out, [h[i] for i in range(len(layers))]
