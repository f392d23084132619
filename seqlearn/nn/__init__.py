"""Neural network parts: cells, the recurrent layer, and models built from them."""

from seqlearn.nn.bidirectional import Bidirectional as Bidirectional
from seqlearn.nn.bidirectional import concatenate as concatenate
from seqlearn.nn.cells import Cell as Cell
from seqlearn.nn.cells import ElmanCell as ElmanCell
from seqlearn.nn.cells import FusedCell as FusedCell
from seqlearn.nn.cells import FusedLayer as FusedLayer
from seqlearn.nn.cells import FusedMode as FusedMode
from seqlearn.nn.cells import GatedCell as GatedCell
from seqlearn.nn.cells import GRUCell as GRUCell
from seqlearn.nn.cells import IndRNNCell as IndRNNCell
from seqlearn.nn.cells import LayerNormLSTMCell as LayerNormLSTMCell
from seqlearn.nn.cells import LearnedInitialState as LearnedInitialState
from seqlearn.nn.cells import LinearRecurrentCell as LinearRecurrentCell
from seqlearn.nn.cells import LSTMCell as LSTMCell
from seqlearn.nn.cells import LSTMState as LSTMState
from seqlearn.nn.cells import ProjectsInputs as ProjectsInputs
from seqlearn.nn.cells import StackedCell as StackedCell
from seqlearn.nn.cells import StateSizes as StateSizes
from seqlearn.nn.cells import WeightDrop as WeightDrop
from seqlearn.nn.classifier import SequenceClassifier as SequenceClassifier
from seqlearn.nn.classifier import lecture_classifier as lecture_classifier
from seqlearn.nn.conditional_lm import ConditionalLM as ConditionalLM
from seqlearn.nn.conditional_lm import ConditionalLMState as ConditionalLMState
from seqlearn.nn.conditional_lm import Readout as Readout
from seqlearn.nn.conditional_lm import lecture_generator as lecture_generator
from seqlearn.nn.dropout import LockedDropout as LockedDropout
from seqlearn.nn.dropout import locked_dropout as locked_dropout
from seqlearn.nn.dropout import word_dropout as word_dropout
from seqlearn.nn.evaluating import evaluating as evaluating
from seqlearn.nn.layer import FusedSequenceLayer as FusedSequenceLayer
from seqlearn.nn.layer import SequenceLayer as SequenceLayer
from seqlearn.nn.layer_stack import StackedLayers as StackedLayers
from seqlearn.nn.lengths import reverse_padded as reverse_padded
from seqlearn.nn.lengths import valid_steps as valid_steps
from seqlearn.nn.pooling import AttentionPooling as AttentionPooling
from seqlearn.nn.pooling import Pooling as Pooling
from seqlearn.nn.pooling import bidirectional_final as bidirectional_final
from seqlearn.nn.pooling import last_valid as last_valid
from seqlearn.nn.pooling import max_pool as max_pool
from seqlearn.nn.pooling import mean_pool as mean_pool
from seqlearn.nn.recurrent import Recurrent as Recurrent
from seqlearn.nn.registry import PartError as PartError
from seqlearn.nn.registry import register as register
from seqlearn.nn.registry import registered_name as registered_name
from seqlearn.nn.state import map_state as map_state
from seqlearn.nn.state import rebuild_state as rebuild_state
from seqlearn.nn.state import select_rows as select_rows
from seqlearn.nn.state import state_leaves as state_leaves
from seqlearn.nn.state import where_rows as where_rows
from seqlearn.nn.steps import shrinking_steps as shrinking_steps
from seqlearn.nn.word_embedding import Coverage as Coverage
from seqlearn.nn.word_embedding import OOVInit as OOVInit
from seqlearn.nn.word_embedding import coverage as coverage
from seqlearn.nn.word_embedding import glove_embedding as glove_embedding

__all__ = [
    "AttentionPooling",
    "Bidirectional",
    "Cell",
    "ConditionalLM",
    "ConditionalLMState",
    "Coverage",
    "ElmanCell",
    "FusedCell",
    "FusedLayer",
    "FusedMode",
    "FusedSequenceLayer",
    "GRUCell",
    "GatedCell",
    "IndRNNCell",
    "LSTMCell",
    "LSTMState",
    "LayerNormLSTMCell",
    "LearnedInitialState",
    "LinearRecurrentCell",
    "LockedDropout",
    "OOVInit",
    "PartError",
    "Pooling",
    "ProjectsInputs",
    "Readout",
    "Recurrent",
    "SequenceClassifier",
    "SequenceLayer",
    "StackedCell",
    "StackedLayers",
    "StateSizes",
    "WeightDrop",
    "bidirectional_final",
    "concatenate",
    "coverage",
    "evaluating",
    "glove_embedding",
    "last_valid",
    "lecture_classifier",
    "lecture_generator",
    "locked_dropout",
    "map_state",
    "max_pool",
    "mean_pool",
    "rebuild_state",
    "register",
    "registered_name",
    "reverse_padded",
    "select_rows",
    "shrinking_steps",
    "state_leaves",
    "valid_steps",
    "where_rows",
    "word_dropout",
]
