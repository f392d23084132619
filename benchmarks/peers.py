"""Faster than the peers, measured fairly: seqlearn, plain PyTorch and Keras train the same models.

Three models train on the names data, each written three ways:

- **seqlearn**: its public parts as a user writes them (``SequenceClassifier`` over a
  ``Bidirectional`` of ``GRUCell``, ``ConditionalLM`` over a ``StackedCell`` of
  ``LSTMCell``, ``lecture_generator``; ``collate_classification`` / ``NextTokenCollator``
  in a ``DataLoader``; ``Trainer`` with ``classification_loss`` / ``next_token_loss``);
- **plain PyTorch**, as an experienced user writes it, with no seqlearn inside the model
  or the loop: ``nn.Embedding``, fused ``nn.GRU(bidirectional=True)`` / ``nn.LSTM
  (num_layers=2)`` / ``nn.RNN(nonlinearity="relu")`` over ``pack_padded_sequence``,
  ``nn.Linear``, ``F.cross_entropy``, ``pad_sequence`` in a ``DataLoader``, and a plain
  ``for`` loop of ``zero_grad`` / ``backward`` / ``step``;
- **Keras 3** on TensorFlow (when ``keras`` and ``tensorflow`` import): ``Embedding
  (mask_zero=True)``, ``Bidirectional(GRU)`` / ``LSTM`` / ``SimpleRNN``, ``Dense``,
  compiled with the same optimiser and sparse categorical cross-entropy on logits, trained
  with ``train_on_batch`` on numpy-padded batches.

The models: (1) **classifier**, surname -> language: letter embedding 32, a bidirectional
GRU of 128 each way, both directions' final states concatenated, a linear head; Adam at
3e-3; validation accuracy. (2) **generator**, the next letter given the language and the
prefix: category embedding 16 beside letter embedding 32, a 2-layer LSTM of 256, a linear
head over the letters and EOS; Adam at 3e-3; validation NLL per character (nats). (3) **the
lecture's model**, ``lecture_generator()``: an Elman ReLU cell over one-hot [category;
letter] (its ``i2h``) and an output layer over the same vector beside the previous hidden
state (its ``i2o``); SGD at 0.0005 (as ``benchmarks/cells.py``) on the mean loss per
character; validation NLL per character.

Fairness, asserted as the script runs: every side reads the same names, split by
``stratified_split`` with one seed, encoded once to id lists that all sides share; the
batches (64 names of similar length, from ``LengthBucketSampler`` with a fixed seed) are
drawn once per epoch and every side trains on exactly those index lists, in that order,
collating them its own way inside the timed epoch; the optimisers and their settings are
the same; the trainable parameters count the same (Keras's LSTM keeps one bias vector per
layer where torch keeps two that act as one: Keras counts 2 x 4 x 256 fewer, and nothing
else differs); with seqlearn's weights copied in, each plain PyTorch model computes
seqlearn's loss on a padded batch; Keras's training loss on that batch is the mean over
names, or over valid characters (which it is given as sample weights: its output mask does
not reach ``train_on_batch``'s loss). Initial weights are drawn from one seed on the torch
sides; Keras draws its own (its default initialisers).

Timing: one untimed warm-up epoch per side, then ``--epochs`` timed epochs alternated
(seqlearn, torch, keras, seqlearn, ...), so a drift of the machine's load hits every side.
Printed: each side's median epoch seconds, the ratios seqlearn / plain torch and seqlearn
/ Keras (medians of the epoch-by-epoch ratios), and the validation figure each side
reaches after all its epochs (warm-up included), computed by each side in eval mode
without gradients on the same validation names. ``--device cuda`` puts the torch sides
on the GPU (Keras stays on the CPU, and its rows say so). The load average is printed at
the start and the end; above 0.5 at the start, a ``LOADED MACHINE`` line warns.

Run: ``python benchmarks/peers.py [--data-dir DIR] [--epochs 3] [--threads 2] [--models
classifier generator lecture] [--sides seqlearn torch keras] [--device cpu|cuda] [--quick]
[--seed 0] [--json PATH]``. The Keras side needs ``pip install tensorflow-cpu keras`` (or
``pip install -e '.[bench]'``); without them it is skipped with one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
from torch.utils.data import DataLoader

import seqlearn
from seqlearn.data import (
    LengthBucketSampler,
    NextTokenCollator,
    collate_classification,
    load_names,
    stratified_split,
)
from seqlearn.nn import (
    Bidirectional,
    ConditionalLM,
    GRUCell,
    LSTMCell,
    SequenceClassifier,
    StackedCell,
    lecture_generator,
)
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import Trainer, classification_loss, next_token_loss

MODELS = ["classifier", "generator", "lecture"]
SIDES = ["seqlearn", "torch", "keras"]
BATCH = 64  # names a training batch
EVAL_BATCH = 256  # names a validation batch (every side scores the same lists)
LETTER_DIM, CATEGORY_DIM = 32, 16  # embedding sizes, the same on every side
CLASSIFIER_HIDDEN, GENERATOR_HIDDEN, GENERATOR_LAYERS, LECTURE_HIDDEN = 128, 256, 2, 128
ADAM_LR = 3e-3  # classifier and generator
SGD_LR = 0.0005  # the lecture's model, as benchmarks/cells.py trains it
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch's defaults; Keras is given the same
VALID_FRACTION = 0.2
QUICK_TRAIN, QUICK_VALID = 256, 128  # names kept by --quick
LOADED = 0.5  # a 1-minute load average above this at the start is warned about
INSTALL_KERAS = "pip install tensorflow-cpu keras  (or: pip install -e '.[bench]')"

Example = tuple[list[int], int]  # (letter ids, category), shared by every side
Batches = list[list[int]]  # one epoch: lists of indices into the training examples


# ---------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class Data:
    """What every side trains and is scored on, made once."""

    train: list[Example]
    valid: list[Example]
    epochs: list[Batches]  # the warm-up epoch first, then the timed ones
    valid_batches: Batches
    vocab_size: int  # letters and EOS: the token vocabulary of every torch model
    eos_id: int  # also the number of letters (EOS follows them)
    num_categories: int


def prepare(args: argparse.Namespace) -> Data:
    """Load, split, encode and batch the names once, for every side."""
    names = load_names(args.data_dir)
    tokenizer = CharTokenizer(oov="drop")
    split = torch.Generator().manual_seed(args.seed)
    train_idx, valid_idx = stratified_split(names.labels, VALID_FRACTION, generator=split)
    encoded = [(tokenizer.encode(text), label) for text, label in names]
    train = [encoded[i] for i in train_idx if encoded[i][0]]
    valid = [encoded[i] for i in valid_idx if encoded[i][0]]
    if args.quick:  # a few hundred names, drawn with the seed
        pick = torch.Generator().manual_seed(args.seed)
        train = [train[i] for i in torch.randperm(len(train), generator=pick)[:QUICK_TRAIN]]
        valid = [valid[i] for i in torch.randperm(len(valid), generator=pick)[:QUICK_VALID]]
    lengths = [len(ids) for ids, _ in train]
    sampler = LengthBucketSampler(
        lengths, BATCH, generator=torch.Generator().manual_seed(args.seed)
    )
    epochs = [list(sampler) for _ in range(1 + args.epochs)]
    for batches in epochs:  # each epoch: every training name once, in batches of <= 64
        assert sorted(i for batch in batches for i in batch) == list(range(len(train)))
        assert all(len(batch) <= BATCH for batch in batches)
    valid_batches = list(
        LengthBucketSampler([len(ids) for ids, _ in valid], EVAL_BATCH, shuffle=False)
    )
    return Data(
        train=train,
        valid=valid,
        epochs=epochs,
        valid_batches=valid_batches,
        vocab_size=len(tokenizer),
        eos_id=tokenizer.eos_id,
        num_categories=len(names.categories),
    )


def characters(examples: Sequence[Example]) -> int:
    """Predicted characters of next-token training: every letter after the first, and EOS."""
    return sum(len(ids) for ids, _ in examples)


# ---------------------------------------------------------------------------- a side


class Side(Protocol):
    """One framework's version of one model, ready to train epoch by epoch."""

    label: str
    parameters: int  # trainable parameters
    optimizer: dict[str, Any]  # the optimiser's kind and settings

    def epoch(self, batches: Batches) -> tuple[float, float, int]:
        """Train on these batches: ``(seconds, mean training loss per item, names seen)``."""
        ...

    def quality(self) -> float:
        """The validation figure: accuracy, or NLL per character in nats."""
        ...


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def torch_optimizer(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A torch optimiser's kind and settings, in terms every side shares."""
    group = optimizer.param_groups[0]
    if isinstance(optimizer, torch.optim.Adam):
        beta_1, beta_2 = group["betas"]
        return {
            "kind": "Adam", "lr": group["lr"], "beta_1": beta_1, "beta_2": beta_2,
            "epsilon": group["eps"], "weight_decay": group["weight_decay"],
            "amsgrad": group["amsgrad"],
        }  # fmt: skip
    assert isinstance(optimizer, torch.optim.SGD)
    return {
        "kind": "SGD", "lr": group["lr"], "momentum": group["momentum"],
        "nesterov": group["nesterov"], "weight_decay": group["weight_decay"],
    }  # fmt: skip


def synchronize(device: torch.device) -> None:
    """Wait for the device, so that the clock stops when its work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------- seqlearn


def seqlearn_classifier(data: Data, seed: int) -> SequenceClassifier:
    g = torch.Generator().manual_seed(seed)
    encoder = Bidirectional(
        GRUCell(LETTER_DIM, CLASSIFIER_HIDDEN, generator=g),
        GRUCell(LETTER_DIM, CLASSIFIER_HIDDEN, generator=g),
    )
    return SequenceClassifier(
        encoder,
        vocab_size=data.vocab_size,
        num_classes=data.num_categories,
        embedding_dim=LETTER_DIM,
        pooling="final_state",  # both directions' final states, as h_n
        generator=g,
    )


def seqlearn_generator(data: Data, seed: int) -> ConditionalLM[Any]:
    g = torch.Generator().manual_seed(seed)
    cells = [
        LSTMCell(CATEGORY_DIM + LETTER_DIM, GENERATOR_HIDDEN, generator=g),
        LSTMCell(GENERATOR_HIDDEN, GENERATOR_HIDDEN, generator=g),
    ]
    return ConditionalLM(
        StackedCell(cells),
        vocab_size=data.vocab_size,
        num_categories=data.num_categories,
        embedding_dim=LETTER_DIM,
        category_dim=CATEGORY_DIM,
        generator=g,
    )


def seqlearn_lecture(data: Data, seed: int) -> ConditionalLM[Tensor]:
    return lecture_generator(
        data.vocab_size,
        data.num_categories,
        LECTURE_HIDDEN,
        generator=torch.Generator().manual_seed(seed),
    )


class SeqlearnSide:
    """A model trained by seqlearn's ``Trainer``, fed by a ``DataLoader`` as the examples do."""

    def __init__(
        self,
        label: str,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        objective: Any,
        collate: Callable[[list[Example]], Any],
        data: Data,
        device: torch.device,
        seed: int,
    ) -> None:
        self.label, self.data, self.collate, self.device = label, data, collate, device
        self.parameters = trainable(model)
        self.optimizer = torch_optimizer(optimizer)
        self.trainer: Trainer[Any, Any] = Trainer(
            model, optimizer, objective, progress=False, seed=seed, device=device
        )

    def loader(self, examples: list[Example], batches: Batches) -> DataLoader[Example]:
        return DataLoader(examples, batch_sampler=batches, collate_fn=self.collate)  # type: ignore[arg-type]

    def epoch(self, batches: Batches) -> tuple[float, float, int]:
        loader = self.loader(self.data.train, batches)
        start = time.perf_counter()
        history = self.trainer.fit(loader, epochs=self.trainer.epoch + 1)  # one more epoch
        synchronize(self.device)
        seconds = time.perf_counter() - start
        return seconds, history.train_loss[-1], sum(len(batch) for batch in batches)

    def quality(self) -> float:
        metrics = self.trainer.validate(self.loader(self.data.valid, self.data.valid_batches))
        return metrics.loss if metrics.accuracy is None else metrics.accuracy


def seqlearn_side(model_name: str, data: Data, args: argparse.Namespace) -> SeqlearnSide:
    model: nn.Module
    objective: Any = next_token_loss
    collate: Callable[[list[Example]], Any] = NextTokenCollator(eos_id=data.eos_id)
    if model_name == "classifier":
        model = seqlearn_classifier(data, args.seed)
        objective, collate = classification_loss, collate_classification
    elif model_name == "generator":
        model = seqlearn_generator(data, args.seed)
    else:
        model = seqlearn_lecture(data, args.seed)
    optimizer: torch.optim.Optimizer
    if model_name == "lecture":
        optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LR)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    device = torch.device(args.device)
    return SeqlearnSide("seqlearn", model, optimizer, objective, collate, data, device, args.seed)


