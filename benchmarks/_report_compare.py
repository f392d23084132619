"""The performance report's comparisons: pure functions over per-epoch histories.

A run is what ``metrics.json`` records: the training seconds of each epoch (evaluation
excluded) and a held-out quality after each. Two questions are asked of seqlearn's run
against the lecture's:

- *time to reach*: the cumulative training seconds at the first epoch whose quality is at
  least as good as the lecture's final figure (or ``None``: not reached);
- *quality in equal time*: seqlearn's quality at the last epoch whose cumulative training
  time is within the lecture's total (the whole run if it is shorter; ``None`` if even the
  first epoch takes longer).

Each run also says where it ran (device and precision); a comparison of two runs on
different devices is labelled *cross-device*, on one device in different precisions
*cross-precision*, on every line that compares their times.

Imported by ``benchmarks/report.py``; never by the package.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from dataclasses import dataclass, field

# A float sum of the same epoch seconds may differ from the total in the last bit.
_SLACK = 1e-9
WIDTH = 100  # columns of the printed lines


@dataclass(frozen=True)
class Point:
    """One epoch of a run: its number (from 1), cumulative training seconds, quality."""

    epoch: int
    seconds: float
    quality: float


@dataclass(frozen=True)
class Quality:
    """A held-out figure that ``metrics.json`` records once per epoch under ``key``."""

    key: str
    label: str
    higher_is_better: bool
    digits: int = 4

    def format(self, value: float | None) -> str:
        return "-" if value is None else f"{value:.{self.digits}f}"

    def reaches(self, value: float | None, target: float) -> bool:
        """Whether ``value`` is at least as good as ``target``."""
        if value is None:
            return False
        return value >= target if self.higher_is_better else value <= target


@dataclass
class Run:
    """One side's training run: seconds and each quality per epoch, and where it ran."""

    label: str
    epoch_seconds: list[float]
    values: dict[str, list[float | None]]
    notes: list[str] = field(default_factory=list)
    device: str = "cpu"  # "cpu" or "cuda"
    precision: str = "float32"  # what it trained in: "float32", or "bfloat16" (autocast)

    @property
    def total_seconds(self) -> float:
        return sum(self.epoch_seconds)

    def final(self, quality: Quality) -> float | None:
        series = self.values[quality.key]
        return series[-1] if series else None


@dataclass
class TaskResult:
    """The lecture's approach and seqlearn's default on one task, with notes to print."""

    title: str
    qualities: list[Quality]
    lecture: Run
    seqlearn: Run
    lecture_full_epochs: int
    notes: list[str] = field(default_factory=list)


def time_to_reach(
    epoch_seconds: list[float],
    values: list[float | None],
    target: float,
    *,
    higher_is_better: bool,
) -> Point | None:
    """The first epoch whose quality reaches ``target``, with the training seconds so far.

    Args:
        epoch_seconds: Training seconds of each epoch.
        values: Quality after each epoch (``None`` where not measured).
        target: The figure to reach (the lecture's final one).
        higher_is_better: ``True`` for accuracies, ``False`` for losses.

    Returns:
        The epoch, or ``None`` if no epoch reaches ``target``.

    Example:
        >>> time_to_reach([2.0, 2.0, 2.0], [0.5, 0.7, 0.8], 0.7, higher_is_better=True)
        Point(epoch=2, seconds=4.0, quality=0.7)
    """
    _check_lengths(epoch_seconds, values)
    quality = Quality("", "", higher_is_better)
    cumulative = itertools.accumulate(epoch_seconds)
    for epoch, (seconds, value) in enumerate(zip(cumulative, values), start=1):
        if value is not None and quality.reaches(value, target):
            return Point(epoch, seconds, value)
    return None


def quality_in_time(
    epoch_seconds: list[float], values: list[float | None], budget: float
) -> Point | None:
    """The last epoch that ends within ``budget`` training seconds, and its quality.

    Args:
        epoch_seconds: Training seconds of each epoch.
        values: Quality after each epoch.
        budget: The seconds allowed (the lecture's total training time).

    Returns:
        That epoch (the last one when the whole run fits), or ``None`` if the first epoch
        alone takes longer than ``budget`` or its quality was not measured.

    Example:
        >>> quality_in_time([2.0, 2.0, 2.0], [1.9, 1.7, 1.6], 5.0)
        Point(epoch=2, seconds=4.0, quality=1.7)
    """
    _check_lengths(epoch_seconds, values)
    found: Point | None = None
    cumulative = itertools.accumulate(epoch_seconds)
    for epoch, (seconds, value) in enumerate(zip(cumulative, values), start=1):
        if seconds > budget * (1 + _SLACK):
            break
        found = None if value is None else Point(epoch, seconds, value)
    return found


def _check_lengths(epoch_seconds: list[float], values: list[float | None]) -> None:
    if len(epoch_seconds) != len(values):
        raise ValueError(
            f"expected one quality per epoch: {len(epoch_seconds)} epochs, {len(values)} values"
        )


def pairing(lecture: Run, ours: Run) -> str:
    """``"cross-device"``, ``"cross-precision"`` or ``""`` (same device and precision).

    Example:
        >>> pairing(Run("a", [], {}), Run("b", [], {}, device="cuda", precision="bfloat16"))
        'cross-device'
    """
    if lecture.device != ours.device:
        return "cross-device"
    if lecture.precision != ours.precision:
        return "cross-precision"
    return ""


