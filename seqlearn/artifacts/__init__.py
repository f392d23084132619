"""Trained models as files: save, load, predict, generate, and export to ONNX.

A model saved with its tokenizer and labels is an *artifact folder* (``config.json``,
``model.safetensors``, ``tokenizer.json``). :func:`load` reads one back as a ready
predictor: a :class:`TextClassifier` or a :class:`TextGenerator`.
"""

from seqlearn.artifacts._common import UnencodableTextError as UnencodableTextError
from seqlearn.artifacts.classifier import Prediction as Prediction
from seqlearn.artifacts.classifier import TextClassifier as TextClassifier
from seqlearn.artifacts.folder import ARTIFACT_FILES as ARTIFACT_FILES
from seqlearn.artifacts.folder import FORMAT_VERSION as FORMAT_VERSION
from seqlearn.artifacts.folder import Artifact as Artifact
from seqlearn.artifacts.folder import ArtifactError as ArtifactError
from seqlearn.artifacts.folder import read_artifact as read_artifact
from seqlearn.artifacts.folder import save_artifact as save_artifact
from seqlearn.artifacts.generator import ConditionalModel as ConditionalModel
from seqlearn.artifacts.generator import GeneratedText as GeneratedText
from seqlearn.artifacts.generator import GenerationTokenizer as GenerationTokenizer
from seqlearn.artifacts.generator import Strategy as Strategy
from seqlearn.artifacts.generator import TextGenerator as TextGenerator
from seqlearn.artifacts.generator import TextScore as TextScore
from seqlearn.artifacts.load import load as load
from seqlearn.artifacts.onnx import export_classifier as export_classifier
from seqlearn.artifacts.onnx import export_generator as export_generator
from seqlearn.artifacts.predictor import Predictor as Predictor

__all__ = [
    "ARTIFACT_FILES",
    "FORMAT_VERSION",
    "Artifact",
    "ArtifactError",
    "ConditionalModel",
    "GeneratedText",
    "GenerationTokenizer",
    "Prediction",
    "Predictor",
    "Strategy",
    "TextClassifier",
    "TextGenerator",
    "TextScore",
    "UnencodableTextError",
    "export_classifier",
    "export_generator",
    "load",
    "read_artifact",
    "save_artifact",
]
