"""Tests of the cells: each equals a plain reference, and all share one API."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import pytest
import torch
from torch import Tensor, nn
from typing_extensions import override

from seqlearn.nn import Cell, ElmanCell, GRUCell, LSTMCell, LSTMState, StackedCell
from seqlearn.nn.cells.base import check_step_input
from seqlearn.nn.state import map_state, zip_map_state


class ToyCell(Cell[Tensor]):
    """A user's own cell: a leaky integrator whose output is ``[h; -h]`` (twice ``H`` wide)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, 2 * hidden_size)
        self.proj = nn.Linear(input_size, hidden_size)

    @override
    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        check_step_input(self, x)
        h = 0.5 * state + torch.tanh(self.proj(x))  # (B, H)
        return torch.cat((h, -h), dim=1), h

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        device, dtype = self._like_parameters(device, dtype)
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tensors(state: Any) -> list[Tensor]:
    """Every tensor of a state tree, in order."""
    found: list[Tensor] = []

    def collect(t: Tensor) -> Tensor:
        found.append(t)
        return t

    map_state(collect, state)
    return found


# Plain references of the documented equations, one example at a time, in float64.


def _elman_reference(cell: ElmanCell, x: Tensor, h: Tensor) -> Tensor:
    act: Callable[[Tensor], Tensor] = torch.relu if cell.nonlinearity == "relu" else torch.tanh
    rows = []
    for x_b, h_b in zip(x, h):
        pre = cell.weight.double() @ torch.cat((x_b, h_b)).double()  # (H,)
        if cell.bias is not None:
            pre = pre + cell.bias.double()
        rows.append(act(pre))
    return torch.stack(rows)


def _gru_reference(cell: GRUCell, x: Tensor, h: Tensor) -> Tensor:
    w_ir, w_iz, w_in = cell.weight_ih.double().chunk(3)
    w_hr, w_hz, w_hn = cell.weight_hh.double().chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.double().chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.double().chunk(3)
    rows = []
    for x_b, h_b in zip(x.double(), h.double()):
        r = torch.sigmoid(w_ir @ x_b + b_ir + w_hr @ h_b + b_hr)
        z = torch.sigmoid(w_iz @ x_b + b_iz + w_hz @ h_b + b_hz)
        n = torch.tanh(w_in @ x_b + b_in + r * (w_hn @ h_b + b_hn))
        rows.append((1 - z) * n + z * h_b)
    return torch.stack(rows)


