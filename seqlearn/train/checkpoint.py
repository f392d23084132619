"""Checkpoints: atomic files that load with ``weights_only=True``, and the random states to resume.

A checkpoint is a plain mapping of tensors, numbers, strings, ``None`` and dicts, lists or
tuples of those, such as model, optimiser and scheduler ``state_dict()`` values. Restricting
it to what :func:`torch.load` accepts with ``weights_only=True`` means loading a checkpoint
never runs code from the file. :func:`save_checkpoint` checks this before writing and
replaces the file atomically, so a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.serialization import MAP_LOCATION

__all__ = ["capture_rng_states", "load_checkpoint", "restore_rng_states", "save_checkpoint"]

logger = logging.getLogger(__name__)

_FORMAT = "seqlearn.checkpoint"
_FORMAT_VERSION = 1
_MARKERS = ("format", "format_version")
# Exact types only: subclasses (NamedTuples, IntEnums, numpy scalars) pickle as their class,
# which weights_only refuses. This is the set every supported torch version (>= 2.2) loads.
_SCALARS = (str, int, float, bool, type(None))
_TENSORS = (Tensor, torch.nn.Parameter)
_CONTAINERS = (dict, OrderedDict, list, tuple)
_PYTHON_KEYS = ("version", "state", "gauss_next")
_NUMPY_KEYS = ("name", "keys", "pos", "has_gauss", "cached_gaussian")


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Mapping[str, object]) -> Path:
    """Write a checkpoint atomically: the file at ``path`` is always a whole checkpoint.

    The data go to a temporary file ``.<name>.<random>.tmp`` in the same folder, which is
    flushed, fsynced and then renamed onto ``path`` (atomic on POSIX); then the folder
    is fsynced where the platform allows. On an error the temporary file is removed and an
    earlier checkpoint at ``path`` stays as it was. A process killed mid-save may leave a
    ``.tmp`` file behind, never a partial checkpoint at ``path``. The file gets the usual
    permissions (``0o666`` less the umask). The format markers ``"format"`` and
    ``"format_version"`` are added; :func:`load_checkpoint` checks and removes them.

    Args:
        path: Where to write; missing parent folders are created.
        checkpoint: Tensors, ``str``, ``int``, ``float``, ``bool``, ``None``, and dicts,
            lists and tuples of these, nested freely (``state_dict()`` values qualify).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: If anything in ``checkpoint`` would not load with ``weights_only=True``
            (a NumPy array, a NamedTuple, any other object); the message names its key path.
            Nothing is written.
        ValueError: If ``checkpoint`` holds one of the reserved keys ``"format"`` or
            ``"format_version"``.
        OSError: If writing fails; the previous checkpoint is kept.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_checkpoint(Path(folder) / "run" / "last.pt", {"epoch": 3})
        ...     print(path.name, load_checkpoint(path))
        last.pt {'epoch': 3}
    """
    path = Path(path)
    reserved = [key for key in _MARKERS if key in checkpoint]
    if reserved:
        raise ValueError(f"checkpoint keys {reserved} are reserved for the file format")
    _check_loadable(dict(checkpoint), "checkpoint", set())
    payload = {"format": _FORMAT, "format_version": _FORMAT_VERSION, **checkpoint}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = _create_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
            size = file.tell()
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    logger.debug("saved checkpoint %s (%d bytes)", path, size)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: MAP_LOCATION = None
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Args:
        path: The checkpoint file.
        map_location: Where to put the tensors, as for :func:`torch.load` (e.g. ``"cpu"``).

    Returns:
        The checkpoint as saved, without the format markers.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        OSError: If reading the file fails (a disk error, a folder at ``path``).
        ValueError: If the file is truncated or corrupt, holds objects that
            ``weights_only=True`` refuses (their code is never run), lacks the seqlearn
            format marker, or comes from a newer format version. The underlying error, if
            any, is chained.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_checkpoint(Path(folder) / "last.pt", {"weights": torch.ones(2)})
        ...     checkpoint = load_checkpoint(path, map_location="cpu")
        >>> checkpoint
        {'weights': tensor([1., 1.])}
    """
    path = Path(path)
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no checkpoint file", str(path)) from None
    with file:
        try:
            loaded = torch.load(file, map_location=map_location, weights_only=True)
        except OSError as error:
            # torch's zip reader seeks to offsets it read from the file: a truncated file
            # can send it before the start (EINVAL). Other errors are the disk's, not the file's.
            if error.errno != errno.EINVAL:
                raise
            raise _not_loadable(path, error) from error
        except Exception as error:
            raise _not_loadable(path, error) from error
    if not isinstance(loaded, dict) or loaded.get("format") != _FORMAT:
        raise ValueError(
            f"{path} is not a loadable seqlearn checkpoint: "
            f"expected a dict with 'format': {_FORMAT!r}, got {type(loaded).__name__} without it"
        )
    version = loaded.get("format_version")
    if type(version) is not int or not 1 <= version <= _FORMAT_VERSION:
        raise ValueError(
            f"{path} is not a loadable seqlearn checkpoint: format_version {version!r} is not "
            f"one this version of seqlearn reads (1 to {_FORMAT_VERSION})"
        )
    logger.debug("loaded checkpoint %s (format_version %d)", path, version)
    return {key: value for key, value in loaded.items() if key not in _MARKERS}


