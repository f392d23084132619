"""Named parts: how a model describes itself as plain data and is rebuilt from it.

A model saved as an artifact (see :mod:`seqlearn.artifacts`) keeps its architecture as
JSON: a nested description of the parts it is built from, each named by the name it was
registered under, with the arguments its constructor received. Loading rebuilds the model
by calling the registered constructors with those arguments, and nothing else: a name
that is not registered is an error, so a file can never make seqlearn import or run code.

Every public part of :mod:`seqlearn.nn` is registered. Register your own cell, module or
function (a pooling or merge function) with :func:`~seqlearn.nn.register`; the class's constructor
arguments are then recorded each time it is built, so it saves and loads like a
seqlearn part. A few torch.nn modules that models commonly hold (``Embedding``,
``Linear``, ``Dropout``, ``Identity``, ``LayerNorm``) are registered too.

A description is JSON: ``{"class": name, "config": {argument: value}}`` for a module,
``{"function": name}`` for a function, ``{"dict": {...}}`` for a mapping, lists for
sequences, and numbers, strings, booleans and ``null`` as themselves.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, overload

from torch import nn

__all__ = [
    "PartError",
    "build",
    "describe",
    "register",
    "registered_name",
]

T = TypeVar("T")
ModuleT = TypeVar("ModuleT", bound=nn.Module)

_ARGUMENTS = "_seqlearn_arguments"
_SKIPPED = frozenset({"generator"})  # randomness for initial weights: the weights are saved

_PARTS: dict[str, object] = {}
"""Registered name -> class or function."""
_BUILDERS: dict[str, Callable[..., Any]] = {}
"""Registered name of a class -> what builds it from its arguments (the class itself, but
for classes registered from outside)."""
_NAMES: dict[object, str] = {}
"""Registered class or function -> name."""
_FOREIGN: dict[type, Callable[[Any], dict[str, Any]]] = {}
"""Classes registered from outside (torch.nn) -> how to read their arguments."""


class PartError(TypeError):
    """A part of a model cannot be described (saving) or built (loading).

    Raised when saving meets a class or function that is not registered, or a constructor
    argument that is not plain data, and when loading meets a name that is not registered.
    The message names where in the model the part sits (``model.encoder.cell``) and what to
    do.

    Example:
        >>> import torch
        >>> from seqlearn.nn import Recurrent, GRUCell
        >>> class Doubled(torch.nn.Module):
        ...     def forward(self, x):
        ...         return 2 * x
        >>> try:
        ...     describe(Doubled())
        ... except PartError as error:
        ...     print(str(error).split(";")[0])
        model: Doubled is not a registered part
    """


@overload
def register(name: str, /) -> Callable[[T], T]: ...


@overload
def register(part: T, /) -> T: ...


def register(name_or_part: object, /) -> Any:
    """Register a module class or a function under a name, so models holding it save and load.

    Use it as a decorator, with a name (recommended: a stable one, such as
    ``"my_project.ConcatCell"``) or without (the name is then ``module.QualifiedName``).
    For a class, the arguments each instance's constructor receives are recorded (after it
    returns) and saved as the part's configuration; a ``generator`` argument is left out,
    since the weights are saved. The constructor must take its arguments by name (no
    ``*args`` and no positional-only parameters), and every argument must be plain data, a
    registered part or a registered function. Only instances of exactly the registered
    class are recorded: a subclass needs its own registration.

    Args:
        name_or_part: The name to register under, or the class or function itself.

    Returns:
        A decorator (given a name), or the part itself, unchanged but for the recording
        constructor.

    Raises:
        TypeError: If the part is neither an :class:`torch.nn.Module` subclass nor a
            function, or its constructor takes ``*args`` or positional-only parameters.
        ValueError: If the name is empty or already names another part.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> @register("docs.Scale")
        ... class Scale(nn.Module):
        ...     def __init__(self, factor: float) -> None:
        ...         super().__init__()
        ...         self.factor = factor
        ...     def forward(self, x):
        ...         return self.factor * x
        >>> describe(Scale(2.5))
        {'class': 'docs.Scale', 'config': {'factor': 2.5}}
        >>> build({'class': 'docs.Scale', 'config': {'factor': 3.0}}).factor
        3.0
    """
    if isinstance(name_or_part, str):
        name = name_or_part

        def decorate(part: T) -> T:
            return _register(part, name)

        return decorate
    return _register(name_or_part, None)


def _register(part: T, name: str | None) -> T:
    if name is None:
        name = f"{getattr(part, '__module__', '')}.{getattr(part, '__qualname__', '')}"
    if not name or not isinstance(name, str):
        raise ValueError(f"a registered name must be a non-empty str, got {name!r}")
    holder = _PARTS.get(name)
    if holder is not None and holder is not part and _same_origin(holder, part):
        holder = None  # the same definition run again (a reloaded module, a doctest)
    if holder is not None and holder is not part:
        raise ValueError(f"the name {name!r} already names {holder!r}")
    if isinstance(part, type):
        if not issubclass(part, nn.Module):
            raise TypeError(f"only torch.nn.Module classes can be registered, got {part!r}")
        _record_arguments(part)
    elif not inspect.isfunction(part):
        raise TypeError(f"expected a module class or a function to register, got {part!r}")
    _PARTS[name] = part
    _NAMES[part] = name
    if isinstance(part, type):
        _BUILDERS[name] = part
    return part


def _same_origin(first: object, second: object) -> bool:
    return (getattr(first, "__module__", None), getattr(first, "__qualname__", None)) == (
        getattr(second, "__module__", None),
        getattr(second, "__qualname__", None),
    )


def _record_arguments(cls: type[nn.Module]) -> None:
    """Wrap ``cls.__init__`` so each instance of exactly ``cls`` keeps its arguments."""
    original = cls.__init__
    signature = inspect.signature(original)
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.POSITIONAL_ONLY):
            raise TypeError(
                f"cannot register {cls.__qualname__}: its constructor takes "
                f"{parameter.name!r} positionally only; parts are rebuilt from named arguments"
            )

    @functools.wraps(original)
    def recording_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if type(self) is cls:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments: dict[str, Any] = {}
            for key, value in list(bound.arguments.items())[1:]:
                if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(value)
                elif key not in _SKIPPED:
                    arguments[key] = value
            object.__setattr__(self, _ARGUMENTS, arguments)

    cls.__init__ = recording_init  # type: ignore[method-assign]


def _register_foreign(
    cls: type[ModuleT],
    name: str,
    arguments: Callable[[ModuleT], dict[str, Any]],
    builder: Callable[..., ModuleT] | None = None,
) -> None:
    """Register a class defined elsewhere (torch.nn), reading its arguments off an instance."""
    _PARTS[name] = cls
    _NAMES[cls] = name
    _FOREIGN[cls] = arguments
    _BUILDERS[name] = cls if builder is None else builder


def registered_name(part: object) -> str | None:
    """The name a class or function is registered under, or ``None``.

    Args:
        part: A class or a function.

    Returns:
        Its registered name.

    Example:
        >>> from seqlearn.nn import GRUCell, max_pool
        >>> registered_name(GRUCell), registered_name(max_pool), registered_name(print)
        ('seqlearn.nn.GRUCell', 'seqlearn.nn.max_pool', None)
    """
    try:
        return _NAMES.get(part)
    except TypeError:  # unhashable
        return None


def describe(part: object, where: str = "model") -> Any:
    """The JSON description of a registered module (or function, or plain value).

    Args:
        part: A module built from registered parts.
        where: How the part is named in errors.

    Returns:
        A JSON-serialisable description that :func:`build` turns back into the part.

    Raises:
        PartError: If a part's class or a function is not registered, an argument is not
            plain data (or is a non-finite float), or a mapping has non-string keys; the
            message names the argument's place (``model.encoder.cell``).

    Example:
        >>> from seqlearn.nn import GRUCell, Recurrent
        >>> description = describe(Recurrent(GRUCell(3, 4)))
        >>> description["class"], description["config"]["fused"]
        ('seqlearn.nn.Recurrent', True)
        >>> description["config"]["cell"]["config"]
        {'input_size': 3, 'hidden_size': 4, 'proj_size': 0}
    """
    if part is None or isinstance(part, (bool, int, str)):
        return part
    if isinstance(part, float):
        if not math.isfinite(part):
            raise PartError(f"{where}: {part} is not a finite number; JSON cannot hold it")
        return part
    if isinstance(part, (list, tuple)):
        return [describe(item, f"{where}[{i}]") for i, item in enumerate(part)]
    if isinstance(part, nn.ModuleList):
        return [describe(item, f"{where}[{i}]") for i, item in enumerate(part)]
    if isinstance(part, Mapping):
        if not all(isinstance(key, str) for key in part):
            raise PartError(f"{where}: a mapping with keys other than str cannot be saved")
        return {"dict": {key: describe(value, f"{where}.{key}") for key, value in part.items()}}
    if isinstance(part, nn.Module):
        return _describe_module(part, where)
    if inspect.isfunction(part) or inspect.isbuiltin(part):
        name = registered_name(part)
        if name is None:
            raise PartError(
                f"{where}: the function {getattr(part, '__qualname__', part)!r} is not a "
                "registered part; decorate it with @seqlearn.register('your_package.name') "
                "(a lambda cannot be registered: give it a name with def)"
            )
        return {"function": name}
    raise PartError(
        f"{where}: cannot save a {type(part).__name__} ({part!r}); constructor arguments "
        "must be numbers, strings, booleans, None, lists, str-keyed dicts, or registered "
        "modules and functions"
    )


def _describe_module(module: nn.Module, where: str) -> dict[str, Any]:
    kind = type(module)
    name = registered_name(kind)
    foreign = _FOREIGN.get(kind)
    arguments = module.__dict__.get(_ARGUMENTS) if foreign is None else foreign(module)
    if name is None or arguments is None:
        raise PartError(
            f"{where}: {kind.__qualname__} is not a registered part; decorate its class with "
            f"@seqlearn.register('your_package.{kind.__qualname__}') so models holding it "
            "can be saved and loaded"
        )
    config = {key: describe(value, f"{where}.{key}") for key, value in arguments.items()}
    return {"class": name, "config": config}


def build(description: object, where: str = "model") -> Any:
    """Rebuild what :func:`describe` described, calling only registered constructors.

    Args:
        description: A description, parsed from JSON.
        where: How the part is named in errors.

    Returns:
        The rebuilt module (with freshly initialised weights), function or value.

    Raises:
        PartError: If a name is not registered or the description is malformed.
        ValueError: If a registered constructor refuses the arguments (whatever it raised);
            the message names the part.

    Example:
        >>> layer = build({"class": "seqlearn.nn.GRUCell",
        ...                "config": {"input_size": 3, "hidden_size": 4}})
        >>> type(layer).__name__, layer.hidden_size
        ('GRUCell', 4)
    """
    if description is None or isinstance(description, (bool, int, float, str)):
        return description
    if isinstance(description, list):
        return [build(item, f"{where}[{i}]") for i, item in enumerate(description)]
    if not isinstance(description, dict):
        raise PartError(f"{where}: expected a part description, got {type(description).__name__}")
    keys = set(description)
    if keys == {"dict"} and isinstance(description["dict"], dict):
        return {key: build(value, f"{where}.{key}") for key, value in description["dict"].items()}
    if keys == {"function"}:
        return _lookup(description["function"], where, want_class=False)
    if keys == {"class", "config"} and isinstance(description["config"], dict):
        make = _lookup(description["class"], where, want_class=True)
        arguments = {
            key: build(value, f"{where}.{key}") for key, value in description["config"].items()
        }
        try:
            return make(**arguments)
        except Exception as error:  # any refusal of the arguments, torch's included
            raise ValueError(
                f"{where}: cannot build {description['class']} from its config: {error}"
            ) from error
    raise PartError(
        f"{where}: expected {{'class': ..., 'config': {{...}}}}, {{'function': ...}} or "
        f"{{'dict': {{...}}}}, got the keys {sorted(keys)}"
    )


def _lookup(name: object, where: str, *, want_class: bool) -> Callable[..., Any]:
    part = _PARTS.get(name) if isinstance(name, str) else None
    if part is None or not isinstance(name, str):
        raise PartError(
            f"{where}: unknown part {name!r}; a part of your own must be registered (import "
            "the module that registers it before loading: seqlearn never imports or runs "
            "code named in a file)"
        )
    if isinstance(part, type) != want_class:
        kind = "class" if want_class else "function"
        raise PartError(f"{where}: {name!r} is registered, but not as a {kind}")
    return _BUILDERS[name] if want_class else cast(Callable[..., Any], part)


def _embedding_arguments(module: nn.Embedding) -> dict[str, Any]:
    return {
        "num_embeddings": module.num_embeddings,
        "embedding_dim": module.embedding_dim,
        "padding_idx": module.padding_idx,
        "max_norm": module.max_norm,
        "norm_type": module.norm_type,
        "scale_grad_by_freq": module.scale_grad_by_freq,
        "sparse": module.sparse,
        "freeze": not module.weight.requires_grad,
    }


def _linear_arguments(module: nn.Linear) -> dict[str, Any]:
    return {
        "in_features": module.in_features,
        "out_features": module.out_features,
        "bias": module.bias is not None,
    }


def _layer_norm_arguments(module: nn.LayerNorm) -> dict[str, Any]:
    return {
        "normalized_shape": list(module.normalized_shape),
        "eps": module.eps,
        "elementwise_affine": module.elementwise_affine,
        "bias": getattr(module, "bias", None) is not None,
    }


def _build_embedding(*, freeze: bool = False, **arguments: Any) -> nn.Embedding:
    return nn.Embedding(**arguments, _freeze=freeze)


_register_foreign(nn.Embedding, "torch.nn.Embedding", _embedding_arguments, _build_embedding)
_register_foreign(nn.Linear, "torch.nn.Linear", _linear_arguments)
_register_foreign(nn.Dropout, "torch.nn.Dropout", lambda module: {"p": module.p})
_register_foreign(nn.Identity, "torch.nn.Identity", lambda module: {})
_register_foreign(nn.LayerNorm, "torch.nn.LayerNorm", _layer_norm_arguments)
