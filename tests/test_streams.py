"""Long texts as parallel streams (StreamBatches), a carried recurrent state
(ConditionalLM's state argument, CarriedStateLoss) and their training, checked against
plain references: slices of the text, one whole-sequence forward per stream."""

from __future__ import annotations

import gc
import io
import itertools
import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.multiprocessing.spawn import spawn
from typing_extensions import override

from seqlearn.data import IGNORE_INDEX, StreamBatch, StreamBatches
from seqlearn.nn import (
    ConditionalLM,
    ConditionalLMState,
    ElmanCell,
    GRUCell,
    LSTMCell,
    LSTMState,
    StackedCell,
)
from seqlearn.train import (
    Callback,
    CarriedStateLoss,
    EpochRecord,
    History,
    Trainer,
    TrainerView,
    bits_per_token,
    load_checkpoint,
)

Pair = tuple[int, int]

# ------------------------------------------------------------------------ references


def _reference_streams(ids: list[int], streams: int) -> list[list[Pair]]:
    """The (input, next token) pairs of ``ids`` cut into ``streams`` consecutive runs, the
    first ``(N - 1) mod streams`` of them one pair longer."""
    pairs = list(itertools.pairwise(ids))
    base, extra = divmod(len(pairs), streams)
    runs, start = [], 0
    for b in range(streams):
        size = base + (b < extra)
        runs.append(pairs[start : start + size])
        start += size
    assert start == len(pairs)
    return runs


def _collected(batches: Iterable[StreamBatch]) -> list[list[Pair]]:
    """Each row's valid (input, target) pairs, window after window."""
    rows: list[list[Pair]] = []
    for batch in batches:
        if not rows:
            rows = [[] for _ in range(batch.inputs.size(0))]
        for b, row in enumerate(rows):
            n = int(batch.lengths[b])
            row.extend(zip(batch.inputs[b, :n].tolist(), batch.targets[b, :n].tolist()))
    return rows


