"""The parts registry (issue 11, point 1): every public part is registered and describes
itself as JSON; registration of your own parts; clear errors."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import torch
from torch import nn

import seqlearn
from seqlearn.nn.registry import PartError, build, describe, register, registered_name


def _public_parts() -> list[Any]:
    parts = []
    for name in seqlearn.nn.__all__:
        value = getattr(seqlearn.nn, name)
        if inspect.isclass(value) and issubclass(value, nn.Module):
            if not inspect.isabstract(value) and value.__name__ != "Cell":
                parts.append(value)
        elif inspect.isfunction(value) and name in ("last_valid", "mean_pool", "max_pool"):
            parts.append(value)
    return parts


@pytest.mark.parametrize("part", _public_parts(), ids=lambda part: part.__name__)
def test_every_public_part_of_seqlearn_nn_is_registered_under_its_public_path(part: Any) -> None:
    assert registered_name(part) == f"seqlearn.nn.{part.__name__}"


def test_a_description_is_plain_json_and_rebuilds_the_part() -> None:
    from seqlearn.nn import LSTMCell, StackedCell

    stack = StackedCell([LSTMCell(3, 6, proj_size=2), LSTMCell(2, 2)], dropout=0.25)
    description = describe(stack)
    assert json.loads(json.dumps(description)) == description
    rebuilt = build(description)
    assert type(rebuilt) is StackedCell
    assert rebuilt.dropout == 0.25
    assert [tuple(p.shape) for p in rebuilt.parameters()] == [
        tuple(p.shape) for p in stack.parameters()
    ]


def test_your_own_module_and_function_round_trip_once_registered() -> None:
    @register("tests.registry.Scale")
    class Scale(nn.Module):
        def __init__(self, factor: float, *, options: dict[str, Any] | None = None) -> None:
            super().__init__()
            self.factor, self.options = factor, options

    @register
    def halve(x: torch.Tensor) -> torch.Tensor:
        return x / 2

    description = describe(Scale(1.5, options={"pool": halve, "sizes": [1, 2]}))
    assert description == {
        "class": "tests.registry.Scale",
        "config": {
            "factor": 1.5,
            "options": {
                "dict": {
                    "pool": {"function": f"{__name__}.{halve.__qualname__}"},
                    "sizes": [1, 2],
                }
            },
        },
    }
    rebuilt = build(json.loads(json.dumps(description)))
    assert rebuilt.factor == 1.5
    assert rebuilt.options == {"pool": halve, "sizes": [1, 2]}


def test_a_subclass_of_a_registered_class_needs_its_own_registration() -> None:
    @register("tests.registry.Base")
    class Base(nn.Module):
        def __init__(self, size: int) -> None:
            super().__init__()
            self.size = size

    class Derived(Base):
        pass

    assert describe(Base(3)) == {"class": "tests.registry.Base", "config": {"size": 3}}
    with pytest.raises(PartError, match="Derived is not a registered part"):
        describe(Derived(3))


def test_registering_what_cannot_be_rebuilt_is_refused() -> None:
    with pytest.raises(TypeError, match=r"only torch\.nn\.Module classes"):
        register("tests.registry.NotAModule")(int)
    with pytest.raises(TypeError, match="positionally only"):

        @register("tests.registry.Star")
        class Star(nn.Module):
            def __init__(self, *sizes: int) -> None:
                super().__init__()

    with pytest.raises(ValueError, match="already names"):
        register("seqlearn.nn.GRUCell")(nn.Module)
    with pytest.raises(TypeError, match="a module class or a function"):
        register("tests.registry.value")(3)


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (float("inf"), "not a finite number"),
        ({1: 2}, "keys other than str"),
        (torch.zeros(2), "cannot save a Tensor"),
        (lambda x: x, "lambda"),
        (nn.GRU(2, 3), "GRU is not a registered part"),
    ],
)
def test_describing_what_is_not_plain_data_names_the_place(value: Any, pattern: str) -> None:
    with pytest.raises(PartError, match=pattern) as info:
        describe({"inner": [value]}, where="model.x")
    assert "model.x.inner[0]" in str(info.value)


@pytest.mark.parametrize(
    ("description", "pattern"),
    [
        ({"class": "builtins.eval", "config": {}}, "unknown part 'builtins.eval'"),
        ({"function": "os.system"}, "unknown part 'os.system'"),
        ({"class": "seqlearn.nn.max_pool", "config": {}}, "not as a class"),
        ({"function": "seqlearn.nn.GRUCell"}, "not as a function"),
        ({"class": "seqlearn.nn.GRUCell"}, "got the keys"),
        ({"class": ["x"], "config": {}}, "unknown part"),
        ("text", None),
    ],
)
def test_building_only_calls_registered_parts(description: Any, pattern: str | None) -> None:
    if pattern is None:
        assert build(description) == "text"
        return
    with pytest.raises(PartError, match=pattern):
        build(description)


def test_a_constructor_that_refuses_its_arguments_is_named() -> None:
    with pytest.raises(ValueError, match=r"model: cannot build seqlearn\.nn\.GRUCell"):
        build({"class": "seqlearn.nn.GRUCell", "config": {"input_size": -1, "hidden_size": 2}})


def test_torch_embeddings_keep_whether_they_are_frozen() -> None:
    frozen = nn.Embedding.from_pretrained(torch.zeros(4, 2), freeze=True, padding_idx=0)
    rebuilt = build(describe(frozen))
    assert isinstance(rebuilt, nn.Embedding)
    assert rebuilt.weight.requires_grad is False
    assert rebuilt.padding_idx == 0
    assert build(describe(nn.Embedding(4, 2))).weight.requires_grad is True
