"""Tests of the LSTM projection, residual stacks and the learned initial state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlearn.nn import ElmanCell, GRUCell, LSTMCell, LSTMState, Recurrent, StackedCell
from seqlearn.nn.cells.base import Cell
from seqlearn.nn.cells.initial import LearnedInitialState
from seqlearn.nn.state import map_state, zip_map_state

I, H, P = 3, 6, 4  # input, hidden and projection sizes  # noqa: E741
LENGTHS = [5, 0, 1, 3, 5, 2]  # includes 0, 1 and T
T = 5


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tensors(state: Any) -> list[Tensor]:
    found: list[Tensor] = []

    def collect(t: Tensor) -> Tensor:
        found.append(t)
        return t

    map_state(collect, state)
    return found


def _row(state: Any, b: int) -> Any:
    """Row ``b`` of every tensor of a state tree, keeping a batch of one."""
    return map_state(lambda t: t[b : b + 1], state)


def _assert_states_close(actual: Any, expected: Any, atol: float = 1e-5) -> None:
    assert type(actual) is type(expected)
    for a, b in zip(_tensors(actual), _tensors(expected), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=atol)


def _batch(seed: int, size: int = I) -> tuple[Tensor, Tensor]:
    return torch.randn(len(LENGTHS), T, size, generator=_generator(seed)), torch.tensor(LENGTHS)


def _per_sequence(
    step: Callable[[Tensor, Any], tuple[Tensor, Any]],
    output_size: int,
    x: Tensor,
    lengths: Tensor,
    initial: Any,
) -> tuple[Tensor, Any]:
    """Plain reference: each sequence alone, one ``step`` call per valid time step."""
    outputs = torch.zeros(x.size(0), x.size(1), output_size)
    finals = []
    for b in range(x.size(0)):
        state = _row(initial, b)  # (1, ...)
        for t in range(int(lengths[b])):
            y, state = step(x[b : b + 1, t], state)
            outputs[b, t] = y[0]
        finals.append(state)
    final = finals[0]
    for other in finals[1:]:
        final = zip_map_state(lambda a, c: torch.cat((a, c)), final, other)
    return outputs, final


def _fused_and_steps_agree(
    cell: Cell[Any], x: Tensor, lengths: Tensor, initial: Any, seed: int
) -> tuple[Tensor, Any]:
    """Run both paths with gradients; assert equal outputs, states and gradients."""
    g = _generator(seed)
    out_weights = torch.randn(x.size(0), x.size(1), cell.output_size, generator=g)
    state_weights = map_state(lambda t: torch.randn(t.shape, generator=g), initial)

    def run(fused: bool) -> tuple[Tensor, Any, list[Tensor]]:
        inputs = x.clone().requires_grad_()
        start = map_state(lambda t: t.detach().clone().requires_grad_(), initial)
        layer = Recurrent(cell, fused=fused)
        assert layer.uses_fused_kernels == fused
        outputs, final = layer(inputs, lengths, start)
        loss = (outputs * out_weights).sum()
        for t, w in zip(_tensors(final), _tensors(state_weights), strict=True):
            loss = loss + (t * w).sum()
        wrt = [inputs, *_tensors(start), *cell.parameters()]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True, materialize_grads=True)
        return outputs.detach(), map_state(lambda t: t.detach(), final), list(grads)

    fused_out, fused_final, fused_grads = run(True)
    step_out, step_final, step_grads = run(False)
    torch.testing.assert_close(fused_out, step_out, rtol=0, atol=1e-5)
    _assert_states_close(fused_final, step_final)
    for a, b in zip(fused_grads, step_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    return fused_out, fused_final


# LSTM with a projection


def _projected_reference(cell: LSTMCell, x: Tensor, state: LSTMState) -> tuple[Tensor, Tensor]:
    """The documented equations, one example at a time, in float64."""
    assert cell.weight_hr is not None
    w_i, w_h = cell.weight_ih.double().chunk(4), cell.weight_hh.double().chunk(4)
    b_i, b_h = cell.bias_ih.double().chunk(4), cell.bias_hh.double().chunk(4)
    hs, cs = [], []
    for x_b, h_b, c_b in zip(x.double(), state.h.double(), state.c.double()):
        pre = [w_i[k] @ x_b + b_i[k] + w_h[k] @ h_b + b_h[k] for k in range(4)]
        i, f, o = torch.sigmoid(pre[0]), torch.sigmoid(pre[1]), torch.sigmoid(pre[3])
        c = f * c_b + i * torch.tanh(pre[2])
        hs.append(cell.weight_hr.double() @ (o * torch.tanh(c)))
        cs.append(c)
    return torch.stack(hs), torch.stack(cs)


def test_projected_lstm_shapes() -> None:
    cell = LSTMCell(I, H, proj_size=P, generator=_generator(0))
    assert (cell.input_size, cell.hidden_size, cell.output_size) == (I, H, P)
    assert cell.weight_hh.shape == (4 * H, P)
    assert cell.weight_hr is not None and cell.weight_hr.shape == (P, H)
    assert len(cell.fused_weights()) == 5 and cell.fused_weights()[-1] is cell.weight_hr
    state = cell.initial_state(2)
    assert isinstance(state, LSTMState)
    assert state.h.shape == (2, P) and state.c.shape == (2, H)
    plain = LSTMCell(I, H)
    assert plain.weight_hr is None and plain.proj_size == 0 and len(plain.fused_weights()) == 4
    assert "proj_size=4" in repr(cell)


def test_projected_lstm_step_equals_plain_equations() -> None:
    cell = LSTMCell(I, H, proj_size=P, generator=_generator(1))
    g = _generator(2)
    x = torch.randn(4, I, generator=g)
    state = LSTMState(torch.randn(4, P, generator=g), torch.randn(4, H, generator=g))
    y, new = cell(x, state)
    ref_h, ref_c = _projected_reference(cell, x, state)
    assert torch.equal(y, new.h)
    torch.testing.assert_close(new.h.double(), ref_h, rtol=0, atol=1e-6)
    torch.testing.assert_close(new.c.double(), ref_c, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_projected_lstm_equals_torch_lstm_over_a_packed_batch(fused: bool) -> None:
    cell = LSTMCell(I, H, proj_size=P, generator=_generator(3))
    reference = nn.LSTM(I, H, proj_size=P, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
            getattr(reference, f"{name}_l0").copy_(getattr(cell, name))
    x, _ = _batch(4)
    lengths = torch.tensor([5, 2, 1, 3, 5, 4])  # torch's packing takes no empty sequence
    g = _generator(5)
    h0, c0 = torch.randn(len(x), P, generator=g), torch.randn(len(x), H, generator=g)
    with torch.no_grad():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        ref_packed, (ref_h, ref_c) = reference(packed, (h0.unsqueeze(0), c0.unsqueeze(0)))
        ref_out, _ = pad_packed_sequence(ref_packed, batch_first=True, total_length=T)
        layer = Recurrent(cell, fused=fused)
        assert layer.uses_fused_kernels == fused
        outputs, final = layer(x, lengths, LSTMState(h0, c0))
    assert outputs.shape == (len(x), T, P)
    torch.testing.assert_close(outputs, ref_out, rtol=0, atol=1e-5)
    torch.testing.assert_close(final.h, ref_h[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(final.c, ref_c[0], rtol=0, atol=1e-5)


def test_projected_lstm_fused_equals_per_step_and_per_sequence() -> None:
    cell = LSTMCell(I, H, proj_size=P, generator=_generator(6))
    x, lengths = _batch(7)
    g = _generator(8)
    initial = map_state(lambda t: torch.randn(t.shape, generator=g), cell.initial_state(len(x)))
    outputs, final = _fused_and_steps_agree(cell, x, lengths, initial, seed=9)
    with torch.no_grad():
        ref_out, ref_final = _per_sequence(cell, P, x, lengths, initial)
    torch.testing.assert_close(outputs, ref_out, rtol=0, atol=1e-5)
    _assert_states_close(final, ref_final)


def test_projected_lstm_runs_fused_in_a_stack() -> None:
    stack = StackedCell(
        [LSTMCell(I, H, proj_size=P, generator=_generator(10)), GRUCell(P, 5)], dropout=0.3
    ).eval()
    x, lengths = _batch(11)
    _fused_and_steps_agree(stack, x, lengths, stack.initial_state(len(x)), seed=12)


def test_fused_path_calls_torch_lstm_with_the_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real_lstm = torch.lstm

    def spy(*args: Any) -> Any:
        seen.append(len(args[3]))  # the parameter list
        return real_lstm(*args)

    monkeypatch.setattr(torch, "lstm", spy)
    x, lengths = _batch(13)
    Recurrent(LSTMCell(I, H, proj_size=P))(x, lengths)
    assert seen == [5]


@pytest.mark.parametrize("proj_size", [-1, H, H + 1, True, 2.0])
def test_bad_proj_size_raises(proj_size: Any) -> None:
    with pytest.raises(ValueError, match="proj_size"):
        LSTMCell(I, H, proj_size=proj_size)


def test_gru_takes_no_projection() -> None:
    with pytest.raises(ValueError, match="GRUCell takes no projection"):
        GRUCell(I, H, proj_size=2)


def test_projected_lstm_generator_is_reproducible() -> None:
    a = LSTMCell(I, H, proj_size=P, generator=_generator(14))
    b = LSTMCell(I, H, proj_size=P, generator=_generator(14))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert a.weight_hr is not None
    assert float(a.weight_hr.detach().abs().max()) <= H**-0.5


# Residual connections


def _residual_cells() -> list[Cell[Any]]:
    return [
        ElmanCell(I, H, nonlinearity="relu", generator=_generator(20)),
        GRUCell(H, H, generator=_generator(21)),
        LSTMCell(H, 9, proj_size=H, generator=_generator(22)),
        LSTMCell(H, H, generator=_generator(23)),
    ]


def _residual_reference(cells: list[Cell[Any]]) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
    """A stack step written out by hand: ``y_l = cell_l(x_l) + x_l`` above the first cell."""

    def step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
        new_states = []
        for depth, (cell, cell_state) in enumerate(zip(cells, state, strict=True)):
            y, new_state = cell(x, cell_state)
            x = y if depth == 0 else y + x
            new_states.append(new_state)
        return x, tuple(new_states)

    return step


def test_residual_stack_step_equals_plain_reference() -> None:
    cells = _residual_cells()
    stack = StackedCell(cells, dropout=0.5, residual=True).eval()
    plain = StackedCell(cells)
    g = _generator(24)
    x = torch.randn(4, I, generator=g)
    state = map_state(lambda t: torch.randn(t.shape, generator=g), stack.initial_state(4))
    y, new = stack(x, state)
    ref_y, ref_new = _residual_reference(cells)(x, state)
    torch.testing.assert_close(y, ref_y, rtol=0, atol=1e-6)
    _assert_states_close(new, ref_new, atol=1e-6)
    plain_y, _ = plain(x, state)
    assert not torch.allclose(y, plain_y), "the residual sums change the output"
    assert stack.residual and not plain.residual
    assert "residual=True" in repr(stack)


def test_residual_stack_fused_equals_per_step_and_plain_reference() -> None:
    cells = _residual_cells()
    stack = StackedCell(cells, dropout=0.5, residual=True).eval()
    x, lengths = _batch(25)
    g = _generator(26)
    initial = map_state(lambda t: torch.randn(t.shape, generator=g), stack.initial_state(len(x)))
    outputs, final = _fused_and_steps_agree(stack, x, lengths, initial, seed=27)
    with torch.no_grad():
        ref_out, ref_final = _per_sequence(_residual_reference(cells), H, x, lengths, initial)
    torch.testing.assert_close(outputs, ref_out, rtol=0, atol=1e-5)
    _assert_states_close(final, ref_final)
    for b, length in enumerate(LENGTHS):
        assert bool((outputs[b, length:] == 0).all()), "outputs past the end are zeros"


def test_residual_dropout_in_train_mode_keeps_paths_consistent_without_dropout() -> None:
    stack = StackedCell(_residual_cells(), residual=True).train()
    x, lengths = _batch(28)
    _fused_and_steps_agree(stack, x, lengths, stack.initial_state(len(x)), seed=29)


def test_residual_needs_matching_sizes_and_names_the_cells() -> None:
    cells: list[Cell[Any]] = [GRUCell(I, H), GRUCell(H, 5), ElmanCell(5, 5), LSTMCell(5, 4)]
    with pytest.raises(ValueError, match=r"GRUCell at depth 1 .*LSTMCell at depth 3") as info:
        StackedCell(cells, residual=True)
    assert "ElmanCell" not in str(info.value)
    StackedCell(cells)  # fine without residual connections
    StackedCell([GRUCell(I, H)], residual=True)  # the first cell never has one


# Learned initial state


def test_learned_initial_state_starts_at_zeros_and_delegates() -> None:
    inner = LSTMCell(I, H, proj_size=P, generator=_generator(30))
    cell = LearnedInitialState(inner)
    assert (cell.input_size, cell.hidden_size, cell.output_size) == (I, H, P)
    assert [tuple(p.shape) for p in cell.initial] == [(P,), (H,)]
    state = cell.initial_state(3)
    assert isinstance(state, LSTMState)
    _assert_states_close(state, inner.initial_state(3), atol=0)
    x = torch.randn(3, I, generator=_generator(31))
    y, new = cell(x, state)
    ref_y, ref_new = inner(x, state)
    assert torch.equal(y, ref_y)
    _assert_states_close(new, ref_new, atol=0)


def test_learned_initial_state_is_the_parameters_expanded_over_the_batch() -> None:
    cell = LearnedInitialState(StackedCell([GRUCell(I, H), LSTMCell(H, 5)]))
    with torch.no_grad():
        for k, parameter in enumerate(cell.initial):
            parameter.copy_(torch.arange(parameter.numel()) + 10.0 * k)
    state = cell.initial_state(4, dtype=torch.float64)
    assert isinstance(state, tuple) and isinstance(state[1], LSTMState)
    for t, parameter in zip(_tensors(state), cell.initial, strict=True):
        assert t.dtype == torch.float64
        torch.testing.assert_close(t, parameter.double().expand(4, -1))
    cell.reset_parameters()
    assert all(bool((p == 0).all()) for p in cell.initial)


@pytest.mark.parametrize("fused", [True, False])
def test_gradients_reach_the_learned_state(fused: bool) -> None:
    cell = LearnedInitialState(LSTMCell(I, H, generator=_generator(32)))
    x, lengths = _batch(33)
    layer = Recurrent(cell, fused=fused)
    assert layer.uses_fused_kernels == fused
    outputs, final = layer(x, lengths)
    (outputs.sum() + final.c.sum()).backward()
    for parameter in cell.initial:
        assert parameter.grad is not None and bool((parameter.grad != 0).all())


def test_learned_state_fused_equals_per_step_with_gradients() -> None:
    inner = LSTMCell(I, H, proj_size=P, generator=_generator(34))
    cell = LearnedInitialState(inner)
    with torch.no_grad():
        for seed, parameter in enumerate(cell.initial, start=35):
            parameter.normal_(generator=_generator(seed))
    x, lengths = _batch(36)
    g = _generator(37)
    out_weights = torch.randn(len(x), T, P, generator=g)

    def run(fused: bool) -> tuple[Tensor, list[Tensor]]:
        outputs, final = Recurrent(cell, fused=fused)(x, lengths)
        loss = (outputs * out_weights).sum() + final.h.sum() + final.c.sum()
        return outputs.detach(), list(torch.autograd.grad(loss, list(cell.parameters())))

    fused_out, fused_grads = run(True)
    step_out, step_grads = run(False)
    torch.testing.assert_close(fused_out, step_out, rtol=0, atol=1e-5)
    for a, b in zip(fused_grads, step_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    with torch.no_grad():  # a zero-length row keeps the learned state
        _, final = Recurrent(cell)(x, lengths)
    _assert_states_close(map_state(lambda t: t[1], final), LSTMState(*cell.initial), atol=0)


def test_learned_state_cells_in_a_stack_keep_the_fused_path() -> None:
    stack = StackedCell([LearnedInitialState(GRUCell(I, H)), LSTMCell(H, H)], residual=True).eval()
    wrapped_stack = LearnedInitialState(stack)
    assert Recurrent(stack).uses_fused_kernels
    assert Recurrent(wrapped_stack).uses_fused_kernels
    x, lengths = _batch(38)
    with torch.no_grad():
        for parameter in [*stack.parameters(), *wrapped_stack.initial]:
            parameter.uniform_(-0.5, 0.5, generator=_generator(39))
    _fused_and_steps_agree(wrapped_stack, x, lengths, wrapped_stack.initial_state(len(x)), 40)


def test_learned_state_around_a_nested_stack_runs_per_step() -> None:
    stack = StackedCell([GRUCell(I, H), GRUCell(H, H)])
    wrapped = LearnedInitialState(stack)
    assert Recurrent(wrapped).uses_fused_kernels
    nested = LearnedInitialState(StackedCell([stack, GRUCell(H, H)]))  # a stack in a stack
    assert not Recurrent(nested).uses_fused_kernels


def test_learned_state_needs_a_cell() -> None:
    with pytest.raises(TypeError, match="seqlearn Cell"):
        LearnedInitialState(nn.GRUCell(I, H))  # type: ignore[arg-type]
