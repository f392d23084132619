"""Export to ONNX for serving without PyTorch (needs the ``export`` extra).

Packed sequences do not export, so exporting traces another path of
:class:`~seqlearn.nn.Recurrent`: each cell's steps over the padded batch as one ``Scan``
over time, each row's state frozen past its end. It gives the same numbers as the packed
path, keeps the batch and time sizes free, and works for every cell, fused or not, and for
cells of your own whose step is made of tensor operations. Input checks that need values
on the host are skipped inside the graph: a served model trusts its inputs, so check ids
and lengths before calling it.

Each file carries, in its metadata (``metadata_props``), the task, the labels or
categories and the tokenizer's settings as JSON, so the file alone is enough to serve.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from seqlearn.nn.state import rebuild_state, state_leaves

if TYPE_CHECKING:
    from seqlearn.artifacts.classifier import TextClassifier
    from seqlearn.artifacts.generator import TextGenerator

__all__ = ["export_classifier", "export_generator"]

_INSTALL = (
    "ONNX export needs onnx and onnxscript (and onnxruntime to run the file); install the "
    "export extra: pip install -e '.[export]' from a clone of seqlearn"
)


def export_classifier(classifier: TextClassifier, path: str | os.PathLike[str]) -> Path:
    """Write a classifier as an ONNX model.

    Inputs ``tokens`` (int64, ``(B, T)``) and ``lengths`` (int64, ``(B,)``); output
    ``logits`` (float32, ``(B, C)``); ``B`` and ``T`` are free. The metadata keys are
    ``seqlearn.task``, ``seqlearn.labels`` and ``seqlearn.tokenizer`` (JSON).

    Args:
        classifier: The classifier (its model is exported on the CPU, in eval mode).
        path: The file to write; replaced atomically.

    Returns:
        The file.

    Raises:
        ImportError: If ``onnx`` or ``onnxscript`` is missing.
    """

    def run(model: Any, tokens: Tensor, lengths: Tensor) -> Tensor:
        return model(tokens, lengths).float()  # type: ignore[no-any-return]

    tokens = torch.zeros(3, 7, dtype=torch.long)  # sizes above 1: they stay symbolic
    lengths = torch.tensor([7, 3, 5])
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    metadata = {
        "seqlearn.task": classifier.task,
        "seqlearn.labels": json.dumps(classifier.labels, ensure_ascii=False),
        "seqlearn.tokenizer": json.dumps(classifier.tokenizer.to_dict(), ensure_ascii=False),
    }
    return _export(
        _Graph(classifier.model, run),
        (tokens, lengths),
        path,
        inputs=["tokens", "lengths"],
        outputs=["logits"],
        dynamic=[{0: batch, 1: time}, {0: batch}],
        metadata=metadata,
    )


def export_generator(generator: TextGenerator, path: str | os.PathLike[str]) -> Path:
    """Write a generator's one-step function as an ONNX model.

    Inputs: ``tokens`` (int64, ``(B,)``: the current token of each row), ``categories``
    (int64, ``(B,)``) and the state, ``state_0``, ..., ``state_{K-1}`` (float32, each
    ``(B, ...)``). Outputs: ``logits`` (float32, ``(B, V)``: the next token's) and the new
    state, ``next_state_0``, ..., in the same layout. ``B`` is free. Decode as
    :mod:`seqlearn.decode` does: start from the initial state, feed the prefix's tokens
    one by one, then feed back the chosen token until EOS.

    The metadata keys are ``seqlearn.task``, ``seqlearn.categories``,
    ``seqlearn.tokenizer`` (JSON) and ``seqlearn.initial_state``: a JSON list with one row
    per state tensor, the state of one sequence before its first token (repeat it for
    each row of a batch).

    Args:
        generator: The generator (its model is exported on the CPU, in eval mode).
        path: The file to write; replaced atomically.

    Returns:
        The file.

    Raises:
        ImportError: If ``onnx`` or ``onnxscript`` is missing.
    """
    model: Any = generator.model
    categories = torch.tensor([0, 0, 0])
    with torch.no_grad():
        template = model.initial_state(categories)  # (cell state, categories, previous)
    leaves = state_leaves((template.cell, template.previous_output))

    def run(model: Any, tokens: Tensor, categories: Tensor, *state: Tensor) -> Any:
        cell, previous = rebuild_state((template.cell, template.previous_output), list(state))
        logits, after = model.step(tokens, template._replace(
            cell=cell, categories=categories, previous_output=previous
        ))  # fmt: skip
        return (logits.float(), *state_leaves((after.cell, after.previous_output)))

    names = [f"state_{i}" for i in range(len(leaves))]
    batch = torch.export.Dim("batch")
    dynamic = [{0: batch} for _ in range(2 + len(leaves))]  # tokens, categories, state
    metadata = {
        "seqlearn.task": generator.task,
        "seqlearn.categories": json.dumps(generator.categories, ensure_ascii=False),
        "seqlearn.tokenizer": json.dumps(generator.tokenizer.to_dict(), ensure_ascii=False),
        "seqlearn.initial_state": json.dumps([leaf[0].tolist() for leaf in leaves]),
    }
    return _export(
        _Graph(model, run),
        (torch.tensor([1, 2, 3]), categories, *leaves),
        path,
        inputs=["tokens", "categories", *names],
        outputs=["logits", *(f"next_{name}" for name in names)],
        dynamic=dynamic,
        metadata=metadata,
    )


class _Graph(nn.Module):
    """The module exported: ``run(model, *inputs)``, with ``model`` as its one submodule."""

    def __init__(self, model: nn.Module, run: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        self.run = run

    def forward(self, *inputs: Tensor) -> Any:
        return self.run(self.model, *inputs)


def _export(
    graph: _Graph,
    args: tuple[Tensor, ...],
    path: str | os.PathLike[str],
    *,
    inputs: list[str],
    outputs: list[str],
    dynamic: list[dict[int, Any]],
    metadata: dict[str, str],
) -> Path:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as error:
        raise ImportError(_INSTALL) from error
    target = Path(path)
    scratch = target.with_name(f".{target.name}.writing")
    model = graph.model
    device = next(model.parameters()).device
    modes = [(module, module.training) for module in model.modules()]
    model.cpu().eval()
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(
                graph,
                args,
                dynamo=True,
                input_names=inputs,
                output_names=outputs,
                dynamic_shapes={"inputs": tuple(dynamic)},  # forward(*inputs)
                verbose=False,
            )
        assert program is not None
        program.save(str(scratch))
        proto = onnx.load(str(scratch))
        onnx.helper.set_model_props(proto, metadata)
        onnx.save(proto, str(scratch))
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
        model.to(device)
        for module, training in modes:
            module.training = training
    return target


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's progress lines and warnings (they are not the user's)."""
    exporter = logging.getLogger("torch.onnx")
    level = exporter.level
    exporter.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        exporter.setLevel(level)
