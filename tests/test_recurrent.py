"""Tests of Recurrent: a padded batch equals each sequence run alone, fused or step by step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn
from typing_extensions import override

from seqlearn.nn import (
    Cell,
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormLSTMCell,
    LinearRecurrentCell,
    LSTMCell,
    ProjectsInputs,
    Recurrent,
    StackedCell,
)
from seqlearn.nn.cells.base import check_step_input
from seqlearn.nn.state import map_state, zip_map_state


class ToyState(NamedTuple):
    """State of :class:`ToyCell`: a leaky hidden vector and a running count of steps."""

    h: Tensor
    steps: Tensor


class ToyCell(Cell[ToyState]):
    """A user's own cell with a named-tuple state and an output wider than its state."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, hidden_size + 1)
        self.proj = nn.Linear(input_size + hidden_size, hidden_size)

    @override
    def forward(self, x: Tensor, state: ToyState) -> tuple[Tensor, ToyState]:
        check_step_input(self, x)
        h = 0.5 * state.h + torch.tanh(self.proj(torch.cat((x, state.h), dim=1)))  # (B, H)
        steps = state.steps + 1  # (B, 1)
        return torch.cat((h, steps), dim=1), ToyState(h, steps)

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> ToyState:
        device, dtype = self._like_parameters(device, dtype)
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return ToyState(h, torch.zeros(batch_size, 1, device=device, dtype=dtype))


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tensors(state: Any) -> list[Tensor]:
    """Every tensor of a state tree, in order."""
    found: list[Tensor] = []

    def collect(t: Tensor) -> Tensor:
        found.append(t)
        return t

    map_state(collect, state)
    return found


def _assert_states_close(actual: Any, expected: Any, atol: float = 1e-5) -> None:
    assert type(actual) is type(expected)

    def check(a: Tensor, b: Tensor) -> Tensor:
        torch.testing.assert_close(a, b, rtol=0, atol=atol)
        return a

    zip_map_state(check, actual, expected)


def _toy(input_size: int, hidden_size: int, seed: int) -> ToyCell:
    cell = ToyCell(input_size, hidden_size)
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.5, 0.5, generator=_generator(seed))
    return cell


I = 3  # input size of every cell below  # noqa: E741

CELLS: dict[str, Callable[[], Cell[Any]]] = {
    "elman-relu": lambda: ElmanCell(I, 4, nonlinearity="relu", generator=_generator(0)),
    "elman-tanh": lambda: ElmanCell(I, 4, generator=_generator(0)),
    "elman-nobias": lambda: ElmanCell(I, 4, bias=False, generator=_generator(0)),
    "gru": lambda: GRUCell(I, 4, generator=_generator(1)),
    "lstm": lambda: LSTMCell(I, 4, generator=_generator(2)),
    "toy": lambda: _toy(I, 4, 3),
    "stack-fused": lambda: StackedCell(
        [
            ElmanCell(I, 5, nonlinearity="relu", generator=_generator(4)),
            GRUCell(5, 4, generator=_generator(5)),
            LSTMCell(4, 3, generator=_generator(6)),
        ],
        dropout=0.5,
    ),
    "stack-with-toy": lambda: StackedCell(
        [GRUCell(I, 4, generator=_generator(7)), _toy(4, 2, 8), LSTMCell(3, 3)], dropout=0.5
    ),
    "stack-gru-one-call": lambda: StackedCell(
        [GRUCell(I, 4, generator=_generator(9)), GRUCell(4, 4), GRUCell(4, 4)], dropout=0.3
    ),
    "stack-lstm-one-call": lambda: StackedCell([LSTMCell(I, 4), LSTMCell(4, 4)]),
    "stack-residual": lambda: StackedCell([GRUCell(I, 4), GRUCell(4, 4)], residual=True),
    "indrnn": lambda: IndRNNCell(I, 4, generator=_generator(10)),
    "layernorm-lstm": lambda: LayerNormLSTMCell(I, 4, generator=_generator(12)),
    "stack-projected": lambda: StackedCell(
        [IndRNNCell(I, 5), LayerNormLSTMCell(5, 4), ElmanCell(4, 3)], dropout=0.2, residual=False
    ),
}
FUSABLE = {
    "elman-relu",
    "elman-tanh",
    "elman-nobias",
    "gru",
    "lstm",
    "stack-fused",
    "stack-gru-one-call",
    "stack-lstm-one-call",
    "stack-residual",
}

LENGTHS = [6, 0, 1, 4, 6, 2]  # includes 0, 1 and T
T = 6


def _batch(seed: int = 11) -> tuple[Tensor, Tensor]:
    x = torch.randn(len(LENGTHS), T, I, generator=_generator(seed))
    return x, torch.tensor(LENGTHS)