def where(run: Run) -> str:
    """``"lecture loop (CPU, float32)"``: the run's label, device and precision."""
    device = "CPU" if run.device == "cpu" else run.device
    return f"{run.label} ({device}, {run.precision})"


def sides_line(lecture: Run, ours: Run) -> str:
    """What was compared with what, labelled when the devices or precisions differ.

    Example:
        >>> lecture = Run("lecture loop", [], {})
        >>> ours = Run("seqlearn default", [], {}, device="cuda", precision="bfloat16")
        >>> sides_line(lecture, ours)  # doctest: +NORMALIZE_WHITESPACE
        'lecture loop (CPU, float32) vs seqlearn default (cuda, bfloat16): cross-device, the
        times compare devices as well as code'
    """
    kind = pairing(lecture, ours)
    text = f"{where(lecture)} vs {where(ours)}: "
    if kind == "cross-device":
        return text + "cross-device, the times compare devices as well as code"
    if kind == "cross-precision":
        return text + "cross-precision, the times compare precisions as well as code"
    return text + "same device and precision"


def format_task(task: TaskResult) -> list[str]:
    """The lines of one task's comparison, ready to print."""
    lecture, ours = task.lecture, task.seqlearn
    kind = pairing(lecture, ours)
    ran = len(lecture.epoch_seconds)
    lecture_epochs = (
        f"{ran} of {task.lecture_full_epochs}" if ran < task.lecture_full_epochs else str(ran)
    )
    width = max(len(lecture.label), len(ours.label), 12)
    lines = [task.title, *wrap(f"sides: {sides_line(lecture, ours)}", "", "    ")]
    lines.append(f"{'':<36}{lecture.label:>{width}}  {ours.label:>{width}}")
    lines.append(f"{'epochs':<36}{lecture_epochs:>{width}}  {len(ours.epoch_seconds):>{width}}")
    lines.append(
        f"{'training seconds':<36}{lecture.total_seconds:>{width}.1f}  "
        f"{ours.total_seconds:>{width}.1f}"
    )
    for quality in task.qualities:
        lines.append(
            f"{'final ' + quality.label:<36}{quality.format(lecture.final(quality)):>{width}}  "
            f"{quality.format(ours.final(quality)):>{width}}"
        )
    for quality in task.qualities:
        for line in compare(quality, lecture, ours):
            lines.extend(wrap(f"{line} [{kind}]" if kind else line, "", "    "))
    for run in (lecture, ours):
        for note in run.notes:
            lines.extend(wrap(f"{run.label}: {note}", "  ", "    "))
    for note in task.notes:
        lines.extend(wrap(note, "  ", "    "))
    return lines


def wrap(text: str, first: str, rest: str) -> list[str]:
    """``text`` broken into lines of at most :data:`WIDTH` columns, "12.0 s" kept whole."""
    glued = re.sub(r"(\d) (s\b)", "\\1\N{NO-BREAK SPACE}\\2", text)
    lines = textwrap.wrap(glued, WIDTH, initial_indent=first, subsequent_indent=rest)
    return [line.replace("\N{NO-BREAK SPACE}", " ") for line in lines]


def faster(ours: float, theirs: float) -> str:
    """``ours`` seconds against ``theirs`` in words: "3.2x sooner" or "1.5x later"."""
    if ours <= theirs:
        return f"{theirs / ours:.1f}x sooner" if ours > 0 else "at once"
    return f"{ours / theirs:.1f}x later" if theirs > 0 else "later"


def compare(quality: Quality, lecture: Run, ours: Run) -> list[str]:
    """Time to reach the lecture's final figure, and the figure reached in its time."""
    target = lecture.final(quality)
    budget = lecture.total_seconds
    if target is None:
        return [f"{quality.label}: the lecture's run recorded no figure to compare"]
    name = quality.label
    series = ours.values[quality.key]
    reached = time_to_reach(
        ours.epoch_seconds, series, target, higher_is_better=quality.higher_is_better
    )
    if reached is None:
        best = [value for value in series if value is not None]
        best_text = (
            quality.format((max if quality.higher_is_better else min)(best)) if best else "-"
        )
        first = (
            f"{name}: seqlearn does not reach the lecture's final {quality.format(target)} "
            f"in its {len(series)} epochs (best {best_text})"
        )
    else:
        first = (
            f"{name}: seqlearn reaches the lecture's final {quality.format(target)} after "
            f"{reached.seconds:.1f} s (epoch {reached.epoch}): "
            f"{faster(reached.seconds, budget)} than the lecture's {budget:.1f} s"
        )
    within = quality_in_time(ours.epoch_seconds, series, budget)
    if within is None:
        second = (
            f"{name}: in the lecture's {budget:.1f} s no seqlearn epoch ends (the first takes "
            f"{ours.epoch_seconds[0]:.1f} s)"
            if ours.epoch_seconds
            else "seqlearn's run has no epochs"
        )
    else:
        whole = ", the whole run" if within.epoch == len(series) else ""
        second = (
            f"{name}: in the lecture's {budget:.1f} s of training seqlearn reaches "
            f"{quality.format(within.quality)} (epoch {within.epoch}{whole}, "
            f"{within.seconds:.1f} s)"
        )
    return [first, second]
