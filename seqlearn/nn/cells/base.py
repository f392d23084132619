"""The cell API every recurrent cell in seqlearn shares.

A *cell* computes one time step: ``cell(x_t, state) -> (y_t, state)``. It declares its
``input_size``, ``hidden_size`` and ``output_size`` (the size of ``y_t``) and the structure of
its state, from which the state that starts a sequence follows. A cell also runs itself
over a whole packed sequence (:meth:`Cell.run`): step by step by default, on one of torch's
fused kernels for the cells that have one, layer after layer for a stack, so the layer that
runs cells over time (:class:`~seqlearn.nn.Recurrent`) knows no cell by its class.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast

import torch
from torch import Tensor, nn
from typing_extensions import Protocol, runtime_checkable

from seqlearn._checks import check_int
from seqlearn.nn.cells.fused import FusedLayer, FusedMode, call_kernel
from seqlearn.nn.state import map_sizes, rebuild_state, state_leaves, where_rows
from seqlearn.nn.steps import shrinking_steps

__all__ = [
    "Cell",
    "FusedCell",
    "FusedMode",
    "ProjectsInputs",
    "StateSizes",
    "check_batch_size",
    "check_step_input",
    "check_step_state",
]

StateT = TypeVar("StateT")

StateSizes = Any
"""A cell's declared state: a tree of the structure of its state (an ``int``, or a (named)
tuple of such trees) holding each tensor's feature size: ``H`` for a ``(B, H)`` tensor.

Example:
    >>> from seqlearn.nn import GRUCell, LSTMCell, StackedCell
    >>> GRUCell(3, 4).state_sizes(), LSTMCell(3, 4, proj_size=2).state_sizes()
    (4, LSTMState(h=2, c=4))
    >>> StackedCell([GRUCell(3, 4), LSTMCell(4, 5)]).state_sizes()
    (4, LSTMState(h=5, c=5))
