"""ONNX export (issue 11, point 5): the exported classifier gives PyTorch's logits on the
validation names, every length, in batches of mixed lengths; greedy generation through the
exported step gives seqlearn's greedy names. Needs the ``export`` extra."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from artifact_models import CLASSIFIERS, GENERATORS, train_a_little

from seqlearn.artifacts import TextClassifier, TextGenerator
from seqlearn.data import load_names, stratified_split
from seqlearn.nn import lecture_classifier
from seqlearn.tokenize import CharTokenizer

onnx = pytest.importorskip("onnx", reason="needs the export extra: pip install -e '.[export]'")
pytest.importorskip("onnxscript", reason="needs the export extra: pip install -e '.[export]'")
ort = pytest.importorskip(
    "onnxruntime", reason="needs the export extra: pip install -e '.[export]'"
)


@pytest.fixture
def validation_names(shared_data_dir: Path) -> tuple[list[list[int]], list[str], CharTokenizer]:
    names = load_names(shared_data_dir)
    _, valid = stratified_split(names.labels, 0.2, generator=torch.Generator().manual_seed(0))
    tokenizer = CharTokenizer(oov="drop")
    rows = [ids for ids in (tokenizer.encode(names.texts[i]) for i in valid) if ids]
    return rows, names.categories, tokenizer


def _session(path: Path) -> Any:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind", ["bigru-max-pooled", "lecture-classifier"])
def test_the_exported_classifier_gives_pytorchs_logits_on_the_validation_names(
    kind: str,
    validation_names: tuple[list[list[int]], list[str], CharTokenizer],
    tmp_path: Path,
) -> None:
    rows, categories, tokenizer = validation_names
    if kind == "lecture-classifier":  # untrained: a few Adam steps blow a linear RNN up
        model = lecture_classifier(num_classes=len(categories))
    else:
        model = CLASSIFIERS[kind]()
        model.head = torch.nn.Linear(48, len(categories))  # 18 languages
        train_a_little(model, kind)
    classifier = TextClassifier(model, tokenizer, categories)
    session = _session(classifier.to_onnx(tmp_path / "classifier.onnx"))
    random.Random(0).shuffle(rows)  # batches of mixed lengths
    worst, lengths_seen = 0.0, set()
    for start in range(0, len(rows), 97):
        batch = rows[start : start + 97]
        tokens, lengths = tokenizer.encode_batch([tokenizer.decode(ids) for ids in batch])
        lengths_seen.update(lengths.tolist())
        (logits,) = session.run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
        with torch.inference_mode():
            expected = model.eval()(tokens, lengths)
        assert logits.dtype == np.float32 and logits.shape == tuple(expected.shape)
        worst = max(worst, float(np.abs(logits - expected.numpy()).max()))
    assert worst <= 1e-4
    assert lengths_seen == {len(ids) for ids in rows}  # every length of the validation names


def test_the_classifier_file_carries_labels_and_tokenizer(tmp_path: Path) -> None:
    classifier = TextClassifier(lecture_classifier(num_classes=2), CharTokenizer(), ["a", "b"])
    path = classifier.to_onnx(tmp_path / "c.onnx")
    session = _session(path)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["seqlearn.labels"]) == ["a", "b"]
    assert CharTokenizer.from_dict(json.loads(meta["seqlearn.tokenizer"])) == CharTokenizer()
    assert [i.name for i in session.get_inputs()] == ["tokens", "lengths"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert not list(tmp_path.glob(".*"))  # the scratch file is gone


def _greedy_through_onnx(
    session: Any, category: int, prefix: list[int], eos_id: int, max_new: int
) -> list[int]:
    meta = session.get_modelmeta().custom_metadata_map
    state = [
        np.asarray([row], dtype=np.float32) for row in json.loads(meta["seqlearn.initial_state"])
    ]
    names = [f"state_{i}" for i in range(len(state))]

    def step(token: int) -> Any:
        feed = {"tokens": np.array([token]), "categories": np.array([category])}
        feed.update(zip(names, state))
        logits, *after = session.run(None, feed)
        return logits, after

    for token in prefix:
        logits, state = step(token)
    new: list[int] = []
    for k in range(max_new):
        token = int(logits.argmax(axis=-1)[0])
        if token == eos_id:
            break
        new.append(token)
        if k == max_new - 1:
            break
        logits, state = step(token)
    return prefix + new


@pytest.mark.parametrize(
    "kind", ["lecture-generator", "lstm-stack-generator", "awd-lstm-generator"]
)
def test_greedy_generation_through_the_exported_step_equals_seqlearns(
    kind: str, tmp_path: Path
) -> None:
    model = GENERATORS[kind]()
    train_a_little(model, kind)
    tokenizer = CharTokenizer(oov="drop")
    generator = TextGenerator(model, tokenizer, ["English", "French", "German"])
    session = _session(generator.to_onnx(tmp_path / "generator.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["seqlearn.categories"]) == generator.categories
    for category, name in enumerate(generator.categories):
        for prefix in ["K", "Ma", "S"]:
            expected = generator.generate(name, prefix=prefix, strategy="greedy")[0]
            ids = _greedy_through_onnx(
                session, category, tokenizer.encode(prefix), tokenizer.eos_id, 20
            )
            assert tokenizer.decode(ids) == expected