def _lstm_reference(cell: LSTMCell, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    w_ii, w_if, w_ig, w_io = cell.weight_ih.double().chunk(4)
    w_hi, w_hf, w_hg, w_ho = cell.weight_hh.double().chunk(4)
    b_ii, b_if, b_ig, b_io = cell.bias_ih.double().chunk(4)
    b_hi, b_hf, b_hg, b_ho = cell.bias_hh.double().chunk(4)
    hs, cs = [], []
    for x_b, h_b, c_b in zip(x.double(), h.double(), c.double()):
        i = torch.sigmoid(w_ii @ x_b + b_ii + w_hi @ h_b + b_hi)
        f = torch.sigmoid(w_if @ x_b + b_if + w_hf @ h_b + b_hf)
        g = torch.tanh(w_ig @ x_b + b_ig + w_hg @ h_b + b_hg)
        o = torch.sigmoid(w_io @ x_b + b_io + w_ho @ h_b + b_ho)
        c_new = f * c_b + i * g
        hs.append(o * torch.tanh(c_new))
        cs.append(c_new)
    return torch.stack(hs), torch.stack(cs)


# Equality with plain references and torch.nn


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
def test_elman_equals_plain_formula(nonlinearity: Literal["relu", "tanh"], bias: bool) -> None:
    cell = ElmanCell(5, 7, nonlinearity=nonlinearity, bias=bias, generator=_generator())
    g = _generator(1)
    x, h = torch.randn(4, 5, generator=g), torch.randn(4, 7, generator=g)
    y, new_h = cell(x, h)
    expected = _elman_reference(cell, x, h)
    assert torch.equal(y, new_h)
    torch.testing.assert_close(y.double(), expected, rtol=0, atol=1e-6)
    if nonlinearity == "relu":
        assert bool((y == 0).any()) and bool((y > 0).any())  # both sides of the ReLU are hit


def test_elman_weight_columns_are_input_then_state() -> None:
    cell = ElmanCell(2, 3, generator=_generator())
    with torch.no_grad():
        cell.weight.zero_()
        cell.weight[:, 0] = 1.0  # input column 0 only
        assert cell.bias is not None
        cell.bias.zero_()
    y, _ = cell(torch.tensor([[0.5, 9.0]]), torch.full((1, 3), 7.0))
    torch.testing.assert_close(y, torch.full((1, 3), math.tanh(0.5)))


def test_gru_equals_torch_and_plain_equations() -> None:
    cell = GRUCell(5, 6, generator=_generator())
    torch_cell = nn.GRUCell(5, 6)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(torch_cell, name).copy_(getattr(cell, name))
    g = _generator(2)
    x, h = torch.randn(4, 5, generator=g), torch.randn(4, 6, generator=g)
    y, new_h = cell(x, h)
    assert torch.equal(y, new_h)
    torch.testing.assert_close(y, torch_cell(x, h), rtol=0, atol=1e-6)
    torch.testing.assert_close(y.double(), _gru_reference(cell, x, h), rtol=0, atol=1e-6)


def test_lstm_equals_torch_and_plain_equations() -> None:
    cell = LSTMCell(5, 6, generator=_generator())
    torch_cell = nn.LSTMCell(5, 6)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(torch_cell, name).copy_(getattr(cell, name))
    g = _generator(3)
    x = torch.randn(4, 5, generator=g)
    h, c = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    y, state = cell(x, LSTMState(h, c))
    assert isinstance(state, LSTMState)
    assert torch.equal(y, state.h)
    torch_h, torch_c = torch_cell(x, (h, c))
    torch.testing.assert_close(state.h, torch_h, rtol=0, atol=1e-6)
    torch.testing.assert_close(state.c, torch_c, rtol=0, atol=1e-6)
    ref_h, ref_c = _lstm_reference(cell, x, h, c)
    torch.testing.assert_close(state.h.double(), ref_h, rtol=0, atol=1e-6)
    torch.testing.assert_close(state.c.double(), ref_c, rtol=0, atol=1e-6)


def test_stack_equals_chaining_its_cells() -> None:
    bottom, top = GRUCell(3, 5, generator=_generator(0)), LSTMCell(5, 4, generator=_generator(1))
    stack = StackedCell([bottom, top], dropout=0.5).eval()
    g = _generator(4)
    x = torch.randn(2, 3, generator=g)
    state = (torch.randn(2, 5, generator=g), LSTMState(torch.randn(2, 4), torch.randn(2, 4)))
    y, (h1, s2) = stack(x, state)
    ref_h1, _ = bottom(x, state[0])
    ref_y, ref_s2 = top(ref_h1, state[1])
    assert torch.equal(h1, ref_h1) and torch.equal(y, ref_y)
    assert isinstance(s2, LSTMState) and torch.equal(s2.c, ref_s2.c)
    assert stack.layers == [bottom, top]


def test_stack_dropout_applies_between_cells_in_training_only() -> None:
    bottom = ElmanCell(3, 64, nonlinearity="relu", generator=_generator(0))
    with torch.no_grad():
        assert bottom.bias is not None
        bottom.bias.fill_(1.0)  # every bottom output is positive, so dropout shows as zeros
    probe = ToyCell(64, 2)
    seen: list[Tensor] = []
    probe.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    stack = StackedCell([bottom, probe], dropout=0.5)
    x = torch.rand(8, 3)
    h0 = stack.initial_state(8)
    stack.eval()
    stack(x, h0)
    assert bool((seen[-1] > 0).all())
    stack.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        y, _ = stack(x, h0)
    kept = seen[-1] != 0
    fraction = float(kept.double().mean())
    assert 0.35 < fraction < 0.65
    expected, _ = bottom(x, h0[0])
    torch.testing.assert_close(seen[-1][kept], expected[kept] * 2.0)  # inverted dropout
    assert y.shape == (8, 4)


# One conformance test for every cell


CellFactory = Callable[[], Cell[Any]]

CELLS: dict[str, CellFactory] = {
    "elman-tanh": lambda: ElmanCell(3, 5, generator=_generator()),
    "elman-relu": lambda: ElmanCell(3, 5, nonlinearity="relu", generator=_generator()),
    "elman-nobias": lambda: ElmanCell(3, 5, bias=False, generator=_generator()),
    "gru": lambda: GRUCell(3, 5, generator=_generator()),
    "lstm": lambda: LSTMCell(3, 5, generator=_generator()),
    "toy": lambda: ToyCell(3, 5),
    "stack-mixed": lambda: StackedCell(
        [
            ElmanCell(3, 6, nonlinearity="relu", generator=_generator(1)),
            GRUCell(6, 4, generator=_generator(2)),
            ToyCell(4, 3),
            LSTMCell(6, 5, generator=_generator(3)),
        ],
        dropout=0.2,
    ),
}


@pytest.fixture(params=sorted(CELLS))
def any_cell(request: pytest.FixtureRequest) -> Cell[Any]:
    torch.manual_seed(0)  # the toy cell's nn.Linear draws from the default generator
    return CELLS[request.param]()


def test_conformance_shapes_and_initial_state(any_cell: Cell[Any]) -> None:
    cell = any_cell
    batch = 4
    state = cell.initial_state(batch)
    tensors = _tensors(state)
    assert tensors, "a state holds at least one tensor"
    for t in tensors:
        assert t.shape[0] == batch
        assert t.dtype == torch.float32
        assert bool((t == 0).all())
    x = torch.randn(batch, cell.input_size)
    y, new_state = cell(x, state)
    assert y.shape == (batch, cell.output_size)
    assert y.dtype == torch.float32
    # the new state has the structure and shapes of the initial one
    shapes = zip_map_state(lambda a, b: torch.tensor(a.shape == b.shape), state, new_state)
    assert all(bool(t) for t in _tensors(shapes))
    assert type(new_state) is type(state)

    as_double = cell.initial_state(2, dtype=torch.float64)
    assert all(t.dtype == torch.float64 and t.shape[0] == 2 for t in _tensors(as_double))
    cell.double()
    assert all(t.dtype == torch.float64 for t in _tensors(cell.initial_state(1)))
    y64, _ = cell(torch.randn(1, cell.input_size, dtype=torch.float64), cell.initial_state(1))
    assert y64.dtype == torch.float64


def test_conformance_gradients_flow(any_cell: Cell[Any]) -> None:
    cell = any_cell.train()
    x = torch.randn(3, cell.input_size, requires_grad=True)
    state = map_state(lambda t: torch.randn_like(t).requires_grad_(), cell.initial_state(3))
    y1, s1 = cell(x, state)
    y2, s2 = cell(x, s1)  # two steps, so gradients also flow through the state
    loss = (y1 * torch.randn_like(y1)).sum() + (y2 * torch.randn_like(y2)).sum()
    loss = loss + sum((t * torch.randn_like(t)).sum() for t in _tensors(s2))
    loss.backward()  # type: ignore[no-untyped-call]
    for name, parameter in cell.named_parameters():
        assert parameter.grad is not None, name
        assert bool(torch.isfinite(parameter.grad).all()), name
        assert bool((parameter.grad != 0).any()), name
    assert x.grad is not None and bool((x.grad != 0).any())
    for t in _tensors(state):
        assert t.grad is not None and bool((t.grad != 0).any())


def test_conformance_wrong_input_shape(any_cell: Cell[Any]) -> None:
    cell = any_cell
    size = cell.input_size
    state = cell.initial_state(2)
    for bad in (torch.zeros(2, size + 1), torch.zeros(2, 1, size), torch.zeros(size)):
        with pytest.raises(ValueError) as info:
            cell(bad, state)
        message = str(info.value)
        assert f"(B, {size})" in message
        assert str(tuple(bad.shape)) in message


def test_conformance_non_float_input(any_cell: Cell[Any]) -> None:
    cell = any_cell
    with pytest.raises(TypeError, match=r"floating point.*torch\.int64"):
        cell(torch.zeros(2, cell.input_size, dtype=torch.int64), cell.initial_state(2))


def test_user_cell_without_parameters_uses_defaults() -> None:
    class Counter(Cell[Tensor]):
        @override
        def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
            return state + 1, state + 1

        @override
        def initial_state(
            self,
            batch_size: int,
            *,
            device: torch.device | None = None,
            dtype: torch.dtype | None = None,
        ) -> Tensor:
            device, dtype = self._like_parameters(device, dtype)
            return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    cell = Counter(1, 2)
    assert cell.output_size == 2
    state = cell.initial_state(3)
    assert state.dtype == torch.get_default_dtype() and state.device.type == "cpu"
    assert cell.initial_state(3, dtype=torch.float16).dtype == torch.float16


# Errors at construction


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
@pytest.mark.parametrize(
    "build",
    [
        lambda size: ElmanCell(size, 4),
        lambda size: ElmanCell(4, size),
        lambda size: GRUCell(size, 4),
        lambda size: GRUCell(4, size),
        lambda size: LSTMCell(size, 4),
        lambda size: LSTMCell(4, size),
        lambda size: ToyCell(size, 4),
    ],
)
def test_bad_sizes_raise(build: Callable[[Any], Cell[Any]], bad: Any) -> None:
    with pytest.raises(ValueError, match=r"(input|hidden|output)_size must be a positive int"):
        build(bad)


def test_bad_size_message_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got -3"):
        GRUCell(2, -3)


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "ReLU", "", None])
def test_bad_nonlinearity_raises(nonlinearity: Any) -> None:
    with pytest.raises(
        ValueError, match=f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
    ):
        ElmanCell(2, 3, nonlinearity=nonlinearity)


