"""The artifact folder: a model's architecture, weights, tokenizer and labels, on disk.

An artifact is a folder holding

- ``config.json``: the format and seqlearn versions, the task, the label names, the
  model's architecture as a nested description of its parts (see
  :mod:`seqlearn.nn.registry`) and free-form metadata;
- ``model.safetensors``: the weights (``safetensors`` stores tensors and nothing else, so
  loading runs no code);
- ``tokenizer.json``: the tokenizer's settings.

The names follow the Hugging Face hub's conventions (``config.json`` beside
``model.safetensors``), so an artifact folder can be published with the hub's own tools.
Saving writes a complete new folder beside the old one and swaps the two in one step, so
a crash leaves the previous artifact whole; files of your own in the folder (metrics,
plots, checkpoints) are kept. Loading checks everything before returning and changes
nothing it was given.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from seqlearn._version import __version__
from seqlearn.nn.registry import PartError, build, describe
from seqlearn.tokenize.protocol import Tokenizer, tokenizer_from_dict

__all__ = [
    "ARTIFACT_FILES",
    "FORMAT_VERSION",
    "Artifact",
    "ArtifactError",
    "read_artifact",
    "save_artifact",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""The artifact format this seqlearn writes, and the newest it reads.

Example:
    >>> FORMAT_VERSION
    1
"""

CONFIG, WEIGHTS, TOKENIZER = "config.json", "model.safetensors", "tokenizer.json"
ARTIFACT_FILES = (CONFIG, WEIGHTS, TOKENIZER)
"""The files an artifact folder holds; saving replaces these and keeps any others.

Example:
    >>> ARTIFACT_FILES
    ('config.json', 'model.safetensors', 'tokenizer.json')
"""

_FORMAT = "seqlearn.artifact"
_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_FLOAT_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_FLOAT_DTYPES.update({"float16": torch.float16, "bfloat16": torch.bfloat16})


class ArtifactError(ValueError):
    """An artifact folder cannot be saved or loaded as it is.

    The message names the file and what is wrong with it: a missing or extra tensor, a
    wrong shape or dtype, malformed JSON, an unknown part, a format newer than this
    seqlearn.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     try:
        ...         read_artifact(root)
        ...     except ArtifactError as error:
        ...         print(str(error).split(": ", 1)[1])
        no config.json: this is not a seqlearn artifact folder
    """


class Artifact(NamedTuple):
    """What an artifact folder holds, loaded.

    Attributes:
        model: The rebuilt model with its saved weights, in eval mode, on the CPU.
        tokenizer: The rebuilt tokenizer.
        task: What the model does, e.g. ``"text-classification"``.
        labels: The names of the classes (or categories), or ``None``.
        metadata: The free-form metadata saved with it.
        seqlearn_version: The seqlearn version that wrote it.
        path: The folder.

    Example:
        >>> Artifact._fields
        ('model', 'tokenizer', 'task', 'labels', 'metadata', 'seqlearn_version', 'path')
    """

    model: nn.Module
    tokenizer: Any
    task: str
    labels: list[str] | None
    metadata: dict[str, Any]
    seqlearn_version: str
    path: Path


