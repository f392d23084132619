"""Logits processors: small callables that reshape next-token logits before a choice.

A processor takes the logits of the ``N`` rows being decoded and a :class:`StepInfo` (the
tokens each row holds so far) and returns new logits of the same shape. Decoders apply a
:class:`LogitsProcessorList` of them, in the given order, then pick from the result: the
argmax (:func:`greedy`), a draw from its softmax (:func:`sample`), or the best extensions
of each beam (:func:`beam_search`). Every processor here is out of place; any callable
with the same signature is a processor too, a :class:`LogitsProcessorList` included.

The log-probabilities that decoders report are always those of the *raw* model logits,
before any processor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from typing_extensions import Protocol, final

from seqlearn._checks import check_int, check_real

__all__ = [
    "BanTokens",
    "LogitsProcessor",
    "LogitsProcessorList",
    "MinLength",
    "MinP",
    "RepetitionPenalty",
    "StepInfo",
    "Temperature",
    "TopK",
    "TopP",
]

PAD = -1
"""Fills :attr:`StepInfo.prefix` past the end of each row's prefix."""


class StepInfo(NamedTuple):
    """What a processor may read about the rows whose logits it gets.

    All rows being decoded have generated the same number of tokens so far; their prefixes
    (the prompts, without BOS) may differ in length.

    Attributes:
        prefix: Each row's prefix tokens, padded on the right with ``-1``.
        generated: The tokens each row has generated so far (EOS never among them).

    Shape:
        - prefix: ``(N, P)`` int64, ``P`` the longest prefix.
        - generated: ``(N, K)`` int64, ``K`` = :attr:`step`.

    Example:
        >>> import torch
        >>> info = StepInfo(torch.tensor([[3, -1], [4, 5]]), torch.tensor([[1, 2], [2, 2]]))
        >>> info.step
        2
    """

    prefix: Tensor
    generated: Tensor

    @property
    def step(self) -> int:
        """How many tokens each row has generated so far."""
        return self.generated.size(1)

    @classmethod
    def empty(cls, rows: int, device: torch.device | str | None = None) -> StepInfo:
        """Rows with no prefix and nothing generated yet, e.g. to try out a processor.

        Args:
            rows: The number of rows ``N``.
            device: Where the tensors live.

        Returns:
            A :class:`StepInfo` with ``(N, 0)`` tensors.

        Example:
            >>> info = StepInfo.empty(3)
            >>> info.step, info.generated.shape
            (0, torch.Size([3, 0]))
        """
        nothing = torch.zeros(rows, 0, dtype=torch.long, device=device)
        return cls(nothing, nothing)


class LogitsProcessor(Protocol):
    """Turns next-token logits into new logits; decoders apply a list of these in order.

    Write your own as a function or a class with ``__call__``. Return a new tensor rather
    than changing ``logits`` in place, and set a token's logit to ``-inf`` to rule it out
    (at least one token of each row must stay finite).

    Example:
        >>> import torch
        >>> def no_double_letters(logits: torch.Tensor, info: StepInfo) -> torch.Tensor:
        ...     if info.step == 0:
        ...         return logits
        ...     last = info.generated[:, -1:]  # (N, 1)
        ...     return logits.scatter(1, last, float("-inf"))
        >>> processor: LogitsProcessor = no_double_letters
        >>> info = StepInfo(torch.tensor([[0]]), torch.tensor([[1]]))
        >>> processor(torch.zeros(1, 3), info)
        tensor([[0., -inf, 0.]])
    """

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the processed logits.

        Args:
            logits: Next-token logits of each row.
            info: The tokens each row holds so far.

        Returns:
            The new logits.

        Shape:
            - logits: ``(N, V)``; output: ``(N, V)``.
        """
        ...


@final
class LogitsProcessorList(list[LogitsProcessor]):
    """A list of processors that is itself a processor: it applies them in order.

    The decoders turn their ``processors`` argument (any sequence) into one of these. An
    empty list returns the logits unchanged, and is false, so a decoder can skip building
    the :class:`StepInfo` that no processor reads. Since a list is a processor too, lists
    nest.

    Args:
        processors: The processors, applied first to last.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> processors = LogitsProcessorList([Temperature(0.5), TopK(2)])
        >>> processors.append(BanTokens([1]))
        >>> processors
        LogitsProcessorList([Temperature(0.5), TopK(2), BanTokens([1])])
        >>> processors(torch.tensor([[1.0, 3.0, 2.0]]), StepInfo.empty(1))
        tensor([[-inf, -inf, 4.]])
        >>> bool(LogitsProcessorList()), LogitsProcessorList()(torch.ones(1, 2), StepInfo.empty(1))
        (False, tensor([[1., 1.]]))
    """

    def __init__(self, processors: Iterable[LogitsProcessor] = ()) -> None:
        super().__init__(processors)

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Apply every processor, first to last (see :class:`LogitsProcessor`)."""
        for processor in self:
            logits = processor(logits, info)
        return logits

    def __repr__(self) -> str:
        return f"LogitsProcessorList({list.__repr__(self)})"