def _row(state: Any, b: int) -> Any:
    """Row ``b`` of every tensor of a state tree, keeping a batch of one."""
    return map_state(lambda t: t[b : b + 1], state)


def _run_alone(cell: Cell[Any], x: Tensor, lengths: Tensor, initial: Any) -> tuple[Tensor, Any]:
    """Plain reference: each sequence on its own, one cell call per valid step."""
    outputs = torch.zeros(x.size(0), x.size(1), cell.output_size)
    finals = []
    for b in range(x.size(0)):
        state = _row(initial, b)  # (1, ...)
        for t in range(int(lengths[b])):
            y, state = cell(x[b : b + 1, t], state)
            outputs[b, t] = y[0]
        finals.append(state)
    final = finals[0]
    for other in finals[1:]:
        final = zip_map_state(lambda a, c: torch.cat((a, c)), final, other)
    return outputs, final


@pytest.fixture(params=sorted(CELLS))
def cell_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("fused", [True, False])
def test_padded_batch_equals_each_sequence_alone(cell_name: str, fused: bool) -> None:
    cell = CELLS[cell_name]().eval()  # eval: stack dropout off, as in the reference
    layer = Recurrent(cell, fused=fused)
    x, lengths = _batch()
    with torch.no_grad():
        outputs, final = layer(x, lengths)
        ref_outputs, ref_final = _run_alone(cell, x, lengths, cell.initial_state(len(LENGTHS)))
    assert outputs.shape == (len(LENGTHS), T, cell.output_size)
    torch.testing.assert_close(outputs, ref_outputs, rtol=0, atol=1e-5)
    _assert_states_close(final, ref_final)
    for b, length in enumerate(LENGTHS):
        assert bool((outputs[b, length:] == 0).all()), "outputs past the end are zeros"
    # a zero-length sequence keeps its initial (zero) state
    assert all(bool((t[1] == 0).all()) for t in _tensors(final))


@pytest.mark.parametrize("fused", [True, False])
def test_explicit_initial_state_is_used_and_kept_by_empty_rows(cell_name: str, fused: bool) -> None:
    cell = CELLS[cell_name]().eval()
    layer = Recurrent(cell, fused=fused)
    x, lengths = _batch(12)
    initial = map_state(
        lambda t: torch.randn(t.shape, generator=_generator(13)), cell.initial_state(len(LENGTHS))
    )
    with torch.no_grad():
        outputs, final = layer(x, lengths, initial)
        ref_outputs, ref_final = _run_alone(cell, x, lengths, initial)
    torch.testing.assert_close(outputs, ref_outputs, rtol=0, atol=1e-5)
    _assert_states_close(final, ref_final)
    _assert_states_close(
        map_state(lambda t: t[1], final), map_state(lambda t: t[1], initial), atol=0
    )


def test_lengths_none_means_full_length(cell_name: str) -> None:
    cell = CELLS[cell_name]().eval()
    x, _ = _batch()
    full = torch.full((len(LENGTHS),), T)
    for fused in (True, False):
        layer = Recurrent(cell, fused=fused)
        with torch.no_grad():
            a, state_a = layer(x)
            b, state_b = layer(x, full)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        _assert_states_close(state_a, state_b, atol=1e-6)


