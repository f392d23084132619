"""Pooling over valid steps, checked against plain per-row loops."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from seqlearn.nn import Bidirectional, GRUCell
from seqlearn.nn.pooling import (
    AttentionPooling,
    Pooling,
    bidirectional_final,
    last_valid,
    max_pool,
    mean_pool,
)

LENGTHS = torch.tensor([5, 3, 0, 1, 5])


def _outputs(seed: int = 0, garbage: float | None = None) -> Tensor:
    """``(5, 5, 4)`` random outputs; padding filled with ``garbage`` when given."""
    outputs = torch.randn(5, 5, 4, generator=torch.Generator().manual_seed(seed))
    if garbage is not None:
        padding = torch.arange(5) >= LENGTHS.unsqueeze(1)  # (B, T)
        outputs[padding] = garbage
    return outputs


def _per_row(reduce: Callable[[Tensor], Tensor], outputs: Tensor, lengths: Tensor) -> Tensor:
    rows = []
    for b in range(outputs.size(0)):
        length = int(lengths[b])
        valid = outputs[b, :length]  # (L, H)
        rows.append(reduce(valid) if length else outputs.new_zeros(outputs.size(2)))
    return torch.stack(rows)


REFERENCES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "last_valid": (last_valid, lambda valid: valid[-1]),
    "mean_pool": (mean_pool, lambda valid: valid.mean(dim=0)),
    "max_pool": (max_pool, lambda valid: valid.max(dim=0).values),
    "bidirectional_final": (
        bidirectional_final,
        lambda valid: torch.cat((valid[-1, : valid.size(1) // 2], valid[0, valid.size(1) // 2 :])),
    ),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_pooling_equals_a_per_row_loop(name: str) -> None:
    pool, reduce = REFERENCES[name]
    outputs = _outputs()
    torch.testing.assert_close(pool(outputs, LENGTHS), _per_row(reduce, outputs, LENGTHS))


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("garbage", [1e6, -1e6, float("inf"), float("-inf"), float("nan")])
def test_padding_content_never_changes_results_or_gradients(name: str, garbage: float) -> None:
    pool, _ = REFERENCES[name]
    clean = _outputs().requires_grad_()
    dirty = _outputs(garbage=garbage).requires_grad_()
    expected, actual = pool(clean, LENGTHS), pool(dirty, LENGTHS)
    torch.testing.assert_close(actual, expected)
    assert bool(actual[2].eq(0).all())  # the zero-length row
    expected.sum().backward()  # type: ignore[no-untyped-call]
    actual.sum().backward()  # type: ignore[no-untyped-call]
    assert clean.grad is not None and dirty.grad is not None
    torch.testing.assert_close(dirty.grad, clean.grad)
    padding = torch.arange(5) >= LENGTHS.unsqueeze(1)
    assert bool(dirty.grad[padding].eq(0).all())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_empty_time_axis_gives_zeros(name: str) -> None:
    pool, _ = REFERENCES[name]
    pooled = pool(torch.randn(3, 0, 4), torch.zeros(3, dtype=torch.long))
    assert pooled.shape == (3, 4) and bool(pooled.eq(0).all())


def _attention_reference(pool: AttentionPooling, outputs: Tensor, lengths: Tensor) -> Tensor:
    """``v^T tanh(W h_t + b)``, softmax over the valid steps, weighted sum, row by row."""
    rows = []
    for b in range(outputs.size(0)):
        valid = outputs[b, : int(lengths[b])]  # (L, H)
        if valid.size(0) == 0:
            rows.append(outputs.new_zeros(outputs.size(2)))
            continue
        scores = torch.tanh(valid @ pool.projection.weight.T + pool.projection.bias) @ pool.query
        rows.append(torch.softmax(scores, dim=0) @ valid)
    return torch.stack(rows)


def test_attention_pooling_equals_a_per_row_loop() -> None:
    pool = AttentionPooling(4, attention_size=6, generator=torch.Generator().manual_seed(1))
    outputs = _outputs()
    torch.testing.assert_close(pool(outputs, LENGTHS), _attention_reference(pool, outputs, LENGTHS))


def test_attention_weights_sum_to_one_over_valid_steps_and_are_zero_on_padding() -> None:
    pool = AttentionPooling(4, generator=torch.Generator().manual_seed(2))
    alpha = pool.weights(_outputs(garbage=float("nan")), LENGTHS).detach()  # (B, T)
    padding = torch.arange(5) >= LENGTHS.unsqueeze(1)
    assert bool(alpha[padding].eq(0).all())
    sums = alpha.sum(dim=1)
    torch.testing.assert_close(sums[LENGTHS > 0], torch.ones(int((LENGTHS > 0).sum())))
    assert float(sums[2]) == 0.0


@pytest.mark.parametrize("garbage", [1e6, float("inf"), float("nan")])
def test_attention_padding_content_never_changes_results_or_gradients(garbage: float) -> None:
    pool = AttentionPooling(4, generator=torch.Generator().manual_seed(3))
    clean = _outputs().requires_grad_()
    dirty = _outputs(garbage=garbage).requires_grad_()
    expected, actual = pool(clean, LENGTHS), pool(dirty, LENGTHS)
    torch.testing.assert_close(actual, expected)
    assert bool(actual[2].eq(0).all())
    grads = []
    for result, leaf in [(expected, clean), (actual, dirty)]:
        pool.zero_grad()
        result.sum().backward()
        query, projection = pool.query.grad, pool.projection.weight.grad
        assert leaf.grad is not None and query is not None and projection is not None
        grads.append([leaf.grad, query.clone(), projection.clone()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
        assert bool(torch.isfinite(a).all())


def test_bad_inputs_raise_errors_naming_them() -> None:
    outputs = torch.randn(2, 3, 4)
    pools: list[Pooling] = [
        last_valid, bidirectional_final, mean_pool, max_pool, AttentionPooling(4)
    ]  # fmt: skip
    for pool in pools:
        with pytest.raises(ValueError, match="outputs"):
            pool(torch.randn(2, 3), torch.tensor([1, 2]))
        with pytest.raises(ValueError, match="lengths"):
            pool(outputs, torch.tensor([1, 2, 3]))
        with pytest.raises(ValueError, match="lengths"):
            pool(outputs, torch.tensor([1, 4]))
        with pytest.raises(TypeError, match="lengths"):
            pool(outputs, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"outputs of shape \(B, T, 5\)"):
        AttentionPooling(5)(outputs, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="hidden_size"):
        AttentionPooling(0)
    with pytest.raises(ValueError, match="attention_size"):
        AttentionPooling(4, attention_size=-1)


def test_attention_pooling_draws_from_its_generator() -> None:
    first = AttentionPooling(4, generator=torch.Generator().manual_seed(5))
    second = AttentionPooling(4, generator=torch.Generator().manual_seed(5))
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_bidirectional_final_is_both_directions_final_states() -> None:
    torch.manual_seed(0)
    encoder = Bidirectional(GRUCell(3, 4), GRUCell(3, 4))
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 2, 1])
    outputs, (forward, backward) = encoder(x, lengths)
    expected = torch.cat((forward, backward), dim=1)  # torch.nn.GRU's h_n, side by side
    torch.testing.assert_close(bidirectional_final(outputs, lengths), expected)
    with pytest.raises(ValueError, match="even feature size"):
        bidirectional_final(torch.randn(2, 3, 5), torch.tensor([1, 2]))