def test_stack_sizes_must_chain() -> None:
    with pytest.raises(ValueError) as info:
        StackedCell([GRUCell(3, 5), LSTMCell(4, 2)])
    message = str(info.value)
    assert "LSTMCell with input_size 4" in message and "GRUCell with output_size 5" in message
    # a toy cell's output is 2 * H wide: stacking must use output_size, not hidden_size
    StackedCell([ToyCell(3, 2), GRUCell(4, 2)])
    with pytest.raises(ValueError, match="output_size 4"):
        StackedCell([ToyCell(3, 2), GRUCell(2, 2)])


def test_stack_needs_a_cell() -> None:
    with pytest.raises(ValueError, match="at least one cell"):
        StackedCell([])


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, math.nan])
def test_stack_dropout_outside_unit_interval_raises(dropout: float) -> None:
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        StackedCell([GRUCell(2, 2), GRUCell(2, 2)], dropout=dropout)


def test_stack_state_must_have_one_item_per_cell() -> None:
    stack = StackedCell([GRUCell(2, 3), GRUCell(3, 3)])
    with pytest.raises(ValueError, match="a state for each of 2 cells, got 1"):
        stack(torch.zeros(1, 2), stack.initial_state(1)[:1])


def test_stack_sizes() -> None:
    stack = StackedCell([ElmanCell(3, 6), ToyCell(6, 2)])
    assert (stack.input_size, stack.hidden_size, stack.output_size) == (3, 2, 4)