def test_fused_equals_per_step_with_gradients(cell_name: str) -> None:
    cell = CELLS[cell_name]().eval()
    x, lengths = _batch(14)
    g = _generator(15)
    out_weights = torch.randn(len(LENGTHS), T, cell.output_size, generator=g)
    initial = map_state(lambda t: torch.randn(t.shape, generator=g), cell.initial_state(len(x)))
    state_weights = map_state(lambda t: torch.randn(t.shape, generator=g), initial)

    def run(fused: bool) -> tuple[Tensor, Any, list[Tensor]]:
        inputs = x.clone().requires_grad_()
        start = map_state(lambda t: t.clone().requires_grad_(), initial)
        outputs, final = Recurrent(cell, fused=fused)(inputs, lengths, start)
        loss = (outputs * out_weights).sum()
        for t, w in zip(_tensors(final), _tensors(state_weights)):
            loss = loss + (t * w).sum()
        wrt = [inputs, *_tensors(start), *cell.parameters()]
        grads = torch.autograd.grad(loss, wrt)
        return outputs.detach(), map_state(lambda t: t.detach(), final), list(grads)

    fused_out, fused_final, fused_grads = run(True)
    step_out, step_final, step_grads = run(False)
    torch.testing.assert_close(fused_out, step_out, rtol=0, atol=1e-5)
    _assert_states_close(fused_final, step_final)
    assert len(fused_grads) == len(step_grads)
    for a, b in zip(fused_grads, step_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    weight_grads = fused_grads[-len(list(cell.parameters())) :]
    assert all(bool((g != 0).any()) for g in weight_grads)


def test_uses_fused_kernels(cell_name: str) -> None:
    cell = CELLS[cell_name]()
    assert Recurrent(cell).uses_fused_kernels == (cell_name in FUSABLE)
    assert not Recurrent(cell, fused=False).uses_fused_kernels


def test_fused_path_really_calls_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_gru = torch.gru

    def spy(*args: Any) -> Any:
        calls.append("gru")
        return real_gru(*args)

    monkeypatch.setattr(torch, "gru", spy)
    x, lengths = _batch()
    Recurrent(GRUCell(I, 4))(x, lengths)
    assert calls == ["gru"]
    Recurrent(GRUCell(I, 4), fused=False)(x, lengths)
    assert calls == ["gru"]


def test_empty_time_axis() -> None:
    for cell_name in ("lstm", "toy"):
        cell = CELLS[cell_name]()
        for fused in (True, False):
            outputs, final = Recurrent(cell, fused=fused)(
                torch.zeros(2, 0, I), torch.tensor([0, 0])
            )
            assert outputs.shape == (2, 0, cell.output_size)
            _assert_states_close(final, cell.initial_state(2), atol=0)


# Dropout between stacked cells


def _stack(dropout: float) -> StackedCell:
    return StackedCell(
        [GRUCell(I, 6, generator=_generator(20)), LSTMCell(6, 4, generator=_generator(21))],
        dropout=dropout,
    )


def test_stack_dropout_has_no_effect_in_eval_mode() -> None:
    x, lengths = _batch()
    no_dropout = _stack(0.0).eval()
    with torch.no_grad():
        expected, expected_final = _run_alone(no_dropout, x, lengths, no_dropout.initial_state(6))
        for fused in (True, False):
            layer = Recurrent(_stack(0.7), fused=fused).eval()
            outputs, final = layer(x, lengths)
            torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-5)
            _assert_states_close(final, expected_final)


def test_stack_mode_decides_dropout_on_both_paths() -> None:
    """Putting only the stack in eval mode turns dropout off on the fused path too."""
    x, lengths = _batch()
    stack = _stack(0.7)
    stack.eval()  # the Recurrent wrapper stays in training mode
    fused, step = Recurrent(stack), Recurrent(stack, fused=False)
    assert fused.training and not stack.training
    with torch.no_grad():
        torch.testing.assert_close(fused(x, lengths)[0], step(x, lengths)[0], rtol=0, atol=1e-5)