# ---------------------------------------------------------------------------- plain PyTorch
# Nothing in this section uses seqlearn: the models, the collation and the loop are what
# an experienced PyTorch user writes. The examples (id lists) are shared with every side.

TorchBatch = tuple[Tensor, Tensor, Tensor, Tensor]  # tokens, lengths (CPU), labels/targets, cats


class TorchClassifier(nn.Module):
    """Embedding -> nn.GRU(bidirectional=True) over a packed batch -> [h_fwd; h_bwd] -> Linear."""

    def __init__(self, vocab: int, classes: int, embedding: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.gru = nn.GRU(embedding, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, h = self.gru(packed)  # (2, B, H): each direction's final state
        logits: Tensor = self.head(torch.cat((h[0], h[1]), dim=1))  # (B, C)
        return logits


class TorchGenerator(nn.Module):
    """[category embedding; letter embedding] -> nn.LSTM(num_layers=2), packed -> Linear."""

    def __init__(
        self, vocab: int, categories: int, embedding: int, category: int, hidden: int, layers: int
    ) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, embedding)
        self.category_embedding = nn.Embedding(categories, category)
        self.lstm = nn.LSTM(embedding + category, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens: Tensor, lengths: Tensor, categories: Tensor) -> Tensor:
        """Logits ``(N, V)`` of the N valid positions, in the packed order of ``lengths``."""
        b, t = tokens.shape
        c = self.category_embedding(categories)[:, None].expand(b, t, -1)  # (B, T, 16)
        x = torch.cat((c, self.token_embedding(tokens)), dim=-1)  # (B, T, 48)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        logits: Tensor = self.head(out.data)  # (N, V)
        return logits


class TorchLecture(nn.Module):
    """The lecture's model batched: i2h as one fused ReLU nn.RNN over the packed one-hot
    [category; letter], and i2o over [category; letter; previous hidden state].

    ``nn.RNN`` keeps two biases where ``i2h`` has one: ``bias_hh`` stays zero and frozen, so
    the model is exactly the lecture's and trains the same parameters.
    """

    def __init__(self, vocab: int, categories: int, hidden: int) -> None:
        super().__init__()
        self.vocab, self.categories = vocab, categories
        self.rnn = nn.RNN(categories + vocab, hidden, nonlinearity="relu", batch_first=True)
        hidden_bias = cast(Tensor, self.rnn.bias_hh_l0)
        with torch.no_grad():
            hidden_bias.zero_()
        hidden_bias.requires_grad_(False)
        self.i2o = nn.Linear(categories + vocab + hidden, vocab)

    def forward(self, tokens: Tensor, lengths: Tensor, categories: Tensor) -> Tensor:
        """Logits ``(B, T, V)`` of a padded batch."""
        b, t = tokens.shape
        c = F.one_hot(categories, self.categories)[:, None].expand(b, t, -1)
        x = torch.cat((c, F.one_hot(tokens, self.vocab)), dim=-1).float()  # (B, T, C + V)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # (B, T, H)
        previous = F.pad(h[:, :-1], (0, 0, 1, 0))  # h_{t-1}, zeros before the first letter
        logits: Tensor = self.i2o(torch.cat((x, previous), dim=-1))  # (B, T, V)
        return logits


def torch_collate_classifier(examples: list[Example]) -> TorchBatch:
    tokens = pad_sequence([torch.tensor(ids) for ids, _ in examples], batch_first=True)
    lengths = torch.tensor([len(ids) for ids, _ in examples])
    labels = torch.tensor([label for _, label in examples])
    return tokens, lengths, labels, labels


def torch_collate_next_token(eos: int) -> Callable[[list[Example]], TorchBatch]:
    def collate(examples: list[Example]) -> TorchBatch:
        tokens = pad_sequence([torch.tensor(ids) for ids, _ in examples], batch_first=True)
        targets = pad_sequence(
            [torch.tensor([*ids[1:], eos]) for ids, _ in examples],
            batch_first=True,
            padding_value=-100,  # cross_entropy's ignore_index
        )
        lengths = torch.tensor([len(ids) for ids, _ in examples])
        categories = torch.tensor([category for _, category in examples])
        return tokens, lengths, targets, categories

    return collate


def torch_classifier_loss(model: nn.Module, batch: TorchBatch) -> tuple[Tensor, int]:
    tokens, lengths, labels, _ = batch
    return F.cross_entropy(model(tokens, lengths), labels), len(lengths)


def torch_generator_loss(model: nn.Module, batch: TorchBatch) -> tuple[Tensor, int]:
    tokens, lengths, targets, categories = batch
    logits = model(tokens, lengths, categories)  # (N, V), packed order
    packed = pack_padded_sequence(targets, lengths, batch_first=True, enforce_sorted=False)
    return F.cross_entropy(logits, packed.data), int(lengths.sum())


def torch_lecture_loss(model: nn.Module, batch: TorchBatch) -> tuple[Tensor, int]:
    tokens, lengths, targets, categories = batch
    logits = model(tokens, lengths, categories)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten()), int(lengths.sum())


