"""A conditional autoregressive model: next-token logits given a category and a prefix."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar, cast, overload

import torch
from torch import Tensor, nn
from typing_extensions import NamedTuple, final, override

from seqlearn._checks import checking
from seqlearn.nn._inputs import (
    allocated,
    check_ids,
    check_positive,
    encode_ids,
    optional_embedding,
)
from seqlearn.nn.cells.base import Cell
from seqlearn.nn.cells.elman import ElmanCell
from seqlearn.nn.dropout import locked_dropout
from seqlearn.nn.dropout import word_dropout as drop_words
from seqlearn.nn.recurrent import Recurrent
from seqlearn.nn.registry import register

__all__ = ["ConditionalLM", "ConditionalLMState", "Readout", "lecture_generator"]

StateT = TypeVar("StateT")

Readout = Literal["output", "input_and_previous_output"]
"""What the output layer reads at step ``t``: the cell's output ``y_t`` (``"output"``), or
the step's input ``[c; x_t]`` beside the previous output ``y_{t-1}`` (the lecture's ``i2o``,
``"input_and_previous_output"``).

Example:
    >>> from seqlearn.nn import GRUCell
    >>> model = ConditionalLM(GRUCell(2 + 5, 8), vocab_size=5, num_categories=2,
    ...                       readout="input_and_previous_output")
    >>> model.head.in_features  # [c; x_t] (2 + 5) beside y_{t-1} (8)
    15