def _text(n: int, vocab: int, seed: int) -> list[int]:
    return torch.randint(vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def _pattern_text(n: int, offset: int = 0) -> list[int]:
    """A learnable text over 6 tokens: after 1 comes 2 or 4, depending on what came
    before (a period of 8)."""
    period = [0, 1, 2, 3, 0, 1, 4, 5]
    return [period[(i + offset) % len(period)] for i in range(n)]


def _lm(kind: str, vocab: int = 9, categories: int = 2, seed: int = 0) -> ConditionalLM[Any]:
    generator = torch.Generator().manual_seed(seed)
    cell: Any
    if kind == "gru":
        cell = GRUCell(categories + 4, 8, generator=generator)
    elif kind == "lstm":
        cell = LSTMCell(categories + 4, 8, generator=generator)
    elif kind == "stacked_lstm":
        cell = StackedCell(
            [LSTMCell(categories + 4, 8, generator=generator), LSTMCell(8, 6, generator=generator)]
        )
    elif kind == "elman_previous_output":  # the lecture's readout, one-hot inputs
        cell = ElmanCell(categories + vocab, 8, nonlinearity="relu", generator=generator)
        return ConditionalLM(
            cell,
            vocab_size=vocab,
            num_categories=categories,
            readout="input_and_previous_output",
            generator=generator,
        )
    else:
        raise AssertionError(kind)
    return ConditionalLM(
        cell, vocab_size=vocab, num_categories=categories, embedding_dim=4, generator=generator
    )


def _stream_nll(model: nn.Module, ids: list[int], streams: int) -> tuple[float, int]:
    """The summed NLL of every stream from one whole-sequence forward each (fresh state)."""
    total, items = 0.0, 0
    with torch.no_grad():
        for run in _reference_streams(ids, streams):
            inputs = torch.tensor([[x for x, _ in run]])
            targets = torch.tensor([y for _, y in run])
            logits = model(inputs, None, torch.zeros(1, dtype=torch.long))
            loss = nn.functional.cross_entropy(logits[0], targets, reduction="sum")
            total, items = total + float(loss), items + len(run)
    return total, items


def _batches_equal(a: StreamBatch, b: StreamBatch) -> bool:
    return a.reset == b.reset and all(
        torch.equal(x, y)
        for x, y in zip(
            (a.inputs, a.lengths, a.targets, a.categories),
            (b.inputs, b.lengths, b.targets, b.categories),
        )
    )


# ------------------------------------------------------------------------- batcher


@pytest.mark.parametrize(
    ("n", "batch_size", "window"),
    [(41, 4, 3), (41, 3, 4), (37, 3, 5), (26, 5, 5), (12, 11, 2), (9, 1, 20)],
)
def test_streams_cover_every_pair_once_in_order(n: int, batch_size: int, window: int) -> None:
    ids = list(range(100, 100 + n))  # distinct tokens: distinct pairs
    batches = StreamBatches(ids, batch_size=batch_size, window=window)
    rows = _collected(batches)
    assert rows == _reference_streams(ids, batch_size)
    every = sorted(pair for row in rows for pair in row)
    assert every == list(itertools.pairwise(ids))  # each pair exactly once
    assert batches.num_targets == n - 1
    assert sum(int(batch.lengths.sum()) for batch in batches) == n - 1


def test_stream_batches_small_example() -> None:
    batches = StreamBatches(list(range(11)), batch_size=2, window=3)
    got = [(b.inputs.tolist(), b.targets.tolist(), b.lengths.tolist(), b.reset) for b in batches]
    assert got == [
        ([[0, 1, 2], [5, 6, 7]], [[1, 2, 3], [6, 7, 8]], [3, 3], True),
        ([[3, 4], [8, 9]], [[4, 5], [9, 10]], [2, 2], False),
    ]
    categories = [b.categories.tolist() for b in StreamBatches(range(11), batch_size=2, window=3)]
    assert categories == [[0, 0], [0, 0]]
    with_category = next(iter(StreamBatches(list(range(11)), batch_size=2, window=3, category=4)))
    assert with_category.categories.tolist() == [4, 4]
    assert with_category.inputs.dtype == with_category.targets.dtype == torch.long
    assert with_category.lengths.dtype == torch.long


@pytest.mark.parametrize(("n", "batch_size", "window"), [(41, 4, 3), (50, 7, 2), (36, 2, 8)])
def test_windows_continue_each_other(n: int, batch_size: int, window: int) -> None:
    batches = list(StreamBatches(_text(n, 5, seed=1), batch_size=batch_size, window=window))
    assert len(batches) >= 2
    for before, after in itertools.pairwise(batches):
        assert torch.equal(before.lengths, torch.full((batch_size,), before.inputs.size(1)))
        # the first input of a window is the last target of the window before, per row
        assert torch.equal(after.inputs[:, 0], before.targets[:, -1])
        # and inside a window, each target is the next input
        assert torch.equal(before.inputs[:, 1:], before.targets[:, :-1])


def test_last_window_pads_the_shorter_streams() -> None:
    n, batch_size, window = 44, 5, 3  # 43 pairs: S = 8, the first 3 streams take 9
    batches = list(StreamBatches(list(range(n)), batch_size=batch_size, window=window))
    assert [b.inputs.size(1) for b in batches] == [3, 3, 2 + 1]
    for batch in batches[:-1]:
        assert not (batch.targets == IGNORE_INDEX).any()
        assert batch.lengths.tolist() == [3] * batch_size
    last = batches[-1]
    assert last.lengths.tolist() == [3, 3, 3, 2, 2]
    assert last.targets[3:, 2].tolist() == [IGNORE_INDEX] * 2  # the padding
    assert not (last.targets[:3] == IGNORE_INDEX).any()
    assert not (last.targets[3:, :2] == IGNORE_INDEX).any()
    assert ((last.inputs >= 0) & (last.inputs < n)).all()  # padding inputs are valid ids
    # an exact fit (N - 1 a multiple of B) pads nothing
    exact = list(StreamBatches(list(range(41)), batch_size=5, window=3))
    assert all(not (b.targets == IGNORE_INDEX).any() for b in exact)
    assert [b.inputs.size(1) for b in exact] == [3, 3, 2]


def test_reset_only_on_the_first_window_and_passes_repeat() -> None:
    batches = StreamBatches(_text(60, 7, seed=2), batch_size=3, window=4)
    first, second = list(batches), list(batches)
    assert [b.reset for b in first] == [True] + [False] * (len(first) - 1)
    assert len(first) == len(batches) == math.ceil(batches.steps / 4)
    assert len(first) == len(second)
    assert all(_batches_equal(a, b) for a, b in zip(first, second))


def test_stream_batch_to_moves_every_tensor() -> None:
    batch = next(iter(StreamBatches(list(range(11)), batch_size=2, window=3)))
    moved = batch.to("cpu")
    assert isinstance(moved, StreamBatch) and _batches_equal(moved, batch)


def _widths(batches: Iterable[StreamBatch]) -> list[int]:
    return [int(batch.lengths.max()) for batch in batches]


def test_varied_windows_are_reproducible_and_sum_to_the_steps() -> None:
    ids = _text(4001, 5, seed=3)

    def drawn(seed: int) -> StreamBatches:
        generator = torch.Generator().manual_seed(seed)
        return StreamBatches(
            ids, batch_size=2, window=12, vary_window=True, min_window=9, generator=generator
        )

    one, again, other = drawn(0).windows(), drawn(0).windows(), drawn(1).windows()
    assert one == again and one != other
    for lengths in (one, other):
        assert sum(lengths) == 2000
        assert min(lengths[:-1]) >= 9  # min_window (the last window takes what is left)
    # iterating draws the same windows from the same seed
    assert _widths(drawn(0)) == one
    # a pass covers the text whatever the windows
    assert _collected(drawn(5)) == _reference_streams(ids, 2)
    # the default generator: seeded, it repeats (without touching the caller's state)
    unseeded = StreamBatches(ids, batch_size=2, window=12, vary_window=True)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        first = _widths(unseeded)
        torch.manual_seed(7)
        second = _widths(unseeded)
        third = _widths(unseeded)
    assert first == second != third
    assert sum(first) == sum(third) == 2000


def test_varied_window_mean_is_near_the_window() -> None:
    window = 70
    batches = StreamBatches(
        list(range(20_001)),
        batch_size=1,
        window=window,
        vary_window=True,
        generator=torch.Generator().manual_seed(0),
    )
    lengths = batches.windows()[:-1]
    mean = sum(lengths) / len(lengths)
    # 0.95 L + 0.05 L / 2 around which a normal draw of sd 5 is truncated to an int
    assert mean == pytest.approx(0.975 * window - 0.5, abs=2.5)
    assert any(length < window / 2 + 10 for length in lengths)  # some halved windows
    assert min(lengths) >= 5


@pytest.mark.parametrize(("n", "vary"), [(43, False), (44, False), (45, True), (41, False)])
def test_ranks_cover_the_text_once_with_the_same_windows(n: int, vary: bool) -> None:
    ids = list(range(n))
    ranks = [
        StreamBatches(
            ids,
            batch_size=2,
            window=3,
            vary_window=vary,
            min_window=2,
            num_replicas=2,
            rank=rank,
            generator=torch.Generator().manual_seed(11),
        )
        for rank in range(2)
    ]
    rows = [row for batches in ranks for row in _collected(batches)]
    assert rows == _reference_streams(ids, 4)  # rank 0 reads streams 0, 1; rank 1 2, 3
    assert sorted(p for row in rows for p in row) == list(itertools.pairwise(ids))
    assert sum(batches.num_targets for batches in ranks) == n - 1
    passes = [list(batches) for batches in ranks]
    assert len(passes[0]) == len(passes[1])
    assert [b.inputs.shape for b in passes[0]] == [b.inputs.shape for b in passes[1]]
    assert [b.reset for b in passes[0]] == [b.reset for b in passes[1]]


@pytest.mark.parametrize(
    ("tokens", "kwargs", "error", "match"),
    [
        (torch.tensor([1.0, 2.0, 3.0]), {}, TypeError, "1-D integer tensor"),
        (torch.zeros(2, 5, dtype=torch.long), {}, TypeError, "1-D integer tensor"),
        (torch.tensor([True, False, True]), {}, TypeError, "1-D integer tensor"),
        ("abcdef", {}, TypeError, "str"),
        (b"abcdef", {}, TypeError, "bytes"),
        (42, {}, TypeError, "int"),
        ([1, 2.5, 3], {}, TypeError, "ints"),
        ([True, False, True], {}, TypeError, "ints"),
        ([1, 2], {}, ValueError, "too short"),
        (list(range(8)), {"num_replicas": 4}, ValueError, "too short"),
        (list(range(9)), {"batch_size": 0}, ValueError, "batch_size"),
        (list(range(9)), {"batch_size": 2.0}, TypeError, "batch_size"),
        (list(range(9)), {"window": 0}, ValueError, "window"),
        (list(range(9)), {"min_window": 0}, ValueError, "min_window"),
        (list(range(9)), {"category": -1}, ValueError, "category"),
        (list(range(9)), {"num_replicas": 0}, ValueError, "num_replicas"),
        (list(range(9)), {"num_replicas": 2, "rank": 2}, ValueError, "rank"),
        (list(range(9)), {"num_replicas": 2, "rank": -1}, ValueError, "rank"),
        (list(range(9)), {"rank": 1}, ValueError, "rank"),
    ],
)
def test_stream_batches_reject_bad_input(
    tokens: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    settings: dict[str, Any] = {"batch_size": 2, "window": 3, **kwargs}
    with pytest.raises(error, match=match):
        StreamBatches(tokens, **settings)


# ------------------------------------------------------------- ConditionalLM with state


@pytest.mark.parametrize("kind", ["gru", "lstm", "stacked_lstm", "elman_previous_output"])
def test_carried_state_windows_equal_one_forward(kind: str) -> None:
    model = _lm(kind).eval()
    generator = torch.Generator().manual_seed(4)
    tokens = torch.randint(9, (3, 17), generator=generator)
    categories = torch.tensor([0, 1, 1])
    lengths = torch.tensor([17, 16, 17])  # the middle row ends one step early
    with torch.no_grad():
        whole, whole_state = model(tokens, lengths, categories, return_state=True)
        pieces, state, start = [], None, 0
        for width in (5, 7, 5):
            stop = start + width
            window_lengths = (lengths - start).clamp(max=width)
            logits, state = model(
                tokens[:, start:stop], window_lengths, categories, state, return_state=True
            )
            pieces.append(logits)
            start = stop
    windowed = torch.cat(pieces, 1)
    valid = torch.arange(17) < lengths.unsqueeze(1)
    torch.testing.assert_close(windowed[valid], whole[valid], atol=1e-5, rtol=1e-5)
    assert isinstance(state, ConditionalLMState)
    for carried, direct in zip(_leaves(state), _leaves(whole_state)):
        torch.testing.assert_close(carried, direct, atol=1e-5, rtol=1e-5)
    # the state after a window continues exactly like the steps of the decoder
    with torch.no_grad():
        step_logits, _ = model.step(tokens[:, 5], _state_after(model, tokens[:, :5], categories))
    torch.testing.assert_close(step_logits, whole[:, 5], atol=1e-5, rtol=1e-5)


def _state_after(model: ConditionalLM[Any], tokens: Tensor, categories: Tensor) -> Any:
    _, state = model(tokens, None, categories, return_state=True)
    return state


def _leaves(state: Any) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [leaf for item in state for leaf in _leaves(item)]


def test_previous_output_readout_carries_in_training_mode_too() -> None:
    """The concatenating readout (training with dropout) continues from the state too; a
    negligible dropout keeps every element, so it must match eval mode."""
    model = _lm("elman_previous_output")
    model.dropout = 1e-12
    tokens = torch.randint(9, (2, 12), generator=torch.Generator().manual_seed(5))
    categories = torch.tensor([1, 0])
    with torch.no_grad():
        expected = model.eval()(tokens, None, categories)
        model.train()
        first, state = model(tokens[:, :4], None, categories, return_state=True)
        second = model(tokens[:, 4:], None, categories, state)
    torch.testing.assert_close(torch.cat((first, second), 1), expected, atol=1e-5, rtol=1e-5)


def test_forward_rejects_a_wrong_state() -> None:
    model = _lm("lstm").eval()
    tokens, categories = torch.zeros(3, 4, dtype=torch.long), torch.tensor([0, 1, 0])
    _, state = model(tokens, None, categories, return_state=True)
    with pytest.raises(TypeError, match="ConditionalLMState"):
        model(tokens, None, categories, state.cell)
    with pytest.raises(TypeError, match="ConditionalLMState"):
        model(tokens, None, categories, torch.zeros(3, 8))
    with pytest.raises(ValueError, match="2 sequences"):
        model(tokens[:2], None, categories[:2], state)
    bad_cell = ConditionalLMState(
        LSTMState(state.cell.h[:2], state.cell.c[:2]), state.categories, state.previous_output
    )
    with pytest.raises(ValueError):
        model(tokens, None, categories, bad_cell)


# ---------------------------------------------------------------------- CarriedStateLoss


@pytest.mark.parametrize(
    ("kind", "n", "batch_size", "window"),
    [("gru", 61, 3, 4), ("lstm", 58, 4, 5), ("elman_previous_output", 40, 2, 6)],
)
def test_evaluation_over_streams_is_exact(kind: str, n: int, batch_size: int, window: int) -> None:
    model = _lm(kind).eval()
    ids = _text(n, 9, seed=6)
    objective = CarriedStateLoss()
    total, items = 0.0, 0
    with torch.no_grad():
        for batch in StreamBatches(ids, batch_size=batch_size, window=window):
            loss = objective(model, batch)
            total, items = total + float(loss.total), items + loss.num_items
    reference, reference_items = _stream_nll(model, ids, batch_size)
    assert items == reference_items == n - 1
    assert total == pytest.approx(reference, rel=1e-5)
    assert bits_per_token(total / items) == pytest.approx(reference / (n - 1) / math.log(2))


def test_bits_per_token() -> None:
    assert bits_per_token(math.log(2.0)) == pytest.approx(1.0)
    assert bits_per_token(math.log(8.0)) == pytest.approx(3.0)
    assert bits_per_token(0.0) == 0.0


def _windows(n: int = 46, batch_size: int = 3, window: int = 5) -> list[StreamBatch]:
    return list(StreamBatches(_text(n, 9, seed=8), batch_size=batch_size, window=window))


def _backward(loss: Tensor) -> None:
    loss.backward()  # type: ignore[no-untyped-call]


def test_carried_state_is_detached() -> None:
    model = _lm("lstm").train()
    objective = CarriedStateLoss()
    first, second, third = _windows()[:3]
    _backward(objective(model, first).total)  # frees the first window's graph
    saved = objective.state_dict()["train"]
    assert saved is not None and all(not leaf.requires_grad for leaf in saved)
    model.zero_grad()
    loss = objective(model, second)
    _backward(loss.total)  # would fail if it reached into the freed first graph
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    # the gradient is the one of a forward from a constant state
    model.zero_grad()
    fresh = CarriedStateLoss()
    fresh.load_state_dict({"train": [t.clone() for t in saved], "eval": None})
    _backward(fresh(model, second).total)
    again = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(again) and all(torch.equal(a, b) for a, b in zip(grads, again))
    _backward(objective(model, third).total)


def test_reset_starts_from_zeros() -> None:
    model = _lm("gru").eval()
    batches = _windows()
    objective = CarriedStateLoss()
    with torch.no_grad():
        for batch in batches:
            objective(model, batch)
        restarted = objective(model, batches[0])  # the next pass: reset
        fresh = CarriedStateLoss()(model, batches[0])
        carried = objective(model, batches[1])
        not_reset = batches[0]._replace(reset=False)
        continued = objective(model, not_reset)
        from_zeros = CarriedStateLoss()(model, batches[1])
    assert batches[0].reset and torch.equal(restarted.total, fresh.total)
    assert float(carried.total) != float(from_zeros.total)
    assert float(continued.total) != float(fresh.total)  # without reset it carries on
    objective.reset()
    assert objective.state_dict() == {"train": None, "eval": None}


def test_train_and_eval_states_are_separate() -> None:
    model = _lm("gru")
    batches = _windows()
    valid = _windows(n=30, batch_size=2)

    def losses(interleave: bool) -> tuple[list[Tensor], list[Tensor]]:
        objective = CarriedStateLoss()
        train: list[Tensor] = []
        evaluation: list[Tensor] = []
        with torch.no_grad():
            for k, batch in enumerate(batches[:3]):
                model.train()
                train.append(objective(model, batch).total)
                if interleave or k == 2:
                    model.eval()
                    evaluation.extend(objective(model, v).total for v in valid)
        return train, evaluation

    separate, interleaved = losses(False), losses(True)
    assert all(torch.equal(a, b) for a, b in zip(separate[0], interleaved[0]))
    # each evaluation pass restarts (reset), so all three passes equal the one
    passes = [interleaved[1][k * len(valid) : (k + 1) * len(valid)] for k in range(3)]
    for each in passes:
        assert all(torch.equal(a, b) for a, b in zip(each, separate[1]))


def test_eval_state_continues_across_train_windows() -> None:
    model = _lm("lstm")
    train_batches, valid = _windows(), _windows(n=40, batch_size=3, window=4)
    straight, mixed = CarriedStateLoss(), CarriedStateLoss()
    with torch.no_grad():
        model.eval()
        expected = [straight(model, v).total for v in valid]
        got = []
        for v, t in zip(valid, itertools.cycle(train_batches)):
            model.train()
            mixed(model, t)
            model.eval()
            got.append(mixed(model, v).total)
    assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))