class TorchSide:
    """A plain PyTorch model and its plain loop."""

    def __init__(
        self,
        label: str,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: Callable[[nn.Module, TorchBatch], tuple[Tensor, int]],
        collate: Callable[[list[Example]], TorchBatch],
        data: Data,
        device: torch.device,
    ) -> None:
        self.label, self.data, self.device = label, data, device
        self.model, self.optim, self.loss, self.collate = model, optimizer, loss, collate
        self.parameters = trainable(model)
        self.optimizer = torch_optimizer(optimizer)
        self.classifier = loss is torch_classifier_loss

    def to_device(self, batch: TorchBatch) -> TorchBatch:
        tokens, lengths, targets, categories = batch  # lengths stay on the CPU for packing
        move = [t.to(self.device, non_blocking=True) for t in (tokens, targets, categories)]
        return move[0], lengths, move[1], move[2]

    def epoch(self, batches: Batches) -> tuple[float, float, int]:
        loader: DataLoader[Example] = DataLoader(
            self.data.train,  # type: ignore[arg-type]
            batch_sampler=batches,
            collate_fn=self.collate,
        )
        start = time.perf_counter()
        self.model.train()
        total, items, names = torch.zeros((), device=self.device), 0, 0
        for batch in loader:
            loss, count = self.loss(self.model, self.to_device(batch))
            self.optim.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            self.optim.step()
            total += loss.detach() * count  # summed on the device, read once
            items, names = items + count, names + len(batch[1])
        mean = float(total) / items
        synchronize(self.device)
        return time.perf_counter() - start, mean, names

    @torch.inference_mode()
    def quality(self) -> float:
        self.model.eval()
        loader: DataLoader[Example] = DataLoader(
            self.data.valid,  # type: ignore[arg-type]
            batch_sampler=self.data.valid_batches,
            collate_fn=self.collate,
        )
        right, total, items = 0, 0.0, 0
        for batch in loader:
            tokens, lengths, targets, categories = self.to_device(batch)
            if self.classifier:
                right += int((self.model(tokens, lengths).argmax(dim=1) == targets).sum())
                items += len(lengths)
            else:
                loss, count = self.loss(self.model, (tokens, lengths, targets, categories))
                total, items = total + float(loss) * count, items + count
        self.model.train()
        return right / items if self.classifier else total / items


