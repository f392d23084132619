"""Training: the loop, objectives, callbacks, checkpoints, learning-rate finders."""

from seqlearn.train.callbacks import EarlyStopping as EarlyStopping
from seqlearn.train.callbacks import LearningRateScheduler as LearningRateScheduler
from seqlearn.train.callbacks import ModelCheckpoint as ModelCheckpoint
from seqlearn.train.callbacks import TimeLimit as TimeLimit
from seqlearn.train.carried_state import CarriedStateLoss as CarriedStateLoss
from seqlearn.train.carried_state import bits_per_token as bits_per_token
from seqlearn.train.checkpoint import capture_rng_states as capture_rng_states
from seqlearn.train.checkpoint import load_checkpoint as load_checkpoint
from seqlearn.train.checkpoint import restore_rng_states as restore_rng_states
from seqlearn.train.checkpoint import save_checkpoint as save_checkpoint
from seqlearn.train.clipping import GradientClipping as GradientClipping
from seqlearn.train.devices import resolve_device as resolve_device
from seqlearn.train.divergence import DivergenceError as DivergenceError
from seqlearn.train.divergence import DivergenceGuard as DivergenceGuard
from seqlearn.train.divergence import DivergencePolicy as DivergencePolicy
from seqlearn.train.events import Callback as Callback
from seqlearn.train.events import CancelFit as CancelFit
from seqlearn.train.events import CancelStep as CancelStep
from seqlearn.train.events import TrainerView as TrainerView
from seqlearn.train.history import EpochRecord as EpochRecord
from seqlearn.train.history import History as History
from seqlearn.train.history import Split as Split
from seqlearn.train.lr_finder import DivergentLRResult as DivergentLRResult
from seqlearn.train.lr_finder import RangeTestResult as RangeTestResult
from seqlearn.train.lr_finder import find_divergent_lr as find_divergent_lr
from seqlearn.train.lr_finder import lr_range_test as lr_range_test
from seqlearn.train.objectives import ActivationRegularization as ActivationRegularization
from seqlearn.train.objectives import ClassifierProtocol as ClassifierProtocol
from seqlearn.train.objectives import LossSum as LossSum
from seqlearn.train.objectives import NextTokenLoss as NextTokenLoss
from seqlearn.train.objectives import Objective as Objective
from seqlearn.train.objectives import activation_penalty as activation_penalty
from seqlearn.train.objectives import classification_loss as classification_loss
from seqlearn.train.objectives import next_token_loss as next_token_loss
from seqlearn.train.run_settings import RunSettings as RunSettings
from seqlearn.train.run_settings import load_resumable as load_resumable
from seqlearn.train.trainer import Metrics as Metrics
from seqlearn.train.trainer import Movable as Movable
from seqlearn.train.trainer import Trainer as Trainer

__all__ = [
    "ActivationRegularization",
    "Callback",
    "CancelFit",
    "CancelStep",
    "CarriedStateLoss",
    "ClassifierProtocol",
    "DivergenceError",
    "DivergenceGuard",
    "DivergencePolicy",
    "DivergentLRResult",
    "EarlyStopping",
    "EpochRecord",
    "GradientClipping",
    "History",
    "LearningRateScheduler",
    "LossSum",
    "Metrics",
    "ModelCheckpoint",
    "Movable",
    "NextTokenLoss",
    "Objective",
    "RangeTestResult",
    "RunSettings",
    "Split",
    "TimeLimit",
    "Trainer",
    "TrainerView",
    "activation_penalty",
    "bits_per_token",
    "capture_rng_states",
    "classification_loss",
    "find_divergent_lr",
    "load_checkpoint",
    "load_resumable",
    "lr_range_test",
    "next_token_loss",
    "resolve_device",
    "restore_rng_states",
    "save_checkpoint",
]
