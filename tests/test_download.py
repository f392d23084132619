from __future__ import annotations

import email.message
import hashlib
import io
import os
import urllib.request
import urllib.response
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from seqlearn.data.download import (
    DataIntegrityError,
    DownloadError,
    download_file,
    safe_extract_zip,
)

if TYPE_CHECKING:
    from conftest import LocalServer

BODY = b"hello, world\n" * 1000
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()


def _listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --- download_file ---------------------------------------------------------------------


def test_download_file_writes_and_verifies(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/f.bin"] = BODY
    dest = tmp_path / "sub" / "f.bin"
    result = download_file(http_server.url("/f.bin"), dest, sha256=BODY_SHA256.upper())
    assert result == dest
    assert dest.read_bytes() == BODY
    assert _listing(tmp_path) == ["sub", "sub/f.bin"]


def test_download_file_without_digest_replaces_existing(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.routes["/f.bin"] = BODY
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    download_file(http_server.url("/f.bin"), dest)
    assert dest.read_bytes() == BODY
    assert _listing(tmp_path) == ["f.bin"]


def test_download_file_wrong_digest(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/f.bin"] = BODY
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    url = http_server.url("/f.bin")
    wrong = "0" * 64
    with pytest.raises(DataIntegrityError) as info:
        download_file(url, dest, sha256=wrong)
    message = str(info.value)
    assert url in message and wrong in message and BODY_SHA256 in message
    assert isinstance(info.value, ValueError)
    assert dest.read_bytes() == b"old"
    assert _listing(tmp_path) == ["f.bin"]


def test_download_file_http_404(http_server: LocalServer, tmp_path: Path) -> None:
    url = http_server.url("/missing.zip")
    with pytest.raises(DownloadError, match="404") as info:
        download_file(url, tmp_path / "f.bin")
    assert url in str(info.value)
    assert _listing(tmp_path) == []


def test_download_file_connection_refused(closed_port_url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download_file(closed_port_url, tmp_path / "f.bin", timeout=5)
    assert closed_port_url in str(info.value)
    assert isinstance(info.value, OSError)
    assert _listing(tmp_path) == []


def test_download_file_truncated_body(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/f.bin"] = BODY
    http_server.lengths["/f.bin"] = len(BODY) + 100
    with pytest.raises(DownloadError, match=r"could not download .*/f\.bin"):
        download_file(http_server.url("/f.bin"), tmp_path / "f.bin", timeout=5)
    assert _listing(tmp_path) == []


def test_download_file_follows_http_redirects(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/f.bin"] = BODY
    http_server.redirects["/old.bin"] = http_server.url("/f.bin")
    download_file(http_server.url("/old.bin"), tmp_path / "f.bin", sha256=BODY_SHA256)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert http_server.requests == ["/old.bin", "/f.bin"]


@pytest.mark.parametrize("location", ["file:///etc/hostname", "ftp://127.0.0.1:1/f.bin"])
def test_download_file_refuses_redirects_elsewhere(
    http_server: LocalServer, tmp_path: Path, location: str
) -> None:
    http_server.redirects["/f.bin"] = location
    with pytest.raises(DownloadError, match="could not download"):
        download_file(http_server.url("/f.bin"), tmp_path / "f.bin", timeout=5)
    assert _listing(tmp_path) == []


def test_download_file_refuses_bodies_from_other_schemes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ftp_response = urllib.response.addinfourl(
        io.BytesIO(BODY), email.message.Message(), "ftp://mirror.example/f.bin"
    )
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: ftp_response)
    with pytest.raises(DownloadError, match=r"redirected to ftp://mirror\.example/f\.bin"):
        download_file("http://example.org/f.bin", tmp_path / "f.bin")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "example.org/x"])
def test_download_file_rejects_other_schemes(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        download_file(url, tmp_path / "f.bin")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("digest", ["abc", "g" * 64, "0" * 63])
def test_download_file_rejects_malformed_digest(digest: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        download_file("http://127.0.0.1:1/x", tmp_path / "f.bin", sha256=digest)


# --- safe_extract_zip ------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_safe_extract_zip_extracts_files(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("data/"), b"")
        zf.writestr("data/names/A.txt", "Abe\n")
        zf.writestr("./data/b.txt", "b")
    target = tmp_path / "out"
    files = safe_extract_zip(archive, target)
    assert files == [target / "data/names/A.txt", target / "data/b.txt"]
    assert (target / "data/names/A.txt").read_text() == "Abe\n"
    assert (target / "data/b.txt").read_bytes() == b"b"


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "data/../../evil.txt",
        "data/../evil.txt",
        "..\\evil.txt",
        "/tmp/evil.txt",
        "C:/evil.txt",
        "C:\\evil.txt",
    ],
)
def test_safe_extract_zip_refuses_escaping_members(name: str, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"ok.txt": b"ok", name: b"evil"})
    target = tmp_path / "out"
    with pytest.raises(ValueError) as info:
        safe_extract_zip(archive, target)
    assert repr(name) in str(info.value)
    assert _listing(target) == []  # nothing extracted, not even the good member
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_zip_refuses_symlink_members(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("data/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(ValueError, match=r"'data/link' is a symbolic link"):
        safe_extract_zip(archive, tmp_path / "out")
    assert _listing(tmp_path / "out") == []


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_safe_extract_zip_refuses_paths_through_existing_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "link").symlink_to(outside, target_is_directory=True)
    archive = _zip(tmp_path / "a.zip", {"link/evil.txt": b"evil"})
    with pytest.raises(ValueError, match="resolves outside"):
        safe_extract_zip(archive, target)
    assert _listing(outside) == []


def test_safe_extract_zip_rejects_non_zip(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"not a zip")
    with pytest.raises(zipfile.BadZipFile):
        safe_extract_zip(archive, tmp_path / "out")