def save_artifact(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    task: str,
    tokenizer: Tokenizer,
    labels: list[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model, its tokenizer and labels as an artifact folder, atomically.

    The model's description is checked first: it must rebuild a model with the same
    tensors (names, shapes, dtypes), which fails if a part is not registered or the model
    was changed after it was built. Nothing is written unless that holds.

    Args:
        path: The folder; created if missing. Files other than :data:`ARTIFACT_FILES` in
            an existing folder are kept.
        model: A module built from registered parts (every part of :mod:`seqlearn.nn`).
        task: What the model does; :func:`~seqlearn.artifacts.load` picks the predictor by
            it (``"text-classification"`` or ``"conditional-generation"``).
        tokenizer: The tokenizer the model reads.
        labels: The class (or category) names, in id order.
        metadata: Anything JSON can hold, e.g. training metrics.

    Returns:
        The folder.

    Raises:
        PartError: If a part of the model is not registered (naming it and what to do).
        ArtifactError: If the model's description does not rebuild it, the metadata is
            not JSON, or ``path`` is a file.
        OSError: If writing fails; the previous artifact stays as it was.

    Example:
        >>> import tempfile
        >>> from seqlearn.nn import lecture_classifier
        >>> from seqlearn.tokenize import CharTokenizer
        >>> with tempfile.TemporaryDirectory() as root:
        ...     folder = save_artifact(f"{root}/model", lecture_classifier(num_classes=2),
        ...                            task="text-classification", tokenizer=CharTokenizer(),
        ...                            labels=["no", "yes"])
        ...     sorted(p.name for p in folder.iterdir())
        ['config.json', 'model.safetensors', 'tokenizer.json']
    """
    target = Path(path)
    description = describe(model)
    config: dict[str, Any] = {
        "library_name": "seqlearn",
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "seqlearn_version": __version__,
        "task": task,
        "labels": None if labels is None else [str(label) for label in labels],
        "dtype": _uniform_dtype(model),
        "model": description,
        "metadata": dict(metadata or {}),
    }
    try:
        config_text = json.dumps(config, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        tokenizer_text = json.dumps(tokenizer.to_dict(), indent=2, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as error:
        raise ArtifactError(f"{target / CONFIG}: the metadata is not JSON: {error}") from error
    _check_rebuilds(model, description, config["dtype"], target)
    weights, aliases = _unique_tensors(model.state_dict())

    def write(folder: Path) -> None:
        save_file(
            weights,
            folder / WEIGHTS,
            metadata={"format": "pt", "aliases": json.dumps(aliases)},
        )
        _fsync(folder / WEIGHTS)
        _write_text(folder / TOKENIZER, tokenizer_text)
        _write_text(folder / CONFIG, config_text)

    _replace_folder(target, write)
    return target


def read_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Load an artifact folder, checking every file before anything is returned.

    Nothing is unpickled and no code named in a file runs: the model is rebuilt by the
    registered constructors of its parts (a part of your own must be registered, by
    importing its module, before loading) and filled from ``model.safetensors``.

    Args:
        path: The folder written by :func:`save_artifact`.

    Returns:
        The model (eval mode, CPU), tokenizer, task, labels and metadata.

    Raises:
        ArtifactError: If a file is missing or malformed, the format is newer than this
            seqlearn reads, a part is unknown, or the weights do not fit the model (a
            missing or extra tensor, a wrong shape or dtype); the message names the file.

    Example:
        >>> import tempfile
        >>> from seqlearn.nn import lecture_classifier
        >>> from seqlearn.tokenize import CharTokenizer
        >>> with tempfile.TemporaryDirectory() as root:
        ...     _ = save_artifact(root, lecture_classifier(num_classes=2),
        ...                       task="text-classification", tokenizer=CharTokenizer(),
        ...                       labels=["no", "yes"], metadata={"accuracy": 0.9})
        ...     loaded = read_artifact(root)
        >>> type(loaded.model).__name__, loaded.labels, loaded.metadata
        ('SequenceClassifier', ['no', 'yes'], {'accuracy': 0.9})
    """
    folder = _existing_folder(Path(path))
    config = _read_config(folder / CONFIG)
    try:
        with torch.random.fork_rng(devices=[]):  # building draws weights: not the caller's
            model = build(config["model"])
    except (PartError, ValueError) as error:
        raise ArtifactError(f"{folder / CONFIG}: {error}") from error
    if not isinstance(model, nn.Module):
        raise ArtifactError(f"{folder / CONFIG}: 'model' does not describe a module")
    if config["dtype"] is not None:
        model.to(_FLOAT_DTYPES[config["dtype"]])
    _load_weights(model, folder / WEIGHTS)
    model.eval()
    tokenizer = _read_tokenizer(folder / TOKENIZER)
    return Artifact(
        model,
        tokenizer,
        config["task"],
        config["labels"],
        config["metadata"],
        config["seqlearn_version"],
        folder,
    )


# ------------------------------------------------------------------------------ reading


def _existing_folder(folder: Path) -> Path:
    if not folder.exists():
        previous = _backup_of(folder)
        if not previous.is_dir():
            raise ArtifactError(f"{folder}: no such folder")
        # a save was cut off between its two renames: the previous artifact is whole
        logger.warning("%s: missing; reading the previous artifact at %s", folder, previous)
        folder = previous
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: not a folder; an artifact is a folder of files")
    if not (folder / CONFIG).is_file():
        raise ArtifactError(f"{folder}: no {CONFIG}: this is not a seqlearn artifact folder")
    return folder


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; an artifact folder holds {ARTIFACT_FILES}") from None
    except UnicodeDecodeError as error:
        raise ArtifactError(f"{path}: not UTF-8 text ({error})") from error
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: malformed JSON: {error}") from error


def _read_config(path: Path) -> dict[str, Any]:
    config = _read_json(path)
    if not isinstance(config, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(config).__name__}")
    if config.get("format") != _FORMAT:
        raise ArtifactError(f"{path}: field 'format' is {config.get('format')!r}, not {_FORMAT!r}")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArtifactError(
            f"{path}: field 'format_version' must be a positive int, got {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: written in artifact format {version} (by seqlearn "
            f"{config.get('seqlearn_version')!r}), newer than the format {FORMAT_VERSION} "
            f"this seqlearn {__version__} reads; upgrade seqlearn to load it"
        )
    fields: dict[str, Callable[[object], bool]] = {
        "seqlearn_version": lambda v: isinstance(v, str),
        "task": lambda v: isinstance(v, str),
        "labels": lambda v: (
            v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        ),
        "dtype": lambda v: v is None or (isinstance(v, str) and v in _FLOAT_DTYPES),
        "model": lambda v: isinstance(v, dict),
        "metadata": lambda v: isinstance(v, dict),
    }
    for name, valid in fields.items():
        if name not in config:
            raise ArtifactError(f"{path}: missing field {name!r}")
        if not valid(config[name]):
            raise ArtifactError(f"{path}: field {name!r} has an invalid value {config[name]!r:.80}")
    return config


def _read_tokenizer(path: Path) -> Any:
    data = _read_json(path)
    try:
        return tokenizer_from_dict(data)
    except (TypeError, ValueError) as error:
        raise ArtifactError(f"{path}: {error}") from error


def _load_weights(model: nn.Module, path: Path) -> None:
    """Fill ``model`` from ``path`` after checking every name, shape and dtype."""
    expected, aliases = _unique_tensors(model.state_dict())
    try:
        with safe_open(path, framework="pt") as weights:
            names = set(weights.keys())
            problems = _mismatches(expected, names, weights)
            if problems:
                raise ArtifactError(f"{path}: the weights do not fit the model: {problems}")
            tensors = {name: weights.get_tensor(name) for name in expected}
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; an artifact folder holds {ARTIFACT_FILES}") from None
    except (SafetensorError, OSError, ValueError) as error:
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(f"{path}: not a readable safetensors file ({error})") from error
    tensors.update({alias: tensors[primary] for alias, primary in aliases.items()})
    model.load_state_dict(tensors, strict=True)


def _mismatches(expected: dict[str, Tensor], names: set[str], weights: Any) -> str:
    missing = sorted(set(expected) - names)
    extra = sorted(names - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensor(s) {missing}")
    if extra:
        problems.append(f"unexpected tensor(s) {extra}")
    for name in sorted(set(expected) & names):
        tensor = expected[name]
        piece = weights.get_slice(name)
        shape, dtype = tuple(piece.get_shape()), piece.get_dtype()
        if shape != tuple(tensor.shape):
            problems.append(f"{name} has shape {shape}, the model expects {tuple(tensor.shape)}")
        elif dtype != _DTYPES.get(tensor.dtype):
            problems.append(f"{name} has dtype {dtype}, the model expects {tensor.dtype}")
    return "; ".join(problems)


# ------------------------------------------------------------------------------ writing


def _uniform_dtype(model: nn.Module) -> str | None:
    """The dtype name of the model's floating tensors if they share one and it is not the
    default float32 (a rebuilt model is cast to it before loading), else ``None``."""
    dtypes = {t.dtype for t in model.state_dict().values() if t.is_floating_point()}
    if len(dtypes) != 1:
        return None
    name = str(dtypes.pop()).removeprefix("torch.")
    return name if name in _FLOAT_DTYPES and name != "float32" else None


def _check_rebuilds(model: nn.Module, description: Any, dtype: str | None, target: Path) -> None:
    """Raise unless building ``description`` gives a model with ``model``'s tensors."""
    with torch.random.fork_rng(devices=[]):
        rebuilt = build(description)
    if dtype is not None:
        rebuilt.to(_FLOAT_DTYPES[dtype])
    have = {k: (tuple(t.shape), t.dtype) for k, t in model.state_dict().items()}
    want = {k: (tuple(t.shape), t.dtype) for k, t in rebuilt.state_dict().items()}
    if have != want:
        differ = sorted(set(have) ^ set(want)) or sorted(k for k in have if have[k] != want[k])
        raise ArtifactError(
            f"{target / CONFIG}: the model's description does not rebuild it (tensors "
            f"{differ[:5]} differ); was a part replaced after the model was built? Build "
            "the model from its parts' constructors, or register a part whose constructor "
            "describes it"
        )


def _unique_tensors(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The state's tensors with each shared one once (the first name), and the other names
    of shared tensors (``alias -> first name``), as tied weights are."""
    unique: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], str] = {}
    storages: set[int] = set()
    for name, tensor in state.items():
        tensor = tensor.detach()
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else 0
        key = (pointer, int(tensor.storage_offset()), tuple(tensor.shape), tensor.stride())
        if pointer and key in seen:
            aliases[name] = seen[key]
            continue
        if pointer:
            seen[key] = name
        if pointer in storages:  # part of another saved tensor: save its own copy
            tensor = tensor.clone()
        storages.add(pointer)
        unique[name] = tensor.cpu().contiguous()
    return unique, aliases


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.previous")


def _replace_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Write a new folder with ``write`` beside ``target`` and swap it in atomically.

    Files of ``target`` that are not artifact files are carried over (hard links, or
    copies where links fail). The swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux;
    elsewhere it is two renames, and a crash between them leaves the old folder at
    ``.<name>.previous``, which :func:`read_artifact` moves back.
    """
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{target}: a file is in the way; an artifact is a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        if target.is_dir():
            for entry in target.iterdir():
                if entry.name not in ARTIFACT_FILES:
                    _carry_over(entry, scratch / entry.name)
        write(scratch)
        _fsync(scratch)
        if not target.exists():
            os.rename(scratch, target)
        elif not _exchange(scratch, target):
            backup = _backup_of(target)
            shutil.rmtree(backup, ignore_errors=True)
            os.rename(target, backup)
            os.rename(scratch, target)
            shutil.rmtree(backup, ignore_errors=True)
        _fsync(target.parent)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the old folder after an exchange


def _carry_over(source: Path, destination: Path) -> None:
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, destination, copy_function=link_or_copy, symlinks=True)
    elif source.is_symlink():
        os.symlink(os.readlink(source), destination)
    else:
        link_or_copy(str(source), str(destination))


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); ``False`` if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel or file system
        return False
    raise OSError(code, os.strerror(code), str(second))
