"""Recurrent cells: one time step each, sharing the :class:`Cell` API."""

from seqlearn.nn.cells.base import Cell as Cell
from seqlearn.nn.cells.base import FusedCell as FusedCell
from seqlearn.nn.cells.base import ProjectsInputs as ProjectsInputs
from seqlearn.nn.cells.base import StateSizes as StateSizes
from seqlearn.nn.cells.elman import ElmanCell as ElmanCell
from seqlearn.nn.cells.elman import LinearRecurrentCell as LinearRecurrentCell
from seqlearn.nn.cells.fused import FusedLayer as FusedLayer
from seqlearn.nn.cells.fused import FusedMode as FusedMode
from seqlearn.nn.cells.gated import GatedCell as GatedCell
from seqlearn.nn.cells.gru import GRUCell as GRUCell
from seqlearn.nn.cells.indrnn import IndRNNCell as IndRNNCell
from seqlearn.nn.cells.initial import LearnedInitialState as LearnedInitialState
from seqlearn.nn.cells.layernorm_lstm import LayerNormLSTMCell as LayerNormLSTMCell
from seqlearn.nn.cells.lstm import LSTMCell as LSTMCell
from seqlearn.nn.cells.lstm import LSTMState as LSTMState
from seqlearn.nn.cells.stack import StackedCell as StackedCell
from seqlearn.nn.cells.weight_drop import WeightDrop as WeightDrop

__all__ = [
    "Cell",
    "ElmanCell",
    "FusedCell",
    "FusedLayer",
    "FusedMode",
    "GRUCell",
    "GatedCell",
    "IndRNNCell",
    "LSTMCell",
    "LSTMState",
    "LayerNormLSTMCell",
    "LearnedInitialState",
    "LinearRecurrentCell",
    "ProjectsInputs",
    "StackedCell",
    "StateSizes",
    "WeightDrop",
]
