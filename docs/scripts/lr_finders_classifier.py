"""The lecture's classification exercise on the names data, with both learning-rate finders.

The exercise: hold out 20% of each language, find the divergent learning rate of plain SGD
(a whole epoch per rate), train 5 epochs at a quarter of it, and report the training and
validation accuracy. The model is a small classifier built from seqlearn parts: an Elman
cell (tanh) over one-hot letters, and a linear layer reading each name's last state.

Prints the results shown in the "Choosing a learning rate" section of docs/training.rst
and writes ``lr_finders_classifier_divergent.png`` and ``lr_finders_classifier_range.png``.

Usage (about a minute on 2 idle CPU cores; needs matplotlib, the ``plot`` extra)::

    python docs/scripts/lr_finders_classifier.py --data-dir /path/to/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor, nn

from seqlearn.data import ClassificationBatch, collate_classification, load_names, stratified_split
from seqlearn.nn import ElmanCell, Recurrent
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import Trainer, classification_loss, find_divergent_lr, lr_range_test

IMAGES = Path(__file__).resolve().parents[1] / "images"
GRID = [0.01 * 2**k for k in range(12)]  # 0.01 ... 20.48


class LastStateClassifier(nn.Module):
    """An Elman cell over one-hot letters; a linear layer reads each name's last state."""

    def __init__(self, vocab_size: int, num_classes: int, hidden_size: int = 128) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.recurrent = Recurrent(ElmanCell(vocab_size, hidden_size))
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        one_hot = nn.functional.one_hot(inputs, self.vocab_size).float()  # (B, T, V)
        _, last = self.recurrent(one_hot, lengths)  # (B, H)
        return self.head(last)  # type: ignore[no-any-return]  # (B, C)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the two PNGs")
    parser.add_argument("--seed", type=int, default=0, help="split, weights and batch order")
    args = parser.parse_args()

    names, tokenizer = load_names(args.data_dir), CharTokenizer(oov="drop")
    generator = torch.Generator().manual_seed(args.seed)
    train_idx, valid_idx = stratified_split(names.labels, 0.2, generator=generator)

    def batches(indices: list[int], size: int) -> list[ClassificationBatch]:
        pairs = [(tokenizer.encode(names.texts[i]), names.labels[i]) for i in indices]
        pairs = [pair for pair in pairs if pair[0]]
        order = torch.randperm(len(pairs), generator=generator).tolist()
        shuffled = [pairs[i] for i in order]
        return [collate_classification(shuffled[i : i + size]) for i in range(0, len(pairs), size)]

    train, valid = batches(train_idx, 32), batches(valid_idx, 512)
    torch.manual_seed(args.seed)
    model = LastStateClassifier(len(tokenizer), len(names.categories))

    found = find_divergent_lr(model, classification_loss, train, lrs=GRID, refine_steps=2)
    print(f"find_divergent_lr: loss at the initial weights {found.start_loss:.4f}")
    for lr, loss in found.losses.items():
        print(f"  rate {lr:8.4g}: loss after one epoch {loss:9.4f}  diverged {found.diverged[lr]}")
    print(f"  divergent rate {found.divergent_lr:.4g}, a quarter of it {found.suggested_lr:.4g}")
    found.plot(args.out / "lr_finders_classifier_divergent.png")

    ranged = lr_range_test(
        model, classification_loss, train, start_lr=1e-3, end_lr=1e3, num_steps=len(train)
    )
    print(
        f"lr_range_test: {len(ranged.lrs)} steps, diverged {ranged.diverged}; suggested "
        f"{ranged.suggested_lr:.4g}, lowest smoothed loss at {ranged.min_loss_lr:.4g}"
    )
    ranged.plot(args.out / "lr_finders_classifier_range.png")

    assert found.suggested_lr is not None
    sgd = torch.optim.SGD(model.parameters(), lr=found.suggested_lr)
    trainer = Trainer(model, sgd, classification_loss, progress=False, seed=args.seed)
    history = trainer.fit(train, epochs=5, valid_batches=valid)
    for record in history.records:
        print(
            f"epoch {record.epoch}: train accuracy {record.train_accuracy:.3f}, "
            f"validation accuracy {record.valid_accuracy:.3f}, validation loss "
            f"{record.valid_loss:.3f}"
        )


if __name__ == "__main__":
    main()
