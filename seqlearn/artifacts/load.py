"""Loading a saved model as the ready predictor of its task."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeAlias

import torch

from seqlearn.artifacts.classifier import TextClassifier
from seqlearn.artifacts.folder import Artifact, ArtifactError, read_artifact
from seqlearn.artifacts.generator import TextGenerator

__all__ = ["Predictor", "load"]

Predictor: TypeAlias = TextClassifier | TextGenerator
"""What :func:`load` returns: the predictor of the artifact's task.

Example:
    >>> from typing import get_args
    >>> [kind.__name__ for kind in get_args(Predictor)]
    ['TextClassifier', 'TextGenerator']
"""

_PREDICTORS: dict[str, Callable[[Artifact], Predictor]] = {
    TextClassifier.task: TextClassifier.from_artifact,
    TextGenerator.task: TextGenerator.from_artifact,
}


def load(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> TextClassifier | TextGenerator:
    """Load an artifact folder as a ready predictor: a classifier or a generator.

    The folder's ``config.json`` names the task; a text classifier comes back as a
    :class:`~seqlearn.artifacts.TextClassifier`, a conditional generator as a
    :class:`~seqlearn.artifacts.TextGenerator`. Loading unpickles nothing and runs no
    code from the folder (see :func:`~seqlearn.artifacts.read_artifact`).

    Args:
        path: The artifact folder (an example's ``--out`` folder, or one written by a
            predictor's ``save``).
        device: Where to put the model: ``"cpu"`` (the default), ``"cuda"``, ``"auto"``...

    Returns:
        The predictor, its model in eval mode.

    Raises:
        ArtifactError: If the folder is not a valid artifact (the message names the file
            and the problem) or its task is unknown.

    Example:
        >>> import tempfile
        >>> from seqlearn.nn import lecture_classifier
        >>> from seqlearn.tokenize import CharTokenizer
        >>> with tempfile.TemporaryDirectory() as root:
        ...     _ = TextClassifier(lecture_classifier(num_classes=2), CharTokenizer(),
        ...                        ["Greek", "Irish"]).save(root)
        ...     classifier = load(root)
        >>> classifier
        TextClassifier(SequenceClassifier, 2 labels, device=cpu)
    """
    artifact = read_artifact(path)
    make = _PREDICTORS.get(artifact.task)
    if make is None:
        raise ArtifactError(
            f"{artifact.path / 'config.json'}: unknown task {artifact.task!r}; this seqlearn "
            f"knows {sorted(_PREDICTORS)} (read the model alone with read_artifact)"
        )
    return make(artifact).to(device)
