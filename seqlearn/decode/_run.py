"""The path every decoder call takes (private to :mod:`seqlearn.decode`): check the prompts,
feed their prefixes, search, build the result."""

from __future__ import annotations

from collections.abc import Sequence

from seqlearn._checks import trusted
from seqlearn.decode._prompts import check_prompts, feed_prefixes
from seqlearn.decode._request import Request, Search
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.decode.result import Decoded, Generation, build_generation
from seqlearn.nn.evaluating import evaluating


def run_search(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    request: Request,
    search: Search,
) -> Generation:
    """Decode ``prefixes`` from ``state`` with ``search``: a decoder's whole call.

    The model runs in eval and inference mode (:func:`~seqlearn.nn.evaluating`) while the
    prefixes are fed and the search runs. The prefixes (the caller's ids) go through the
    model's checks; the search's own steps, whose tokens the search picked from the model's
    logits, run trusted (``seqlearn._checks.trusted``), so no step pays for a check. No
    prompts at all take the one path where nothing is fed or searched (no step would tell
    the vocabulary size): the result is empty.
    """
    prompts = check_prompts(state, prefixes, request.bos_id)
    if not prompts.rows:
        return build_generation([], Decoded.empty(), request.decode)
    with evaluating(model):
        start = feed_prefixes(model, state, prompts, request)
        with trusted():
            decoded = search(model, start, request)
    rows = [prefix for prefix in prompts.rows for _ in range(request.copies)]
    return build_generation(rows, decoded, request.decode)
