"""A sequence classifier: tokens -> vectors -> an encoder over time -> pooling -> logits."""

from __future__ import annotations

from typing import Any, Literal, cast

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn._checks import checking, trusted
from seqlearn.nn._inputs import allocated, check_ids, encode_ids, optional_embedding
from seqlearn.nn.cells.base import uniform_init_
from seqlearn.nn.cells.elman import LinearRecurrentCell
from seqlearn.nn.conditional_lm import Readout
from seqlearn.nn.dropout import word_dropout
from seqlearn.nn.layer import SequenceLayer
from seqlearn.nn.lengths import check_lengths, valid_steps
from seqlearn.nn.pooling import Pooling, last_valid
from seqlearn.nn.recurrent import Recurrent
from seqlearn.nn.registry import register

__all__ = ["LinearRecurrentCell", "SequenceClassifier", "lecture_classifier"]


@register("seqlearn.nn.SequenceClassifier")
@final
class SequenceClassifier(nn.Module):
    r"""Class logits for each sequence of a padded batch of token ids.

    Tokens become vectors ``x_t`` (one-hot, or a learned embedding); the encoder runs over
    them; ``readout`` picks the features at each step (the encoder's output ``y_t``, or
    ``[x_t; y_{t-1}]``); ``pooling`` turns those into one vector per sequence from its
    valid steps; dropout and a linear layer give the logits.

    With a :class:`LinearRecurrentCell`, one-hot vectors, ``readout="input_and_previous_output"``
    and :func:`~seqlearn.nn.last_valid` pooling, the logits are
    ``head([x_L; h_{L-1}])`` at each sequence's last step ``L``: exactly the lecture's
    ``RNNForClassification`` (see :func:`lecture_classifier`).

    Args:
        encoder: A :class:`~seqlearn.nn.Recurrent`, or any module
            ``(x (B, T, E), lengths (B,)) -> (outputs (B, T, O), state)`` whose outputs
            past each length do not matter.
        vocab_size: Number of tokens ``V``.
        num_classes: Number of classes ``C``.
        embedding_dim: Size ``E`` of learned token embeddings; ``None`` means one-hot
            (``E = V``), unless ``embedding`` is given.
        embedding: A ready token embedding ``(V, E)`` to use instead of a new one, such as
            pretrained word vectors from :func:`~seqlearn.nn.glove_embedding`;
            :meth:`reset_parameters` leaves it alone, and whether it trains is its own
            ``weight.requires_grad``.
        embedding_dropout: Probability of zeroing an element of the token vectors, in
            training mode.
        word_dropout: Probability of dropping a whole token type (a row of the token
            embedding) in training mode, AWD-LSTM's embedding dropout
            (:func:`~seqlearn.nn.word_dropout`); needs a learned or given embedding.
        readout: What is pooled at each step, see :data:`~seqlearn.nn.Readout`.
        pooling: ``(features (B, T, F), lengths (B,)) -> (B, P)``; a module's parameters are
            trained with the model. ``"final_state"`` reads the encoder's final state
            instead (``encoder.final_output(state)``: for a
            :class:`~seqlearn.nn.Bidirectional` both directions' final states, as torch's
            ``h_n`` and Keras's ``Bidirectional(GRU(...))`` give them), the same numbers as
            :func:`~seqlearn.nn.last_valid` (one direction) or
            :func:`~seqlearn.nn.bidirectional_final` pooling but faster to train, since no
            gradient flows back through the outputs at every step.
        dropout: Probability of zeroing an element of the pooled vector, in training mode.
        hidden_size: Size ``P`` of the pooled vector; defaults to the encoder's output size
            (plus ``E`` with ``readout="input_and_previous_output"``) for a
            :class:`~seqlearn.nn.Recurrent` or :class:`~seqlearn.nn.Bidirectional`, and
            must be given for other encoders.
        generator: Random generator for the embeddings and the output layer (the encoder
            and pooling module draw their own weights when they are built).

    Raises:
        ValueError: If a size is not positive, a dropout is outside ``[0, 1)``,
            ``embedding`` has not ``V`` rows or comes with ``embedding_dim``,
            ``word_dropout`` comes without an embedding,
            ``readout`` is unknown, the encoder's ``input_size`` is not ``E``, or
            ``hidden_size`` is missing for an encoder that is not a ``Recurrent``.
        TypeError: If ``embedding_dim`` is not an int or ``pooling`` is not callable.

    Shape:
        - ``inputs``: ``(B, T)`` int64 in ``[0, V)``; ``lengths``: ``(B,)`` in ``[0, T]``.
        - logits: ``(B, C)``.

    Example:
        >>> from seqlearn.nn import GRUCell, Recurrent
        >>> from seqlearn.nn.pooling import AttentionPooling
        >>> model = SequenceClassifier(Recurrent(GRUCell(16, 32)), vocab_size=59,
        ...                            num_classes=18, embedding_dim=16,
        ...                            pooling=AttentionPooling(32))
        >>> model(torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([3, 2])).shape
        torch.Size([2, 18])
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int | None = None,
        embedding: nn.Embedding | None = None,
        embedding_dropout: float = 0.0,
        word_dropout: float = 0.0,
        readout: Readout = "output",
        pooling: Pooling | nn.Module | Literal["final_state"] = last_valid,
        dropout: float = 0.0,
        hidden_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("num_classes", num_classes)]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if readout not in ("output", "input_and_previous_output"):
            raise ValueError(
                f"readout must be 'output' or 'input_and_previous_output', got {readout!r}"
            )
        rates = [("dropout", dropout), ("embedding_dropout", embedding_dropout)]
        for name, rate in [*rates, ("word_dropout", word_dropout)]:
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.readout = readout
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.word_dropout = word_dropout
        if word_dropout and embedding is None and embedding_dim is None:
            raise ValueError("word_dropout needs an embedding: give embedding_dim or embedding")
        self.pretrained_embedding = embedding is not None
        if embedding is not None:
            if embedding_dim is not None:
                raise ValueError(
                    f"give embedding_dim or embedding, not both (got embedding_dim={embedding_dim})"
                )
            if not isinstance(embedding, nn.Embedding) or embedding.num_embeddings != vocab_size:
                raise ValueError(
                    f"embedding must be an nn.Embedding with vocab_size={vocab_size} rows, "
                    f"got {embedding!r}"
                )
            embedding_dim = embedding.embedding_dim
            self.token_embedding: nn.Embedding | None = embedding
        else:
            self.token_embedding = optional_embedding(vocab_size, embedding_dim, "embedding_dim")
        self.input_size = vocab_size if embedding_dim is None else embedding_dim
        sizes = _encoder_sizes(encoder)
        if sizes is not None:
            encoder_input, encoder_output = sizes
            if encoder_input != self.input_size:
                raise ValueError(
                    f"the encoder's input_size must be {self.input_size} (embedding_dim, or "
                    f"vocab_size for one-hot), got {encoder_input}"
                )
            if hidden_size is None:
                hidden_size = encoder_output
                if readout == "input_and_previous_output":
                    hidden_size += self.input_size
        if hidden_size is None:
            raise ValueError(
                f"hidden_size (the size of the pooled vector) is needed for an encoder that "
                f"is not a sequence layer (with input_size and output_size, as Recurrent, "
                f"Bidirectional and StackedLayers have), got encoder "
                f"{type(encoder).__name__} and hidden_size=None"
            )
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        self.hidden_size = hidden_size
        if pooling == "final_state":
            if not callable(getattr(encoder, "final_output", None)) or readout != "output":
                raise ValueError(
                    "pooling='final_state' needs readout='output' and an encoder with "
                    "final_output(state) (Recurrent, Bidirectional, StackedLayers), got "
                    f"readout={readout!r} and encoder {type(encoder).__name__}"
                )
        elif not callable(pooling):
            raise TypeError(
                "pooling must be a callable (outputs, lengths) -> (B, P) or 'final_state', "
                f"got {pooling!r}"
            )
        self.encoder = encoder
        self.pooling = pooling
        # skip_init allocates without drawing; reset_parameters draws from ``generator``.
        self.head = allocated(nn.Linear, hidden_size, num_classes)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Redraw the embedding (``N(0, 1)``) and the output layer (like ``nn.Linear``).

        The encoder and a pooling module are left alone: they have their own; so is an
        embedding given to the constructor.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        with torch.no_grad():
            if self.token_embedding is not None and not self.pretrained_embedding:
                nn.init.normal_(self.token_embedding.weight, generator=generator)
        uniform_init_([self.head.weight, self.head.bias], self.hidden_size, generator)

    @override
    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """Class logits of each sequence.

        Args:
            inputs: Token ids; positions past each length are ignored.
            lengths: Valid length of each sequence.

        Returns:
            Logits ``(B, C)``.

        Raises:
            ValueError: If ``inputs`` is not ``(B, T)``, holds an id out of range, or
                ``lengths`` does not fit it.
            TypeError: If ``inputs`` or ``lengths`` are not integer tensors.
        """
        if not isinstance(inputs, Tensor) or inputs.dim() != 2:
            shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"expected inputs of shape (B, T), got {shape}")
        lengths = check_lengths(lengths, inputs.size(0), inputs.size(1)).to(inputs.device)
        valid = valid_steps(lengths, inputs.size(1))  # (B, T)
        inputs = torch.where(valid, inputs, 0)  # padding ids may be anything
        if checking():
            check_ids("inputs", inputs, self.vocab_size)
        if self.token_embedding is not None and self.training and self.word_dropout:
            x = word_dropout(self.token_embedding, inputs, self.word_dropout)  # (B, T, E)
        else:
            x = encode_ids(self.token_embedding, inputs, self.vocab_size, self.head.weight.dtype)
        if self.training and self.embedding_dropout > 0:
            x = nn.functional.dropout(x, self.embedding_dropout, training=True)  # (B, T, E)
        with trusted():  # checked once, here: the parts below do not check again
            outputs, state = cast(tuple[Tensor, Any], self.encoder(x, lengths))  # (B, T, O)
            if self.pooling == "final_state":  # the outputs go unused: no gradient through them
                pooled = cast(Tensor, cast(Any, self.encoder).final_output(state))
                pooled = nn.functional.dropout(pooled, self.dropout, self.training)
                return cast(Tensor, self.head(pooled))  # (B, C)
            if self.readout == "input_and_previous_output":
                previous = torch.cat((outputs.new_zeros(outputs[:, :1].shape), outputs[:, :-1]), 1)
                outputs = torch.cat((x, previous), dim=-1)  # (B, T, E + O)
            pooled = self.pooling(outputs, lengths)  # (B, P)
        pooled = nn.functional.dropout(pooled, self.dropout, self.training)
        return cast(Tensor, self.head(pooled))  # (B, C)


def lecture_classifier(
    vocab_size: int = 59,
    num_classes: int = 18,
    hidden_size: int = 128,
    *,
    generator: torch.Generator | None = None,
) -> SequenceClassifier:
    """The lecture's ``RNNForClassification``, built from seqlearn parts.

    One-hot letters, a :class:`LinearRecurrentCell` (``h_t = i2h([x_t; h_{t-1}])``, no
    nonlinearity), ``readout="input_and_previous_output"`` and
    :func:`~seqlearn.nn.last_valid`: the output layer reads ``[x_L; h_{L-1}]`` at
    each name's last letter ``L``, as the lecture's ``i2o`` does on its final step. The
    parameters are, in order, ``i2h.weight (H, V + H)``, ``i2h.bias (H,)``,
    ``i2o.weight (C, V + H)`` and ``i2o.bias (C,)``.

    Args:
        vocab_size: Letters (the lecture's ``n_letters``, 59).
        num_classes: Languages (18).
        hidden_size: Hidden state size (128).
        generator: Random generator for the initial weights.

    Returns:
        The model.

    Example:
        >>> model = lecture_classifier()
        >>> [tuple(p.shape) for p in model.parameters()]
        [(128, 187), (128,), (18, 187), (18,)]
    """
    cell = LinearRecurrentCell(vocab_size, hidden_size, generator=generator)
    return SequenceClassifier(
        Recurrent(cell),
        vocab_size=vocab_size,
        num_classes=num_classes,
        readout="input_and_previous_output",
        pooling=last_valid,
        generator=generator,
    )


def _encoder_sizes(encoder: nn.Module) -> tuple[int, int] | None:
    """``(input_size, output_size)`` of an encoder that is a
    :class:`~seqlearn.nn.SequenceLayer`, else ``None``."""
    if isinstance(encoder, SequenceLayer):
        return encoder.input_size, encoder.output_size
    return None