@final
class Temperature:
    r"""Divide the logits by a temperature: :math:`\ell / T`.

    Below 1 it sharpens the softmax towards the argmax, above 1 it flattens it.

    Args:
        temperature: Positive, finite divisor ``T``.

    Raises:
        TypeError: If ``temperature`` is not a real number.
        ValueError: If ``temperature`` is not positive and finite.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> Temperature(0.5)(torch.tensor([[1.0, -2.0]]), StepInfo.empty(1))
        tensor([[ 2., -4.]])
    """

    def __init__(self, temperature: float) -> None:
        check_real("temperature", temperature)
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"expected a positive, finite temperature, got {temperature}")
        self.temperature = temperature

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return ``logits / temperature`` (see :class:`LogitsProcessor`)."""
        return logits / self.temperature

    def __repr__(self) -> str:
        return f"Temperature({self.temperature})"


@final
class TopK:
    """Keep the ``k`` largest logits of each row and set the others to ``-inf``.

    Tokens tied with the ``k``-th largest logit are kept too. ``TopK(1)`` makes sampling
    greedy.

    Args:
        k: How many tokens to keep, at least 1 (more than ``V`` keeps all).

    Raises:
        TypeError: If ``k`` is not an int.
        ValueError: If ``k < 1``.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> TopK(2)(torch.tensor([[1.0, 3.0, 2.0]]), StepInfo.empty(1))
        tensor([[-inf, 3., 2.]])
    """

    def __init__(self, k: int) -> None:
        if check_int("top_k", k) < 1:
            raise ValueError(f"expected top_k >= 1, got {k}")
        self.k = k

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the logits with all but the top ``k`` at ``-inf``."""
        if self.k >= logits.size(-1):
            return logits
        kth = logits.topk(self.k, dim=-1).values[:, -1:]  # (N, 1)
        return logits.masked_fill(logits < kth, -math.inf)

    def __repr__(self) -> str:
        return f"TopK({self.k})"


@final
class TopP:
    r"""Nucleus filtering: keep the most likely tokens that together hold mass ``p``.

    Sorting each row's tokens by probability (softmax of the logits), a token is kept when
    the tokens before it hold less than ``p`` of the mass, so the kept set is the smallest
    one holding at least ``p`` and always includes the most likely token. The others get
    ``-inf``; the kept ones keep their logits (the softmax renormalises them).

    Args:
        p: The mass to keep, in ``(0, 1]``; 1 keeps every token.

    Raises:
        TypeError: If ``p`` is not a real number.
        ValueError: If ``p`` is outside ``(0, 1]``.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[0.5, 0.3, 0.2]]).log()
        >>> TopP(0.7)(logits, StepInfo.empty(1)).exp()
        tensor([[0.5000, 0.3000, 0.0000]])
    """

    def __init__(self, p: float) -> None:
        check_real("top_p", p)
        if not 0.0 < p <= 1.0:
            raise ValueError(f"expected top_p in (0, 1], got {p}")
        self.p = p

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the logits with the tokens outside the nucleus at ``-inf``."""
        if self.p >= 1.0:
            return logits
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (N, V)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the more likely tokens
        drop_sorted = before >= self.p
        drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocabulary order
        return logits.masked_fill(drop, -math.inf)

    def __repr__(self) -> str:
        return f"TopP({self.p})"


@final
class MinP:
    r"""Keep the tokens at least ``p`` times as likely as each row's most likely token.

    A token with probability :math:`\pi_v` is kept when :math:`\pi_v \ge p \max_u \pi_u`,
    i.e. when its logit is at least the row's largest logit plus :math:`\ln p`; the others
    get ``-inf``. The threshold scales with the model's confidence: strict where one token
    dominates, loose where many are plausible.

    Args:
        p: The ratio, in ``[0, 1]``; 0 keeps every token, 1 only the most likely.

    Raises:
        TypeError: If ``p`` is not a real number.
        ValueError: If ``p`` is outside ``[0, 1]``.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[0.6, 0.3, 0.1]]).log()
        >>> MinP(0.5)(logits, StepInfo.empty(1)).exp()
        tensor([[0.6000, 0.3000, 0.0000]])
    """

    def __init__(self, p: float) -> None:
        check_real("min_p", p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"expected min_p in [0, 1], got {p}")
        self.p = p

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the logits with the tokens below the threshold at ``-inf``."""
        if self.p == 0.0:
            return logits
        log_probs = logits.log_softmax(dim=-1)  # (N, V)
        threshold = log_probs.amax(dim=-1, keepdim=True) + math.log(self.p)
        return logits.masked_fill(log_probs < threshold, -math.inf)

    def __repr__(self) -> str:
        return f"MinP({self.p})"