def torch_side(model_name: str, data: Data, args: argparse.Namespace) -> TorchSide:
    device = torch.device(args.device)
    torch.manual_seed(args.seed)  # the torch sides start from one seed
    collate = torch_collate_next_token(data.eos_id)
    model: nn.Module
    if model_name == "classifier":
        model = TorchClassifier(data.vocab_size, data.num_categories, LETTER_DIM, CLASSIFIER_HIDDEN)
        loss, collate = torch_classifier_loss, torch_collate_classifier
    elif model_name == "generator":
        model = TorchGenerator(
            data.vocab_size, data.num_categories, LETTER_DIM, CATEGORY_DIM, GENERATOR_HIDDEN,
            GENERATOR_LAYERS,
        )  # fmt: skip
        loss = torch_generator_loss
    else:
        model, loss = (
            TorchLecture(data.vocab_size, data.num_categories, LECTURE_HIDDEN),
            torch_lecture_loss,
        )
    model.to(device)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if model_name == "lecture":
        optimizer = torch.optim.SGD(trained, lr=SGD_LR)
    else:
        optimizer = torch.optim.Adam(trained, lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    return TorchSide("plain torch", model, optimizer, loss, collate, data, device)


# ---------------------------------------------------------------------------- Keras


def load_keras(threads: int) -> tuple[Any, str]:
    """Keras 3 on TensorFlow with ``threads`` threads, CPU only; ``(None, why)`` if missing."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    # TensorFlow's C++ start-up notes and Grappler's non-fatal optimiser errors (a SimpleRNN
    # with ReLU trips one); real failures still raise in Python
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        tf = importlib.import_module("tensorflow")
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.config.set_visible_devices([], "GPU")  # Keras stays on the CPU
        tf.get_logger().setLevel("ERROR")  # retracing notes: the warm-up epoch absorbs them
        # the lecture model's shift of h_{t-1} drops the mask it needs not (sample weights
        # mark the valid positions); Keras warns each time it traces the model
        warnings.filterwarnings("ignore", message=".*ZeroPadding1D.*does not support masking")
        keras = importlib.import_module("keras")
    except ImportError as error:
        return None, str(error)
    major, minor = (int(part) for part in keras.__version__.split(".")[:2])
    if not (major == 3 and minor >= 7) or keras.backend.backend() != "tensorflow":
        return None, f"need Keras 3.7+ on TensorFlow, got Keras {keras.__version__}"
    return keras, f"TensorFlow {tf.__version__}, Keras {keras.__version__}"


def keras_classifier(keras: Any, data: Data) -> Any:
    layers = keras.layers
    inputs = keras.Input((None,), dtype="int32")
    # ids shifted by one, 0 is padding: the letters and the padding make data.vocab_size
    # rows, as the torch models' letters and (unused) EOS do
    x = layers.Embedding(data.eos_id + 1, LETTER_DIM, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.GRU(CLASSIFIER_HIDDEN))(x)  # final states, concatenated
    model = keras.Model(inputs, layers.Dense(data.num_categories)(x))
    model.compile(
        optimizer=keras.optimizers.Adam(ADAM_LR, *ADAM_BETAS, epsilon=ADAM_EPS),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def keras_generator(keras: Any, data: Data) -> Any:
    layers = keras.layers
    tokens = keras.Input((None,), dtype="int32")  # letter ids + 1, 0 is padding
    categories = keras.Input((None,), dtype="int32")  # each name's category at every step
    x = layers.Concatenate()(
        [
            layers.Embedding(data.num_categories, CATEGORY_DIM)(categories),
            layers.Embedding(data.eos_id + 1, LETTER_DIM, mask_zero=True)(tokens),
        ]
    )
    for _ in range(GENERATOR_LAYERS):
        x = layers.LSTM(GENERATOR_HIDDEN, return_sequences=True)(x)
    model = keras.Model([tokens, categories], layers.Dense(data.vocab_size)(x))
    model.compile(
        optimizer=keras.optimizers.Adam(ADAM_LR, *ADAM_BETAS, epsilon=ADAM_EPS),
        loss=per_character_loss(keras),
    )
    return model


def per_character_loss(keras: Any) -> Any:
    """Cross-entropy averaged over the valid characters, which come as sample weights.

    ``train_on_batch`` does not apply the output's mask to the loss (Keras 3.15 on
    TensorFlow 2.21: the default reduction averages over every padded position, which
    ``check_keras_loss`` caught), so the valid positions go in as sample weights and
    ``"mean_with_sample_weight"`` (Keras 3.7+) divides by their sum.
    """
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"
    )


def keras_lecture(keras: Any, data: Data) -> Any:
    layers = keras.layers
    inputs = keras.Input((None, data.num_categories + data.vocab_size))  # one-hot, 0 = padding
    x = layers.Masking(0.0)(inputs)
    h = layers.SimpleRNN(LECTURE_HIDDEN, activation="relu", return_sequences=True)(x)  # i2h
    previous = layers.Cropping1D((0, 1))(layers.ZeroPadding1D((1, 0))(h))  # h_{t-1}
    logits = layers.Dense(data.vocab_size)(layers.Concatenate()([x, previous]))  # i2o
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.SGD(SGD_LR), loss=per_character_loss(keras))
    return model


def padded(rows: list[list[int]]) -> np.ndarray[Any, Any]:
    """Rows of ids, padded with 0 to the longest: ``(B, T)`` int32."""
    out = np.zeros((len(rows), max(map(len, rows))), dtype=np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


KerasBatch = tuple[Any, np.ndarray[Any, Any], np.ndarray[Any, Any] | None]  # x, y, weights


def keras_collate(model_name: str, data: Data) -> Callable[[list[Example]], KerasBatch]:
    """numpy batches ``(inputs, targets, sample weights)``: per-step targets are 0 at padded
    positions, whose weight is 0 (1 elsewhere); a classifier's batch has no weights."""

    def collate(examples: list[Example]) -> KerasBatch:
        if model_name == "classifier":
            tokens = padded([[i + 1 for i in ids] for ids, _ in examples])
            return tokens, np.array([label for _, label in examples], dtype=np.int32), None
        targets = padded([[*ids[1:], data.eos_id] for ids, _ in examples])
        lengths = np.array([len(ids) for ids, _ in examples])
        weights = (np.arange(targets.shape[1])[None] < lengths[:, None]).astype(np.float32)
        if model_name == "generator":
            tokens = padded([[i + 1 for i in ids] for ids, _ in examples])
            cats = np.array([c for _, c in examples], dtype=np.int32)[:, None]
            return [tokens, np.broadcast_to(cats, tokens.shape)], targets, weights
        b, t, c = len(examples), targets.shape[1], data.num_categories
        x = np.zeros((b, t, c + data.vocab_size), dtype=np.float32)
        for row, (ids, category) in enumerate(examples):
            x[row, : len(ids), category] = 1.0
            x[row, np.arange(len(ids)), c + np.asarray(ids)] = 1.0
        return x, targets, weights

    return collate


