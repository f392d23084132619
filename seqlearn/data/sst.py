"""The Stanford Sentiment Treebank: 11,855 movie-review sentences, every phrase labelled 0-4.

The data is the ``trees/`` folder of Stanford's ``trainDevTestTrees_PTB.zip``: ``train.txt``,
``dev.txt`` and ``test.txt``, one tree a line (:func:`~seqlearn.data.read_sst_trees`). It
lives in ``<data_dir>/sst/``, where the data dir is an explicit argument, else
``$SEQLEARN_DATA``, else a per-user cache (:func:`~seqlearn.data.default_data_dir`).
Nothing is downloaded unless asked: :func:`download_sst`, or :func:`load_sst` with
``download=True``.

Each file is checked against its published number of sentences
(:data:`SST_SENTENCE_COUNTS`), and the train and dev files also against
:data:`SST_FILE_SHA256`, the SHA-256 of their normalised text
(:func:`~seqlearn.data.normalized_text_sha256`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

from seqlearn.data._text_file import split_lines
from seqlearn.data.download import DataIntegrityError, install_archive, safe_extract_zip
from seqlearn.data.names import default_data_dir, normalized_text_sha256
from seqlearn.data.sentiment import SentimentPhrases
from seqlearn.data.sst_trees import read_sst_trees

__all__ = [
    "SST_FILE_SHA256",
    "SST_SENTENCE_COUNTS",
    "SST_URL",
    "download_sst",
    "load_sst",
    "sst_dir",
    "verify_sst",
]

logger = logging.getLogger(__name__)

SST_URL: Final = "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
"""Official address of the treebank's trees; the files are its ``trees/*.txt``.

Example:
    >>> SST_URL.rsplit("/", 1)[1]
    'trainDevTestTrees_PTB.zip'
    >>> import inspect
    >>> inspect.signature(download_sst).parameters["url"].default == SST_URL
    True
"""

SST_SENTENCE_COUNTS: Final[dict[str, int]] = {"train": 8544, "dev": 1101, "test": 2210}
"""``{split: number of sentences}`` as published; split ``s`` is the file ``<s>.txt``.

Example:
    >>> SST_SENTENCE_COUNTS["train"], sum(SST_SENTENCE_COUNTS.values())
    (8544, 11855)
"""

SST_FILE_SHA256: Final[dict[str, str]] = {
    "train.txt": "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
    "dev.txt": "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
}
"""``{file name: SHA-256 of its normalised text}`` for the train and dev files.

Example:
    >>> sorted(SST_FILE_SHA256), len(SST_FILE_SHA256["dev.txt"])
    (['dev.txt', 'train.txt'], 64)
"""

_ARCHIVE_FOLDER = "trees"


def sst_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The treebank's folder, ``<data_dir>/sst``; it may not exist yet.

    Args:
        data_dir: The data dir, or ``None`` for :func:`~seqlearn.data.default_data_dir`.

    Returns:
        The path of the folder.

    Example:
        >>> sst_dir("/srv/data").as_posix()
        '/srv/data/sst'
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return root / "sst"


def _check_split(split: str) -> None:
    if not isinstance(split, str) or split not in SST_SENTENCE_COUNTS:
        expected = ", ".join(repr(name) for name in SST_SENTENCE_COUNTS)
        raise ValueError(f"expected a split among {expected}, got {split!r}")


def _problems(folder: Path, splits: Iterable[str]) -> list[str]:
    """What is wrong with the given splits' files in ``folder``, one line per problem."""
    problems: list[str] = []
    for split in splits:
        name = f"{split}.txt"
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        count = sum(1 for line in split_lines(text) if line.strip())
        if count != SST_SENTENCE_COUNTS[split]:
            problems.append(f"{name}: expected {SST_SENTENCE_COUNTS[split]} sentences, got {count}")
        expected = SST_FILE_SHA256.get(name)
        actual = normalized_text_sha256(data)
        if expected is not None and actual != expected:
            problems.append(f"{name}: expected sha256 {expected}, got {actual}")
    return problems


def verify_sst(
    folder: str | os.PathLike[str],
    splits: Iterable[Literal["train", "dev", "test"]] | None = None,
) -> None:
    """Check the treebank's files in ``folder``: sentence counts, and digests where known.

    Args:
        folder: The treebank's folder (``<data_dir>/sst``).
        splits: The splits to check; ``None`` checks all three.

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        ValueError: If a split is not ``"train"``, ``"dev"`` or ``"test"``.
        DataIntegrityError: If a file is missing, not UTF-8, has another number of
            sentences than :data:`SST_SENTENCE_COUNTS` or another digest than
            :data:`SST_FILE_SHA256`; the message lists every problem.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = Path(tmp, "test.txt").write_text("(2 (2 Fine) (2 .))\\n")
        ...     try:
        ...         verify_sst(tmp, ["test"])
        ...     except DataIntegrityError as err:
        ...         print(str(err).splitlines()[-1])
          test.txt: expected 2210 sentences, got 1
    """
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"SST folder {path} does not exist")
    chosen = list(SST_SENTENCE_COUNTS) if splits is None else list(splits)
    for split in chosen:
        _check_split(split)
    problems = _problems(path, chosen)
    if problems:
        details = "\n  ".join(problems)
        raise DataIntegrityError(
            f"the SST data in {path} does not match the published files (delete the folder or "
            f"call download_sst(force=True) to download it again):\n  {details}"
        )


