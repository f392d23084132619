"""The lecture's classification exercise, in a few lines of seqlearn parts.

"Find the divergent learning rate (train a whole epoch per rate), train 5 epochs with a
quarter of it, report train and validation accuracy": on a stratified sample of the names
data, with plain SGD, a small Elman classifier over one-hot letters.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from seqlearn.data import collate_classification, load_names, stratified_split
from seqlearn.data.batching import ClassificationBatch
from seqlearn.nn import ElmanCell, Recurrent
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import Trainer, classification_loss, find_divergent_lr


class LastStateClassifier(nn.Module):
    """Elman cell over one-hot letters; a linear layer reads each name's last state."""

    def __init__(self, vocab_size: int, hidden_size: int, num_classes: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        generator = torch.Generator().manual_seed(0)
        self.recurrent = Recurrent(ElmanCell(vocab_size, hidden_size, generator=generator))
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        one_hot = nn.functional.one_hot(inputs, self.vocab_size).float()  # (B, T, V)
        _, last = self.recurrent(one_hot, lengths)  # (B, H)
        return self.head(last)  # type: ignore[no-any-return]


def _batches(pairs: list[tuple[list[int], int]], size: int) -> list[ClassificationBatch]:
    return [collate_classification(pairs[i : i + size]) for i in range(0, len(pairs), size)]


def test_the_lecture_exercise_runs_in_a_few_lines(shared_data_dir: Path) -> None:
    names, tokenizer = load_names(shared_data_dir), CharTokenizer(oov="drop")
    split = torch.Generator().manual_seed(0)
    _, sample = stratified_split(names.labels, 0.15, generator=split)  # ~3,000 names
    sample_labels = [names.labels[i] for i in sample]
    train_part, valid_part = stratified_split(sample_labels, 0.2, generator=split)
    pairs = [(tokenizer.encode(names.texts[i]), names.labels[i]) for i in sample]
    order = torch.randperm(len(pairs), generator=split).tolist()
    train_ids, valid_ids = set(train_part), set(valid_part)
    train = _batches([pairs[i] for i in order if i in train_ids and pairs[i][0]], 32)
    valid = _batches([pairs[i] for i in order if i in valid_ids and pairs[i][0]], 256)

    model = LastStateClassifier(len(tokenizer), 32, len(names.categories))
    found = find_divergent_lr(model, classification_loss, train, lrs=[0.1 * 3**k for k in range(6)])
    assert found.divergent_lr is not None and found.suggested_lr is not None
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=found.suggested_lr),
        classification_loss,
        progress=False,
        seed=0,
    )
    history = trainer.fit(train, epochs=5, valid_batches=valid)

    train_accuracy, valid_accuracy = history.accuracy("train")[-1], history.accuracy("valid")[-1]
    assert train_accuracy is not None and valid_accuracy is not None
    chance = max(names.counts().values()) / len(names)  # always answering the largest class
    assert valid_accuracy > chance, (found, history.records)
    assert history.train_loss[-1] < found.start_loss
