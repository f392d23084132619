"""Artifacts (issue 11, points 1 and 2): every model kind round-trips bit for bit through a
fresh process; the folder layout; atomic saves; unregistered parts fail at save time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from artifact_models import (
    CLASSIFIERS,
    GENERATORS,
    inputs_for,
    predictor_for,
    train_a_little,
)
from safetensors.torch import load_file
from torch import nn

import seqlearn
from seqlearn.artifacts import (
    ARTIFACT_FILES,
    FORMAT_VERSION,
    ArtifactError,
    TextClassifier,
    read_artifact,
    save_artifact,
)
from seqlearn.nn import Bidirectional, GRUCell, Recurrent, SequenceClassifier
from seqlearn.nn.registry import PartError
from seqlearn.tokenize import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
KINDS = [*CLASSIFIERS, *GENERATORS]


def _build(kind: str) -> nn.Module:
    model = (CLASSIFIERS | GENERATORS)[kind]()
    train_a_little(model, kind)
    return model


def _outputs_in_a_fresh_process(folder: Path, kind: str, out: Path) -> dict[str, torch.Tensor]:
    """Load ``folder`` in a new interpreter and run the model there on the kind's inputs."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import torch
        from safetensors.torch import save_file
        import artifact_models as models  # registers the custom cell
        import seqlearn
        predictor = seqlearn.load({str(folder)!r})
        assert not predictor.model.training
        with torch.inference_mode():
            logits = predictor.model(*models.inputs_for({kind!r}))
        save_file({{"logits": logits.contiguous()}}, {str(out)!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, timeout=120)
    return load_file(out)


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_kind_round_trips_bit_identically_in_a_fresh_process(
    kind: str, tmp_path: Path
) -> None:
    model = _build(kind)
    predictor = predictor_for(kind, model)
    folder = predictor.save(tmp_path / "artifact", metadata={"kind": kind})
    with torch.inference_mode():
        expected = model(*inputs_for(kind))
    loaded = _outputs_in_a_fresh_process(folder, kind, tmp_path / "outputs.safetensors")
    assert torch.equal(loaded["logits"], expected)
    again = seqlearn.load(folder)
    assert type(again) is type(predictor)
    assert again.labels == predictor.labels
    for name, tensor in model.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], tensor), name


def test_the_folder_follows_the_hub_layout_and_holds_versions_and_metadata(
    tmp_path: Path,
) -> None:
    model = _build("bigru-max-pooled")
    predictor = predictor_for("bigru-max-pooled", model)
    folder = predictor.save(tmp_path / "run", metadata={"valid_accuracy": [0.5, 0.75]})
    assert sorted(path.name for path in folder.iterdir()) == sorted(ARTIFACT_FILES)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["library_name"] == "seqlearn"
    assert config["format_version"] == FORMAT_VERSION
    assert config["seqlearn_version"] == seqlearn.__version__
    assert config["task"] == "text-classification"
    assert config["labels"] == predictor.labels
    assert config["metadata"] == {"valid_accuracy": [0.5, 0.75]}
    encoder = config["model"]["config"]["encoder"]
    assert encoder["class"] == "seqlearn.nn.Bidirectional"
    assert encoder["config"]["forward_cell"] == {
        "class": "seqlearn.nn.GRUCell",
        "config": {"input_size": 16, "hidden_size": 24, "proj_size": 0},
    }
    assert config["model"]["config"]["pooling"] == {"function": "seqlearn.nn.max_pool"}
    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    assert tokenizer == predictor.tokenizer.to_dict()
    weights = load_file(folder / "model.safetensors")
    assert weights.keys() == model.state_dict().keys()
    assert read_artifact(folder).metadata == {"valid_accuracy": [0.5, 0.75]}


def test_a_frozen_embedding_stays_frozen_and_a_fine_tuned_one_trainable(tmp_path: Path) -> None:
    for kind, frozen in [("glove-sentiment-lecture", True), ("glove-sentiment-fine-tuned", False)]:
        model = _build(kind)
        folder = predictor_for(kind, model).save(tmp_path / kind)
        loaded = seqlearn.load(folder).model
        assert isinstance(loaded, SequenceClassifier)
        assert loaded.token_embedding is not None
        assert loaded.token_embedding.weight.requires_grad is not frozen
        assert loaded.token_embedding.padding_idx == 0


