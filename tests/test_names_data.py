from __future__ import annotations

import functools
import hashlib
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from seqlearn.data import names
from seqlearn.data.download import DataIntegrityError, DownloadError
from seqlearn.data.names import (
    NAMES_CATEGORIES,
    NAMES_FILE_SHA256,
    NAMES_URL,
    default_data_dir,
    download_names,
    load_names,
    names_dir,
    normalized_text_sha256,
    verify_names,
)

if TYPE_CHECKING:
    from conftest import LocalServer

NAMES_TOTAL = 20_074
NAMES_COUNTS = {
    "Arabic": 2000,
    "Chinese": 268,
    "Czech": 519,
    "Dutch": 297,
    "English": 3668,
    "French": 277,
    "German": 724,
    "Greek": 203,
    "Irish": 232,
    "Italian": 709,
    "Japanese": 991,
    "Korean": 94,
    "Polish": 139,
    "Portuguese": 74,
    "Russian": 9408,
    "Scottish": 100,
    "Spanish": 298,
    "Vietnamese": 73,
}

Edit = Callable[[str, bytes], bytes | None]
"""Changes a names file's bytes on its way into the archive; ``None`` leaves it out."""


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for folders)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def real_names(shared_data_dir: Path) -> Path:
    folder = shared_data_dir / "names"
    if not folder.is_dir():
        pytest.skip(
            f"{shared_data_dir} has no names/ folder: point SEQLEARN_DATA at a folder holding "
            f"names/ (CI: ../shared/data) or run seqlearn.data.names.download_names()"
        )
    return folder


@pytest.fixture
def make_archive(real_names: Path, tmp_path: Path) -> Callable[..., bytes]:
    """Build a ``data.zip`` like the tutorials' from the real files, optionally altered."""

    def build(edit: Edit | None = None, extra: dict[str, bytes] | None = None) -> bytes:
        path = tmp_path / "served" / "data.zip"
        path.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo("data/"), b"")
            zf.writestr("data/eng-fra.txt", "Go.\tVa !\n")
            zf.writestr(zipfile.ZipInfo("data/names/"), b"")
            for file in sorted(real_names.glob("*.txt")):
                data: bytes | None = file.read_bytes()
                if edit is not None and data is not None:
                    data = edit(file.name, data)
                if data is not None:
                    zf.writestr(f"data/names/{file.name}", data)
            for name, content in (extra or {}).items():
                zf.writestr(name, content)
        return path.read_bytes()

    return build


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "seqlearn"


def _serve(server: LocalServer, archive: bytes) -> str:
    server.routes["/tutorial/data.zip"] = archive
    return server.url("/tutorial/data.zip")


# --- constants and digests -------------------------------------------------------------


def test_constants() -> None:
    assert NAMES_URL == "https://download.pytorch.org/tutorial/data.zip"
    assert len(NAMES_CATEGORIES) == 18
    assert list(NAMES_CATEGORIES) == sorted(NAMES_CATEGORIES)
    assert set(NAMES_COUNTS) == set(NAMES_CATEGORIES)
    assert sorted(NAMES_FILE_SHA256) == [f"{c}.txt" for c in NAMES_CATEGORIES]
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in NAMES_FILE_SHA256.values())


def test_normalized_text_sha256() -> None:
    reference = hashlib.sha256("Abe\nNuñez\n".encode()).hexdigest()
    variants = [
        "Abe\nNuñez\n",
        "Abe\nNuñez",
        "Abe\nNuñez\n\n\n",
        "Abe\r\nNuñez\r\n",
        "Abe\rNuñez\r",
        "\ufeffAbe\r\nNuñez",
    ]
    assert {normalized_text_sha256(v.encode()) for v in variants} == {reference}
    for different in ["Abe\n\nNuñez\n", "Abe \nNuñez\n", "\nAbe\nNuñez\n", "Abe\nNunez\n"]:
        assert normalized_text_sha256(different.encode()) != reference
    assert normalized_text_sha256(b"") == hashlib.sha256(b"\n").hexdigest()
    with pytest.raises(UnicodeDecodeError):
        normalized_text_sha256("Nuñez".encode("latin-1"))


# --- data dirs -------------------------------------------------------------------------


def test_default_data_dir_honours_seqlearn_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEQLEARN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "data"
    assert names_dir() == tmp_path / "data" / "names"
    assert names_dir(tmp_path / "other") == tmp_path / "other" / "names"
    assert names_dir(str(tmp_path)) == tmp_path / "names"
    monkeypatch.setenv("SEQLEARN_DATA", "../shared/data")
    assert default_data_dir() == Path("../shared/data")


def test_default_data_dir_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SEQLEARN_DATA", "~/data")
    assert default_data_dir() == tmp_path / "data"


