"""Training: the loop, objectives and the history of a run."""

from seqlearn.train.history import EpochRecord as EpochRecord
from seqlearn.train.history import History as History
from seqlearn.train.objectives import LossSum as LossSum
from seqlearn.train.objectives import Objective as Objective
from seqlearn.train.objectives import next_token_loss as next_token_loss
from seqlearn.train.trainer import DivergenceError as DivergenceError
from seqlearn.train.trainer import Movable as Movable
from seqlearn.train.trainer import Trainer as Trainer

__all__ = [
    "DivergenceError",
    "EpochRecord",
    "History",
    "LossSum",
    "Movable",
    "Objective",
    "Trainer",
    "next_token_loss",
]