def _round_trip(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded: dict[str, Any] = torch.load(buffer, weights_only=True)
    return loaded


@pytest.mark.parametrize("kind", ["gru", "stacked_lstm", "elman_previous_output"])
@pytest.mark.parametrize("training", [True, False])
def test_state_dict_round_trip_continues_exactly(kind: str, training: bool) -> None:
    model = _lm(kind).train(training)
    first, second, third = _windows()[:3]
    uninterrupted = CarriedStateLoss()
    uninterrupted(model, first)
    saved = _round_trip(uninterrupted.state_dict())
    mode, other = ("train", "eval") if training else ("eval", "train")
    assert saved[other] is None and isinstance(saved[mode], list)
    resumed = CarriedStateLoss()
    resumed.load_state_dict(saved)
    # before a call the loaded leaves are what state_dict gives back
    again = resumed.state_dict()[mode]
    assert again is not None and all(torch.equal(a, b) for a, b in zip(again, saved[mode]))
    for batch in (second, third):
        expected = uninterrupted(model, batch)
        got = resumed(model, batch)
        assert torch.equal(got.total, expected.total)
        assert got.num_items == expected.num_items


@pytest.mark.parametrize(
    "state",
    [
        None,
        {},
        [None, None],
        "train",
        {"train": None},
        {"train": None, "eval": None, "extra": None},
        {"train": "tensor", "eval": None},
        {"train": None, "eval": [1.0, 2.0]},
        {"train": (torch.zeros(2, 8),), "eval": None},
    ],
)
def test_load_state_dict_rejects_garbage(state: Any) -> None:
    objective = CarriedStateLoss()
    with pytest.raises(ValueError):
        objective.load_state_dict(state)
    assert objective.state_dict() == {"train": None, "eval": None}


# ------------------------------------------------------------------------------- trainer

_TRAIN = _pattern_text(401)
_VALID = _pattern_text(121, offset=3)


def _trainer(callbacks: tuple[Callback, ...] = ()) -> Trainer[Any, Any]:
    model = _lm("gru", vocab=6, categories=1, seed=1)
    return Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=0.05),
        CarriedStateLoss(),
        callbacks=callbacks,
        progress=False,
        seed=0,
    )


