"""Long text as parallel streams: windows for truncated backpropagation through time.

A novel or a corpus is one long sequence of token ids. :class:`StreamBatches` cuts it into
``B`` streams, laid side by side as the rows of a batch, and walks along them in windows
of about ``L`` steps: window ``k`` of stream ``b`` continues where window ``k - 1`` of
stream ``b`` ended, so a model can carry each row's recurrent state from one batch to the
next (see :class:`~seqlearn.train.CarriedStateLoss`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from typing_extensions import final

from seqlearn._checks import check_int
from seqlearn.data.batching import IGNORE_INDEX

__all__ = ["StreamBatch", "StreamBatches"]


class StreamBatch(NamedTuple):
    """One window of every stream: a :class:`~seqlearn.data.NextTokenBatch` plus ``reset``.

    ``targets[b, t]`` is the token after ``inputs[b, t]`` in stream ``b``; the first input
    of a window is the last target of the window before it. All rows have length ``T``
    except, in the last window of a pass, the rows of streams one token shorter than the
    others (their last position holds :data:`~seqlearn.data.IGNORE_INDEX` in ``targets``).

    Shape:
        - inputs: ``(B, T)`` int64 token ids.
        - lengths: ``(B,)`` int64 valid steps of each row.
        - targets: ``(B, T)`` int64 token ids, :data:`~seqlearn.data.IGNORE_INDEX` in
          padding.
        - categories: ``(B,)`` int64, all ``category`` (zero by default), so conditional
          models read the batch as they read a :class:`~seqlearn.data.NextTokenBatch`.
        - reset: whether the streams start here (the first window of a pass), so a
          carried state starts afresh.

    Example:
        >>> batch = next(iter(StreamBatches(list(range(10)), batch_size=2, window=3)))
        >>> batch.inputs.tolist(), batch.targets.tolist(), batch.reset
        ([[0, 1, 2], [5, 6, 7]], [[1, 2, 3], [6, 7, 8]], True)
    """

    inputs: Tensor
    lengths: Tensor
    targets: Tensor
    categories: Tensor
    reset: bool

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> StreamBatch:
        """Move every tensor to ``device``.

        Args:
            device: Target device.
            non_blocking: Passed to :meth:`torch.Tensor.to`.

        Returns:
            A new batch on ``device``.

        Example:
            >>> batch = next(iter(StreamBatches(list(range(10)), batch_size=2, window=3)))
            >>> batch.to("cpu").inputs.device
            device(type='cpu')
        """
        inputs, lengths, targets, categories = (
            t.to(device, non_blocking=non_blocking)
            for t in (self.inputs, self.lengths, self.targets, self.categories)
        )
        return StreamBatch(inputs, lengths, targets, categories, self.reset)


@final
class StreamBatches:
    r"""Cut one long token sequence into ``B`` parallel streams, read in windows.

    The ``N`` tokens give ``N - 1`` (input, next token) pairs. Stream ``b`` takes a run of
    consecutive pairs, in order: the runs have lengths ``S`` or ``S + 1`` (the first
    ``(N - 1) mod B`` streams are one longer), so no token is left out, which an exact
    evaluation over a held-out text needs. Each pass (an ``iter()``, one epoch) walks along
    the streams in windows of ``window`` steps; the last window takes what is left, and
    the one-longer streams end one step later in it.

    With ``vary_window`` each window's length is drawn as AWD-LSTM draws it: ``L`` with
    probability 0.95 and ``L / 2`` otherwise, then a normal draw around that with standard
    deviation 5, at least ``min_window``. The draws come from ``generator``, or from
    PyTorch's default generator when it is ``None`` (which a seeded
    :class:`~seqlearn.train.Trainer` seeds each epoch, so resumed runs draw the same
    windows).

    Multi-process: with ``num_replicas`` processes the text is cut into
    ``num_replicas * B`` streams and process ``rank`` reads streams
    ``rank * B ... rank * B + B - 1``. All processes read the same number of windows of the
    same lengths (give them the same seed), and the figures summed over processes cover
    the whole text.

    Args:
        tokens: The token ids, a 1-D integer tensor or a sequence of ints.
        batch_size: Number of streams ``B`` (per process).
        window: The window length ``L`` in steps.
        vary_window: Whether window lengths are drawn at random around ``window``.
        min_window: The shortest drawn window.
        category: The category every row gets (for conditional models).
        num_replicas: Number of processes; defaults to the process group's world size
            (1 without one).
        rank: This process's rank; defaults to the process group's rank (0 without one).
        generator: Source of the window draws; ``None`` uses PyTorch's default generator.

    Attributes:
        steps: ``S``, the steps every stream has (the longer ones one more).
        num_targets: The next tokens this process's streams hold, all of a pass's targets.

    Raises:
        TypeError: If ``tokens`` is not 1-D integer data, or a size is not an int.
        ValueError: If a size is below 1, ``rank`` is not in ``[0, num_replicas)``, or the
            text has fewer than ``num_replicas * B + 1`` tokens (some stream would be
            empty).

    Example:
        >>> batches = StreamBatches(list(range(11)), batch_size=2, window=3)
        >>> [batch.inputs.tolist() for batch in batches]  # streams 0..4 and 5..9
        [[[0, 1, 2], [5, 6, 7]], [[3, 4], [8, 9]]]
        >>> [batch.reset for batch in batches], len(batches), batches.num_targets
        ([True, False], 2, 10)
    """

    def __init__(
        self,
        tokens: Tensor | Sequence[int],
        *,
        batch_size: int,
        window: int,
        vary_window: bool = False,
        min_window: int = 5,
        category: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        ids = _as_ids(tokens)
        for name, value in (("batch_size", batch_size), ("window", window)):
            if check_int(name, value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if check_int("min_window", min_window) < 1:
            raise ValueError(f"min_window must be at least 1, got {min_window}")
        if check_int("category", category) < 0:
            raise ValueError(f"category must be >= 0, got {category}")
        group = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if group else 1
        if rank is None:
            rank = torch.distributed.get_rank() if group else 0
        if check_int("num_replicas", num_replicas) < 1:
            raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
        if not 0 <= check_int("rank", rank) < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        streams = num_replicas * batch_size
        pairs = ids.numel() - 1
        if pairs < streams:
            raise ValueError(
                f"a text of {ids.numel()} tokens is too short for {streams} streams "
                f"({num_replicas} process(es) x batch_size {batch_size}): it needs at least "
                f"{streams + 1} tokens; use a smaller batch_size"
            )
        self.batch_size = batch_size
        self.window = window
        self.vary_window = vary_window
        self.min_window = min_window
        self.category = category
        self.num_replicas = num_replicas
        self.rank = rank
        self.generator = generator
        self.steps, longer = divmod(pairs, streams)  # S, and how many streams get S + 1
        first = rank * batch_size
        starts = [b * self.steps + min(b, longer) for b in range(first, first + batch_size)]
        self.num_targets = sum(self.steps + (b < longer) for b in range(first, first + batch_size))
        # (B, S + 1) input rows and targets; a one-shorter stream ends in padding.
        width = self.steps + 1
        index = torch.tensor(starts).unsqueeze(1) + torch.arange(width)  # (B, S + 1)
        short = torch.tensor([b >= longer for b in range(first, first + batch_size)])
        pad = short.unsqueeze(1) & (torch.arange(width) == self.steps)  # (B, S + 1)
        index = index.clamp(max=pairs - 1)
        self._inputs = ids[index].masked_fill(pad, 0)
        self._targets = ids[index + 1].masked_fill(pad, IGNORE_INDEX)
        self._full = torch.full((batch_size,), width, dtype=torch.long) - short.long()
        self._extra = bool(longer)

    def __len__(self) -> int:
        """The number of windows of ``window`` steps in a pass (an estimate with
        ``vary_window``, whose passes draw their own windows)."""
        return max(1, math.ceil(self.steps / self.window))

    def windows(self) -> list[int]:
        """The window lengths of one pass, drawn now with ``vary_window``.

        The last window takes what is left of the ``S`` common steps (plus one step for
        the longer streams, see the class).

        Returns:
            The lengths, summing to ``S``.

        Example:
            >>> StreamBatches(list(range(21)), batch_size=2, window=4).windows()
            [4, 4, 2]
        """
        if not self.vary_window:
            full, rest = divmod(self.steps, self.window)
            return [self.window] * full + [rest] * (rest > 0)
        lengths: list[int] = []
        left = self.steps
        while left > 0:
            draw = float(torch.rand(1, generator=self.generator))
            base = self.window if draw < 0.95 else self.window / 2
            noise = float(torch.randn(1, generator=self.generator))
            length = max(self.min_window, int(base + 5.0 * noise))
            lengths.append(min(length, left))
            left -= lengths[-1]
        return lengths

    def __iter__(self) -> Iterator[StreamBatch]:
        """One pass over the streams, window by window (the first one with ``reset``)."""
        categories = torch.full((self.batch_size,), self.category, dtype=torch.long)
        lengths = self.windows()
        start = 0
        for k, length in enumerate(lengths):
            last = k == len(lengths) - 1
            stop = start + length + (last and self._extra)
            if last and self._extra:
                valid = self._full - start
            else:
                valid = torch.full((self.batch_size,), stop - start, dtype=torch.long)
            yield StreamBatch(
                self._inputs[:, start:stop],
                valid,
                self._targets[:, start:stop],
                categories,
                reset=k == 0,
            )
            start = stop

    def __repr__(self) -> str:
        return (
            f"StreamBatches(streams={self.batch_size}, steps={self.steps}, "
            f"window={self.window}, vary_window={self.vary_window})"
        )


def _as_ids(tokens: object) -> Tensor:
    if isinstance(tokens, Tensor):
        if (
            tokens.dim() != 1
            or tokens.is_floating_point()
            or tokens.is_complex()
            or tokens.dtype == torch.bool
        ):
            raise TypeError(
                f"tokens must be a 1-D integer tensor, got {tokens.dtype} of shape "
                f"{tuple(tokens.shape)}"
            )
        return tokens.to(torch.long)
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise TypeError(
            f"tokens must be a 1-D integer tensor or a sequence of ints, "
            f"got {type(tokens).__name__}"
        )
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise TypeError("tokens must hold ints")
    return torch.tensor(list(tokens), dtype=torch.long)
