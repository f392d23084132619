# mypy: disable-error-code="arg-type, list-item"
# (the calls below break the signatures on purpose)
"""Bad-input sweep, decoding and training: prefixes with out-of-vocabulary or non-integer
ids, bad decoding options, bad trainer arguments, and damaged checkpoints
(issue 7, point 3)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from seqlearn.data import collate_next_token
from seqlearn.decode import (
    BanTokens,
    MinLength,
    MinP,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    beam_search,
    greedy,
    sample,
)
from seqlearn.nn import ConditionalLM, GRUCell, lecture_generator
from seqlearn.train import Callback, Trainer, next_token_loss
from seqlearn.train.checkpoint import load_checkpoint, save_checkpoint

V, K = 5, 3


def _lm() -> ConditionalLM[Any]:
    generator = torch.Generator().manual_seed(0)
    cell = GRUCell(K + V, 6, generator=generator)
    return ConditionalLM(cell, vocab_size=V, num_categories=K, generator=generator)


DECODERS: dict[str, Callable[..., Any]] = {
    "greedy": greedy,
    "sample": sample,
    "beam": lambda *args, **kwargs: beam_search(*args, beam_width=2, **kwargs),
}


def _decode(name: str, prefixes: Any, **options: Any) -> Any:
    model = _lm()
    state = model.initial_state(torch.tensor([0, 2]))
    arguments: dict[str, Any] = {"eos_id": 0, "max_new_tokens": 3, **options}
    return DECODERS[name](model, state, prefixes, **arguments)


# Prefixes


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize(
    ("prefixes", "error", "needle"),
    [
        ([[1], [2, 9]], ValueError, "token ids in [0, 5), got prefixes[1][1] = 9"),
        ([[1, 5], [2]], ValueError, "token ids in [0, 5), got prefixes[0][1] = 5"),
        ([[9], [2]], ValueError, "tokens must lie in [0, 5)"),  # the first step: the model's check
        ([[1], [2, -1]], ValueError, "token ids >= 0, got prefixes[1][1] = -1"),
        ([[1.7], [2]], TypeError, "prefixes[0][0] must be an int, got 1.7"),
        ([[1], [2, 3.0]], TypeError, "prefixes[1][1] must be an int, got 3.0"),
        ([[True], [2]], TypeError, "prefixes[0][0] must be an int, got True"),
        (["ab", "c"], TypeError, "prefixes[0] is the str 'ab'"),
        ([[1], 2], TypeError, "prefixes[1] as a sequence of token ids, got int"),
        (None, TypeError, "expected prefixes as a sequence of token id sequences, got NoneType"),
        ("ab", TypeError, "got str"),
        (
            [[1]],
            ValueError,
            "one prefix per row of the state (batch size 2), got len(prefixes) = 1",
        ),
        ([[1], []], ValueError, "prefixes[1] is empty; an empty prefix needs a bos_id"),
    ],
)
def test_decoders_refuse_bad_prefixes(
    name: str, prefixes: Any, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        _decode(name, prefixes)


@pytest.mark.parametrize("name", DECODERS)
def test_decoders_accept_tensor_prefixes_and_report_int_tokens(name: str) -> None:
    options = {"generator": torch.Generator().manual_seed(1)} if name == "sample" else {}
    from_lists = _decode(name, [[1, 2], [3, 4]], **options)
    options = {"generator": torch.Generator().manual_seed(1)} if name == "sample" else {}
    from_tensor = _decode(name, torch.tensor([[1, 2], [3, 4]]), **options)
    assert from_tensor.tokens == from_lists.tokens
    assert all(type(token) is int for row in from_tensor.tokens for token in row)


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize(
    ("options", "error", "needle"),
    [
        ({"eos_id": 0.5}, TypeError, "eos_id must be an int, got 0.5"),
        ({"eos_id": 5}, ValueError, "eos_id in [0, 5), got 5"),
        ({"eos_id": -1}, ValueError, "eos_id >= 0, got -1"),
        ({"bos_id": 1.5}, TypeError, "bos_id must be an int, got 1.5"),
        ({"bos_id": 7}, ValueError, "tokens must lie in [0, 5)"),  # fed first: the model's check
        ({"bos_id": -2}, ValueError, "bos_id >= 0, got -2"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens >= 1, got 0"),
        ({"max_new_tokens": 2.5}, TypeError, "max_new_tokens must be an int, got 2.5"),
        ({"max_new_tokens": None}, TypeError, "max_new_tokens must be an int, got None"),
    ],
)
def test_decoders_refuse_bad_token_options(
    name: str, options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        _decode(name, [[1], [2]], **options)


@pytest.mark.parametrize(
    ("name", "options", "error", "needle"),
    [
        ("sample", {"temperature": 0}, ValueError, "positive, finite temperature, got 0"),
        ("sample", {"temperature": -1.0}, ValueError, "temperature, got -1.0"),
        ("sample", {"temperature": float("nan")}, ValueError, "temperature, got nan"),
        ("sample", {"temperature": float("inf")}, ValueError, "temperature, got inf"),
        ("sample", {"temperature": "1"}, TypeError, "temperature must be a real number, got '1'"),
        ("sample", {"temperature": None}, TypeError, "temperature must be a real number"),
        ("sample", {"num_samples": 0}, ValueError, "num_samples >= 1, got 0"),
        ("sample", {"num_samples": 1.5}, TypeError, "num_samples must be an int, got 1.5"),
        ("beam", {"beam_width": 0}, ValueError, "beam_width >= 1, got 0"),
        ("beam", {"beam_width": 1.5}, TypeError, "beam_width must be an int, got 1.5"),
        ("beam", {"num_return_sequences": 3}, ValueError, "num_return_sequences in [1, beam"),
        ("beam", {"num_return_sequences": 1.0}, TypeError, "num_return_sequences must be an int"),
        ("beam", {"length_penalty": float("nan")}, ValueError, "finite length_penalty, got nan"),
        ("beam", {"length_penalty": "1"}, TypeError, "length_penalty must be a real number"),
    ],
)
def test_decoders_refuse_bad_strategy_options(
    name: str, options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    if name == "beam":
        model = _lm()
        arguments: dict[str, Any] = {"eos_id": 0, "max_new_tokens": 3, "beam_width": 2}
        with pytest.raises(error, match=re.escape(needle)):
            beam_search(
                model, model.initial_state(torch.tensor([0])), [[1]], **{**arguments, **options}
            )
        return
    with pytest.raises(error, match=re.escape(needle)):
        _decode(name, [[1], [2]], **options)


PROCESSOR_ERRORS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: TopK(0), ValueError, "top_k >= 1, got 0"),
    (lambda: TopK(2.5), TypeError, "top_k must be an int, got 2.5"),
    (lambda: TopK("2"), TypeError, "top_k must be an int, got '2'"),
    (lambda: TopP(0.0), ValueError, "top_p in (0, 1], got 0.0"),
    (lambda: TopP(1.5), ValueError, "top_p in (0, 1], got 1.5"),
    (lambda: TopP(float("nan")), ValueError, "top_p in (0, 1], got nan"),
    (lambda: TopP("0.9"), TypeError, "top_p must be a real number, got '0.9'"),
    (lambda: MinP(-0.1), ValueError, "min_p in [0, 1], got -0.1"),
    (lambda: MinP(None), TypeError, "min_p must be a real number, got None"),
    (lambda: Temperature(0.0), ValueError, "temperature, got 0.0"),
    (lambda: Temperature("hot"), TypeError, "temperature must be a real number"),
    (lambda: RepetitionPenalty(0.0), ValueError, "repetition penalty, got 0.0"),
    (lambda: RepetitionPenalty("2"), TypeError, "penalty must be a real number"),
    (lambda: BanTokens([1, -1]), ValueError, "token_ids[1] = -1"),
    (lambda: BanTokens([1.5]), TypeError, "token_ids[0] must be an int, got 1.5"),
    (lambda: BanTokens("ab"), TypeError, "got the str 'ab'"),
    (lambda: MinLength(-1, eos_id=0), ValueError, "min_new_tokens >= 0, got -1"),
    (lambda: MinLength(1.5, eos_id=0), TypeError, "min_new_tokens must be an int"),
    (lambda: MinLength(1, eos_id=0.5), TypeError, "eos_id must be an int, got 0.5"),
]


@pytest.mark.parametrize(("build", "error", "needle"), PROCESSOR_ERRORS)
def test_processors_refuse_bad_arguments(
    build: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        build()


@pytest.mark.parametrize(
    ("processor", "needle"),
    [
        (BanTokens([9]), "banned token ids in [0, 5), got 9"),
        (MinLength(2, eos_id=7), "eos_id in [0, 5), got 7"),
    ],
)
def test_processors_refuse_ids_outside_the_vocabulary_when_applied(
    processor: object, needle: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        _decode("greedy", [[1], [2]], processors=[processor])


def test_decoders_with_no_prompts_return_nothing() -> None:
    model = _lm()
    state = model.initial_state(torch.zeros(0, dtype=torch.long))
    assert greedy(model, state, [], eos_id=0, max_new_tokens=2).tokens == []
    assert sample(model, state, [], eos_id=0, max_new_tokens=2, num_samples=2).tokens == []
    assert beam_search(model, state, [], eos_id=0, max_new_tokens=2, beam_width=2).tokens == []


# Trainer arguments


def _trainer(**options: Any) -> Trainer[Any, Any]:
    model = lecture_generator(hidden_size=4, generator=torch.Generator().manual_seed(0))
    arguments: dict[str, Any] = {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "objective": next_token_loss,
        "progress": False,
    }
    arguments.update(options)
    return Trainer(
        arguments.pop("model"), arguments.pop("optimizer"), arguments.pop("objective"), **arguments
    )


BATCHES = [collate_next_token([([1, 2, 3], 0), ([4, 5], 1)], eos_id=58)]


@pytest.mark.parametrize(
    ("options", "error", "needle"),
    [
        ({"clip_grad_norm": 0}, ValueError, "clip_grad_norm must be positive, got 0"),
        ({"clip_grad_norm": float("nan")}, ValueError, "clip_grad_norm must be positive, got nan"),
        ({"clip_grad_value": -1.0}, ValueError, "clip_grad_value must be positive, got -1.0"),
        ({"clip_grad_norm": "1"}, TypeError, "clip_grad_norm must be a real number, got '1'"),
        ({"accumulate_grad_batches": 0}, ValueError, "accumulate_grad_batches must be at least 1"),
        ({"accumulate_grad_batches": 1.5}, TypeError, "accumulate_grad_batches must be an int"),
        ({"accumulate_grad_batches": "2"}, TypeError, "accumulate_grad_batches must be an int"),
        ({"on_divergence": "ignore"}, ValueError, "on_divergence must be 'stop', 'skip' or"),
        ({"seed": 1.5}, TypeError, "seed must be an int, got 1.5"),
        ({"seed": "0"}, TypeError, "seed must be an int, got '0'"),
        ({"device": "tpu"}, ValueError, "not a device: 'tpu'"),
        ({"mixed_precision": True, "device": "cpu"}, ValueError, "mixed_precision needs a CUDA"),
        ({"model": "model"}, TypeError, "model must be a torch.nn.Module, got str"),
        ({"optimizer": "sgd"}, TypeError, "optimizer must be a torch.optim.Optimizer, got str"),
        ({"objective": "loss"}, TypeError, "objective must be a callable"),
        ({"callbacks": [Callback(), 1]}, TypeError, "callbacks[1] must be a Callback, got 1"),
        ({"callbacks": Callback()}, TypeError, "callbacks must be a sequence of Callback"),
    ],
)
def test_trainer_refuses_bad_arguments(
    options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        _trainer(**options)


@pytest.mark.parametrize(
    ("epochs", "error", "needle"),
    [
        (0, ValueError, "epochs must be at least 1, got 0"),
        (1.5, TypeError, "epochs must be an int, got 1.5"),
        ("2", TypeError, "epochs must be an int, got '2'"),
    ],
)
def test_fit_refuses_bad_epochs(epochs: Any, error: type[Exception], needle: str) -> None:
    trainer = _trainer()
    with pytest.raises(error, match=re.escape(needle)):
        trainer.fit(BATCHES, epochs=epochs)
    assert trainer.epoch == 0


def test_trainer_takes_callbacks_from_any_iterable() -> None:
    trainer = _trainer(callbacks=(callback for callback in [Callback()]))
    assert len(trainer.callbacks) == 1


# Checkpoints


def _damaged_checkpoints(tmp_path: Path) -> dict[str, Path]:
    good = _trainer().save_checkpoint(tmp_path / "good.pt").read_bytes()
    contents = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "truncated end": good[:-10],
        "garbage": os.urandom(512),
        "text": b"not a checkpoint\n",
        "zeros": bytes(1024),
    }
    paths = {}
    for name, content in contents.items():
        paths[name] = tmp_path / f"{name.replace(' ', '-')}.pt"
        paths[name].write_bytes(content)
    torch.save({"weights": torch.ones(2)}, tmp_path / "plain.pt")
    paths["plain torch.save"] = tmp_path / "plain.pt"
    return paths


def test_load_checkpoint_of_damaged_files_names_the_file(tmp_path: Path) -> None:
    for name, path in _damaged_checkpoints(tmp_path).items():
        with pytest.raises(ValueError, match=re.escape(f"{path} is not a loadable")):
            load_checkpoint(path)
        trainer = _trainer()
        with pytest.raises(ValueError, match=re.escape(str(path))):
            trainer.load_checkpoint(path)
        with pytest.raises(ValueError, match=re.escape(str(path))):
            trainer.fit(BATCHES, epochs=1, resume_from=path)
        assert trainer.epoch == 0, name


def test_trainer_load_checkpoint_of_another_seqlearn_checkpoint_names_file_and_keys(
    tmp_path: Path,
) -> None:
    path = save_checkpoint(tmp_path / "other.pt", {"epoch": 3})
    with pytest.raises(ValueError, match=re.escape(f"{path}: not a trainer state")) as info:
        _trainer().load_checkpoint(path)
    assert "'callbacks'" in str(info.value) and "'model'" in str(info.value)
    with pytest.raises(ValueError, match="not a trainer state"):
        _trainer().load_state_dict({"model": {}})


def test_trainer_load_checkpoint_of_a_damaged_trainer_state_names_the_file(
    tmp_path: Path,
) -> None:
    state = _trainer().state_dict()
    for key, value in [("history", "x"), ("rng", {}), ("epoch", "x")]:
        path = save_checkpoint(tmp_path / f"{key}.pt", {**state, key: value})
        with pytest.raises(ValueError, match=re.escape(str(path))):
            _trainer().load_checkpoint(path)
    path = save_checkpoint(tmp_path / "callbacks.pt", state)
    with pytest.raises(ValueError, match=re.escape(f"{path}: the checkpoint holds states of 0")):
        _trainer(callbacks=[Callback()]).load_checkpoint(path)


def test_load_checkpoint_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing.pt"))):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing.pt"))):
        _trainer().load_checkpoint(tmp_path / "missing.pt")
