"""The execution core (issue 13, points 1-3 and 7): cells run themselves, layers compose
through one protocol, inputs are checked once per forward, and every model compiles."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence
from torch.overrides import TorchFunctionMode

from seqlearn.nn import (
    Bidirectional,
    Cell,
    ConditionalLM,
    GRUCell,
    IndRNNCell,
    LSTMCell,
    Recurrent,
    SequenceClassifier,
    SequenceLayer,
    StackedCell,
    StackedLayers,
    lecture_classifier,
    lecture_generator,
    max_pool,
    reverse_padded,
)

I, H = 3, 5  # noqa: E741


def _batch(seed: int, batch: int = 4, steps: int = 6) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, I, generator=g)
    lengths = torch.tensor([steps, 2, 0, 4][:batch])
    return x, lengths


# Cells run themselves


class TorchGRU(Cell[Tensor]):
    """A cell that brings its own fused implementation: torch.nn.GRU runs whole sequences."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.gru = nn.GRU(input_size, hidden_size)
        self.runs = 0

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        g = self.gru
        h = torch.gru_cell(x, state, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)
        return h, h

    def run(
        self, data: Tensor, batch_sizes: Tensor, state: Tensor, *, fused: bool = True
    ) -> tuple[Tensor, Tensor]:
        if not fused:
            return super().run(data, batch_sizes, state, fused=False)
        self.runs += 1
        out, h = self.gru(PackedSequence(data, batch_sizes), state.unsqueeze(0))
        return out.data, h[0]


def test_a_cell_with_its_own_run_plugs_in_by_overriding_that_one_method() -> None:
    cell = TorchGRU(I, H)
    x, lengths = _batch(1)
    outputs, final = Recurrent(cell)(x, lengths)
    assert cell.runs == 1  # the layer let the cell run itself
    stepped, stepped_final = Recurrent(cell, fused=False)(x, lengths)
    torch.testing.assert_close(outputs, stepped, rtol=0, atol=1e-6)
    torch.testing.assert_close(final, stepped_final, rtol=0, atol=1e-6)
    assert cell.initial_state(2).shape == (2, H)  # the declared default state: zeros


def test_a_stack_runs_its_cells_each_their_own_way() -> None:
    own, indrnn = TorchGRU(I, H), IndRNNCell(H, H)
    stack = StackedCell([own, indrnn, GRUCell(H, H)], residual=True).eval()
    x, lengths = _batch(2)
    outputs, _ = Recurrent(stack)(x, lengths)
    assert own.runs == 1
    stepped, _ = Recurrent(stack, fused=False)(x, lengths)
    torch.testing.assert_close(outputs, stepped, rtol=0, atol=1e-5)


def test_state_sizes_declare_the_state_and_the_zeros_follow() -> None:
    lstm = LSTMCell(I, 6, proj_size=2)
    assert lstm.state_sizes() == (2, 6)
    state = lstm.initial_state(3)
    assert state.h.shape == (3, 2) and state.c.shape == (3, 6)
    stack = StackedCell([GRUCell(I, H), lstm.__class__(H, 4)])
    assert stack.state_sizes() == (H, (4, 4))


# Layers compose


def test_a_reversed_layer_reads_each_sequence_from_its_end() -> None:
    cell = GRUCell(I, H)
    x, lengths = _batch(3)
    backward, _ = Recurrent(cell, reverse=True)(x, lengths)
    forward_on_reversed, _ = Recurrent(cell)(reverse_padded(x, lengths), lengths)
    torch.testing.assert_close(backward, reverse_padded(forward_on_reversed, lengths))


def test_bidirectional_from_layers_equals_bidirectional_from_cells() -> None:
    forward, backward = GRUCell(I, H), GRUCell(I, H)
    x, lengths = _batch(4)
    from_cells, _ = Bidirectional(forward, backward)(x, lengths)
    layers = Bidirectional(Recurrent(forward), Recurrent(backward, reverse=True))
    from_layers, _ = layers(x, lengths)
    torch.testing.assert_close(from_layers, from_cells)


@pytest.mark.parametrize("make", [GRUCell, LSTMCell])
def test_two_fused_directions_run_as_one_kernel_call_and_agree_with_the_separate_path(
    make: Any,
) -> None:
    layer = Bidirectional(make(I, H), make(I, H))
    assert layer.joint_layers() is not None
    x, lengths = _batch(5)
    joint, (joint_forward, joint_backward) = layer(x, lengths)
    separate = Bidirectional(layer.forward_layer.cell, layer.backward_layer.cell, fused=False)
    assert separate.joint_layers() is None
    apart, (apart_forward, apart_backward) = separate(x, lengths)
    torch.testing.assert_close(joint, apart, rtol=0, atol=1e-5)
    for a, b in zip(torch.utils._pytree.tree_leaves((joint_forward, joint_backward)),
                    torch.utils._pytree.tree_leaves((apart_forward, apart_backward))):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert Bidirectional(GRUCell(I, H), LSTMCell(I, H)).joint_layers() is None