def _train_batches(vary: bool = False) -> StreamBatches:
    return StreamBatches(_TRAIN, batch_size=4, window=10, vary_window=vary, min_window=4)


def _valid_batches() -> StreamBatches:
    return StreamBatches(_VALID, batch_size=2, window=15)


def test_training_learns_a_repeating_text() -> None:
    trainer = _trainer()
    history = trainer.fit(_train_batches(), epochs=2, valid_batches=_valid_batches())
    uniform = math.log2(6)
    first, last = history.train_loss[0], history.train_loss[-1]
    assert last < first
    valid_loss = history.valid_loss[-1]
    assert valid_loss is not None
    assert bits_per_token(valid_loss) < uniform - 1.0
    metrics = trainer.validate(_valid_batches())
    assert metrics.num_items == len(_VALID) - 1
    assert metrics.loss == pytest.approx(valid_loss)  # the evaluation restarts each pass


@pytest.mark.parametrize("vary", [False, True])
def test_resume_is_exact(tmp_path: Path, vary: bool) -> None:
    straight = _trainer()
    straight.fit(_train_batches(vary), epochs=3, valid_batches=_valid_batches())
    first = _trainer()
    first.fit(_train_batches(vary), epochs=1, valid_batches=_valid_batches())
    path = first.save_checkpoint(tmp_path / "epoch1.pt")
    resumed = _trainer()
    resumed.fit(_train_batches(vary), epochs=3, valid_batches=_valid_batches(), resume_from=path)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert _without_times(resumed.history) == _without_times(straight.history)
    assert resumed.step == straight.step


