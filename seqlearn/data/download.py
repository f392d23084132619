"""Safe downloads and safe zip extraction.

:func:`download_file` streams a URL to a temporary file next to its destination, checks an
optional SHA-256 digest and only then renames the file into place, so the destination is
either absent, untouched or complete. :func:`safe_extract_zip` extracts an archive only when
every member stays inside the target folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

__all__ = ["DataIntegrityError", "DownloadError", "download_file", "safe_extract_zip"]

logger = logging.getLogger(__name__)

_CHUNK_SIZE = 1 << 16
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_SCHEMES = ("http", "https")


class DataIntegrityError(ValueError):
    """Downloaded or stored data does not match its expected SHA-256 digest.

    Example:
        >>> raise DataIntegrityError("data.zip: expected sha256 ab.., got cd..")
        Traceback (most recent call last):
        ...
        seqlearn.data.download.DataIntegrityError: data.zip: expected sha256 ab.., got cd..
    """


class DownloadError(OSError):
    """A download failed: an HTTP error status, a network error or a truncated response.

    Example:
        >>> isinstance(DownloadError("could not download http://x/y: HTTP 404"), OSError)
        True
    """


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.lower()
    if not _SHA256_PATTERN.fullmatch(digest):
        raise ValueError(f"expected a SHA-256 digest of 64 hexadecimal digits, got {sha256!r}")
    return digest


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, which appears only once complete and verified.

    The body is streamed to a temporary file in ``dest``'s folder (created if missing) while
    its SHA-256 is computed; when the body is complete (as long as any ``Content-Length``
    announced) and the digest matches ``sha256``, the file is renamed onto ``dest``,
    replacing any file there. On any failure the temporary file is removed and ``dest`` is
    left as it was. Redirects are followed, but a body reached at a URL other than http(s)
    is refused.

    Args:
        url: An ``http://`` or ``https://`` URL.
        dest: Path of the file to write.
        sha256: Expected SHA-256 of the body as 64 hexadecimal digits (either case), or
            ``None`` to skip the check.
        timeout: Seconds to wait for the connection and for each read.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If ``url`` is not http(s) or ``sha256`` is not a SHA-256 digest.
        DownloadError: If the server answers with an error status, the connection fails or
            times out, or the body is shorter or longer than announced.
        DataIntegrityError: If the body's SHA-256 differs from ``sha256``; the message names
            the URL and both digests.

    Example:
        >>> path = download_file(  # doctest: +SKIP
        ...     "https://download.pytorch.org/tutorial/data.zip", "/tmp/data.zip"
        ... )
        >>> download_file("ftp://example.org/data.zip", "data.zip")
        Traceback (most recent call last):
        ...
        ValueError: expected an http:// or https:// URL, got 'ftp://example.org/data.zip'
    """
    _check_url(url)
    expected = _check_sha256(sha256)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s to %s", url, dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, actual = _stream(url, out, timeout)
        if expected is not None and actual != expected:
            raise DataIntegrityError(
                f"SHA-256 mismatch for {url}: expected {expected}, got {actual}"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("downloaded %d bytes from %s (sha256 %s)", size, url, actual)
    return dest


def _stream(url: str, out: BinaryIO, timeout: float) -> tuple[int, str]:
    """Copy the body of ``url`` into ``out``; return its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            final_url = response.geturl()
            if urllib.parse.urlsplit(final_url).scheme not in _SCHEMES:
                raise DownloadError(f"could not download {url}: redirected to {final_url}")
            announced = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"could not download {url}: {exc.reason}") from exc
    except DownloadError:
        raise
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad responses
        raise DownloadError(f"could not download {url}: {exc}") from exc
    if announced is not None and announced.isdigit() and int(announced) != size:
        raise DownloadError(
            f"could not download {url}: got {size} bytes, the server announced {announced}"
        )
    return size, digest.hexdigest()


def _member_error(archive: Path, name: str, why: str) -> ValueError:
    return ValueError(f"refusing to extract {archive}: member {name!r} {why}")


def _member_path(archive: Path, info: zipfile.ZipInfo, root: Path) -> Path:
    """Where ``info`` would be written under ``root``; raise if it would leave ``root``."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _member_error(archive, name, "is a symbolic link")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        raise _member_error(archive, name, "has an absolute path")
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise _member_error(archive, name, "has a '..' component")
    if not parts:
        raise _member_error(archive, name, "has an empty path")
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root):
        raise _member_error(archive, name, f"resolves outside {root}")
    return path


def safe_extract_zip(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> list[Path]:
    """Extract a zip archive into ``target`` after checking that every member stays inside.

    All members are checked before anything is written, so a refused archive extracts
    nothing. A member is refused when its path is absolute (``/x``, ``C:\\x``), has a ``..``
    component (with ``/`` or ``\\`` as separator), resolves outside ``target`` (for example
    through a symbolic link already in ``target``), or is itself a symbolic link.

    Args:
        archive: Path of the zip file.
        target: Folder to extract into; created if missing.

    Returns:
        The paths of the extracted files (not folders), in archive order, each ``target``
        joined with the member's path.

    Raises:
        ValueError: If a member would leave ``target`` or is a symbolic link; the message
            names the member.
        zipfile.BadZipFile: If ``archive`` is not a zip file.

    Example:
        >>> import tempfile, zipfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     with zipfile.ZipFile(Path(tmp, "a.zip"), "w") as zf:
        ...         zf.writestr("data/hello.txt", "hi\\n")
        ...     files = safe_extract_zip(Path(tmp, "a.zip"), Path(tmp, "out"))
        ...     [f.relative_to(tmp).as_posix() for f in files], files[0].read_text()
        (['out/data/hello.txt'], 'hi\\n')
    """
    archive = Path(archive)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(archive) as zf:
        members = [(info, _member_path(archive, info, root)) for info in zf.infolist()]
        files: list[Path] = []
        for info, path in members:
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            files.append(target.joinpath(path.relative_to(root)))
    logger.debug("extracted %d files from %s into %s", len(files), archive, target)
    return files


def install_archive(
    url: str,
    target: Path,
    stage: Callable[[Path, Path], Path],
    *,
    archive_name: str,
    sha256: str | None,
    timeout: float,
) -> None:
    """Download an archive and put the folder staged from it at ``target``, all or nothing.

    The archive is downloaded into a temporary folder beside ``target``;
    ``stage(archive, scratch)`` extracts and verifies it inside ``scratch`` and returns the
    finished folder, which then replaces ``target`` by renames. On any failure the temporary
    folder (and ``target``'s parent, if this call created it) is removed and an existing
    ``target`` is left as it was.

    Args:
        url: The archive's address.
        target: The folder to create or replace.
        stage: ``(archive, scratch) -> folder``: extracts and verifies the data.
        archive_name: File name of the downloaded archive.
        sha256: The archive's expected digest, or ``None`` to skip the check.
        timeout: Seconds to wait for the server.

    Raises:
        DownloadError: If the download fails.
        DataIntegrityError: If the archive or the staged data does not verify.
    """
    root = target.parent
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-download-", dir=root))
    try:
        archive = download_file(url, scratch / archive_name, sha256=sha256, timeout=timeout)
        _replace_folder(stage(archive, scratch), target, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):  # after a failure, the data dir is empty
                root.rmdir()


def _replace_folder(new: Path, target: Path, scratch: Path) -> None:
    """Rename ``new`` onto ``target``, moving any old ``target`` into ``scratch`` first."""
    if not (target.exists() or target.is_symlink()):
        os.replace(new, target)
        return
    previous = scratch / "previous"
    os.replace(target, previous)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(previous, target)
        raise