"""


class ConditionalLMState(NamedTuple, Generic[StateT]):
    """Decoding state of a :class:`ConditionalLM`.

    Shape:
        - ``cell``: the cell's state for ``B`` sequences.
        - ``categories``: ``(B,)`` int64, the conditioning category of each sequence.
        - ``previous_output``: ``(B, O)``, the cell's last output (zeros before the first
          step).

    Example:
        >>> import torch
        >>> from seqlearn.nn import GRUCell
        >>> model = ConditionalLM(GRUCell(2 + 5, 8), vocab_size=5, num_categories=2)
        >>> state = model.initial_state(torch.tensor([0, 1, 1]))
        >>> state.cell.shape, state.categories.tolist(), state.previous_output.shape
        (torch.Size([3, 8]), [0, 1, 1], torch.Size([3, 8]))
        >>> logits, state = model.step(torch.tensor([4, 0, 2]), state)
        >>> logits.shape
        torch.Size([3, 5])
    """

    cell: StateT
    categories: Tensor
    previous_output: Tensor


@register("seqlearn.nn.ConditionalLM")
@final
class ConditionalLM(nn.Module, Generic[StateT]):
    r"""Next-token logits given a category and the tokens so far.

    At each step the cell reads :math:`[c; x_t]`, the category's vector (one-hot, or a
    learned embedding) beside the token's vector (one-hot, or a learned embedding); a linear
    output layer turns what ``readout`` names into logits over the vocabulary. With an
    :class:`~seqlearn.nn.ElmanCell` (ReLU), one-hot vectors and
    ``readout="input_and_previous_output"`` this is exactly the lecture's model (see
    :func:`lecture_generator`).

    Training runs :meth:`forward` over whole padded batches (fused kernels where the cell
    has them); decoding calls :meth:`initial_state` once and :meth:`step` per token,
    carrying the state.

    Args:
        cell: The recurrent cell; its ``input_size`` must be ``C + E`` (category and token
            vector sizes).
        vocab_size: Number of tokens ``V``.
        num_categories: Number of categories.
        embedding_dim: Size ``E`` of learned token embeddings; ``None`` means one-hot
            (``E = V``).
        category_dim: Size ``C`` of learned category embeddings; ``None`` means one-hot
            (``C = num_categories``).
        readout: What the output layer reads, see :data:`Readout`.
        dropout: Probability of zeroing an element of what the output layer reads, in
            training mode only (regularises larger models).
        locked_dropout: Whether ``dropout`` draws one mask per sequence, kept for all its
            steps (locked, or variational, dropout: :func:`~seqlearn.nn.locked_dropout`)
            instead of one per element.
        word_dropout: Probability of dropping a whole token type (a row of the learned
            token embedding) in training mode, AWD-LSTM's embedding dropout
            (:func:`~seqlearn.nn.word_dropout`); needs ``embedding_dim``.
        tie_weights: Whether the output layer shares the token embedding's weight
            (weight tying); needs ``embedding_dim`` equal to what the output layer reads
            (the cell's ``output_size`` with ``readout="output"``). The shared ``(V, E)``
            weight is drawn once, as the output layer's; the output layer keeps its bias.
        fused: Whether training may use fused kernels (see :class:`~seqlearn.nn.Recurrent`).
        generator: Random generator for the embeddings and output layer (the cell draws
            its own weights when it is built).

    Raises:
        ValueError: If a size is not positive, ``readout`` is unknown, the cell's
            ``input_size`` is not ``C + E``, or ``tie_weights`` or ``word_dropout``
            are asked for without an embedding of the size they need.
        TypeError: If a size is not an int, or ``cell`` is not a seqlearn
            :class:`~seqlearn.nn.Cell`.

    Shape:
        - ``tokens``: ``(B, T)`` int64 in ``[0, V)``; ``lengths``: ``(B,)``;
          ``categories``: ``(B,)`` int64.
        - logits: ``(B, T, V)``.

    Example:
        >>> import torch
        >>> from seqlearn.nn import GRUCell
        >>> lm = ConditionalLM(GRUCell(18 + 16, 32), vocab_size=59, num_categories=18,
        ...                    embedding_dim=16)
        >>> tokens = torch.tensor([[3, 4, 5], [6, 7, 0]])
        >>> lm(tokens, torch.tensor([3, 2]), torch.tensor([0, 17])).shape
        torch.Size([2, 3, 59])
        >>> state = lm.initial_state(torch.tensor([0, 17]))
        >>> logits, state = lm.step(torch.tensor([3, 6]), state)
        >>> logits.shape
        torch.Size([2, 59])
    """

    def __init__(
        self,
        cell: Cell[StateT],
        *,
        vocab_size: int,
        num_categories: int,
        embedding_dim: int | None = None,
        category_dim: int | None = None,
        readout: Readout = "output",
        dropout: float = 0.0,
        locked_dropout: bool = False,
        word_dropout: float = 0.0,
        tie_weights: bool = False,
        fused: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be a seqlearn Cell, got {type(cell).__name__}")
        check_positive("vocab_size", vocab_size)
        check_positive("num_categories", num_categories)
        if readout not in ("output", "input_and_previous_output"):
            raise ValueError(
                f"readout must be 'output' or 'input_and_previous_output', got {readout!r}"
            )
        self.vocab_size = vocab_size
        self.num_categories = num_categories
        self.token_embedding = optional_embedding(vocab_size, embedding_dim, "embedding_dim")
        self.category_embedding = optional_embedding(num_categories, category_dim, "category_dim")
        token_size = vocab_size if embedding_dim is None else embedding_dim
        category_size = num_categories if category_dim is None else category_dim
        self.step_input_size = category_size + token_size
        if cell.input_size != self.step_input_size:
            raise ValueError(
                f"cell.input_size must be {self.step_input_size} ({category_size} for the "
                f"category + {token_size} for the token), got {cell.input_size}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout!r}")
        if word_dropout and embedding_dim is None:
            raise ValueError("word_dropout needs a learned embedding: give embedding_dim")
        self.readout = readout
        self.dropout = dropout
        self.locked_dropout = locked_dropout
        self.word_dropout = word_dropout
        self.tie_weights = tie_weights
        self.recurrent = Recurrent(cell, fused=fused)
        head_size = cell.output_size
        if readout == "input_and_previous_output":
            head_size += self.step_input_size
        # skip_init allocates without drawing: reset_parameters draws every weight, from
        # ``generator`` when given, leaving PyTorch's global random state alone.
        self.head = allocated(nn.Linear, head_size, vocab_size)
        if tie_weights:
            if self.token_embedding is None or embedding_dim != head_size:
                raise ValueError(
                    "tie_weights needs embedding_dim equal to the output layer's input size "
                    f"({head_size}), got embedding_dim={embedding_dim}"
                )
            self.head.weight = self.token_embedding.weight  # one (V, E) parameter
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Redraw the embeddings (``N(0, 1)``) and the output layer (like ``nn.Linear``).

        The cell is left alone: it has its own ``reset_parameters``.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.

        Example:
            >>> import torch
            >>> from seqlearn.nn import GRUCell
            >>> model = ConditionalLM(GRUCell(2 + 5, 8), vocab_size=5, num_categories=2)
            >>> model.reset_parameters(torch.Generator().manual_seed(0))
            >>> drawn = model.head.weight.clone()
            >>> model.reset_parameters(torch.Generator().manual_seed(0))
            >>> torch.equal(drawn, model.head.weight)  # the same generator draws the same weights
            True
        """
        bound = self.head.in_features**-0.5
        with torch.no_grad():
            tied = self.token_embedding if self.tie_weights else None  # drawn as the head
            for embedding in (self.token_embedding, self.category_embedding):
                if embedding is not None and embedding is not tied:
                    nn.init.normal_(embedding.weight, generator=generator)
            for tensor in (self.head.weight, self.head.bias):
                nn.init.uniform_(tensor, -bound, bound, generator=generator)

    @property
    def cell(self) -> Cell[StateT]:
        """The recurrent cell."""
        return self.recurrent.cell

    def _step_inputs(self, tokens: Tensor, categories: Tensor) -> Tensor:
        """``[c; x]`` for tokens ``(B, ...)`` and categories ``(B,)`` (checked by the caller):
        shape ``(B, ..., C+E)``."""
        dtype = self.head.weight.dtype
        if self.token_embedding is not None and self.training and self.word_dropout:
            x = drop_words(self.token_embedding, tokens, self.word_dropout)
        else:
            x = encode_ids(self.token_embedding, tokens, self.vocab_size, dtype)
        c = encode_ids(self.category_embedding, categories, self.num_categories, dtype)
        c = c.view(c.size(0), *([1] * (tokens.dim() - 1)), c.size(1))
        return torch.cat((c.expand(*tokens.shape, c.size(-1)), x), dim=-1)

    @overload
    def forward(
        self,
        tokens: Tensor,
        lengths: Tensor | None,
        categories: Tensor,
        state: ConditionalLMState[StateT] | None = None,
        *,
        return_state: Literal[False] = False,
    ) -> Tensor: ...

    @overload
    def forward(
        self,
        tokens: Tensor,
        lengths: Tensor | None,
        categories: Tensor,
        state: ConditionalLMState[StateT] | None = None,
        *,
        return_state: Literal[True],
    ) -> tuple[Tensor, ConditionalLMState[StateT]]: ...

    @override
    def forward(
        self,
        tokens: Tensor,
        lengths: Tensor | None,
        categories: Tensor,
        state: ConditionalLMState[StateT] | None = None,
        *,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, ConditionalLMState[StateT]]:
        """Next-token logits at every position of a padded batch.

        Args:
            tokens: Input token ids. Positions past each length do not change the logits
                of the valid ones, but must still hold ids in ``[0, V)``, padding included
                (:func:`~seqlearn.data.collate_next_token` pads with ``pad_id=0``).
            lengths: Valid length of each sequence, or ``None`` for all ``T``.
            categories: Category of each sequence.
            state: Where each sequence continues from: the state a previous call returned
                (truncated backpropagation through time carries it from window to window,
                see :class:`~seqlearn.train.CarriedStateLoss`); ``None`` starts afresh.
            return_state: Whether to return the state after each sequence's last valid
                step too.

        Returns:
            Logits ``(B, T, V)``; row ``t`` predicts the token after ``tokens[:, t]``. With
            ``return_state``, the logits and the state after each sequence.

        Raises:
            ValueError: If shapes disagree, an id (padding included) is out of range, or
                ``state`` is not for ``B`` sequences.
            TypeError: If ``tokens`` or ``categories`` are not integer tensors, or
                ``state`` is not a :class:`ConditionalLMState`.

        Example:
            Two windows of one text give the logits of the whole text when the state is
            carried:

            >>> import torch
            >>> from seqlearn.nn import GRUCell
            >>> lm = ConditionalLM(GRUCell(1 + 5, 8), vocab_size=5, num_categories=1)
            >>> text, category = torch.tensor([[1, 2, 3, 4]]), torch.tensor([0])
            >>> first, state = lm(text[:, :2], None, category, return_state=True)
            >>> second = lm(text[:, 2:], None, category, state)
            >>> torch.allclose(torch.cat((first, second), 1), lm(text, None, category), atol=1e-6)
            True
        """
        _check_tensor("tokens", tokens)
        _check_tensor("categories", categories)
        if tokens.dim() != 2:
            raise ValueError(f"expected tokens of shape (B, T), got {tuple(tokens.shape)}")
        if categories.shape != tokens.shape[:1]:
            raise ValueError(
                f"expected categories of shape ({tokens.size(0)},), got {tuple(categories.shape)}"
            )
        check_ids("tokens", tokens, self.vocab_size)
        check_ids("categories", categories, self.num_categories)
        if state is not None and checking():
            self._check_state(state, tokens.size(0))
        inputs = self._step_inputs(tokens, categories)  # (B, T, C+E)
        outputs, final = self.recurrent(inputs, lengths, None if state is None else state.cell)
        previous = None if state is None else state.previous_output  # (B, O)
        if self.readout == "output":
            logits = self._logits(outputs)  # (B, T, V)
        elif not (self.training and self.dropout > 0):
            logits = self._split_readout(inputs, outputs, previous)
        else:
            first = outputs.new_zeros(outputs[:, :1].shape) if previous is None else previous
            shifted = torch.cat((first.view_as(outputs[:, :1]), outputs[:, :-1]), 1)
            logits = self._logits(torch.cat((inputs, shifted), dim=-1))
        if not return_state:
            return logits
        last = self.recurrent.final_output(final)  # (B, O)
        return logits, ConditionalLMState(final, categories, last)

    def _check_state(self, state: object, batch_size: int) -> None:
        if not isinstance(state, ConditionalLMState):
            raise TypeError(
                f"expected state as a ConditionalLMState (from forward(..., "
                f"return_state=True), initial_state() or step()), got {type(state).__name__}"
            )
        expected = (batch_size, self.cell.output_size)
        if tuple(state.previous_output.shape) != expected:
            raise ValueError(
                f"expected a state for {batch_size} sequences (previous_output of shape "
                f"{expected}), got {tuple(state.previous_output.shape)}"
            )

    def _split_readout(self, inputs: Tensor, outputs: Tensor, previous: Tensor | None) -> Tensor:
        """``head([x_t; h_{t-1}])`` as ``W_x x_t + b + W_h h_{t-1}``, with no concatenation.

        The same numbers as the concatenation (up to rounding), without building the
        ``(B, T, C+E+H)`` tensor; the previous outputs are shifted after the product, at
        ``V`` columns instead of ``H``. ``previous`` is ``h_{-1}`` (``None``: zeros).
        """
        size = inputs.size(-1)
        weight = self.head.weight  # (V, C+E+H)
        from_inputs = nn.functional.linear(inputs, weight[:, :size], self.head.bias)  # (B, T, V)
        if outputs.size(1) == 0:
            return from_inputs
        from_previous = nn.functional.linear(outputs[:, :-1], weight[:, size:])  # (B, T-1, V)
        if previous is None:
            return from_inputs + nn.functional.pad(from_previous, (0, 0, 1, 0))
        first = nn.functional.linear(previous, weight[:, size:]).unsqueeze(1)  # (B, 1, V)
        return from_inputs + torch.cat((first, from_previous), 1)

    def _logits(self, features: Tensor) -> Tensor:
        if self.training and self.dropout > 0 and self.locked_dropout and features.dim() == 3:
            features = locked_dropout(features, self.dropout)  # (B, T, F): a mask per row
        elif self.training and self.dropout > 0:
            # Inverted dropout from a uniform draw: the same distribution as
            # nn.functional.dropout, and about twice as fast on CPU as its Bernoulli draw.
            keep = torch.rand_like(features) >= self.dropout
            features = features * keep / (1.0 - self.dropout)
        return cast(Tensor, self.head(features))

    def initial_state(self, categories: Tensor) -> ConditionalLMState[StateT]:
        """The state that starts decoding one sequence per category.

        Args:
            categories: Category of each sequence, ``(B,)`` int64.

        Returns:
            The initial decoding state for ``B`` sequences.

        Raises:
            ValueError: If ``categories`` is not 1-D or holds an id out of range.
            TypeError: If ``categories`` is not an integer tensor.

        Example:
            >>> import torch
            >>> from seqlearn.nn import GRUCell
            >>> model = ConditionalLM(GRUCell(2 + 5, 8), vocab_size=5, num_categories=2)
            >>> state = model.initial_state(torch.tensor([1, 0]))  # one sequence per category
            >>> state.categories, state.cell.shape
            (tensor([1, 0]), torch.Size([2, 8]))
        """
        _check_tensor("categories", categories)
        if categories.dim() != 1:
            raise ValueError(f"expected categories of shape (B,), got {tuple(categories.shape)}")
        check_ids("categories", categories, self.num_categories)
        weight = self.head.weight
        size = categories.size(0)
        cell_state = self.cell.initial_state(size, device=weight.device, dtype=weight.dtype)
        previous = weight.new_zeros(size, self.cell.output_size)
        return ConditionalLMState(cell_state, categories.to(weight.device), previous)

    def step(
        self, tokens: Tensor, state: ConditionalLMState[StateT]
    ) -> tuple[Tensor, ConditionalLMState[StateT]]:
        """Feed one token per sequence and get the logits of the next one.

        Args:
            tokens: ``(B,)`` int64 token ids.
            state: State from :meth:`initial_state` or the previous :meth:`step`.

        Returns:
            Logits ``(B, V)`` and the new state.

        Raises:
            ValueError: If ``tokens`` is not ``(B,)`` or holds an id out of range, or the
                cell's state does not have ``B`` rows (see the cell's step).
            TypeError: If ``tokens`` is not an integer tensor or ``state`` not a
                :class:`ConditionalLMState`.

        Example:
            >>> import torch
            >>> from seqlearn.nn import GRUCell
            >>> model = ConditionalLM(GRUCell(2 + 5, 8), vocab_size=5, num_categories=2)
            >>> state = model.initial_state(torch.tensor([1, 0]))
            >>> for token in [3, 1]:  # feed the same two tokens to both sequences
            ...     logits, state = model.step(torch.tensor([token, token]), state)
            >>> logits.shape  # (B, V): the next token's logits
            torch.Size([2, 5])
        """
        check = checking()  # a decoder that checked its prompts steps unchecked
        if check:
            _check_tensor("tokens", tokens)
            if not isinstance(state, ConditionalLMState):
                raise TypeError(
                    f"expected state as a ConditionalLMState from initial_state() or step(), "
                    f"got {type(state).__name__}"
                )
            if tokens.dim() != 1 or tokens.size(0) != state.categories.size(0):
                raise ValueError(
                    f"expected tokens of shape ({state.categories.size(0)},), "
                    f"got {tuple(tokens.shape)}"
                )
            check_ids("tokens", tokens, self.vocab_size)  # categories: at initial_state()
        inputs = self._step_inputs(tokens, state.categories)  # (B, C+E)
        output, cell_state = (self.cell if check else self.cell.step)(inputs, state.cell)
        if self.readout == "input_and_previous_output":
            features = torch.cat((inputs, state.previous_output), dim=-1)
        else:
            features = output
        logits = self._logits(features)  # (B, V)
        return logits, ConditionalLMState(cell_state, state.categories, output)


def _check_tensor(name: str, ids: object) -> None:
    if not isinstance(ids, Tensor):
        raise TypeError(f"{name} must be an integer tensor of ids, got {type(ids).__name__}")


def lecture_generator(
    vocab_size: int = 59,
    num_categories: int = 18,
    hidden_size: int = 128,
    *,
    generator: torch.Generator | None = None,
) -> ConditionalLM[Tensor]:
    """The lecture's surname generator, built from seqlearn parts.

    One-hot category and letter, an Elman cell with ReLU over ``[category; letter; hidden]``
    (the lecture's ``i2h``), and an output layer over the same vector with the *previous*
    hidden state (the lecture's ``i2o``). Parameter shapes equal the lecture's:
    ``cell.weight`` is ``i2h.weight`` and ``head.weight`` is ``i2o.weight``.

    Args:
        vocab_size: Letters plus EOS (the lecture's ``n_letters``, 59).
        num_categories: Languages (18).
        hidden_size: Hidden state size (128).
        generator: Random generator for the initial weights.

    Returns:
        The model.

    Example:
        >>> lm = lecture_generator()
        >>> [tuple(p.shape) for p in lm.parameters()]
        [(128, 205), (128,), (59, 205), (59,)]
    """
    cell = ElmanCell(
        num_categories + vocab_size, hidden_size, nonlinearity="relu", generator=generator
    )
    model = ConditionalLM(
        cell,
        vocab_size=vocab_size,
        num_categories=num_categories,
        readout="input_and_previous_output",
        generator=generator,
    )
    return model
