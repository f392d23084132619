"""A run's settings carried in its checkpoints, so that resuming refuses other settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typing_extensions import override

from seqlearn.train.callbacks import Callback
from seqlearn.train.checkpoint import load_checkpoint

__all__ = ["RunSettings", "load_resumable"]

_KEY = "run_settings"


class RunSettings(Callback):
    """Keeps a run's settings, and values found during the run (such as a searched learning
    rate), in every checkpoint the trainer writes.

    :func:`load_resumable` reads them back before a resumed run builds anything, and
    refuses a checkpoint whose settings differ from the new command line: resuming with
    another seed or learning rate would not continue the same run.

    Args:
        settings: What decides what the run trains, as strings (flags, hyper-parameters).
        values: Values found during the run that a resumed run must reuse, not find again.

    Example:
        >>> import torch
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.train import ModelCheckpoint, Trainer, next_token_loss
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> model = lecture_generator(hidden_size=8)
        >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> run = RunSettings({"seed": "0", "lr": "0.1"}, values={"found_lr": 0.4})
        >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0,
        ...                   callbacks=[run, ModelCheckpoint(folder / "checkpoint.pt")])
        >>> _ = trainer.fit([collate_next_token([([1, 2, 3], 0)], eos_id=58)], epochs=1)
        >>> state = load_resumable(folder / "checkpoint.pt", {"seed": "0", "lr": "0.1"})
        >>> RunSettings.values_in(state)
        {'found_lr': 0.4}
        >>> load_resumable(folder / "checkpoint.pt", {"seed": "3", "lr": "0.1"})
        Traceback (most recent call last):
        ...
        ValueError: ... was written with other settings: --seed 3 (checkpoint: 0); ...
    """

    def __init__(
        self, settings: Mapping[str, str], *, values: Mapping[str, Any] | None = None
    ) -> None:
        self.settings = dict(settings)
        self.values: dict[str, Any] = dict(values or {})

    @override
    def state_dict(self) -> dict[str, Any]:
        return {_KEY: dict(self.settings), "values": dict(self.values)}

    @override
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.values = dict(state.get("values", {}))  # the settings were compared on load

    @staticmethod
    def values_in(state: Mapping[str, Any]) -> dict[str, Any]:
        """The values a run's :class:`RunSettings` kept, from a loaded checkpoint.

        Args:
            state: What :func:`load_resumable` returned.

        Returns:
            The values (empty if the checkpoint holds none).
        """
        saved = _saved(state)
        return {} if saved is None else dict(saved.get("values", {}))


def _saved(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The state of the checkpoint's :class:`RunSettings`, or ``None``."""
    callbacks = state.get("callbacks")
    if not isinstance(callbacks, list):
        return None
    return next((c for c in callbacks if isinstance(c, Mapping) and _KEY in c), None)


def load_resumable(path: str | Path, settings: Mapping[str, str]) -> dict[str, Any]:
    """Load a checkpoint to resume from, after checking that it was written with
    ``settings`` (by a trainer holding a :class:`RunSettings`).

    Loading never unpickles arbitrary objects (see :func:`load_checkpoint`).

    Args:
        path: The checkpoint file.
        settings: The new run's settings, as given to its :class:`RunSettings`.

    Returns:
        The checkpoint's state, on the CPU.

    Raises:
        ValueError: If there is no file, it is not a checkpoint, it holds no run settings,
            or its settings differ; the message names the file and each setting that
            differs (as ``--name new (checkpoint: old)``).
    """
    path = Path(path)
    try:
        state = load_checkpoint(path, map_location="cpu")
    except FileNotFoundError:
        raise ValueError(f"no checkpoint {path}; train without resuming to start a run") from None
    except (OSError, ValueError) as error:  # its message names the file and the problem
        raise ValueError(str(error)) from None
    saved = _saved(state)
    old = None if saved is None else saved[_KEY]
    if not isinstance(old, Mapping):
        raise ValueError(f"{path} holds no run settings: it was not written by this program")
    differ = [
        f"--{key.replace('_', '-')} {settings.get(key)} (checkpoint: {old.get(key)})"
        for key in sorted(set(settings) | set(old))
        if settings.get(key) != old.get(key)
    ]
    if differ:
        raise ValueError(
            f"{path} was written with other settings: {'; '.join(differ)}; "
            "pass the same settings, or train afresh without resuming"
        )
    return state
