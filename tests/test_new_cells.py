"""Tests of LayerNormLSTMCell and IndRNNCell: plain references, layers, stacks, bad input."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Literal

import pytest
import torch
from torch import Tensor, nn

from seqlearn.nn import Cell, GRUCell, LSTMState, Recurrent, StackedCell
from seqlearn.nn.cells.indrnn import IndRNNCell
from seqlearn.nn.cells.layernorm_lstm import LayerNormLSTMCell
from seqlearn.nn.state import map_state, zip_map_state

LENGTHS = [5, 0, 1, 3]
T = max(LENGTHS)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int) -> Tensor:
    return torch.randn(*shape, generator=_generator(seed))


def _tensors(state: Any) -> list[Tensor]:
    """Every tensor of a state tree, in order."""
    found: list[Tensor] = []

    def collect(t: Tensor) -> Tensor:
        found.append(t)
        return t

    map_state(collect, state)
    return found


def _scramble_norms(cell: LayerNormLSTMCell, seed: int) -> None:
    """Give every layer norm a non-trivial gain and bias, so the reference checks them too."""
    with torch.no_grad():
        for k, norm in enumerate((cell.norm_ih, cell.norm_hh, cell.norm_c)):
            norm.weight.copy_(1 + 0.5 * _randn(*norm.weight.shape, seed=seed + 2 * k))
            norm.bias.copy_(0.5 * _randn(*norm.bias.shape, seed=seed + 2 * k + 1))


# Plain references of the documented equations, one example at a time, in float64.


def _layer_norm(v: Tensor, norm: nn.LayerNorm) -> Tensor:
    mean = v.sum() / v.numel()
    var = ((v - mean) ** 2).sum() / v.numel()  # biased, as in Ba et al.
    return norm.weight.double() * (v - mean) / math.sqrt(float(var) + norm.eps) + (
        norm.bias.double()
    )


def _layernorm_lstm_reference(
    cell: LayerNormLSTMCell, x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor]:
    w_ih, w_hh, b = cell.weight_ih.double(), cell.weight_hh.double(), cell.bias.double()
    size = cell.hidden_size
    hs, cs = [], []
    for x_b, h_b, c_b in zip(x.double(), h.double(), c.double()):
        a = _layer_norm(w_ih @ x_b, cell.norm_ih) + _layer_norm(w_hh @ h_b, cell.norm_hh) + b
        i = torch.sigmoid(a[:size])
        f = torch.sigmoid(a[size : 2 * size])
        g = torch.tanh(a[2 * size : 3 * size])
        o = torch.sigmoid(a[3 * size :])
        c_new = f * c_b + i * g
        hs.append(o * torch.tanh(_layer_norm(c_new, cell.norm_c)))
        cs.append(c_new)
    return torch.stack(hs), torch.stack(cs)


def _indrnn_reference(cell: IndRNNCell, x: Tensor, h: Tensor) -> Tensor:
    act: Callable[[Tensor], Tensor] = torch.relu if cell.nonlinearity == "relu" else torch.tanh
    u = cell.weight_hh.double()
    if cell.recurrent_max_abs is not None:
        m = cell.recurrent_max_abs
        u = torch.tensor([min(max(float(u_j), -m), m) for u_j in u], dtype=torch.float64)
    rows = []
    for x_b, h_b in zip(x.double(), h.double()):
        pre = cell.weight_ih.double() @ x_b + u * h_b  # (H,)
        if cell.bias is not None:
            pre = pre + cell.bias.double()
        rows.append(act(pre))
    return torch.stack(rows)


# Equality with the plain references


def test_layernorm_lstm_equals_plain_equations() -> None:
    cell = LayerNormLSTMCell(5, 6, generator=_generator(0))
    _scramble_norms(cell, seed=10)
    x, h, c = _randn(4, 5, seed=1), _randn(4, 6, seed=2), _randn(4, 6, seed=3)
    with torch.no_grad():
        y, state = cell(x, LSTMState(h, c))
        ref_h, ref_c = _layernorm_lstm_reference(cell, x, h, c)
    assert isinstance(state, LSTMState)
    torch.testing.assert_close(y, state.h, rtol=0, atol=0)
    torch.testing.assert_close(state.h.double(), ref_h, rtol=0, atol=1e-5)
    torch.testing.assert_close(state.c.double(), ref_c, rtol=0, atol=1e-5)


def test_layernorm_lstm_output_does_not_depend_on_the_scale_of_the_projections() -> None:
    # the defining property of layer norm: scaling W_ih and W_hh leaves the gates unchanged
    cell = LayerNormLSTMCell(3, 4, generator=_generator(0))
    x, state = _randn(2, 3, seed=1), LSTMState(_randn(2, 4, seed=2), _randn(2, 4, seed=3))
    with torch.no_grad():
        y, _ = cell(x, state)
        cell.weight_ih.mul_(7.0)
        cell.weight_hh.mul_(3.0)
        y_scaled, _ = cell(x, state)
    torch.testing.assert_close(y_scaled, y, rtol=0, atol=1e-3)  # equal up to eps


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("recurrent_max_abs", [None, 0.5])
def test_indrnn_equals_plain_equations(
    nonlinearity: Literal["relu", "tanh"], bias: bool, recurrent_max_abs: float | None
) -> None:
    cell = IndRNNCell(
        5,
        6,
        nonlinearity=nonlinearity,
        bias=bias,
        recurrent_max_abs=recurrent_max_abs,
        generator=_generator(0),
    )
    with torch.no_grad():  # weights on both sides of the bound, so clamping matters
        cell.weight_hh.copy_(torch.linspace(-2.0, 2.0, 6))
    x, h = _randn(4, 5, seed=1), _randn(4, 6, seed=2)
    with torch.no_grad():
        y, new_h = cell(x, h)
        ref = _indrnn_reference(cell, x, h)
    torch.testing.assert_close(y, new_h, rtol=0, atol=0)
    torch.testing.assert_close(y.double(), ref, rtol=0, atol=1e-5)
    if nonlinearity == "relu":
        assert bool((y >= 0).all())


def test_indrnn_clamp_is_applied_in_forward_only() -> None:
    cell = IndRNNCell(2, 3, recurrent_max_abs=0.5, generator=_generator(0))
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([-3.0, 0.25, 3.0]))
    assert torch.equal(cell.recurrent_weight(), torch.tensor([-0.5, 0.25, 0.5]))
    assert torch.equal(cell.weight_hh.detach(), torch.tensor([-3.0, 0.25, 3.0]))


# Shapes, gradients, initialisation


def _cells() -> dict[str, Callable[[], Cell[Any]]]:
    return {
        "layernorm_lstm": lambda: LayerNormLSTMCell(3, 5, generator=_generator(0)),
        "indrnn_relu": lambda: IndRNNCell(3, 5, generator=_generator(0)),
        "indrnn_tanh_clamped": lambda: IndRNNCell(
            3, 5, nonlinearity="tanh", recurrent_max_abs=0.9, generator=_generator(0)
        ),
        "stack_with_gru": lambda: StackedCell(
            [
                GRUCell(3, 6, generator=_generator(1)),
                LayerNormLSTMCell(6, 4, generator=_generator(2)),
                IndRNNCell(4, 5, generator=_generator(3)),
            ]
        ),
    }


@pytest.fixture(params=sorted(_cells()))
def any_cell(request: pytest.FixtureRequest) -> Cell[Any]:
    return _cells()[str(request.param)]()


def test_shapes_and_initial_state(any_cell: Cell[Any]) -> None:
    assert (any_cell.input_size, any_cell.output_size) == (3, 5)
    state = any_cell.initial_state(4)
    assert all(t.shape[0] == 4 and bool((t == 0).all()) for t in _tensors(state))
    y, new_state = any_cell(_randn(4, 3, seed=1), state)
    assert y.shape == (4, 5)
    assert [t.shape for t in _tensors(new_state)] == [t.shape for t in _tensors(state)]
    as_double = any_cell.initial_state(2, dtype=torch.float64)
    assert all(t.dtype == torch.float64 for t in _tensors(as_double))


def test_gradients_flow_to_every_parameter(any_cell: Cell[Any]) -> None:
    state = map_state(
        lambda t: torch.rand(t.shape, generator=_generator(5)), any_cell.initial_state(4)
    )
    x = _randn(4, 3, seed=1)
    for _ in range(2):  # two steps, so the recurrent weights see a non-trivial state
        y, state = any_cell(x, state)
    loss = y.sum() + torch.stack([t.sum() for t in _tensors(state)]).sum()
    loss.backward()  # type: ignore[no-untyped-call]
    for name, parameter in any_cell.named_parameters():
        assert parameter.grad is not None, name
        assert bool(parameter.grad.abs().sum() > 0), name


def test_layernorm_lstm_initial_weights() -> None:
    cell = LayerNormLSTMCell(10, 30, generator=_generator(0))
    bound = 1 / math.sqrt(30)
    for p in (cell.weight_ih, cell.weight_hh, cell.bias):
        assert 0.9 * bound < float(p.detach().abs().max()) <= bound
    for norm in (cell.norm_ih, cell.norm_hh, cell.norm_c):
        assert bool((norm.weight == 1).all()) and bool((norm.bias == 0).all())
    assert cell.norm_ih.normalized_shape == cell.norm_hh.normalized_shape == (120,)
    assert cell.norm_c.normalized_shape == (30,)


def test_indrnn_initial_weights() -> None:
    cell = IndRNNCell(10, 200, generator=_generator(0))
    bound = 1 / math.sqrt(10)
    assert cell.bias is not None
    for p in (cell.weight_ih, cell.bias):
        assert 0.9 * bound < float(p.detach().abs().max()) <= bound
    u = cell.weight_hh.detach()
    assert u.shape == (200,)
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0
    assert float(u.min()) < 0.1 and float(u.max()) > 0.9


@pytest.mark.parametrize(
    "build",
    [
        lambda g: LayerNormLSTMCell(4, 6, generator=g),
        lambda g: IndRNNCell(4, 6, generator=g),
    ],
)
def test_generator_makes_initialisation_reproducible(
    build: Callable[[torch.Generator | None], Cell[Any]],
) -> None:
    before = torch.get_rng_state()
    first, second, other = build(_generator(7)), build(_generator(7)), build(_generator(8))
    assert torch.equal(torch.get_rng_state(), before), "a generator leaves the global RNG alone"
    for (name, a), b, c in zip(first.named_parameters(), second.parameters(), other.parameters()):
        assert torch.equal(a, b), name
        if not name.startswith("norm_"):  # layer norms always start at gain 1, bias 0
            assert not torch.equal(a, c), name


# Running over time and in stacks


def _run_alone(cell: Cell[Any], x: Tensor, lengths: list[int]) -> tuple[Tensor, Any]:
    """Plain reference: each sequence on its own, one cell call per valid step."""
    outputs = torch.zeros(x.size(0), x.size(1), cell.output_size)
    finals = []
    for b, length in enumerate(lengths):
        state = cell.initial_state(1)
        for t in range(length):
            y, state = cell(x[b : b + 1, t], state)
            outputs[b, t] = y[0]
        finals.append(state)
    final = finals[0]
    for other in finals[1:]:
        final = zip_map_state(lambda a, c: torch.cat((a, c)), final, other)
    return outputs, final


def test_padded_batch_equals_each_sequence_alone(any_cell: Cell[Any]) -> None:
    cell = any_cell.eval()
    layer = Recurrent(cell)
    assert not layer.uses_fused_kernels
    x = _randn(len(LENGTHS), T, 3, seed=4)
    with torch.no_grad():
        outputs, final = layer(x, torch.tensor(LENGTHS))
        ref_outputs, ref_final = _run_alone(cell, x, LENGTHS)
    assert outputs.shape == (len(LENGTHS), T, 5)
    torch.testing.assert_close(outputs, ref_outputs, rtol=0, atol=1e-5)
    for got, want in zip(_tensors(final), _tensors(ref_final)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    for b, length in enumerate(LENGTHS):
        assert bool((outputs[b, length:] == 0).all()), "outputs past the end are zeros"
    assert all(bool((t[1] == 0).all()) for t in _tensors(final)), "empty row keeps its state"


def test_stack_with_gru_equals_chaining_its_cells() -> None:
    gru = GRUCell(3, 6, generator=_generator(1))
    lnlstm = LayerNormLSTMCell(6, 4, generator=_generator(2))
    indrnn = IndRNNCell(4, 5, generator=_generator(3))
    stack = StackedCell([gru, lnlstm, indrnn])
    x = _randn(2, 3, seed=4)
    state = stack.initial_state(2)
    with torch.no_grad():
        y, (s1, s2, s3) = stack(x, state)
        y1, r1 = gru(x, state[0])
        y2, r2 = lnlstm(y1, state[1])
        y3, r3 = indrnn(y2, state[2])
    assert torch.equal(y, y3)
    assert torch.equal(s1, r1) and torch.equal(s3, r3)
    assert isinstance(s2, LSTMState) and torch.equal(s2.h, r2.h) and torch.equal(s2.c, r2.c)


# Bad input


@pytest.mark.parametrize(
    "cell", [LayerNormLSTMCell(3, 4), IndRNNCell(3, 4)], ids=["layernorm_lstm", "indrnn"]
)
@pytest.mark.parametrize("shape", [(2, 5), (3,), (2, 3, 1)])
def test_wrong_input_shape_raises(cell: Cell[Any], shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=re.escape(f"expected input of shape (B, 3), got {shape}")):
        cell(torch.zeros(shape), cell.initial_state(2))


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "ReLU", ""])
def test_bad_nonlinearity_raises(nonlinearity: Any) -> None:
    with pytest.raises(ValueError, match=f"got {nonlinearity!r}"):
        IndRNNCell(3, 4, nonlinearity=nonlinearity)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, math.nan, math.inf, True, "1.0"])
def test_bad_recurrent_max_abs_raises(bad: Any) -> None:
    with pytest.raises(ValueError, match=rf"recurrent_max_abs .*got {bad!r}"):
        IndRNNCell(3, 4, recurrent_max_abs=bad)


@pytest.mark.parametrize("build", [LayerNormLSTMCell, IndRNNCell])
def test_bad_sizes_raise(build: Callable[[int, int], Cell[Any]]) -> None:
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        build(3, 0)
