"""The names data of the char-RNN lectures: 20,074 surnames in 18 languages.

The data is the ``data/names/`` folder of the PyTorch tutorials' ``data.zip``: one
``<Language>.txt`` file per language, one surname a line, UTF-8. It lives in
``<data_dir>/names/``, where the data dir is ``$SEQLEARN_DATA`` or a per-user cache
(:func:`default_data_dir`). Nothing is downloaded unless asked: :func:`download_names`, or
:func:`load_names` with ``download=True``.

Each file is checked against :data:`NAMES_FILE_SHA256`, the SHA-256 of its *normalised*
text (:func:`normalized_text_sha256`), so copies that differ only in line endings, a
byte-order mark or trailing newlines still verify.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Final

from seqlearn.data.download import DataIntegrityError, install_archive, safe_extract_zip
from seqlearn.data.labeled_texts import LabeledTexts, read_category_folder

__all__ = [
    "NAMES_CATEGORIES",
    "NAMES_FILE_SHA256",
    "NAMES_URL",
    "default_data_dir",
    "download_names",
    "load_names",
    "names_dir",
    "normalized_text_sha256",
    "verify_names",
]

logger = logging.getLogger(__name__)

NAMES_URL: Final = "https://download.pytorch.org/tutorial/data.zip"
"""Official address of the tutorials' archive; the names are its ``data/names/*.txt``.

Example:
    >>> NAMES_URL
    'https://download.pytorch.org/tutorial/data.zip'
    >>> import inspect
    >>> inspect.signature(download_names).parameters["url"].default == NAMES_URL
    True
"""

NAMES_FILE_SHA256: Final[dict[str, str]] = {
    "Arabic.txt": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese.txt": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech.txt": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch.txt": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English.txt": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French.txt": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German.txt": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek.txt": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish.txt": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian.txt": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese.txt": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean.txt": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish.txt": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese.txt": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian.txt": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish.txt": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish.txt": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese.txt": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
}
"""``{file name: SHA-256 of its normalised text}`` (see :func:`normalized_text_sha256`).

Example:
    >>> len(NAMES_FILE_SHA256), sorted(NAMES_FILE_SHA256)[:2]
    (18, ['Arabic.txt', 'Chinese.txt'])
"""

NAMES_CATEGORIES: Final[tuple[str, ...]] = tuple(
    name.removesuffix(".txt") for name in sorted(NAMES_FILE_SHA256)
)
"""The 18 languages, sorted: label ``i`` of :func:`load_names` names ``NAMES_CATEGORIES[i]``.

Example:
    >>> len(NAMES_CATEGORIES), NAMES_CATEGORIES[:3]
    (18, ('Arabic', 'Chinese', 'Czech'))
    >>> NAMES_CATEGORIES.index("French")
    5