def _without_times(history: History) -> list[EpochRecord]:
    return [replace(record, seconds=0.0) for record in history.records]


class _SaveAfterStep(Callback):
    def __init__(self, path: Path, objective: CarriedStateLoss, step: int) -> None:
        self.path, self.objective, self.step = path, objective, step
        self.seen: dict[str, Any] = {}

    @override
    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        if step == self.step:
            trainer.save_checkpoint(self.path)
            self.seen = self.objective.state_dict()


def test_checkpoint_in_mid_epoch_holds_the_carried_state(tmp_path: Path) -> None:
    path = tmp_path / "mid.pt"
    trainer = _trainer()
    objective = trainer.objective
    assert isinstance(objective, CarriedStateLoss)
    saver = _SaveAfterStep(path, objective, step=2)
    trainer.callbacks.append(saver)
    trainer.fit(_train_batches(), epochs=1, valid_batches=_valid_batches())
    checkpoint = load_checkpoint(path)
    carried = checkpoint["objective"]["train"]
    assert checkpoint["objective"]["eval"] is None  # no validation had run yet
    assert checkpoint["step"] == 2 and checkpoint["epoch"] == 0
    assert isinstance(carried, list) and all(isinstance(t, Tensor) for t in carried)
    expected = saver.seen["train"]
    assert len(carried) == len(expected) == 3  # GRU cell, categories, previous output
    assert all(torch.equal(a, b) for a, b in zip(carried, expected))
    assert carried[0].shape == (4, 8) and carried[0].abs().sum() > 0
    # the state after the whole epoch differs, and both modes are there
    final = trainer.state_dict()["objective"]
    assert final["eval"] is not None and not torch.equal(final["train"][0], carried[0])