def _not_loadable(path: Path, error: Exception) -> ValueError:
    first_line = str(error).split("\n", 1)[0][:200]
    return ValueError(
        f"{path} is not a loadable seqlearn checkpoint ({type(error).__name__}: {first_line})"
    )


def capture_rng_states() -> dict[str, object]:
    """The global random states of torch (CPU and every CUDA device), ``random`` and NumPy.

    The result can go into a checkpoint as is (it loads with ``weights_only=True``).

    Returns:
        A dict with ``"torch"`` (a ByteTensor), ``"python"`` (``version``, ``state``,
        ``gauss_next``), ``"numpy"`` (``name``, ``keys`` as an int64 tensor, ``pos``,
        ``has_gauss``, ``cached_gaussian``) and, when CUDA is available, ``"cuda"`` (a list
        of ByteTensors, one per device).

    Example:
        >>> states = capture_rng_states()
        >>> first = (torch.rand(1), random.random(), np.random.rand())
        >>> restore_rng_states(states)
        >>> (torch.rand(1), random.random(), np.random.rand()) == first
        True
    """
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached_gaussian = _numpy_global_state()
    states: dict[str, object] = {
        "torch": torch.get_rng_state(),
        "python": {"version": int(version), "state": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Mapping[str, object]) -> None:
    """Set the global random states to those from :func:`capture_rng_states`.

    Every state is checked before any is set, so an invalid one changes nothing. CUDA
    states are set only when present and CUDA is available; with fewer or more devices
    than were captured, the common ones are set and a warning is logged.

    Args:
        states: As returned by :func:`capture_rng_states`, possibly through a checkpoint
            loaded with any ``map_location``. Unknown keys are ignored.

    Raises:
        ValueError: If a key is missing or a state is invalid; the message names the key.

    Example:
        >>> states = capture_rng_states()
        >>> first = torch.randn(3)
        >>> restore_rng_states(states)
        >>> torch.equal(torch.randn(3), first)
        True
    """
    torch_state = _tensor(_get(states, "torch", "rng states"), "rng states['torch']")
    _trial(lambda: torch.Generator().set_state(torch_state), "rng states['torch']")
    python_state = _python_state(_get(states, "python", "rng states"))
    _trial(lambda: random.Random().setstate(python_state), "rng states['python']")
    numpy_state = _numpy_state(_get(states, "numpy", "rng states"))
    _trial(lambda: np.random.RandomState().set_state(numpy_state), "rng states['numpy']")
    cuda_states = _cuda_states(states.get("cuda"))
    torch.set_rng_state(torch_state)
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    if cuda_states and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if count != len(cuda_states):
            logger.warning("restoring %d CUDA random states on %d devices", len(cuda_states), count)
        for device, state in enumerate(cuda_states[:count]):
            torch.cuda.set_rng_state(state, device)
    elif cuda_states:
        logger.debug("CUDA is not available; its saved random states are not restored")


def _check_loadable(value: object, where: str, seen: set[int]) -> None:
    kind = type(value)
    if kind in _SCALARS or kind in _TENSORS:
        return
    if kind not in _CONTAINERS:
        raise TypeError(
            f"{where}: {_type_name(kind)} is not loadable with weights_only=True{_hint(value)}"
        )
    if id(value) in seen:  # shared or cyclic: checked already
        return
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            _check_loadable(key, f"{where} (the key {key!r})", seen)
            _check_loadable(item, f"{where}[{key!r}]", seen)
        for name, attribute in vars(value).items() if kind is OrderedDict else ():
            _check_loadable(attribute, f"{where}.{name}", seen)  # a state_dict's _metadata
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]", seen)