def test_default_data_dir_falls_back_to_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQLEARN_DATA", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "seqlearn"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says
    assert default_data_dir() == tmp_path / "home" / ".cache" / "seqlearn"
    monkeypatch.delenv("SEQLEARN_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == tmp_path / "home" / ".cache" / "seqlearn"
    assert names_dir() == tmp_path / "home" / ".cache" / "seqlearn" / "names"
    assert not (tmp_path / "home").exists()  # nothing is created


# --- verify_names ----------------------------------------------------------------------


def test_verify_real_names(real_names: Path) -> None:
    verify_names(real_names)


def test_verify_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        verify_names(tmp_path / "names")


def test_verify_lists_missing_and_undecodable_files(tmp_path: Path) -> None:
    (tmp_path / "Arabic.txt").write_bytes(b"Khoury\n\xff\n")
    (tmp_path / "notes.md").write_text("ignored")
    with pytest.raises(DataIntegrityError) as info:
        verify_names(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "download_names(force=True)" in message
    assert "missing files: Chinese.txt, Czech.txt" in message
    assert "Arabic.txt: not valid UTF-8" in message
    assert "notes.md" not in message


def test_verify_tolerates_line_endings_but_not_edits(real_names: Path, tmp_path: Path) -> None:
    copy = tmp_path / "names"
    shutil.copytree(real_names, copy)
    russian = copy / "Russian.txt"
    russian.write_bytes(b"\xef\xbb\xbf" + russian.read_bytes().replace(b"\n", b"\r\n"))
    verify_names(copy)
    russian.write_bytes(russian.read_bytes().replace(b"Abakumov", b"Abakumova", 1))
    (copy / "Klingon.txt").write_text("Worf\n")
    with pytest.raises(DataIntegrityError) as info:
        verify_names(copy)
    message = str(info.value)
    assert f"Russian.txt: expected sha256 {NAMES_FILE_SHA256['Russian.txt']}, got " in message
    assert "unexpected files: Klingon.txt" in message


# --- download_names over HTTP ----------------------------------------------------------


def test_download_good_archive(
    http_server: LocalServer, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    archive = make_archive()
    url = _serve(http_server, archive)
    sha = hashlib.sha256(archive).hexdigest()
    folder = download_names(data_dir, url=url, archive_sha256=sha, timeout=10)
    assert folder == data_dir / "names"
    assert sorted(_snapshot(data_dir)) == ["names"] + [f"names/{n}" for n in NAMES_FILE_SHA256]
    verify_names(folder)
    data = load_names(data_dir)
    assert len(data) == NAMES_TOTAL
    assert data.categories == list(NAMES_CATEGORIES)
    assert data.counts() == NAMES_COUNTS
    assert http_server.requests == ["/tutorial/data.zip"]

    assert download_names(data_dir, url=url) == folder  # verified already: no download
    assert http_server.requests == ["/tutorial/data.zip"]
    download_names(data_dir, url=url, force=True)
    assert len(http_server.requests) == 2
    assert sorted(_snapshot(data_dir)) == ["names"] + [f"names/{n}" for n in NAMES_FILE_SHA256]


def test_download_archive_with_other_line_endings(
    http_server: LocalServer, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    def windows(name: str, data: bytes) -> bytes:
        return b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n").rstrip(b"\r\n")

    url = _serve(http_server, make_archive(windows))
    download_names(data_dir, url=url)
    assert (data_dir / "names" / "Arabic.txt").read_bytes().startswith(b"\xef\xbb\xbfKhoury\r\n")
    data = load_names(data_dir)
    assert len(data) == NAMES_TOTAL
    assert data[0] == ("Khoury", 0)


def test_download_replaces_invalid_names(
    http_server: LocalServer, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    (data_dir / "names").mkdir(parents=True)
    (data_dir / "names" / "Arabic.txt").write_text("stale\n")
    download_names(data_dir, url=_serve(http_server, make_archive()))
    verify_names(data_dir / "names")
    assert sorted(_snapshot(data_dir)) == ["names"] + [f"names/{n}" for n in NAMES_FILE_SHA256]


@pytest.fixture
def existing_names(real_names: Path, data_dir: Path) -> dict[str, bytes | None]:
    """A valid ``names/`` already in the data dir, with a marker file; its snapshot."""
    shutil.copytree(real_names, data_dir / "names")
    (data_dir / "names" / "marker").write_text("keep me")
    return _snapshot(data_dir)


def test_wrong_archive_checksum_is_refused(
    http_server: LocalServer,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    existing_names: dict[str, bytes | None],
) -> None:
    archive = make_archive()
    url = _serve(http_server, archive)
    wrong = "ab" * 32
    with pytest.raises(DataIntegrityError) as info:
        download_names(data_dir, url=url, archive_sha256=wrong, force=True)
    message = str(info.value)
    assert url in message and wrong in message and hashlib.sha256(archive).hexdigest() in message
    assert _snapshot(data_dir) == existing_names


def test_wrong_archive_checksum_leaves_nothing(
    http_server: LocalServer, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    url = _serve(http_server, make_archive())
    with pytest.raises(DataIntegrityError):
        download_names(data_dir, url=url, archive_sha256="0" * 64)
    assert not data_dir.exists()
    assert data_dir.parent.exists()


def test_dotdot_member_is_refused(
    http_server: LocalServer,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    existing_names: dict[str, bytes | None],
    tmp_path: Path,
) -> None:
    url = _serve(http_server, make_archive(extra={"data/names/../../../evil.txt": b"x"}))
    with pytest.raises(ValueError, match=re.escape("'data/names/../../../evil.txt'")):
        download_names(data_dir, url=url, force=True)
    assert _snapshot(data_dir) == existing_names
    assert not list(tmp_path.rglob("evil.txt"))


def test_tampered_file_is_refused(
    http_server: LocalServer,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    existing_names: dict[str, bytes | None],
) -> None:
    def tamper(name: str, data: bytes) -> bytes:
        return data.replace(b"Nguyen", b"Nguyen\nWinston", 1) if name == "Vietnamese.txt" else data

    url = _serve(http_server, make_archive(tamper))
    with pytest.raises(DataIntegrityError) as info:
        download_names(data_dir, url=url, force=True)
    message = str(info.value)
    assert url in message
    assert f"Vietnamese.txt: expected sha256 {NAMES_FILE_SHA256['Vietnamese.txt']}" in message
    assert "Arabic.txt" not in message
    assert _snapshot(data_dir) == existing_names


def test_missing_and_extra_files_are_refused(
    http_server: LocalServer, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    def drop_korean(name: str, data: bytes) -> bytes | None:
        return None if name == "Korean.txt" else data

    archive = make_archive(drop_korean, extra={"data/names/Klingon.txt": b"Worf\n"})
    with pytest.raises(DataIntegrityError) as info:
        download_names(data_dir, url=_serve(http_server, archive))
    assert "missing files: Korean.txt" in str(info.value)
    assert "unexpected files: Klingon.txt" in str(info.value)
    assert not data_dir.exists()


def test_archive_without_names_folder(http_server: LocalServer, tmp_path: Path) -> None:
    served = tmp_path / "other.zip"
    with zipfile.ZipFile(served, "w") as zf:
        zf.writestr("data/eng-fra.txt", "Go.\tVa !\n")
    url = _serve(http_server, served.read_bytes())
    with pytest.raises(DataIntegrityError, match=r"has no data/names/"):
        download_names(tmp_path / "data", url=url)
    assert not (tmp_path / "data").exists()


def test_http_404(http_server: LocalServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "other").write_text("kept")
    url = http_server.url("/tutorial/missing.zip")
    with pytest.raises(DownloadError, match=re.escape(f"could not download {url}: HTTP 404")):
        download_names(data_dir, url=url)
    assert _snapshot(data_dir) == {"other": b"kept"}


def test_connection_refused(closed_port_url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=re.escape(f"could not download {closed_port_url}")):
        download_names(tmp_path / "data", url=closed_port_url, timeout=5)
    assert _snapshot(tmp_path) == {}


def test_valid_existing_names_need_no_network(
    closed_port_url: str, data_dir: Path, existing_names: dict[str, bytes | None]
) -> None:
    assert download_names(data_dir, url=closed_port_url) == data_dir / "names"
    assert _snapshot(data_dir) == existing_names


# --- load_names ------------------------------------------------------------------------


def test_load_missing_names_explains_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_names(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "names") in message
    for hint in ("download_names()", "--download", "SEQLEARN_DATA"):
        assert hint in message
    assert _snapshot(tmp_path) == {}


def test_load_missing_names_uses_default_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEQLEARN_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "env" / "names"))):
        load_names()
    assert _snapshot(tmp_path) == {}


def test_load_invalid_names_without_download(tmp_path: Path) -> None:
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "Arabic.txt").write_text("Khoury\n")
    with pytest.raises(DataIntegrityError, match="missing files"):
        load_names(tmp_path)


def test_load_with_download(
    http_server: LocalServer,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _serve(http_server, make_archive())
    monkeypatch.setattr(names, "download_names", functools.partial(download_names, url=url))
    assert len(load_names(data_dir, download=True)) == NAMES_TOTAL
    assert len(load_names(data_dir, download=True)) == NAMES_TOTAL
    assert http_server.requests == ["/tutorial/data.zip"]


def test_load_real_names(shared_data_dir: Path, real_names: Path) -> None:
    data = load_names(shared_data_dir)
    assert len(data) == NAMES_TOTAL
    assert data.categories == list(NAMES_CATEGORIES)
    assert data.counts() == NAMES_COUNTS
    assert data[0] == ("Khoury", 0)
    assert data[-1] == ("Vuu", 17)
    assert all(text == text.strip() and text for text in data.texts)