def test_objective_state_without_a_stateful_objective_is_rejected(tmp_path: Path) -> None:
    trainer = _trainer()
    trainer.fit(_train_batches(), epochs=1)
    path = trainer.save_checkpoint(tmp_path / "last.pt")
    model = _lm("gru", vocab=6, categories=1, seed=1)

    def plain(model: nn.Module, batch: StreamBatch) -> Any:
        return CarriedStateLoss()(model, batch)

    other = Trainer(model, torch.optim.Adam(model.parameters()), plain, progress=False, seed=0)
    with pytest.raises(ValueError, match="objective"):
        other.load_checkpoint(path)


# ------------------------------------------------------------------------ multi-process

_DIST_TRAIN = _pattern_text(163)
_DIST_VALID = _pattern_text(58, offset=1)


def _dist_fit(batch_size: int) -> Trainer[Any, Any]:
    model = _lm("gru", vocab=6, categories=1, seed=2)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=0.02),
        CarriedStateLoss(),
        progress=False,
        seed=1,
    )
    train = StreamBatches(_DIST_TRAIN, batch_size=batch_size, window=6)
    valid = StreamBatches(_DIST_VALID, batch_size=batch_size, window=7)
    trainer.fit(train, epochs=2, valid_batches=valid)
    return trainer


