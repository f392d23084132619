"""Decoding: greedy, sampling with logits processors, and beam search for any model with a
one-step API."""

from seqlearn.decode.beam import beam_search as beam_search
from seqlearn.decode.generate import greedy as greedy
from seqlearn.decode.generate import sample as sample
from seqlearn.decode.processors import BanTokens as BanTokens
from seqlearn.decode.processors import LogitsProcessor as LogitsProcessor
from seqlearn.decode.processors import LogitsProcessorList as LogitsProcessorList
from seqlearn.decode.processors import MinLength as MinLength
from seqlearn.decode.processors import MinP as MinP
from seqlearn.decode.processors import RepetitionPenalty as RepetitionPenalty
from seqlearn.decode.processors import StepInfo as StepInfo
from seqlearn.decode.processors import Temperature as Temperature
from seqlearn.decode.processors import TopK as TopK
from seqlearn.decode.processors import TopP as TopP
from seqlearn.decode.protocol import StepModel as StepModel
from seqlearn.decode.result import Generation as Generation
from seqlearn.decode.result import StopReason as StopReason

__all__ = [
    "BanTokens",
    "Generation",
    "LogitsProcessor",
    "LogitsProcessorList",
    "MinLength",
    "MinP",
    "RepetitionPenalty",
    "StepInfo",
    "StepModel",
    "StopReason",
    "Temperature",
    "TopK",
    "TopP",
    "beam_search",
    "greedy",
    "sample",
]