# Reproducible initialisation


@pytest.mark.parametrize(
    "build",
    [
        lambda g: ElmanCell(4, 6, generator=g),
        lambda g: GRUCell(4, 6, generator=g),
        lambda g: LSTMCell(4, 6, generator=g),
    ],
)
def test_generator_makes_initialisation_reproducible(
    build: Callable[[torch.Generator | None], Cell[Any]],
) -> None:
    before = torch.get_rng_state()
    first, second = build(_generator(7)), build(_generator(7))
    other = build(_generator(8))
    assert torch.equal(torch.get_rng_state(), before), "a generator leaves the global RNG alone"
    for a, b, c in zip(first.parameters(), second.parameters(), other.parameters()):
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


def test_initial_weights_follow_documented_bounds() -> None:
    g = _generator(0)
    elman, gru, lstm = (
        ElmanCell(10, 30, generator=g),
        GRUCell(10, 30, generator=g),
        LSTMCell(10, 30, generator=g),
    )
    bound = 1 / math.sqrt(40)
    assert all(float(p.detach().abs().max()) <= bound for p in elman.parameters())
    assert float(elman.weight.detach().abs().max()) > 0.9 * bound
    for cell in (gru, lstm):
        bound = 1 / math.sqrt(30)
        assert all(float(p.detach().abs().max()) <= bound for p in cell.parameters())
        assert max(float(p.detach().abs().max()) for p in cell.parameters()) > 0.9 * bound


def test_reset_parameters_redraws_reproducibly() -> None:
    cell = GRUCell(3, 4, generator=_generator(5))
    snapshot = [p.detach().clone() for p in cell.parameters()]
    cell.reset_parameters(_generator(6))
    assert not any(torch.equal(a, b) for a, b in zip(snapshot, cell.parameters()))
    cell.reset_parameters(_generator(5))
    assert all(torch.equal(a, b) for a, b in zip(snapshot, cell.parameters()))