@final
class RepetitionPenalty:
    r"""Make tokens that a row already holds less likely (CTRL's repetition penalty).

    For each token in the row's prefix or among its generated tokens, a positive logit is
    divided by ``penalty`` and a negative one multiplied by it, so a penalty above 1 lowers
    it (below 1 raises it).

    Args:
        penalty: Positive, finite factor; 1 changes nothing.

    Raises:
        TypeError: If ``penalty`` is not a real number.
        ValueError: If ``penalty`` is not positive and finite.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> info = StepInfo(torch.tensor([[0]]), torch.tensor([[1]]))
        >>> RepetitionPenalty(2.0)(torch.tensor([[2.0, -2.0, 2.0]]), info)
        tensor([[ 1., -4.,  2.]])
    """

    def __init__(self, penalty: float) -> None:
        check_real("penalty", penalty)
        if not (math.isfinite(penalty) and penalty > 0):
            raise ValueError(f"expected a positive, finite repetition penalty, got {penalty}")
        self.penalty = penalty

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the logits with the tokens seen so far penalised."""
        vocab_size = logits.size(-1)
        seen_tokens = torch.cat((info.prefix, info.generated), dim=1)  # (N, P + K)
        # Padding (-1) goes to an extra column, dropped after the scatter.
        index = seen_tokens.masked_fill(seen_tokens < 0, vocab_size)
        seen = torch.zeros(logits.size(0), vocab_size + 1, dtype=torch.bool, device=logits.device)
        seen = seen.scatter(1, index, True)[:, :vocab_size]  # (N, V)
        penalised = torch.where(logits > 0, logits / self.penalty, logits * self.penalty)
        return torch.where(seen, penalised, logits)

    def __repr__(self) -> str:
        return f"RepetitionPenalty({self.penalty})"


@final
class BanTokens:
    """Never choose the given tokens: their logits become ``-inf``.

    Args:
        token_ids: The banned token ids, each ``>= 0``; ids at or past ``V`` raise when
            the processor is applied.

    Raises:
        TypeError: If ``token_ids`` is a str or holds something other than an int.
        ValueError: If a token id is negative, or, when applied, not below ``V``.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> BanTokens([0, 2])(torch.zeros(1, 3), StepInfo.empty(1))
        tensor([[-inf, 0., -inf]])
    """

    def __init__(self, token_ids: Sequence[int]) -> None:
        if isinstance(token_ids, str):
            raise TypeError(f"expected token_ids as a sequence of ints, got the str {token_ids!r}")
        checked = [check_int(f"token_ids[{i}]", token) for i, token in enumerate(token_ids)]
        for position, token in enumerate(checked):
            if token < 0:
                raise ValueError(f"expected token ids >= 0, got token_ids[{position}] = {token}")
        self.token_ids = tuple(checked)

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the logits with the banned tokens at ``-inf``."""
        if not self.token_ids:
            return logits
        vocab_size = logits.size(-1)
        if max(self.token_ids) >= vocab_size:
            raise ValueError(
                f"expected banned token ids in [0, {vocab_size}), got {max(self.token_ids)}"
            )
        banned = torch.tensor(self.token_ids, device=logits.device)
        return logits.index_fill(1, banned, -math.inf)

    def __repr__(self) -> str:
        return f"BanTokens({list(self.token_ids)})"


@final
class MinLength:
    """Forbid EOS until each row has generated ``min_new_tokens`` tokens.

    Args:
        min_new_tokens: The fewest tokens generated before EOS may be chosen, ``>= 0``.
        eos_id: The end-of-sequence token.

    Raises:
        TypeError: If ``min_new_tokens`` or ``eos_id`` is not an int.
        ValueError: If ``min_new_tokens`` or ``eos_id`` is negative.

    Shape:
        - logits: ``(N, V)``; output: ``(N, V)``.

    Example:
        >>> import torch
        >>> MinLength(1, eos_id=0)(torch.zeros(1, 3), StepInfo.empty(1))
        tensor([[-inf, 0., 0.]])
    """

    def __init__(self, min_new_tokens: int, *, eos_id: int) -> None:
        if check_int("min_new_tokens", min_new_tokens) < 0:
            raise ValueError(f"expected min_new_tokens >= 0, got {min_new_tokens}")
        if check_int("eos_id", eos_id) < 0:
            raise ValueError(f"expected eos_id >= 0, got {eos_id}")
        self.min_new_tokens = min_new_tokens
        self.eos_id = eos_id

    def __call__(self, logits: Tensor, info: StepInfo) -> Tensor:
        """Return the logits, with EOS at ``-inf`` while the rows are too short."""
        if info.step >= self.min_new_tokens:
            return logits
        if self.eos_id >= logits.size(-1):
            raise ValueError(f"expected eos_id in [0, {logits.size(-1)}), got {self.eos_id}")
        return logits.index_fill(1, torch.tensor([self.eos_id], device=logits.device), -math.inf)

    def __repr__(self) -> str:
        return f"MinLength({self.min_new_tokens}, eos_id={self.eos_id})"