class KerasSide:
    """A Keras model trained with ``train_on_batch`` on numpy-padded batches."""

    def __init__(self, model_name: str, model: Any, data: Data, device: str) -> None:
        self.label = "keras" + (" (CPU)" if device != "cpu" else "")
        self.model, self.data, self.model_name = model, data, model_name
        self.collate = keras_collate(model_name, data)
        self.parameters = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        self.optimizer = keras_optimizer(model.optimizer)

    def items(self, examples: list[Example]) -> int:
        return len(examples) if self.model_name == "classifier" else characters(examples)

    def epoch(self, batches: Batches) -> tuple[float, float, int]:
        start = time.perf_counter()
        total, items = 0.0, 0
        for batch in batches:
            examples = [self.data.train[i] for i in batch]
            x, y, weights = self.collate(examples)
            loss = float(self.model.train_on_batch(x, y, sample_weight=weights))
            count = self.items(examples)
            total, items = total + loss * count, items + count
        return time.perf_counter() - start, total / items, sum(len(b) for b in batches)

    def logits(self, examples: list[Example]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        x, y, _ = self.collate(examples)
        return np.asarray(self.model.predict_on_batch(x), dtype=np.float64), y

    def quality(self) -> float:
        right, total, items = 0, 0.0, 0
        for batch in self.data.valid_batches:
            examples = [self.data.valid[i] for i in batch]
            logits, y = self.logits(examples)
            if self.model_name == "classifier":
                right += int((logits.argmax(axis=1) == y).sum())
                items += len(examples)
                continue
            total += masked_nll(logits, y, [len(ids) for ids, _ in examples])
            items += characters(examples)
        return right / items if self.model_name == "classifier" else total / items


def masked_nll(
    logits: np.ndarray[Any, Any], targets: np.ndarray[Any, Any], lengths: list[int]
) -> float:
    """Summed NLL (nats) of ``targets (B, T)`` under ``logits (B, T, V)`` at valid steps."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]  # (B, T)
    valid = np.arange(targets.shape[1])[None] < np.asarray(lengths)[:, None]
    return float(-picked[valid].sum())


def keras_optimizer(optimizer: Any) -> dict[str, Any]:
    """A Keras optimiser's kind and settings, in the torch optimisers' terms."""
    settings = {"kind": type(optimizer).__name__, "lr": float(optimizer.learning_rate)}
    settings["weight_decay"] = optimizer.weight_decay or 0.0
    adam = settings["kind"] == "Adam"
    names = ("beta_1", "beta_2", "epsilon", "amsgrad") if adam else ("momentum", "nesterov")
    return settings | {name: getattr(optimizer, name) for name in names}


def keras_side(model_name: str, data: Data, keras: Any, args: argparse.Namespace) -> KerasSide:
    keras.utils.set_random_seed(args.seed)
    builders = {
        "classifier": keras_classifier,
        "generator": keras_generator,
        "lecture": keras_lecture,
    }
    return KerasSide(model_name, builders[model_name](keras, data), data, args.device)


# ---------------------------------------------------------------------------- fairness checks


def check_parameters(model_name: str, sides: list[Side]) -> dict[str, Any]:
    """Assert that every side trains as many parameters (Keras's LSTM: see the docstring)."""
    counts = {side.label: side.parameters for side in sides}
    torch_counts = {side.parameters for side in sides if not isinstance(side, KerasSide)}
    assert len(torch_counts) <= 1, f"{model_name}: torch sides differ: {counts}"
    note = ""
    for side in sides:
        if not isinstance(side, KerasSide) or not torch_counts:
            continue
        expected = next(iter(torch_counts))
        if model_name == "generator":  # one bias vector per LSTM layer, not two
            expected -= GENERATOR_LAYERS * 4 * GENERATOR_HIDDEN
            note = (
                f"Keras's LSTM keeps one bias per layer where torch keeps b_ih + b_hh: "
                f"{GENERATOR_LAYERS * 4 * GENERATOR_HIDDEN:,} fewer, the same function"
            )
        assert side.parameters == expected, f"{model_name}: {counts} (Keras expected {expected})"
    return {"counts": counts, "equal": True, "note": note}


def check_optimizers(model_name: str, sides: list[Side]) -> dict[str, Any]:
    """Assert that every side's optimiser has the same kind and settings; returns them."""
    for side in sides[1:]:
        ours, theirs = sides[0].optimizer, side.optimizer
        same = ours.keys() == theirs.keys() and all(
            math.isclose(ours[k], theirs[k], rel_tol=1e-6) for k in ours if k != "kind"
        )
        assert same and ours["kind"] == theirs["kind"], f"{model_name}: {ours} != {theirs}"
    return sides[0].optimizer if sides else {}


def most_padded(data: Data) -> list[Example]:
    """The warm-up epoch's batch whose names differ most in length: where padding matters."""
    lengths = [[len(data.train[i][0]) for i in batch] for batch in data.epochs[0]]
    spread = max(range(len(lengths)), key=lambda b: max(lengths[b]) - min(lengths[b]))
    return [data.train[i] for i in data.epochs[0][spread]]


def check_keras_loss(side: KerasSide, data: Data) -> float:
    """Keras's training loss on a padded batch is the mean over names, or over valid
    characters, as on the torch sides; returns the relative difference (asserted below
    1e-4) between ``test_on_batch``'s loss and that mean computed from eager logits."""
    examples = most_padded(data)
    x, targets, weights = side.collate(examples)
    reported = float(side.model.test_on_batch(x, targets, sample_weight=weights))
    logits = np.asarray(side.model(x, training=False), dtype=np.float64)  # eager, masks kept
    if side.model_name == "classifier":
        lengths = [1] * len(examples)
        logits, targets = logits[:, None], targets[:, None]  # one "step" a name
    else:
        lengths = [len(ids) for ids, _ in examples]
    expected = masked_nll(logits, targets, lengths) / sum(lengths)
    difference = abs(reported - expected) / abs(expected)
    assert difference < 1e-4, f"{side.model_name}: Keras's loss {reported} != mean {expected}"
    return difference


def copy_into(plain: nn.Module, ours: nn.Module, model_name: str) -> None:
    """Copy seqlearn's weights into the plain PyTorch model of the same architecture."""
    with torch.no_grad():
        if model_name == "lecture":  # i2h's (H, C+V+H) matrix is nn.RNN's two
            assert isinstance(plain, TorchLecture)
            state, inputs = ours.state_dict(), plain.rnn.input_size
            weight = state["recurrent.cell.weight"]
            plain.load_state_dict(
                {
                    "rnn.weight_ih_l0": weight[:, :inputs],
                    "rnn.weight_hh_l0": weight[:, inputs:],
                    "rnn.bias_ih_l0": state["recurrent.cell.bias"],
                    "rnn.bias_hh_l0": torch.zeros_like(state["recurrent.cell.bias"]),
                    "i2o.weight": state["head.weight"],
                    "i2o.bias": state["head.bias"],
                }
            )
            return
        pairs = list(zip(ours.parameters(), plain.parameters(), strict=True))
        for theirs, mine in pairs:  # the same order and shapes, parameter by parameter
            assert theirs.shape == mine.shape, (theirs.shape, mine.shape)
            mine.copy_(theirs)


def check_same_function(model_name: str, data: Data, seed: int) -> float:
    """With seqlearn's weights copied in, the plain model's loss on a batch is seqlearn's;
    returns the relative difference (asserted below 1e-4)."""
    examples = most_padded(data)
    build = {"classifier": seqlearn_classifier, "generator": seqlearn_generator}
    ours: nn.Module = {**build, "lecture": seqlearn_lecture}[model_name](data, seed)
    with torch.random.fork_rng(devices=[]):
        args = argparse.Namespace(device="cpu", seed=seed)
        plain = torch_side(model_name, data, args)
    copy_into(plain.model, ours, model_name)
    ours.eval(), plain.model.eval()
    with torch.no_grad():
        if model_name == "classifier":
            ref = classification_loss(ours, collate_classification(examples))
        else:
            lm = cast(ConditionalLM[Any], ours)
            ref = next_token_loss(lm, NextTokenCollator(eos_id=data.eos_id)(examples))
        expected = float(ref.total) / ref.num_items
        got = float(plain.loss(plain.model, plain.collate(examples))[0])
    difference = abs(got - expected) / abs(expected)
    assert difference < 1e-4, f"{model_name}: plain torch loss {got} != seqlearn's {expected}"
    return difference


# ---------------------------------------------------------------------------- timing


def bench_model(
    model_name: str, data: Data, args: argparse.Namespace, keras: Any
) -> dict[str, Any]:
    """Build every side, warm each up, time the epochs alternated, score each side."""
    sides: list[Side] = []
    for name in args.sides:
        if name == "seqlearn":
            sides.append(seqlearn_side(model_name, data, args))
        elif name == "torch":
            sides.append(torch_side(model_name, data, args))
        elif keras is not None:
            sides.append(keras_side(model_name, data, keras, args))
    parameters = check_parameters(model_name, sides)
    optimizer = check_optimizers(model_name, sides)
    same = None
    if {"seqlearn", "torch"} <= set(args.sides):
        same = check_same_function(model_name, data, args.seed)
    keras_loss = [check_keras_loss(side, data) for side in sides if isinstance(side, KerasSide)]
    warmup = {side.label: side.epoch(data.epochs[0]) for side in sides}  # untimed
    seconds: dict[str, list[float]] = {side.label: [] for side in sides}
    losses: dict[str, float] = {}
    for batches in data.epochs[1:]:  # A B C A B C ...
        for side in sides:
            took, loss, names = side.epoch(batches)
            assert names == len(data.train), f"{side.label} saw {names} names"
            seconds[side.label].append(took)
            losses[side.label] = loss
    quality = {side.label: side.quality() for side in sides}
    return {
        "parameters": parameters,
        "optimizer": optimizer,
        "same_loss_relative_difference": same,
        "keras_loss_relative_difference": keras_loss[0] if keras_loss else None,
        "warmup_seconds": {label: w[0] for label, w in warmup.items()},
        "epoch_seconds": seconds,
        "median_epoch_seconds": {k: statistics.median(v) for k, v in seconds.items()},
        "train_loss": losses,
        "quality": quality,
        "ratios": ratios(seconds),
    }


def ratios(seconds: dict[str, list[float]]) -> dict[str, float]:
    """seqlearn's time over each other side's: the median of the epoch-by-epoch ratios."""
    ours = next((v for k, v in seconds.items() if k.startswith("seqlearn")), None)
    if ours is None:
        return {}
    return {
        f"seqlearn / {label}": statistics.median(a / b for a, b in zip(ours, theirs))
        for label, theirs in seconds.items()
        if not label.startswith("seqlearn")
    }


DESCRIPTIONS = {
    "classifier": (
        "surname -> language: letter embedding {LETTER_DIM}, bidirectional GRU "
        "{CLASSIFIER_HIDDEN} each way, both final states concatenated, linear head; "
        "Adam lr {ADAM_LR}",
        "validation accuracy",
    ),
    "generator": (
        "next letter given language and prefix: category embedding {CATEGORY_DIM} + letter "
        "embedding {LETTER_DIM}, 2-layer LSTM {GENERATOR_HIDDEN}, linear head over letters "
        "and EOS; Adam lr {ADAM_LR}",
        "validation NLL/char (nats)",
    ),
    "lecture": (
        "the lecture's model (Elman ReLU {LECTURE_HIDDEN} over one-hot [category; letter], "
        "i2o over the input and the previous hidden state); SGD lr {SGD_LR}",
        "validation NLL/char (nats)",
    ),
}


def print_model(
    model_name: str, data: Data, result: dict[str, Any], args: argparse.Namespace
) -> None:
    description, figure = DESCRIPTIONS[model_name]
    print(f"\n{model_name}: {description.format(**globals())}")
    print(
        f"  {len(data.train):,} training names in {len(data.epochs[0])} batches of up to "
        f"{BATCH}, {len(data.valid):,} validation names; 1 warm-up + {args.epochs} timed "
        f"epochs per side, alternated"
    )
    parameters = result["parameters"]
    if parameters["note"]:
        print(f"  parameters: {parameters['note']}")
    if result["same_loss_relative_difference"] is not None:
        print(
            "  same function: with seqlearn's weights copied in, plain torch's loss differs by "
            f"{result['same_loss_relative_difference']:.1e} (relative)"
        )
    if result["keras_loss_relative_difference"] is not None:
        per = "name" if model_name == "classifier" else "valid character"
        print(
            f"  same loss: Keras's training loss is the mean per {per} (differs by "
            f"{result['keras_loss_relative_difference']:.1e}, relative)"
        )
    header = (
        f"  {'side':<18} {'parameters':>10} {'median epoch s':>14} {'epochs s':<22} "
        f"{'train loss':>10}  {figure}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for label, seconds in result["epoch_seconds"].items():
        shown = " ".join(f"{s:.2f}" for s in seconds)
        print(
            f"  {label:<18} {parameters['counts'][label]:>10,} "
            f"{result['median_epoch_seconds'][label]:>14.3f} {shown:<22} "
            f"{result['train_loss'][label]:>10.4f}  {result['quality'][label]:.4f}"
        )
    for name, ratio in result["ratios"].items():
        print(f"  {name}: {ratio:.2f}x time (below 1: seqlearn faster)")


# ---------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> tuple[float, float, float] | None:
    return os.getloadavg() if hasattr(os, "getloadavg") else None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows the defaults that are set; unset ones say what unset means themselves."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The Keras side needs: " + INSTALL_KERAS,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder holding names/ (default: $SEQLEARN_DATA, else the per-user cache)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="N",
        help="timed epochs per side (default: 3; --quick: 1)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, metavar="N", help="threads of torch and TensorFlow"
    )
    parser.add_argument(
        "--models", nargs="+", choices=MODELS, default=MODELS, help="models to train"
    )
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=SIDES, help="frameworks")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="device of the torch sides (Keras stays on the CPU)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_TRAIN} training and {QUICK_VALID} validation names, "
        "1 timed epoch; the figures mean nothing",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of split, batches, weights")
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the figures here"
    )
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else 3
    if args.epochs < 1 or args.threads < 1:
        parser.error(
            f"--epochs and --threads must be at least 1, got {args.epochs}, {args.threads}"
        )
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    args.models = list(dict.fromkeys(args.models))
    args.sides = list(dict.fromkeys(args.sides))
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; prints it and returns the figures (also written by ``--json``)."""
    load = load_average()  # before this script does any work
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    keras, keras_note = (None, "not asked for")
    if "keras" in args.sides:
        keras, keras_note = load_keras(args.threads)
    device = args.device + (f" ({torch.cuda.get_device_name(0)})" if args.device == "cuda" else "")
    print(
        f"seqlearn {seqlearn.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
        f"threads, device {device}), Python {platform.python_version()}"
        + ("  [--quick: a smoke run, the figures mean nothing]" if args.quick else "")
    )
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs")
    if keras is not None:
        tf = importlib.import_module("tensorflow")
        threads = (
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
        print(f"keras: {keras_note} (intra-op / inter-op threads {threads[0]} / {threads[1]}, CPU)")
    elif "keras" in args.sides:
        print(f"keras: skipped ({keras_note}); install it with: {INSTALL_KERAS}")
    if load is not None:
        print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if load[0] > LOADED:
            print(
                f"LOADED MACHINE: the 1-minute load average is {load[0]:.2f} before this script "
                f"started (above {LOADED}); every figure is slower, the ratios noisier, and "
                f"with fewer idle cores than --threads the threads wait on each other (try "
                f"--threads 1)"
            )
    data = prepare(args)
    results: dict[str, Any] = {}
    for model_name in args.models:
        results[model_name] = bench_model(model_name, data, args, keras)
        print_model(model_name, data, results[model_name], args)
    end = load_average()
    if end is not None:
        print(f"\nload average at the end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
    figures = {
        "seqlearn": seqlearn.__version__,
        "torch": torch.__version__,
        "keras": keras_note if keras is not None else None,
        "threads": args.threads,
        "device": args.device,
        "cpu": cpu_model(),
        "quick": args.quick,
        "epochs": args.epochs,
        "seed": args.seed,
        "load_average_start": load,
        "load_average_end": end,
        "train_names": len(data.train),
        "valid_names": len(data.valid),
        "models": results,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return figures


if __name__ == "__main__":
    main()
