"""Host synchronisations per training step, counted: the classifier and the generator of the
examples, trained through the Trainer on real batches of names.

On a GPU, every read of a tensor's value on the host (``.item()``, ``int(t)``, ``float(t)``,
``bool(t)``, ``if t.any():``, ``.tolist()``, ``.numpy()``) waits for the device to finish
all queued work, and so does copying a device tensor to the CPU (``.cpu()``). On a CPU
they cost little, but they are where a GPU run would stall. This script counts them on the
CPU with a :class:`torch.overrides.TorchFunctionMode` that sees every such call, over
``--steps`` optimiser steps after one warm-up step, and prints the count per step, by kind
and by the line of seqlearn (or of torch) that made it.

Usage::

    python benchmarks/host_syncs.py --data-dir ../shared/data [--steps 20] [--sites]
"""

from __future__ import annotations

import argparse
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader

from seqlearn.data import (
    LengthBucketSampler,
    NextTokenCollator,
    collate_classification,
    load_names,
)
from seqlearn.nn import Bidirectional, ConditionalLM, GRUCell, SequenceClassifier, max_pool
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import Trainer, classification_loss, next_token_loss

READS = {"item", "__bool__", "__int__", "__float__", "__index__", "tolist", "numpy", "cpu"}
ROOT = str(Path(__file__).resolve().parents[1])


class SyncCounter(TorchFunctionMode):
    """Counts the calls that read a tensor's value on the host (or copy it to the CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: Counter[str] = Counter()
        self.sites: Counter[str] = Counter()

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        name = getattr(func, "__name__", "")
        if name in READS:
            self.kinds[name] += 1
            self.sites[_site()] += 1
        return func(*args, **(kwargs or {}))


def _site() -> str:
    """The innermost frame of seqlearn's package (else the innermost of torch's)."""
    frames = traceback.extract_stack()[:-3]
    if any("/torch/optim/" in frame.filename for frame in frames):
        return "torch.optim: the optimiser's step"
    for frame in reversed(frames):
        if "/seqlearn/" in frame.filename and "benchmarks" not in frame.filename:
            return f"{frame.filename.split('/seqlearn/')[-1]}:{frame.lineno} {frame.name}"
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"


def classifier_setup(examples: list[tuple[list[int], int]], vocab: int) -> tuple[Any, Any, Any]:
    model = SequenceClassifier(
        Bidirectional(GRUCell(64, 128), GRUCell(64, 128)),
        vocab_size=vocab,
        num_classes=18,
        embedding_dim=64,
        pooling=max_pool,
        dropout=0.5,
    )
    batches = DataLoader(
        examples,  # type: ignore[arg-type]
        batch_sampler=LengthBucketSampler([len(ids) for ids, _ in examples], 64, shuffle=True),
        collate_fn=collate_classification,
    )
    return model, batches, classification_loss


def generator_setup(
    examples: list[tuple[list[int], int]], vocab: int, eos: int
) -> tuple[Any, Any, Any]:
    model = ConditionalLM(
        GRUCell(18 + 32, 256), vocab_size=vocab, num_categories=18, embedding_dim=32, dropout=0.3
    )
    batches = DataLoader(
        examples,  # type: ignore[arg-type]
        batch_sampler=LengthBucketSampler([len(ids) for ids, _ in examples], 64, shuffle=True),
        collate_fn=NextTokenCollator(eos_id=eos),
    )
    return model, batches, next_token_loss


def count(setup: tuple[Any, Any, Any], steps: int, clip: float) -> SyncCounter:
    model, batches, objective = setup
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-3),
        objective,
        clip_grad_norm=clip,
        progress=False,
        seed=0,
    )
    chosen = [batch for batch, _ in zip(batches, range(steps + 1))]
    trainer.train_epoch(chosen[:1])  # warm-up
    counter = SyncCounter()
    with counter:
        trainer.train_epoch(chosen[1:])
    return counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps counted")
    parser.add_argument("--sites", action="store_true", help="list the lines that sync")
    args = parser.parse_args()
    torch.manual_seed(0)
    names = load_names(args.data_dir)
    tokenizer = CharTokenizer(oov="drop")
    examples = [(ids, label) for ids, label in ((tokenizer.encode(t), y) for t, y in names) if ids]
    setups = {
        "classifier (BiGRU 128, max-pooled)": classifier_setup(examples, len(tokenizer)),
        "generator (GRU 256, ConditionalLM)": generator_setup(
            examples, len(tokenizer), tokenizer.eos_id
        ),
    }
    for name, setup in setups.items():
        counter = count(setup, args.steps, clip=1.0)
        total = sum(counter.kinds.values())
        optimiser = counter.sites["torch.optim: the optimiser's step"]
        kinds = ", ".join(f"{kind} {n / args.steps:g}" for kind, n in counter.kinds.most_common())
        print(
            f"{name}: {total / args.steps:g} host syncs per step ({kinds or 'none'}); "
            f"{(total - optimiser) / args.steps:g} without the optimiser's own "
            f"({optimiser / args.steps:g}: Adam reads its step counts)"
        )
        if args.sites:
            for site, n in counter.sites.most_common():
                print(f"    {n / args.steps:6.2f}  {site}")


if __name__ == "__main__":
    main()