"""


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Cell(nn.Module, ABC, Generic[StateT]):
    """Abstract base class of a recurrent cell: one step, ``(x_t, state) -> (y_t, state)``.

    Subclasses implement :meth:`forward`, one step. Everything else has a default that a
    subclass may override: :meth:`step` (the step without input checks, which layers call;
    by default :meth:`forward`), :meth:`state_sizes` (one ``(B, H)`` tensor by default) and
    with it :meth:`initial_state` (zeros), and :meth:`run` (the whole packed sequence, step
    by step with a batch that shrinks as sequences end). A user's own cell written against
    this class runs in :class:`~seqlearn.nn.Recurrent`, in stacks and in models without
    further changes; one that brings a faster way to run a whole sequence overrides
    :meth:`run`.

    Args:
        input_size: Size ``I`` of each input vector ``x_t``.
        hidden_size: Size ``H`` of the hidden state.
        output_size: Size of ``y_t``; defaults to ``hidden_size``.

    Raises:
        ValueError: If a size is not a positive int.

    Shape:
        - ``x_t``: ``(B, I)``
        - ``y_t``: ``(B, output_size)``
        - ``state``: a tensor ``(B, H)`` or a named tuple of such tensors.

    Example:
        A cell of your own, ``h_t = tanh(W [x_t; h_{t-1}] + b)``, run over a padded batch
        by :class:`~seqlearn.nn.Recurrent`:

        >>> import torch
        >>> from torch import nn
        >>> from seqlearn.nn import Recurrent
        >>> class ConcatCell(Cell[torch.Tensor]):
        ...     def __init__(self, input_size: int, hidden_size: int) -> None:
        ...         super().__init__(input_size, hidden_size)
        ...         self.linear = nn.Linear(input_size + hidden_size, hidden_size)
        ...     def forward(self, x, state):
        ...         h = torch.tanh(self.linear(torch.cat((x, state), dim=-1)))  # (B, H)
        ...         return h, h
        >>> layer = Recurrent(ConcatCell(3, 5))
        >>> outputs, last = layer(torch.randn(2, 4, 3), torch.tensor([4, 2]))
        >>> outputs.shape, last.shape
        (torch.Size([2, 4, 5]), torch.Size([2, 5]))
    """

    input_size: int
    hidden_size: int
    output_size: int

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None) -> None:
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        size = hidden_size if output_size is None else output_size
        self.output_size = _check_size("output_size", size)

    @abstractmethod
    def forward(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """Compute one time step.

        Args:
            x: Input at this step.
            state: State after the previous step.

        Returns:
            The output ``y_t`` and the new state.

        Raises:
            ValueError: In seqlearn's cells, if ``x`` is not ``(B, I)`` or a tensor of
                ``state`` does not have ``B`` rows of its size.
            TypeError: In seqlearn's cells, if ``x`` or ``state`` is not a floating point
                tensor (or, for an LSTM, an :class:`~seqlearn.nn.LSTMState`).
            RuntimeError: From torch, if ``x`` is floating point of another dtype than the
                parameters (one step is not checked for it, to stay cheap;
                :class:`~seqlearn.nn.Recurrent` checks it once per batch).

        Shape:
            - ``x``: ``(B, I)``
            - output: ``(B, output_size)``
        """

    def step(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """One step without checking its inputs: what layers call, once per time step.

        :meth:`forward` checks its inputs and then takes this step; layers check a whole
        batch once and call this. The default is :meth:`forward` itself, for cells that do
        not split the two.

        Args:
            x: Input at this step, ``(B, I)``.
            state: State after the previous step.

        Returns:
            The output ``y_t`` and the new state, as :meth:`forward` returns them.
        """
        return self.forward(x, state)

    def final_output(self, state: StateT) -> Tensor:
        """The output ``y_t`` that goes with a state ``s_t``: what the step that made the
        state put out. The default serves cells whose state is their output (one tensor);
        a cell with another state overrides it (an LSTM gives ``state.h``).

        Args:
            state: A state of this cell, ``(B, ...)``.

        Returns:
            ``(B, O)``.

        Raises:
            TypeError: If the state is not one tensor and the cell does not override this.

        Example:
            >>> from seqlearn.nn import GRUCell
            >>> cell = GRUCell(3, 4)
            >>> y, h = cell(torch.zeros(2, 3), cell.initial_state(2))
            >>> bool((cell.final_output(h) == y).all())
            True
        """
        if not isinstance(state, Tensor):
            raise TypeError(
                f"{type(self).__name__} has a {type(state).__name__} state; override "
                "final_output to say which output goes with it"
            )
        return state

    def state_sizes(self) -> StateSizes:
        """The structure of the state and each tensor's feature size (see :data:`StateSizes`).

        The default is one ``(B, H)`` tensor, ``hidden_size``; a cell with another state
        overrides it, and :meth:`initial_state` follows.

        Returns:
            An ``int``, or a (named) tuple of state sizes.
        """
        return self.hidden_size

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> StateT:
        """The state that starts a sequence: zeros of the structure of :meth:`state_sizes`.

        Args:
            batch_size: Number of sequences ``B``.
            device: Device of the state; defaults to the cell's parameters' device.
            dtype: Floating dtype; defaults to the cell's parameters' dtype.

        Returns:
            A state for ``B`` sequences, each tensor ``(B, size)``.

        Raises:
            TypeError: If ``batch_size`` is not an int.
            ValueError: If ``batch_size`` is negative.
        """
        device, dtype = self._like_parameters(device, dtype)
        rows = check_batch_size(batch_size)
        return cast(
            StateT,
            map_sizes(
                lambda size: torch.zeros(rows, size, device=device, dtype=dtype),
                self.state_sizes(),
            ),
        )

    def fused_layers(self) -> list[FusedLayer] | None:
        """The torch kernel layers this cell runs as, or ``None`` if it runs step by step.

        A :class:`FusedCell` is one layer; a stack of fused cells is one layer per cell;
        other cells are ``None``. Layers use it to merge kernel calls (a whole stack in one
        call, two directions in one bidirectional call).

        Returns:
            The layers, bottom first, or ``None``.
        """
        return None

    def run(
        self, data: Tensor, batch_sizes: Tensor, state: StateT, *, fused: bool = True
    ) -> tuple[Tensor, StateT]:
        """Run the cell over a whole packed sequence (rows sorted longest first).

        The default runs the fused kernel when :meth:`fused_layers` names one (and
        ``fused`` allows it), else steps through time: step ``t`` runs only the rows still
        going (:func:`~seqlearn.nn.shrinking_steps`), with the input products of all steps
        hoisted into one matrix product for cells that implement :class:`ProjectsInputs`.
        A cell with a faster way to run a whole sequence overrides this method; the
        results must equal stepping.

        Args:
            data: The packed inputs, time step after time step.
            batch_sizes: How many rows run at each step, non-increasing, on the CPU.
            state: The state of every row before its first step, rows longest first.
            fused: Whether torch's fused kernels may run.

        Returns:
            The packed outputs and each row's state after its last step.

        Shape:
            - data: ``(N, I)`` with ``N = batch_sizes.sum()``; batch_sizes: ``(T,)``.
            - output: ``(N, O)``.
        """
        layers = self.fused_layers() if fused else None
        if layers is not None:
            out, finals = call_kernel(layers, data, batch_sizes, [state])
            return out, cast(StateT, finals[0])
        step: Any = self.step
        if isinstance(self, ProjectsInputs):
            data, step = self.project_inputs(data), self.step_projected  # (N, K)
        outputs, final = shrinking_steps(step, torch.split(data, batch_sizes.tolist()), state)
        return torch.cat(outputs), final

    def run_padded(self, x: Tensor, valid: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """Run the cell over a padded sequence, each row's state frozen past its end.

        The path that :func:`torch.export.export` traces (for ONNX): one scan over time,
        the batch and time sizes left symbolic. Slower than :meth:`run` and only taken while
        exporting; the results equal it.

        Args:
            x: The inputs, time first.
            valid: Whether each row is still running at each step.
            state: The state of every row before its first step.

        Returns:
            The outputs (zeros past each row's end) and each row's last state.

        Shape:
            - x: ``(T, B, I)``; valid: ``(T, B)``; output: ``(T, B, O)``.
        """
        from torch._higher_order_ops.scan import scan  # a loop that export keeps symbolic

        def one_step(leaves: list[Tensor], inputs: tuple[Tensor, Tensor]) -> tuple[Any, Tensor]:
            x_t, keep = inputs  # (B, I), (B,)
            before = rebuild_state(state, leaves)
            y, after = self.step(x_t, before)  # (B, O)
            merged = where_rows(keep, after, before)
            return state_leaves(merged), torch.where(keep.unsqueeze(1), y, 0.0)

        leaves = [t.contiguous() for t in state_leaves(state)]
        final, outputs = scan(one_step, leaves, (x, valid))  # outputs (T, B, O)
        return outputs, rebuild_state(state, final)

    def __call__(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        return cast(tuple[Tensor, StateT], super().__call__(x, state))

    def _like_parameters(
        self, device: torch.device | None, dtype: torch.dtype | None
    ) -> tuple[torch.device, torch.dtype]:
        reference = next(self.parameters(), None)
        if reference is None:
            return device or torch.device("cpu"), dtype or torch.get_default_dtype()
        return device or reference.device, dtype or reference.dtype


class FusedCell(Cell[StateT]):
    """A cell that one of torch.nn's fused recurrent kernels can run over a whole sequence.

    :class:`~seqlearn.nn.Recurrent` runs such cells with :func:`torch.rnn_tanh`,
    :func:`torch.rnn_relu`, :func:`torch.gru` or :func:`torch.lstm` instead of a Python loop
    over time steps; the results equal the step-by-step path.

    Example:
        >>> from seqlearn.nn import GRUCell, LayerNormLSTMCell
        >>> isinstance(GRUCell(3, 4), FusedCell), isinstance(LayerNormLSTMCell(3, 4), FusedCell)
        (True, False)
        >>> [tuple(weight.shape) for weight in GRUCell(3, 4).fused_weights()]
        [(12, 3), (12, 4), (12,), (12,)]
    """

    @property
    @abstractmethod
    def fused_mode(self) -> FusedMode:
        """Which torch.nn kernel runs this cell."""

    def fused_layers(self) -> list[FusedLayer] | None:
        """One layer: this cell's kernel and weights.

        Returns:
            ``[FusedLayer(fused_mode, fused_weights())]``.
        """
        return [FusedLayer(self.fused_mode, self.fused_weights())]

    @abstractmethod
    def fused_weights(self) -> list[Tensor]:
        """The weights in torch.nn's order: ``[w_ih, w_hh, b_ih, b_hh]``.

        Returns:
            Tensors of shapes ``(G * H, I)``, ``(G * H, H)``, ``(G * H,)`` and ``(G * H,)``,
            with ``G`` gates (1 for Elman, 3 for GRU, 4 for LSTM).
        """


@runtime_checkable
class ProjectsInputs(Protocol[StateT]):
    """A cell whose input projection can run for all time steps at once, before the loop.

    Most cells start each step with a product :math:`W x_t` that depends on the input
    alone. A cell that splits its step into :meth:`project_inputs` (over a whole
    ``(B, T, I)`` batch: one large matrix product instead of ``T`` small ones) and
    :meth:`step_projected` (the rest of the step) lets
    :class:`~seqlearn.nn.Recurrent`'s step-by-step loop hoist that product out of the loop,
    as cuDNN does. ``cell(x_t, state)`` must equal
    ``cell.step_projected(cell.project_inputs(x_t), state)``. Cells need not implement it;
    :class:`~seqlearn.nn.ElmanCell`, :class:`~seqlearn.nn.IndRNNCell`,
    :class:`~seqlearn.nn.LayerNormLSTMCell` and :class:`~seqlearn.nn.LinearRecurrentCell` do.

    Example:
        >>> import torch
        >>> from seqlearn.nn import IndRNNCell
        >>> cell = IndRNNCell(3, 4)
        >>> isinstance(cell, ProjectsInputs)
        True
        >>> x, h = torch.randn(2, 3), torch.zeros(2, 4)
        >>> y, _ = cell.step_projected(cell.project_inputs(x), h)
        >>> torch.allclose(y, cell(x, h)[0])
        True
    """

    def project_inputs(self, x: Tensor) -> Tensor:
        """The input-only part of the step, for any number of leading dimensions.

        Args:
            x: Inputs.

        Returns:
            Projected inputs.

        Shape:
            - ``x``: ``(..., I)``; output: ``(..., K)`` with ``K`` set by the cell.
        """
        ...

    def step_projected(self, projected: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """The rest of one step, from the projected input (not checked again).

        Args:
            projected: ``project_inputs(x_t)``, ``(B, K)``.
            state: State after the previous step.

        Returns:
            The output ``y_t`` and the new state, as ``cell(x_t, state)`` returns them.
        """
        ...


def uniform_init_(
    tensors: Sequence[Tensor], fan_in: int, generator: torch.Generator | None
) -> None:
    """Fill tensors in place from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Args:
        tensors: Tensors to fill.
        fan_in: The fan-in that sets the bound.
        generator: Random generator; ``None`` uses PyTorch's default.
    """
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        for tensor in tensors:
            nn.init.uniform_(tensor, -bound, bound, generator=generator)


def check_batch_size(batch_size: int) -> int:
    """Check the ``batch_size`` given to :meth:`Cell.initial_state`.

    Args:
        batch_size: Number of sequences ``B``.

    Returns:
        ``batch_size`` as an int.

    Raises:
        TypeError: If ``batch_size`` is not an int.
        ValueError: If ``batch_size`` is negative.
    """
    size = check_int("batch_size", batch_size)
    if size < 0:
        raise ValueError(f"batch_size must be >= 0, got {size}")
    return size


def check_step_input(cell: Cell[StateT], x: Tensor) -> None:
    """Check that ``x`` is a ``(B, I)`` floating batch for ``cell``.

    Args:
        cell: The cell about to take the step.
        x: The step input.

    Raises:
        ValueError: If ``x`` is not 2-D with ``I == cell.input_size``.
        TypeError: If ``x`` is not a floating point tensor.
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"expected input of shape (B, {cell.input_size}) as a tensor, got {type(x).__name__}"
        )
    if x.dim() != 2 or x.size(1) != cell.input_size:
        raise ValueError(f"expected input of shape (B, {cell.input_size}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating point input, got dtype {x.dtype}")


def check_step_state(name: str, state: object, batch_size: int, size: int) -> None:
    """Check that one tensor of a step's state is a ``(B, size)`` floating tensor.

    Without this check a state of batch size 1 would broadcast silently against a batch of
    ``B`` inputs in cells whose step is element-wise.

    Args:
        name: How the tensor is named in errors (``"state"``, ``"state.c"``).
        state: The tensor.
        batch_size: ``B``, the batch size of the step's input.
        size: The size of its last dimension.

    Raises:
        TypeError: If ``state`` is not a floating point tensor.
        ValueError: If its shape is not ``(B, size)``.
    """
    if not isinstance(state, Tensor):
        raise TypeError(
            f"expected {name} as a tensor of shape ({batch_size}, {size}), "
            f"got {type(state).__name__}"
        )
    if state.shape != (batch_size, size):
        raise ValueError(
            f"expected {name} of shape ({batch_size}, {size}) to match the input's batch, "
            f"got {tuple(state.shape)}"
        )
    if not state.is_floating_point():
        raise TypeError(f"expected a floating point {name}, got dtype {state.dtype}")