def _stage(archive: Path, work: Path, url: str) -> Path:
    """Extract ``archive`` in ``work`` and return a checked folder of the three files."""
    extracted = work / "extracted"
    safe_extract_zip(archive, extracted)
    source = extracted / _ARCHIVE_FOLDER
    if not source.is_dir():
        raise DataIntegrityError(f"the archive from {url} has no {_ARCHIVE_FOLDER}/")
    staged = work / "sst"
    staged.mkdir()
    for split in SST_SENTENCE_COUNTS:
        path = source / f"{split}.txt"
        if path.is_file():
            os.replace(path, staged / path.name)
    problems = _problems(staged, SST_SENTENCE_COUNTS)
    if problems:
        details = "\n  ".join(problems)
        raise DataIntegrityError(
            f"the SST data in the archive from {url} does not match the published "
            f"files:\n  {details}"
        )
    return staged


def download_sst(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    url: str = SST_URL,
    archive_sha256: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Download the treebank into ``<data_dir>/sst``, verified, all or nothing.

    When ``<data_dir>/sst`` already verifies (:func:`verify_sst`, all three splits) and
    ``force`` is false, nothing is downloaded. Otherwise the archive is downloaded into a
    temporary folder inside the data dir, its digest checked when ``archive_sha256`` is
    given, extracted there (:func:`~seqlearn.data.safe_extract_zip`), and its
    ``trees/{train,dev,test}.txt`` checked. Only then does the folder of the three files
    replace ``<data_dir>/sst`` by renames; on any failure the temporary folder (and the
    data dir, if this call created it) is removed and an existing ``sst/`` is left as it was.

    Args:
        data_dir: The data dir (created if missing), or ``None`` for
            :func:`~seqlearn.data.default_data_dir`.
        url: Where to download the archive from; an http(s) URL of a zip holding
            ``trees/train.txt``, ``trees/dev.txt`` and ``trees/test.txt``.
        archive_sha256: Expected SHA-256 of the archive, or ``None`` to rely on the
            per-file checks alone.
        timeout: Seconds to wait for the connection and for each read.
        force: Download even when a verified ``sst/`` is already there.

    Returns:
        The treebank's folder, ``<data_dir>/sst``.

    Raises:
        ValueError: If ``url`` is not http(s), ``archive_sha256`` is malformed, or an
            archive member would be extracted outside its folder.
        DownloadError: If the download fails (see :func:`~seqlearn.data.download_file`).
        DataIntegrityError: If the archive's digest differs from ``archive_sha256``, or a
            file is missing or does not verify.

    Example:
        >>> folder = download_sst()  # doctest: +SKIP
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as empty:
        ...     download_sst(empty, url="file:///tmp/trees.zip")
        Traceback (most recent call last):
        ...
        ValueError: expected an http:// or https:// URL, got 'file:///tmp/trees.zip'
    """
    target = sst_dir(data_dir)
    if target.is_dir() and not force:
        if not _problems(target, SST_SENTENCE_COUNTS):
            logger.info("SST data already present and verified in %s", target)
            return target
        logger.warning("SST data in %s is incomplete or does not verify; downloading it", target)
    install_archive(
        url,
        target,
        lambda archive, scratch: _stage(archive, scratch, url),
        archive_name="trees.zip",
        sha256=archive_sha256,
        timeout=timeout,
    )
    logger.info("SST data from %s verified and stored in %s", url, target)
    return target


def load_sst(
    split: Literal["train", "dev", "test"],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    phrases: bool = False,
) -> SentimentPhrases:
    """Read one split of the treebank, verified: its sentences, or all its phrases.

    Only the split's own file is needed and verified (``<data_dir>/sst/<split>.txt``), so a
    folder with just ``train.txt`` and ``dev.txt`` serves those two. Nothing is downloaded
    unless ``download`` is true. For binary SST-2, call
    :meth:`~seqlearn.data.SentimentPhrases.binary` on the result.

    Args:
        split: ``"train"``, ``"dev"`` or ``"test"``.
        data_dir: The data dir holding ``sst/``, or ``None`` for
            :func:`~seqlearn.data.default_data_dir`.
        download: Download the data first (:func:`download_sst`) when it is missing or
            does not verify.
        phrases: Every phrase of each sentence rather than whole sentences only (see
            :func:`~seqlearn.data.read_sst_trees`).

    Returns:
        The sentences (8,544, 1,101 or 2,210) or phrases, labelled by
        :data:`~seqlearn.data.SST_CATEGORIES`.

    Raises:
        ValueError: If ``split`` is not one of the three, or a tree is malformed.
        FileNotFoundError: If the split's file is missing and ``download`` is false; the
            message says where it looked and how to get the data.
        DataIntegrityError: If the file does not verify and ``download`` is false, or the
            download does not verify.
        DownloadError: If ``download`` is true and the download fails.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     try:
        ...         load_sst("dev", tmp)
        ...     except FileNotFoundError as err:
        ...         print("not found:", "download_sst()" in str(err))
        not found: True
    """
    _check_split(split)
    folder = download_sst(data_dir) if download else sst_dir(data_dir)
    path = folder / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"the SST {split} file was not found at {path}. Get the data with "
            "seqlearn.data.download_sst() (or load_sst(download=True)), or set SEQLEARN_DATA "
            f"to a folder that holds sst/ (the data comes from {SST_URL}, folder trees/)."
        )
    verify_sst(folder, [split])
    return read_sst_trees(path, phrases=phrases)