def test_stacked_bidirectional_layers_equal_a_deep_bidirectional_torch_gru() -> None:
    reference = nn.GRU(I, H, num_layers=2, bidirectional=True, batch_first=True)
    layers = []
    for depth, size in enumerate([I, 2 * H]):
        directions = []
        for suffix in ["", "_reverse"]:
            cell = GRUCell(size, H)
            for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
                getattr(cell, name).data.copy_(getattr(reference, f"{name}_l{depth}{suffix}"))
            directions.append(cell)
        layers.append(Bidirectional(*directions))
    deep = StackedLayers(layers)
    assert isinstance(deep, SequenceLayer) and deep.output_size == 2 * H
    x, lengths = _batch(6)
    lengths[2] = 1  # torch's packing takes no empty sequence
    outputs, _ = deep(x, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = nn.utils.rnn.pad_packed_sequence(reference(packed)[0], batch_first=True)
    torch.testing.assert_close(outputs[:, : expected.size(1)], expected, rtol=0, atol=1e-5)


def test_heads_read_their_sizes_from_the_layer_protocol() -> None:
    deep = StackedLayers([Bidirectional(GRUCell(8, 4), GRUCell(8, 4)), Recurrent(GRUCell(8, 6))])
    model = SequenceClassifier(deep, vocab_size=20, num_classes=3, embedding_dim=8)
    assert model.hidden_size == 6 and model.head.in_features == 6
    logits = model(torch.randint(0, 20, (2, 5)), torch.tensor([5, 3]))
    assert logits.shape == (2, 3)


# Checks at the boundary


class _Reads(TorchFunctionMode):
    """Counts reads of tensor values on the host (the calls that sync a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if getattr(func, "__name__", "") in {"item", "__bool__", "__int__", "__float__", "tolist"}:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_a_classifier_forward_checks_its_lengths_and_ids_once() -> None:
    model = SequenceClassifier(
        Bidirectional(GRUCell(8, 4), GRUCell(8, 4)), vocab_size=20, num_classes=3,
        embedding_dim=8, pooling=max_pool,
    ).eval()  # fmt: skip
    tokens, lengths = torch.randint(0, 20, (4, 6)), torch.tensor([6, 6, 3, 1])
    with _Reads() as reads:
        model(tokens, lengths)
    # the lengths' range, the ids' range and the packing's list of lengths: one read each
    assert reads.count == 3


def test_decoding_steps_run_unchecked_inside_a_checked_call() -> None:
    from seqlearn._checks import trusted

    model = lecture_generator(num_categories=2)
    state = model.initial_state(torch.tensor([0, 1]))
    tokens = torch.tensor([3, 4])
    with _Reads() as checked:
        model.step(tokens, state)
    with trusted(), _Reads() as unchecked:
        model.step(tokens, state)
    assert checked.count == 1 and unchecked.count == 0  # the token ids' range


# Compiles


def _classifier() -> nn.Module:
    encoder = Bidirectional(GRUCell(8, 6), GRUCell(8, 6))
    return SequenceClassifier(encoder, vocab_size=59, num_classes=3, embedding_dim=8,
                              pooling=max_pool)  # fmt: skip


MODELS: dict[str, Any] = {
    "bigru classifier": lambda: (_classifier(), False),
    "lecture classifier": lambda: (lecture_classifier(num_classes=3), False),
    "lecture generator": lambda: (lecture_generator(num_categories=3), True),
    "lstm stack generator": lambda: (
        ConditionalLM(
            StackedCell([LSTMCell(3 + 8, 8), LSTMCell(8, 8)]),
            vocab_size=59,
            num_categories=3,
            embedding_dim=8,
        ),
        True,
    ),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_model_compiles_and_trains_as_in_eager_mode(kind: str) -> None:
    torch.manual_seed(0)
    eager, generative = MODELS[kind]()
    compiled_model, _ = MODELS[kind]()
    compiled_model.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_model, backend="aot_eager")
    tokens, lengths = torch.randint(1, 59, (4, 7)), torch.tensor([7, 5, 5, 2])
    args = (tokens, lengths, torch.tensor([0, 1, 2, 0])) if generative else (tokens, lengths)
    with torch.no_grad():
        torch.testing.assert_close(compiled(*args), eager.eval()(*args), rtol=1e-5, atol=1e-5)
    losses = []
    for model in (eager, compiled):
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        trace = []
        for _ in range(2):
            optimizer.zero_grad()
            loss = model(*args).float().pow(2).mean()
            loss.backward()
            optimizer.step()
            trace.append(float(loss.detach()))
        losses.append(trace)
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
