"""seqlearn: typed, readable recurrent sequence models on PyTorch.

The public API, by stage of the flow text -> tokens -> batches -> model -> training ->
decoding -> artifacts. Every name also lives in its subpackage (``seqlearn.tokenize``,
``seqlearn.data``, ``seqlearn.nn``, ``seqlearn.train``, ``seqlearn.decode``,
``seqlearn.artifacts``).
"""

from seqlearn import artifacts as artifacts
from seqlearn import data as data
from seqlearn import decode as decode
from seqlearn import nn as nn
from seqlearn import tokenize as tokenize
from seqlearn import train as train
from seqlearn._version import __version__ as __version__
from seqlearn.artifacts import TextClassifier as TextClassifier
from seqlearn.artifacts import TextGenerator as TextGenerator
from seqlearn.artifacts import load as load
from seqlearn.data import LabeledTexts as LabeledTexts
from seqlearn.data import LengthBucketSampler as LengthBucketSampler
from seqlearn.data import NextTokenBatch as NextTokenBatch
from seqlearn.data import NextTokenCollator as NextTokenCollator
from seqlearn.data import SentimentPhrases as SentimentPhrases
from seqlearn.data import collate_next_token as collate_next_token
from seqlearn.data import download_names as download_names
from seqlearn.data import load_names as load_names
from seqlearn.data import load_sst as load_sst
from seqlearn.data import read_category_folder as read_category_folder
from seqlearn.data import read_delimited as read_delimited
from seqlearn.data import read_sentiment_file as read_sentiment_file
from seqlearn.data import stratified_split as stratified_split
from seqlearn.decode import BanTokens as BanTokens
from seqlearn.decode import Generation as Generation
from seqlearn.decode import LogitsProcessor as LogitsProcessor
from seqlearn.decode import LogitsProcessorList as LogitsProcessorList
from seqlearn.decode import MinLength as MinLength
from seqlearn.decode import MinP as MinP
from seqlearn.decode import RepetitionPenalty as RepetitionPenalty
from seqlearn.decode import StepInfo as StepInfo
from seqlearn.decode import StepModel as StepModel
from seqlearn.decode import StopReason as StopReason
from seqlearn.decode import Temperature as Temperature
from seqlearn.decode import TopK as TopK
from seqlearn.decode import TopP as TopP
from seqlearn.decode import beam_search as beam_search
from seqlearn.decode import greedy as greedy
from seqlearn.decode import sample as sample
from seqlearn.nn import Cell as Cell
from seqlearn.nn import ConditionalLM as ConditionalLM
from seqlearn.nn import ElmanCell as ElmanCell
from seqlearn.nn import GRUCell as GRUCell
from seqlearn.nn import LSTMCell as LSTMCell
from seqlearn.nn import LSTMState as LSTMState
from seqlearn.nn import Recurrent as Recurrent
from seqlearn.nn import StackedCell as StackedCell
from seqlearn.nn import glove_embedding as glove_embedding
from seqlearn.nn import lecture_generator as lecture_generator
from seqlearn.nn import register as register
from seqlearn.tokenize import CharTokenizer as CharTokenizer
from seqlearn.tokenize import GloVe as GloVe
from seqlearn.tokenize import Vocabulary as Vocabulary
from seqlearn.tokenize import WordTokenizer as WordTokenizer
from seqlearn.tokenize import fold_to_ascii as fold_to_ascii
from seqlearn.train import History as History
from seqlearn.train import Trainer as Trainer
from seqlearn.train import next_token_loss as next_token_loss

__all__ = [
    "BanTokens",
    "Cell",
    "CharTokenizer",
    "ConditionalLM",
    "ElmanCell",
    "GRUCell",
    "Generation",
    "GloVe",
    "History",
    "LSTMCell",
    "LSTMState",
    "LabeledTexts",
    "LengthBucketSampler",
    "LogitsProcessor",
    "LogitsProcessorList",
    "MinLength",
    "MinP",
    "NextTokenBatch",
    "NextTokenCollator",
    "Recurrent",
    "RepetitionPenalty",
    "SentimentPhrases",
    "StackedCell",
    "StepInfo",
    "StepModel",
    "StopReason",
    "Temperature",
    "TextClassifier",
    "TextGenerator",
    "TopK",
    "TopP",
    "Trainer",
    "Vocabulary",
    "WordTokenizer",
    "__version__",
    "artifacts",
    "beam_search",
    "collate_next_token",
    "data",
    "decode",
    "download_names",
    "fold_to_ascii",
    "glove_embedding",
    "greedy",
    "lecture_generator",
    "load",
    "load_names",
    "load_sst",
    "next_token_loss",
    "nn",
    "read_category_folder",
    "read_delimited",
    "read_sentiment_file",
    "register",
    "sample",
    "stratified_split",
    "tokenize",
    "train",
]