"""

_ARCHIVE_FOLDER = ("data", "names")


def normalized_text_sha256(data: bytes) -> str:
    """SHA-256 of a text file's content after normalising its encoding details.

    The normalisation: decode as UTF-8 (strict); drop one leading byte-order mark
    (U+FEFF); replace ``\\r\\n``, then any remaining ``\\r``, with ``\\n``; remove all
    trailing ``\\n`` and append exactly one. The result is encoded as UTF-8 and hashed.
    Nothing else changes: spaces inside or at the ends of lines, and blank lines other than
    trailing ones, count.

    Args:
        data: The file's bytes.

    Returns:
        The digest as 64 lowercase hexadecimal digits.

    Raises:
        UnicodeDecodeError: If ``data`` is not UTF-8.

    Example:
        >>> crlf = normalized_text_sha256(b"\\xef\\xbb\\xbfAbe\\r\\nLi")
        >>> crlf == normalized_text_sha256(b"Abe\\nLi\\n\\n")
        True
        >>> crlf == normalized_text_sha256(b"Abe \\nLi\\n")
        False
    """
    text = data.decode("utf-8").removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_data_dir() -> Path:
    """The folder holding seqlearn's data sets when no ``data_dir`` is given.

    ``$SEQLEARN_DATA`` when set (``~`` expanded), else ``$XDG_CACHE_HOME/seqlearn`` when
    ``XDG_CACHE_HOME`` is set to an absolute path, else ``~/.cache/seqlearn``. Nothing is
    created.

    Returns:
        The data dir (the folder that contains ``names/``).

    Example:
        >>> import os
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"SEQLEARN_DATA": "/srv/data"}):
        ...     default_data_dir().as_posix()
        '/srv/data'
    """
    explicit = os.environ.get("SEQLEARN_DATA")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    if cache and Path(cache).is_absolute():
        return Path(cache) / "seqlearn"
    return Path.home() / ".cache" / "seqlearn"


def names_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The names folder, ``<data_dir>/names``; it may not exist yet.

    Args:
        data_dir: The data dir, or ``None`` for :func:`default_data_dir`.

    Returns:
        The path of the names folder.

    Example:
        >>> names_dir("/srv/data").as_posix()
        '/srv/data/names'
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return root / "names"


def _problems(folder: Path) -> list[str]:
    """What is wrong with the names files in ``folder``, one line per problem."""
    problems: list[str] = []
    present = {
        path.name
        for path in folder.glob("*.txt")
        if path.is_file() and not path.name.startswith(".")
    }
    missing = sorted(set(NAMES_FILE_SHA256) - present)
    if missing:
        problems.append(f"missing files: {', '.join(missing)}")
    unexpected = sorted(present - set(NAMES_FILE_SHA256))
    if unexpected:
        problems.append(f"unexpected files: {', '.join(unexpected)}")
    for name, expected in NAMES_FILE_SHA256.items():
        if name not in present:
            continue
        try:
            actual = normalized_text_sha256((folder / name).read_bytes())
        except UnicodeDecodeError as exc:
            problems.append(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        if actual != expected:
            problems.append(f"{name}: expected sha256 {expected}, got {actual}")
    return problems


def verify_names(folder: str | os.PathLike[str]) -> None:
    """Check that ``folder`` holds exactly the 18 names files, each with its digest.

    Digests are compared with :func:`normalized_text_sha256`; hidden files and files other
    than ``*.txt`` are ignored.

    Args:
        folder: The names folder (``<data_dir>/names``).

    Raises:
        FileNotFoundError: If ``folder`` is not an existing folder.
        DataIntegrityError: If a file is missing, unexpected, not UTF-8 or has another
            digest; the message lists every problem, naming the files and, for a wrong
            digest, the expected and actual digests.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = Path(tmp, "Klingon.txt").write_text("Worf\\n", encoding="utf-8")
        ...     try:
        ...         verify_names(tmp)
        ...     except DataIntegrityError as err:
        ...         print(str(err).splitlines()[-1])
          unexpected files: Klingon.txt
    """
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"names folder {path} does not exist")
    problems = _problems(path)
    if problems:
        details = "\n  ".join(problems)
        raise DataIntegrityError(
            f"the names data in {path} does not match the expected files (delete the folder "
            f"or call download_names(force=True) to download it again):\n  {details}"
        )


def _stage(archive: Path, work: Path, url: str) -> Path:
    """Extract ``archive`` in ``work`` and return a checked folder of the names files."""
    extracted = work / "extracted"
    safe_extract_zip(archive, extracted)
    source = extracted.joinpath(*_ARCHIVE_FOLDER)
    if not source.is_dir():
        raise DataIntegrityError(f"the archive from {url} has no {'/'.join(_ARCHIVE_FOLDER)}/")
    staged = work / "names"
    staged.mkdir()
    for path in source.glob("*.txt"):
        if path.is_file() and not path.name.startswith("."):
            os.replace(path, staged / path.name)
    problems = _problems(staged)
    if problems:
        details = "\n  ".join(problems)
        raise DataIntegrityError(
            f"the names data in the archive from {url} does not match the expected "
            f"files:\n  {details}"
        )
    return staged


def download_names(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    url: str = NAMES_URL,
    archive_sha256: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Download the names data into ``<data_dir>/names``, verified, all or nothing.

    When ``<data_dir>/names`` already verifies (:func:`verify_names`) and ``force`` is false,
    nothing is downloaded. Otherwise the archive is downloaded into a temporary folder inside
    the data dir, its digest checked when ``archive_sha256`` is given, extracted there
    (:func:`~seqlearn.data.safe_extract_zip`), and its ``data/names/*.txt`` files
    checked against :data:`NAMES_FILE_SHA256`. Only then does the complete folder replace
    ``<data_dir>/names`` by renames; on any failure the temporary folder (and the data dir,
    if this call created it) is removed and an existing ``names/`` is left as it was.

    Args:
        data_dir: The data dir (created if missing), or ``None`` for
            :func:`default_data_dir`.
        url: Where to download the archive from; an http(s) URL of a zip holding
            ``data/names/*.txt``.
        archive_sha256: Expected SHA-256 of the archive, or ``None`` to rely on the
            per-file digests alone.
        timeout: Seconds to wait for the connection and for each read.
        force: Download even when a verified ``names/`` is already there.

    Returns:
        The names folder, ``<data_dir>/names``.

    Raises:
        ValueError: If ``url`` is not http(s), ``archive_sha256`` is malformed, or an
            archive member would be extracted outside its folder.
        DownloadError: If the download fails (see
            :func:`~seqlearn.data.download_file`).
        DataIntegrityError: If the archive's digest differs from ``archive_sha256``, or its
            names files are missing, unexpected or differ from :data:`NAMES_FILE_SHA256`.

    Example:
        >>> folder = download_names()  # doctest: +SKIP
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as empty:
        ...     download_names(empty, url="file:///tmp/data.zip")
        Traceback (most recent call last):
        ...
        ValueError: expected an http:// or https:// URL, got 'file:///tmp/data.zip'
    """
    target = names_dir(data_dir)
    if target.is_dir() and not force:
        if not _problems(target):
            logger.info("names data already present and verified in %s", target)
            return target
        logger.warning("names data in %s does not verify; downloading it again", target)
    install_archive(
        url,
        target,
        lambda archive, scratch: _stage(archive, scratch, url),
        archive_name="data.zip",
        sha256=archive_sha256,
        timeout=timeout,
    )
    logger.info("names data from %s verified and stored in %s", url, target)
    return target


