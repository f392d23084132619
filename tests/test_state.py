"""Tests of the state-tree helpers that layers and decoders use."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from seqlearn.nn import LSTMState, map_state, select_rows, where_rows
from seqlearn.nn.state import zip_map_state


def _tree() -> tuple[Any, ...]:
    h = torch.arange(6.0).view(3, 2)
    lstm = LSTMState(torch.arange(3.0).view(3, 1), -torch.arange(3.0).view(3, 1))
    return (h, lstm, (torch.arange(12.0).view(3, 2, 2),))


def test_map_state_keeps_structure_and_named_tuples() -> None:
    doubled = map_state(lambda t: t * 2, _tree())
    assert isinstance(doubled, tuple) and isinstance(doubled[1], LSTMState)
    assert torch.equal(doubled[0], _tree()[0] * 2)
    assert torch.equal(doubled[1].c, _tree()[1].c * 2)
    assert torch.equal(doubled[2][0], _tree()[2][0] * 2)


def test_map_state_rejects_other_leaves() -> None:
    with pytest.raises(TypeError, match="tensors and tuples, got list"):
        map_state(lambda t: t, (torch.zeros(1), [torch.zeros(1)]))


def test_zip_map_state_needs_the_same_structure() -> None:
    summed = zip_map_state(torch.add, _tree(), _tree())
    assert torch.equal(summed[1].h, 2 * _tree()[1].h)
    with pytest.raises(TypeError, match="same structure, got tuple and Tensor"):
        zip_map_state(torch.add, (torch.zeros(1),), torch.zeros(1))
    with pytest.raises(TypeError, match="same structure"):
        zip_map_state(torch.add, (torch.zeros(1),), (torch.zeros(1), torch.zeros(1)))


def test_where_rows_matches_a_loop_over_rows() -> None:
    new, old = _tree(), map_state(lambda t: -t - 100, _tree())
    keep = torch.tensor([True, False, True])
    merged = where_rows(keep, new, old)
    for got, a, b in zip(_leaves(merged), _leaves(new), _leaves(old)):
        for row in range(3):
            assert torch.equal(got[row], a[row] if keep[row] else b[row])


def test_select_rows_selects_and_repeats() -> None:
    index = torch.tensor([2, 2, 0])
    picked = select_rows(_tree(), index)
    assert isinstance(picked[1], LSTMState)
    for got, source in zip(_leaves(picked), _leaves(_tree())):
        assert got.shape[0] == 3
        for row, i in enumerate(index.tolist()):
            assert torch.equal(got[row], source[i])


def _leaves(state: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []

    def collect(t: torch.Tensor) -> torch.Tensor:
        found.append(t)
        return t

    map_state(collect, state)
    return found
