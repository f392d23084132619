"""Tests of Bidirectional: equal to torch.nn's bidirectional GRU/LSTM/RNN over packed batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlearn.nn import Cell, ElmanCell, GRUCell, LSTMCell, LSTMState
from seqlearn.nn.bidirectional import Bidirectional, concatenate, reverse_padded
from seqlearn.nn.state import select_rows, zip_map_state

INPUT, HIDDEN, STEPS = 3, 5, 6


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _copy_into_cell(cell: Cell[Any], reference: nn.RNNBase, suffix: str) -> None:
    """Copy the weights of one direction of ``reference`` (``_l0`` + ``suffix``) into ``cell``."""
    w_ih, w_hh, b_ih, b_hh = (
        getattr(reference, f"{name}_l0{suffix}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    with torch.no_grad():
        if isinstance(cell, ElmanCell):
            assert cell.bias is not None
            cell.weight.copy_(torch.cat((w_ih, w_hh), dim=1))  # (H, I + H)
            cell.bias.copy_(b_ih + b_hh)
        else:
            assert isinstance(cell, GRUCell | LSTMCell)
            cell.weight_ih.copy_(w_ih)
            cell.weight_hh.copy_(w_hh)
            cell.bias_ih.copy_(b_ih)
            cell.bias_hh.copy_(b_hh)


CellFactory = Callable[[], Cell[Any]]
REFERENCES: dict[str, tuple[CellFactory, Callable[..., nn.RNNBase]]] = {
    "gru": (lambda: GRUCell(INPUT, HIDDEN), nn.GRU),
    "lstm": (lambda: LSTMCell(INPUT, HIDDEN), nn.LSTM),
    "elman": (lambda: ElmanCell(INPUT, HIDDEN), nn.RNN),
}


def _pair(kind: str, fused: bool) -> tuple[Bidirectional[Any, Any], nn.RNNBase]:
    make_cell, reference_type = REFERENCES[kind]
    torch.manual_seed(0)  # torch.nn's RNNs take no generator; seeded here for repeatability
    reference = reference_type(INPUT, HIDDEN, batch_first=True, bidirectional=True)
    forward_cell, backward_cell = make_cell(), make_cell()
    _copy_into_cell(forward_cell, reference, "")
    _copy_into_cell(backward_cell, reference, "_reverse")
    return Bidirectional(forward_cell, backward_cell, fused=fused), reference


def _assert_close(actual: Tensor, expected: Tensor) -> Tensor:
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)
    return actual


@pytest.mark.parametrize("lengths", [[6, 1, 4, 3], [6, 6, 6, 6]], ids=["ragged", "full"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "steps"])
@pytest.mark.parametrize("with_initial_state", [False, True], ids=["zeros", "given_state"])
@pytest.mark.parametrize("kind", sorted(REFERENCES))
def test_matches_torch_bidirectional(
    kind: str, with_initial_state: bool, fused: bool, lengths: list[int]
) -> None:
    layer, reference = _pair(kind, fused)
    g = _generator(1)
    batch = len(lengths)
    x = torch.randn(batch, STEPS, INPUT, generator=g)
    h0 = torch.randn(2, batch, HIDDEN, generator=g)  # (directions, B, H)
    c0 = torch.randn(2, batch, HIDDEN, generator=g)
    lengths_tensor = torch.tensor(lengths)

    packed = pack_padded_sequence(x, lengths_tensor, batch_first=True, enforce_sorted=False)
    reference_initial: Any = None
    initial_state: Any = None
    if with_initial_state:
        reference_initial = (h0, c0) if kind == "lstm" else h0
        initial_state = (
            (LSTMState(h0[0], c0[0]), LSTMState(h0[1], c0[1])) if kind == "lstm" else (h0[0], h0[1])
        )
    expected_packed, expected_final = reference(packed, reference_initial)
    expected, _ = pad_packed_sequence(expected_packed, batch_first=True, total_length=STEPS)

    outputs, (forward_final, backward_final) = layer(x, lengths_tensor, initial_state)

    _assert_close(outputs, expected)
    if kind == "lstm":
        h_n, c_n = expected_final
        zip_map_state(_assert_close, forward_final, LSTMState(h_n[0], c_n[0]))
        zip_map_state(_assert_close, backward_final, LSTMState(h_n[1], c_n[1]))
    else:
        _assert_close(forward_final, expected_final[0])
        _assert_close(backward_final, expected_final[1])


@pytest.mark.parametrize("kind", sorted(REFERENCES))
def test_each_sequence_alone_equals_its_row(kind: str) -> None:
    layer, _ = _pair(kind, fused=True)
    lengths = torch.tensor([6, 1, 4, 3])
    x = torch.randn(4, STEPS, INPUT, generator=_generator(2))
    outputs, (forward_final, backward_final) = layer(x, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone, (forward_alone, backward_alone) = layer(x[row : row + 1, :length])
        _assert_close(outputs[row : row + 1, :length], alone)
        assert bool(outputs[row, length:].eq(0).all())
        zip_map_state(_assert_close, forward_alone, select_rows(forward_final, torch.tensor([row])))
        zip_map_state(
            _assert_close, backward_alone, select_rows(backward_final, torch.tensor([row]))
        )


def test_zero_length_row_keeps_initial_state_and_zero_outputs() -> None:
    layer = Bidirectional(GRUCell(INPUT, HIDDEN), GRUCell(INPUT, HIDDEN))
    x = torch.randn(2, 4, INPUT, generator=_generator(3))
    initial = (torch.randn(2, HIDDEN), torch.randn(2, HIDDEN))
    outputs, (forward_final, backward_final) = layer(x, torch.tensor([4, 0]), initial)
    assert bool(outputs[1].eq(0).all())
    torch.testing.assert_close(forward_final[1], initial[0][1])
    torch.testing.assert_close(backward_final[1], initial[1][1])


def test_reverse_padded_reverses_within_lengths_and_leaves_padding() -> None:
    x = torch.arange(1, 13, dtype=torch.float32).view(3, 4)  # (B, T)
    reversed_x = reverse_padded(x, torch.tensor([4, 2, 0]))
    expected = torch.tensor([[4.0, 3, 2, 1], [6, 5, 7, 8], [9, 10, 11, 12]])
    torch.testing.assert_close(reversed_x, expected)


def test_reverse_padded_round_trip_and_trailing_dims() -> None:
    x = torch.randn(5, 7, 2, 3, generator=_generator(4))  # (B, T, *)
    lengths = torch.tensor([7, 0, 3, 1, 5])
    reversed_x = reverse_padded(x, lengths)
    torch.testing.assert_close(reverse_padded(reversed_x, lengths), x, rtol=0, atol=0)
    torch.testing.assert_close(reversed_x[2, :3], x[2, :3].flip(0), rtol=0, atol=0)
    torch.testing.assert_close(reversed_x[2, 3:], x[2, 3:], rtol=0, atol=0)
    torch.testing.assert_close(reversed_x[1], x[1], rtol=0, atol=0)
    torch.testing.assert_close(reverse_padded(x), x.flip(1), rtol=0, atol=0)


def test_reverse_padded_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(B, T, \*\)"):
        reverse_padded(torch.zeros(4))
    with pytest.raises(ValueError, match="lengths"):
        reverse_padded(torch.zeros(2, 3), torch.tensor([4, 1]))
    with pytest.raises(TypeError, match="integer"):
        reverse_padded(torch.zeros(2, 3), torch.tensor([1.0, 2.0]))


def test_sum_merge_gives_hidden_size_outputs() -> None:
    forward_cell, backward_cell = LSTMCell(INPUT, HIDDEN), LSTMCell(INPUT, HIDDEN)
    summed = Bidirectional(forward_cell, backward_cell, merge_fn=lambda a, b: a + b)
    joined = Bidirectional(forward_cell, backward_cell)
    assert summed.output_size == HIDDEN
    assert joined.output_size == 2 * HIDDEN
    x = torch.randn(2, 4, INPUT, generator=_generator(5))
    lengths = torch.tensor([4, 2])
    summed_outputs, _ = summed(x, lengths)
    joined_outputs, _ = joined(x, lengths)
    assert summed_outputs.shape == (2, 4, HIDDEN)
    _assert_close(summed_outputs, joined_outputs[..., :HIDDEN] + joined_outputs[..., HIDDEN:])


def test_outputs_past_the_end_are_zero_whatever_merge_fn_returns() -> None:
    layer = Bidirectional(
        ElmanCell(INPUT, HIDDEN), ElmanCell(INPUT, HIDDEN), merge_fn=lambda a, b: a + b + 1
    )
    outputs, _ = layer(torch.randn(2, 4, INPUT, generator=_generator(6)), torch.tensor([4, 1]))
    assert bool(outputs[1, 1:].eq(0).all())
    assert bool(outputs[0].ne(0).any())


def test_module_merge_fn_is_registered_and_trained() -> None:
    merge = nn.Bilinear(HIDDEN, HIDDEN, 2)
    layer = Bidirectional(GRUCell(INPUT, HIDDEN), GRUCell(INPUT, HIDDEN), merge_fn=merge)
    assert layer.output_size == 2
    assert any(parameter is merge.weight for parameter in layer.parameters())


def test_gradients_reach_both_cells_and_the_input() -> None:
    layer = Bidirectional(LSTMCell(INPUT, HIDDEN), GRUCell(INPUT, HIDDEN))
    x = torch.randn(3, 5, INPUT, generator=_generator(7), requires_grad=True)
    outputs, (forward_final, backward_final) = layer(x, torch.tensor([5, 2, 3]))
    (outputs.square().sum() + forward_final.c.sum() + backward_final.sum()).backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.ne(0).any()), name
    assert x.grad is not None
    assert bool(x.grad[1, 2:].eq(0).all())  # padding does not touch the result
    assert bool(x.grad[1, :2].ne(0).any())


def test_rejects_bad_shapes() -> None:
    layer = Bidirectional(GRUCell(INPUT, HIDDEN), GRUCell(INPUT, HIDDEN))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, T, 3\), got \(4, 3\)"):
        layer(torch.zeros(4, INPUT))
    with pytest.raises(ValueError, match=r"got \(2, 4, 7\)"):
        layer(torch.zeros(2, 4, 7))
    with pytest.raises(ValueError, match=r"lengths of shape \(2,\)"):
        layer(torch.zeros(2, 4, INPUT), torch.tensor([4, 4, 4]))
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        layer(torch.zeros(2, 4, INPUT), torch.tensor([5, 4]))
    with pytest.raises(ValueError, match=r"input_size 3 \(forward\) and 4 \(backward\)"):
        Bidirectional(GRUCell(INPUT, HIDDEN), GRUCell(4, HIDDEN))
    with pytest.raises(ValueError, match=r"\(1, 1, O\) tensor, got \(1, 10\)"):
        Bidirectional(
            GRUCell(INPUT, HIDDEN),
            GRUCell(INPUT, HIDDEN),
            merge_fn=lambda a, b: concatenate(a, b)[0],
        )


def test_merge_fn_changing_shape_per_call_is_caught() -> None:
    def first_step_only(a: Tensor, b: Tensor) -> Tensor:
        return concatenate(a, b)[:, :1]

    layer = Bidirectional(GRUCell(INPUT, HIDDEN), GRUCell(INPUT, HIDDEN), merge_fn=first_step_only)
    with pytest.raises(ValueError, match=r"merge_fn to return shape \(2, 4, 10\)"):
        layer(torch.zeros(2, 4, INPUT))