def _dist_run(rank: int, out: Path) -> None:
    trainer = _dist_fit(batch_size=2)  # num_replicas and rank from the group
    metrics = trainer.validate(StreamBatches(_DIST_VALID, batch_size=2, window=7))
    torch.save(
        {
            "model": trainer.model.state_dict(),
            "valid": trainer.history.valid_loss,
            "items": metrics.num_items,
            "loss": metrics.loss,
        },
        out / f"rank{rank}.pt",
    )


def _dist_worker(rank: int, world: int, out: Path) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{out / 'rendezvous'}",  # no port to race for
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=60),  # a stuck collective fails instead of hanging
    )
    try:
        _dist_run(rank, out)
        # Free the trainer's DistributedDataParallel wrapper on both ranks before the
        # group goes: destroying it after the other rank has left can hang in gloo.
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_processes_train_on_streams_like_one(tmp_path: Path) -> None:
    spawn(_dist_worker, args=(2, tmp_path), nprocs=2, join=True)  # type: ignore[no-untyped-call]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, weight in ranks[0]["model"].items():
        assert torch.equal(ranks[1]["model"][name], weight), name
    for result in ranks:
        assert result["items"] == len(_DIST_VALID) - 1  # summed over both ranks
        assert result["valid"] == ranks[0]["valid"]
    # one process reading all four streams takes the same steps
    single = _dist_fit(batch_size=4)
    for name, weight in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0]["model"][name], weight, atol=2e-6, rtol=1e-5)
    assert ranks[0]["valid"] == pytest.approx(single.history.valid_loss, rel=1e-5)
    reference, items = _stream_nll(single.model.eval(), _DIST_VALID, 4)
    assert items == len(_DIST_VALID) - 1
    assert ranks[0]["loss"] == pytest.approx(reference / items, rel=1e-4)
