"""Bad-input sweep, artifacts (issue 11, point 2): a tampered or mismatched artifact folder
raises an :class:`ArtifactError` naming the file and the problem; nothing else escapes, and
nothing is unpickled or run."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from artifact_models import CLASSIFIERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import seqlearn
from seqlearn.artifacts import ArtifactError, TextClassifier, TextGenerator, read_artifact
from seqlearn.nn import lecture_generator
from seqlearn.tokenize import CharTokenizer


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid classifier artifact (a stacked bidirectional encoder: many parts to tamper)."""
    folder = tmp_path_factory.mktemp("artifact") / "model"
    model = CLASSIFIERS["stacked-bidirectional-attention"]()
    TextClassifier(model, CharTokenizer(oov="drop"), ["a", "b", "c", "d"]).save(folder)
    return folder


@pytest.fixture
def folder(saved: Path, tmp_path: Path) -> Path:
    copy_ = tmp_path / "model"
    shutil.copytree(saved, copy_)
    return copy_


def _edit_config(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    edit(config)
    path.write_text(json.dumps(config), encoding="utf-8")


def _edit_weights(folder: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    path = folder / "model.safetensors"
    weights = load_file(path)
    edit(weights)
    save_file(weights, path)


def _refused(folder: Path, file: str, *patterns: str) -> None:
    with pytest.raises(ArtifactError) as info:
        seqlearn.load(folder)
    message = str(info.value)
    assert file in message, message
    for pattern in patterns:
        assert pattern in message, message


def test_the_valid_copy_loads(folder: Path) -> None:
    assert isinstance(seqlearn.load(folder), TextClassifier)


# The weights


def test_a_missing_tensor(folder: Path) -> None:
    _edit_weights(folder, lambda w: w.pop("head.bias"))
    _refused(folder, "model.safetensors", "missing tensor(s) ['head.bias']")


def test_an_extra_tensor(folder: Path) -> None:
    _edit_weights(folder, lambda w: w.update(extra=torch.zeros(2)))
    _refused(folder, "model.safetensors", "unexpected tensor(s) ['extra']")


def test_a_tensor_of_the_wrong_shape(folder: Path) -> None:
    _edit_weights(folder, lambda w: w.update({"head.bias": torch.zeros(5)}))
    _refused(folder, "model.safetensors", "head.bias has shape (5,)", "expects (4,)")


def test_a_tensor_of_the_wrong_dtype(folder: Path) -> None:
    _edit_weights(folder, lambda w: w.update({"head.bias": torch.zeros(4, dtype=torch.float64)}))
    _refused(folder, "model.safetensors", "head.bias has dtype F64")


@pytest.mark.parametrize("cut", [0, 7, 100, -1])
def test_a_truncated_weights_file(folder: Path, cut: int) -> None:
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[: len(data) // 2])
    _refused(folder, "model.safetensors")


def test_a_pickle_in_place_of_the_weights_is_not_unpickled(folder: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (exec, ("raise SystemExit('unpickled!')",))

    torch.save({"x": Boom()}, folder / "model.safetensors")  # a pickle, not safetensors
    _refused(folder, "model.safetensors", "not a readable safetensors file")


def test_missing_files(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    _refused(folder, "model.safetensors", "missing")
    shutil.rmtree(folder)
    _refused(folder, str(folder), "no such folder")


def test_a_folder_without_config_is_not_an_artifact(tmp_path: Path) -> None:
    _refused(tmp_path, "config.json", "not a seqlearn artifact folder")
    (tmp_path / "file").write_text("x")
    _refused(tmp_path / "file", "file", "not a folder")


# The configuration


def test_malformed_json(folder: Path) -> None:
    (folder / "config.json").write_text('{"format": ', encoding="utf-8")
    _refused(folder, "config.json", "malformed JSON")


def test_not_an_object(folder: Path) -> None:
    (folder / "config.json").write_text("[1, 2]", encoding="utf-8")
    _refused(folder, "config.json", "expected a JSON object")


def test_a_newer_format_version(folder: Path) -> None:
    _edit_config(folder, lambda c: c.update(format_version=99))
    _refused(folder, "config.json", "artifact format 99", "upgrade seqlearn")


@pytest.mark.parametrize("field", ["task", "labels", "model", "metadata", "seqlearn_version"])
def test_a_missing_field(folder: Path, field: str) -> None:
    _edit_config(folder, lambda c: c.pop(field))
    _refused(folder, "config.json", f"missing field {field!r}")


def test_an_unknown_part_name(folder: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["model"]["config"]["encoder"]["config"]["forward_cell"]["class"] = "os.system"

    _refused_with_edit(folder, edit, "unknown part 'os.system'", "model.encoder.forward_cell")


def test_a_function_named_where_a_class_belongs(folder: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["model"]["class"] = "seqlearn.nn.max_pool"

    _refused_with_edit(folder, edit, "registered, but not as a class")


def test_sizes_that_do_not_fit_the_weights(folder: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["model"]["config"]["num_classes"] = 5

    _refused_with_edit(folder, edit)
    with pytest.raises(ArtifactError, match=r"model\.safetensors.*head\.bias has shape \(4,\)"):
        seqlearn.load(folder)


def test_arguments_a_constructor_refuses(folder: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["model"]["config"]["dropout"] = 3.0

    _refused_with_edit(folder, edit, "cannot build seqlearn.nn.SequenceClassifier", "dropout")


def test_labels_that_do_not_fit_the_model(folder: Path) -> None:
    _edit_config(folder, lambda c: c.update(labels=["a", "b"]))
    _refused(folder, "config.json", "2 labels for a model with 4 outputs")


def test_an_unknown_task(folder: Path) -> None:
    _edit_config(folder, lambda c: c.update(task="translation"))
    _refused(folder, "config.json", "unknown task 'translation'")


def test_a_classifier_is_not_loaded_as_a_generator(folder: Path) -> None:
    with pytest.raises(ArtifactError, match="not 'conditional-generation'"):
        TextGenerator.load(folder)


def test_a_generator_whose_tokenizer_does_not_fit(tmp_path: Path) -> None:
    generator = TextGenerator(lecture_generator(num_categories=2), CharTokenizer(), ["a", "b"])
    folder = generator.save(tmp_path / "gen")
    (folder / "tokenizer.json").write_text(json.dumps(CharTokenizer("abc").to_dict()))
    _refused(folder, "config.json", "expected (1, 1, 4)")


# The tokenizer


def test_a_malformed_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").write_text("{", encoding="utf-8")
    _refused(folder, "tokenizer.json", "malformed JSON")


def test_an_unknown_tokenizer_format(folder: Path) -> None:
    (folder / "tokenizer.json").write_text('{"format": "pickle"}', encoding="utf-8")
    _refused(folder, "tokenizer.json", "field 'format' is 'pickle'")


def test_a_tokenizer_with_a_bad_field(folder: Path) -> None:
    data = CharTokenizer().to_dict()
    data["oov"] = "explode"
    (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    _refused(folder, "tokenizer.json", "oov")


def _refused_with_edit(
    folder: Path, edit: Callable[[dict[str, Any]], None], *patterns: str
) -> None:
    _edit_config(folder, edit)
    with pytest.raises(ArtifactError) as info:
        seqlearn.load(folder)
    for pattern in patterns:
        assert pattern in str(info.value), str(info.value)


# Hypothesis: any change to the configuration or the bytes is refused cleanly, or loads


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=40)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=12)
    | st.sampled_from(["seqlearn.nn.GRUCell", "seqlearn.nn.max_pool", "torch.nn.Linear"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


_FIXTURES = [HealthCheck.function_scoped_fixture]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_change_to_the_config_is_refused_with_an_artifact_error_or_loads(
    saved: Path, tmp_path: Path, data: st.DataObject
) -> None:
    config = json.loads((saved / "config.json").read_text(encoding="utf-8"))
    paths = _paths(config)[1:]
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["replace", "delete"]))
    changed = copy.deepcopy(config)
    holder = changed
    for key in path[:-1]:
        holder = holder[key]
    if action == "delete":
        del holder[path[-1]]
    else:
        holder[path[-1]] = data.draw(_JSON)
    folder = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(saved, folder)
    (folder / "config.json").write_text(json.dumps(changed), encoding="utf-8")
    try:
        predictor = seqlearn.load(folder)
    except ArtifactError as error:
        assert str(folder) in str(error)
        return
    assert isinstance(predictor, TextClassifier | TextGenerator)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_corruption_of_the_weights_is_refused_with_an_artifact_error_or_loads(
    saved: Path, tmp_path: Path, data: st.DataObject
) -> None:
    raw = bytearray((saved / "model.safetensors").read_bytes())
    header = int.from_bytes(raw[:8], "little") + 8
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, min(len(raw), header + 64) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    folder = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(saved, folder)
    (folder / "model.safetensors").write_bytes(bytes(raw))
    try:
        seqlearn.load(folder)
    except ArtifactError as error:
        assert "model.safetensors" in str(error) or "config.json" in str(error)


def test_read_artifact_builds_a_fresh_model_every_time(saved: Path) -> None:
    first, second = read_artifact(saved).model, read_artifact(saved).model
    assert first is not second
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