def test_saving_keeps_the_users_other_files_and_replaces_the_artifact(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    first = _build("bigru-max-pooled")
    predictor_for("bigru-max-pooled", first).save(folder)
    (folder / "metrics.json").write_text("{}", encoding="utf-8")
    (folder / "plots").mkdir()
    (folder / "plots" / "curves.png").write_bytes(b"png")
    second = _build("lecture-classifier")
    predictor_for("lecture-classifier", second).save(folder)
    assert (folder / "metrics.json").read_text(encoding="utf-8") == "{}"
    assert (folder / "plots" / "curves.png").read_bytes() == b"png"
    loaded = read_artifact(folder).model
    assert loaded.state_dict().keys() == second.state_dict().keys()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def test_a_bfloat16_model_round_trips_in_its_dtype(tmp_path: Path) -> None:
    model = _build("bigru-max-pooled").to(torch.bfloat16)
    folder = save_artifact(
        tmp_path / "bf16", model, task="text-classification", tokenizer=CharTokenizer(),
        labels=[str(i) for i in range(5)],
    )  # fmt: skip
    loaded = read_artifact(folder).model
    assert next(loaded.parameters()).dtype == torch.bfloat16
    tokens, lengths = inputs_for("bigru-max-pooled")
    with torch.inference_mode():
        assert torch.equal(loaded(tokens, lengths), model.eval()(tokens, lengths))


def test_loading_leaves_the_global_random_state_alone(tmp_path: Path) -> None:
    folder = predictor_for("bigru-max-pooled", _build("bigru-max-pooled")).save(tmp_path / "a")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    seqlearn.load(folder)
    assert torch.equal(torch.rand(3), expected)


# Saving what cannot be described fails at save time, writing nothing


def test_an_unregistered_cell_fails_at_save_time_naming_what_to_register(tmp_path: Path) -> None:
    class MyCell(seqlearn.nn.Cell[torch.Tensor]):
        def forward(
            self, x: torch.Tensor, state: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return state, state

        def initial_state(self, batch_size: int, *, device=None, dtype=None):  # type: ignore[no-untyped-def]
            return torch.zeros(batch_size, self.hidden_size)

    model = SequenceClassifier(Recurrent(MyCell(4, 4)), vocab_size=5, num_classes=2,
                               embedding_dim=4)  # fmt: skip
    with pytest.raises(PartError, match=r"model\.encoder\.cell: .*MyCell is not a registered part"):
        TextClassifier(model, CharTokenizer("abcd"), ["x", "y"]).save(tmp_path / "out")
    with pytest.raises(PartError, match=r"seqlearn\.register"):
        TextClassifier(model, CharTokenizer("abcd"), ["x", "y"]).save(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_lambda_merge_function_fails_at_save_time(tmp_path: Path) -> None:
    encoder = Bidirectional(GRUCell(4, 3), GRUCell(4, 3), merge_fn=lambda a, b: a + b)
    model = SequenceClassifier(encoder, vocab_size=5, num_classes=2, embedding_dim=4)
    with pytest.raises(PartError, match=r"model\.encoder\.merge_fn: .*lambda"):
        TextClassifier(model, CharTokenizer("abcd"), ["x", "y"]).save(tmp_path / "out")


def test_a_part_replaced_after_building_fails_at_save_time(tmp_path: Path) -> None:
    model = _build("bigru-max-pooled")
    model.head = nn.Linear(48, 7)  # type: ignore[assignment]
    with pytest.raises(ArtifactError, match="does not rebuild it"):
        save_artifact(tmp_path / "out", model, task="text-classification",
                      tokenizer=CharTokenizer())  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_metadata_that_json_cannot_hold_is_refused(tmp_path: Path) -> None:
    predictor = predictor_for("lecture-classifier", _build("lecture-classifier"))
    with pytest.raises(ArtifactError, match="metadata is not JSON"):
        predictor.save(tmp_path / "out", metadata={"loss": float("nan")})
    with pytest.raises(ArtifactError, match="metadata is not JSON"):
        predictor.save(tmp_path / "out", metadata={"model": torch.zeros(1)})


# Atomic saves


_SAVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    import torch
    from seqlearn.artifacts import save_artifact
    from seqlearn.nn import lecture_classifier
    from seqlearn.tokenize import CharTokenizer
    models = [lecture_classifier(num_classes=2), lecture_classifier(num_classes=2)]
    with torch.no_grad():
        models[0].head.bias.fill_(0.0)
        models[1].head.bias.fill_(1.0)
    print("ready", flush=True)
    turn = 0
    while True:
        save_artifact({folder!r}, models[turn % 2], task="text-classification",
                      tokenizer=CharTokenizer(), labels=["a", "b"], metadata={{"turn": turn}})
        turn += 1
    """
)


def test_a_save_killed_at_any_moment_leaves_a_whole_artifact(tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    seen_biases = set()
    for attempt in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", _SAVER.format(root=str(ROOT), folder=str(folder))],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        while not (folder / "config.json").exists():
            time.sleep(0.01)
        time.sleep(0.15 + 0.13 * attempt)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        artifact = read_artifact(folder)  # whole: config, weights and tokenizer agree
        bias = float(artifact.model.head.bias[0].detach())  # type: ignore[index]
        assert bias in (0.0, 1.0)
        assert artifact.metadata["turn"] % 2 == int(bias)
        seen_biases.add(bias)
    assert folder.is_dir()
