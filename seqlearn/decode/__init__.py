"""Decoding: generate tokens from any model with a one-step API."""

from seqlearn.decode.generate import Generation as Generation
from seqlearn.decode.generate import greedy as greedy
from seqlearn.decode.generate import sample as sample
from seqlearn.decode.protocol import StepModel as StepModel

__all__ = ["Generation", "StepModel", "greedy", "sample"]