def load_names(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool = False
) -> LabeledTexts:
    """Read the names data, verified, as 20,074 ``(name, language)`` pairs.

    Labels follow :data:`NAMES_CATEGORIES` (sorted languages); names follow file line
    order. Nothing is downloaded unless ``download`` is true.

    Args:
        data_dir: The data dir holding ``names/``, or ``None`` for :func:`default_data_dir`.
        download: Download the data first (:func:`download_names`) when it is missing or
            does not verify.

    Returns:
        The names as a :class:`~seqlearn.data.labeled_texts.LabeledTexts`.

    Raises:
        FileNotFoundError: If ``<data_dir>/names`` is missing and ``download`` is false; the
            message says where it looked and how to get the data.
        DataIntegrityError: If the folder does not verify (:func:`verify_names`) and
            ``download`` is false, or the download does not verify.
        DownloadError: If ``download`` is true and the download fails.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     try:
        ...         load_names(tmp)
        ...     except FileNotFoundError as err:
        ...         print("not found:", "download_names()" in str(err))
        not found: True
    """
    if download:
        return read_category_folder(download_names(data_dir))
    folder = names_dir(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the names data was not found in {folder}. Get it with "
            "seqlearn.data.names.download_names() (or load_names(download=True)), with the "
            "--download flag of the examples, or set SEQLEARN_DATA to a folder that holds "
            f"names/ (the data comes from {NAMES_URL}, folder data/names/)."
        )
    verify_names(folder)
    return read_category_folder(folder)