def test_stack_train_mode_without_dropout_is_deterministic_and_equal() -> None:
    x, lengths = _batch()
    results = []
    for fused in (True, False):
        layer = Recurrent(_stack(0.0), fused=fused).train()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            results.append(layer(x, lengths))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=1e-5)
    _assert_states_close(results[0][1], results[1][1])
    with torch.no_grad():
        eval_out, _ = Recurrent(_stack(0.0)).eval()(x, lengths)
    torch.testing.assert_close(results[0][0], eval_out, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_stack_dropout_is_active_in_train_mode(fused: bool) -> None:
    x, lengths = _batch()
    layer = Recurrent(_stack(0.5), fused=fused)
    with torch.no_grad():
        eval_out, _ = layer.eval()(x, lengths)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            first, _ = layer.train()(x, lengths)
            torch.manual_seed(1)
            again, _ = layer(x, lengths)
    assert not torch.allclose(first, eval_out)
    assert torch.equal(first, again), "the same seed gives the same dropout masks"
    for b, length in enumerate(LENGTHS):
        assert bool((first[b, length:] == 0).all())


# A user's own cell runs unchanged


def test_user_cell_runs_in_recurrent_and_in_a_stack() -> None:
    toy = _toy(I, 3, 30)
    x, lengths = _batch()
    outputs, final = Recurrent(toy)(x, lengths)
    assert isinstance(final, ToyState)
    assert final.steps[:, 0].tolist() == [float(n) for n in LENGTHS]  # frozen after each end
    # the extra output column counts steps and stops at zero past each end
    expected_counts = [[float(t + 1) if t < n else 0.0 for t in range(T)] for n in LENGTHS]
    assert outputs[:, :, -1].tolist() == expected_counts

    stack = StackedCell([toy, GRUCell(4, 2, generator=_generator(31))])
    stack_out, (toy_final, gru_final) = Recurrent(stack)(x, lengths)
    assert isinstance(toy_final, ToyState) and gru_final.shape == (len(LENGTHS), 2)
    torch.testing.assert_close(toy_final.h, final.h, rtol=0, atol=0)
    assert stack_out.shape == (len(LENGTHS), T, 2)


# Bad inputs


def test_bad_input_rank_and_size() -> None:
    layer = Recurrent(GRUCell(I, 4))
    for bad in (torch.zeros(2, I), torch.zeros(2, 3, I, 1), torch.zeros(2, 3, I + 1)):
        with pytest.raises(ValueError) as info:
            layer(bad)
        assert f"(B, T, {I})" in str(info.value)
        assert str(tuple(bad.shape)) in str(info.value)
    with pytest.raises(TypeError, match=r"floating point.*torch\.int64"):
        layer(torch.zeros(2, 3, I, dtype=torch.int64))


@pytest.mark.parametrize("fused", [True, False])
def test_bad_lengths(fused: bool) -> None:
    layer = Recurrent(LSTMCell(I, 4), fused=fused)
    x = torch.zeros(2, 5, I)
    with pytest.raises(ValueError, match=r"expected lengths of shape \(2,\), got \(3,\)"):
        layer(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"expected lengths of shape \(2,\), got \(2, 1\)"):
        layer(x, torch.tensor([[1], [2]]))
    with pytest.raises(ValueError, match=r"expected lengths of shape \(2,\), got \(\)"):
        layer(x, torch.tensor(2))
    with pytest.raises(TypeError, match=r"integer tensor.*2\.5"):
        layer(x, torch.tensor([2.5, 1.0]))
    with pytest.raises(TypeError, match="integer tensor"):
        layer(x, torch.tensor([True, False]))
    with pytest.raises(TypeError, match="integer tensor"):
        layer(x, [1, 2])
    with pytest.raises(ValueError, match=r"\[0, 5\].*from 1 to 6"):
        layer(x, torch.tensor([1, 6]))
    with pytest.raises(ValueError, match=r"\[0, 5\].*from -1 to 3"):
        layer(x, torch.tensor([3, -1]))


def test_int32_lengths_are_accepted() -> None:
    cell = GRUCell(I, 4, generator=_generator(0))
    x, lengths = _batch()
    a, _ = Recurrent(cell)(x, lengths)
    b, _ = Recurrent(cell)(x, lengths.int())
    assert torch.equal(a, b)


def test_recurrent_needs_a_cell() -> None:
    with pytest.raises(TypeError, match="cell must be a seqlearn Cell, got GRUCell"):
        Recurrent(nn.GRUCell(2, 2))  # type: ignore[arg-type]


def test_a_stack_of_one_kind_is_one_kernel_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_gru = torch.gru

    def spy(*args: Any) -> Any:
        calls.append(int(args[5]))  # num_layers
        return real_gru(*args)

    monkeypatch.setattr(torch, "gru", spy)
    x, lengths = _batch()
    Recurrent(CELLS["stack-gru-one-call"]())(x, lengths)
    assert calls == [3]
    Recurrent(CELLS["stack-residual"]())(x, lengths)  # residuals go between two calls
    assert calls == [3, 1, 1]


@pytest.mark.parametrize("cell_name", ["gru", "stack-fused", "stack-projected", "toy"])
@pytest.mark.parametrize("fused", [True, False])
def test_row_order_does_not_matter(cell_name: str, fused: bool) -> None:
    """Sorted lengths take a path without reordering; results equal any other order."""
    cell = CELLS[cell_name]().eval()
    x, lengths = _batch(16)
    order = torch.argsort(lengths, descending=True, stable=True)
    layer = Recurrent(cell, fused=fused)
    outputs, final = layer(x, lengths)
    sorted_outputs, sorted_final = layer(x[order], lengths[order])
    torch.testing.assert_close(sorted_outputs, outputs[order], rtol=0, atol=1e-6)
    _assert_states_close(sorted_final, map_state(lambda t: t[order], final), atol=1e-6)


@pytest.mark.parametrize("make", [IndRNNCell, LayerNormLSTMCell, ElmanCell, LinearRecurrentCell])
def test_projected_step_equals_the_step(make: Callable[[int, int], Cell[Any]]) -> None:
    cell = make(I, 4)
    assert isinstance(cell, ProjectsInputs)
    x = torch.randn(5, I, generator=_generator(17))
    state = map_state(
        lambda t: torch.randn(t.shape, generator=_generator(18)), cell.initial_state(5)
    )
    y, new = cell(x, state)
    y2, new2 = cell.step_projected(cell.project_inputs(x), state)
    torch.testing.assert_close(y2, y, rtol=0, atol=1e-6)
    _assert_states_close(new2, new, atol=1e-6)
    assert not isinstance(GRUCell(I, 4), ProjectsInputs)  # GRU and LSTM step on torch's cells