def _type_name(kind: type) -> str:
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"{module}{kind.__qualname__}"


def _hint(value: object) -> str:
    if isinstance(value, tuple):
        return "; convert the NamedTuple with tuple(...) or ._asdict()"
    if isinstance(value, np.ndarray):
        return "; convert it with torch.from_numpy(...)"
    if isinstance(value, np.generic | int | float | str):
        return "; convert it with .item() or int(), float(), str()"
    return "; store tensors, str, int, float, bool, None, and dicts, lists or tuples of these"


def _create_temporary(path: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary  # the umask applies
        except FileExistsError:
            continue


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; its rename is durable already
        return
    try:
        os.fsync(descriptor)
    except OSError as error:  # some file systems refuse to fsync folders
        logger.debug("could not fsync folder %s: %s", folder, error)
    finally:
        os.close(descriptor)


def _numpy_global_state() -> tuple[str, npt.NDArray[np.uint32], int, int, float]:
    state = np.random.get_state(legacy=True)
    if not isinstance(state, tuple):  # only for non-MT19937 legacy bit generators
        raise TypeError(f"NumPy's global bit generator is not MT19937: {state['bit_generator']}")
    return state


def _get(mapping: object, key: str, where: str) -> object:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where}: expected a dict, got {type(mapping).__name__}")
    if key not in mapping:
        raise ValueError(
            f"{where} are missing the key {key!r}; capture them with capture_rng_states()"
        )
    return mapping[key]


def _tensor(value: object, where: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise ValueError(f"{where}: expected a tensor, got {type(value).__name__}")
    return value.cpu()


def _trial(set_state: Callable[[], object], where: str) -> None:
    """Run ``set_state`` on a throwaway generator, turning its complaints into ValueError."""
    try:
        set_state()
    except (TypeError, ValueError, RuntimeError, OverflowError, IndexError) as error:
        raise ValueError(f"{where} is not a valid random state: {error}") from error


def _python_state(value: object) -> tuple[object, tuple[object, ...], object]:
    where = "rng states['python']"
    version, internal, gauss_next = (_get(value, key, where) for key in _PYTHON_KEYS)
    if not isinstance(internal, list | tuple):
        raise ValueError(f"{where}['state']: expected a list, got {type(internal).__name__}")
    if gauss_next is not None and type(gauss_next) is not float:
        raise ValueError(f"{where}['gauss_next']: expected a float or None, got {gauss_next!r}")
    return version, tuple(internal), gauss_next


def _numpy_state(value: object) -> tuple[Any, ...]:  # the rest checked by a trial
    where = "rng states['numpy']"
    name, keys, pos, has_gauss, cached_gaussian = (_get(value, key, where) for key in _NUMPY_KEYS)
    keys = _tensor(keys, f"{where}['keys']")
    if keys.dtype != torch.int64 or keys.shape != (624,) or not bool((keys >> 32 == 0).all()):
        raise ValueError(
            f"{where}['keys']: expected an int64 tensor of 624 32-bit words, "
            f"got {keys.dtype} of shape {tuple(keys.shape)}"
        )
    return name, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian


def _cuda_states(value: object) -> list[Tensor]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(f"rng states['cuda']: expected a list, got {type(value).__name__}")
    states = [_tensor(state, f"rng states['cuda'][{i}]") for i, state in enumerate(value)]
    if any(state.dtype != torch.uint8 for state in states):
        raise ValueError("rng states['cuda']: expected uint8 tensors")
    return states
