from __future__ import annotations

import functools
import hashlib
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from seqlearn.data import sst
from seqlearn.data.download import DataIntegrityError, DownloadError
from seqlearn.data.names import normalized_text_sha256
from seqlearn.data.sst import (
    SST_FILE_SHA256,
    SST_SENTENCE_COUNTS,
    SST_URL,
    download_sst,
    load_sst,
    sst_dir,
    verify_sst,
)

if TYPE_CHECKING:
    from conftest import LocalServer

SMALL = {
    "train.txt": b"(3 (2 Good) (3 fun))\n(1 (1 Dull) (2 .))\n(4 (4 Superb) (2 .))\n",
    "dev.txt": b"(2 (2 Meh) (2 .))\n(0 (0 Awful) (2 .))\n",
    "test.txt": b"(3 (2 A) (3 (3 treat) (2 .)))\n(1 (2 Too) (1 long))\n",
}
"""A tiny treebank: 3 train, 2 dev and 2 test sentences."""

Files = dict[str, bytes]


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for folders)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> Files:
    """Make the tiny treebank the published one: its counts and digests."""
    for name, data in SMALL.items():
        monkeypatch.setitem(SST_SENTENCE_COUNTS, name.removesuffix(".txt"), data.count(b"\n"))
        if name != "test.txt":
            monkeypatch.setitem(SST_FILE_SHA256, name, normalized_text_sha256(data))
    return dict(SMALL)


@pytest.fixture
def make_archive(tmp_path: Path) -> Callable[..., bytes]:
    """A zip laid out as ``trainDevTestTrees_PTB.zip``: ``trees/<split>.txt``."""

    def build(files: Files, extra: Files | None = None) -> bytes:
        path = tmp_path / "served" / "trees.zip"
        path.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo("trees/"), b"")
            for name, data in files.items():
                zf.writestr(f"trees/{name}", data)
            for name, data in (extra or {}).items():
                zf.writestr(name, data)
        return path.read_bytes()

    return build


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "seqlearn"


@pytest.fixture
def existing_sst(small: Files, data_dir: Path) -> dict[str, bytes | None]:
    """A valid ``sst/`` already in the data dir, with a marker file; its snapshot."""
    folder = data_dir / "sst"
    folder.mkdir(parents=True)
    for name, data in small.items():
        (folder / name).write_bytes(data)
    (folder / "marker").write_text("keep me")
    return _snapshot(data_dir)


@pytest.fixture
def real_sst(shared_data_dir: Path) -> Path:
    folder = shared_data_dir / "sst"
    if not (folder / "train.txt").is_file():
        pytest.skip(f"{shared_data_dir} has no sst/train.txt")
    return folder


def _serve(server: LocalServer, archive: bytes) -> str:
    server.routes["/sentiment/trainDevTestTrees_PTB.zip"] = archive
    return server.url("/sentiment/trainDevTestTrees_PTB.zip")


# --- constants, folders, verify_sst ----------------------------------------------------


def test_constants() -> None:
    assert SST_URL == "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
    assert SST_SENTENCE_COUNTS == {"train": 8544, "dev": 1101, "test": 2210}
    assert sorted(SST_FILE_SHA256) == ["dev.txt", "train.txt"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in SST_FILE_SHA256.values())


def test_sst_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEQLEARN_DATA", str(tmp_path / "env"))
    assert sst_dir() == tmp_path / "env" / "sst"
    assert sst_dir(tmp_path) == tmp_path / "sst"
    monkeypatch.delenv("SEQLEARN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sst_dir() == tmp_path / "xdg" / "seqlearn" / "sst"


def test_verify_real_files(real_sst: Path) -> None:
    for name, digest in SST_FILE_SHA256.items():
        assert normalized_text_sha256((real_sst / name).read_bytes()) == digest
    verify_sst(real_sst, ["train", "dev"])


def test_verify_tolerates_line_endings_but_not_edits(small: Files, tmp_path: Path) -> None:
    for name, data in small.items():
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))
    verify_sst(tmp_path)
    train = tmp_path / "train.txt"
    train.write_bytes(train.read_bytes().replace(b"Good", b"Fine"))
    (tmp_path / "test.txt").write_bytes(small["test.txt"] + b"(2 (2 Extra) (2 .))\n")
    (tmp_path / "dev.txt").unlink()
    with pytest.raises(DataIntegrityError) as info:
        verify_sst(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "download_sst(force=True)" in message
    assert f"train.txt: expected sha256 {SST_FILE_SHA256['train.txt']}, got " in message
    assert "dev.txt: missing" in message
    assert "test.txt: expected 2 sentences, got 3" in message
    with pytest.raises(DataIntegrityError, match=re.escape("test.txt: expected 2 sentences")):
        verify_sst(tmp_path, ["test"])


def test_verify_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        verify_sst(tmp_path / "sst")
    with pytest.raises(ValueError, match="expected a split among 'train', 'dev', 'test', got"):
        verify_sst(tmp_path, ["valid"])  # type: ignore[list-item]
    (tmp_path / "dev.txt").write_bytes(b"(2 Nu\xf1ez)\n")
    with pytest.raises(DataIntegrityError, match=re.escape("dev.txt: not valid UTF-8")):
        verify_sst(tmp_path, ["dev"])


# --- download_sst over HTTP ------------------------------------------------------------


def test_download_good_archive(
    http_server: LocalServer, small: Files, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    archive = make_archive(small, extra={"README.txt": b"the treebank\n"})
    url = _serve(http_server, archive)
    folder = download_sst(data_dir, url=url, archive_sha256=hashlib.sha256(archive).hexdigest())
    assert folder == data_dir / "sst"
    assert _snapshot(data_dir) == {"sst": None, **{f"sst/{n}": d for n, d in small.items()}}
    assert load_sst("train", data_dir).texts == ["Good fun", "Dull .", "Superb ."]
    assert load_sst("test", data_dir).labels == [3, 1]
    assert http_server.requests == ["/sentiment/trainDevTestTrees_PTB.zip"]

    assert download_sst(data_dir, url=url) == folder  # verified already: no download
    assert len(http_server.requests) == 1
    download_sst(data_dir, url=url, force=True)
    assert len(http_server.requests) == 2
    assert sorted(_snapshot(data_dir)) == ["sst", "sst/dev.txt", "sst/test.txt", "sst/train.txt"]


def test_download_real_archive(
    http_server: LocalServer, real_sst: Path, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    """The real train and dev files, and a stand-in test file of 2,210 sentences."""
    files = {
        "train.txt": (real_sst / "train.txt").read_bytes(),
        "dev.txt": (real_sst / "dev.txt").read_bytes(),
        "test.txt": b"(2 (2 Fine) (2 .))\n" * 2210,
    }
    download_sst(data_dir, url=_serve(http_server, make_archive(files)))
    verify_sst(data_dir / "sst")
    sizes = [len(load_sst(split, data_dir)) for split in ("train", "dev", "test")]
    assert sizes == [8544, 1101, 2210]


def test_download_fills_an_incomplete_folder(
    http_server: LocalServer, small: Files, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    (data_dir / "sst").mkdir(parents=True)
    (data_dir / "sst" / "train.txt").write_bytes(small["train.txt"])
    download_sst(data_dir, url=_serve(http_server, make_archive(small)))
    verify_sst(data_dir / "sst")


def test_tampered_file_is_refused(
    http_server: LocalServer,
    small: Files,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    existing_sst: dict[str, bytes | None],
) -> None:
    tampered = {**small, "dev.txt": small["dev.txt"].replace(b"(0 Awful)", b"(4 Awful)")}
    url = _serve(http_server, make_archive(tampered))
    with pytest.raises(DataIntegrityError) as info:
        download_sst(data_dir, url=url, force=True)
    message = str(info.value)
    assert url in message
    assert f"dev.txt: expected sha256 {SST_FILE_SHA256['dev.txt']}, got " in message
    assert "train.txt" not in message and "sentences" not in message
    assert _snapshot(data_dir) == existing_sst


def test_wrong_sentence_count_is_refused(
    http_server: LocalServer, small: Files, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    short = {**small, "test.txt": small["test.txt"].split(b"\n", 1)[1]}
    with pytest.raises(
        DataIntegrityError, match=re.escape("test.txt: expected 2 sentences, got 1")
    ):
        download_sst(data_dir, url=_serve(http_server, make_archive(short)))
    assert not data_dir.exists()
    assert data_dir.parent.exists()


def test_missing_file_is_refused(
    http_server: LocalServer, small: Files, make_archive: Callable[..., bytes], data_dir: Path
) -> None:
    del small["test.txt"]
    with pytest.raises(DataIntegrityError, match=re.escape("test.txt: missing")):
        download_sst(data_dir, url=_serve(http_server, make_archive(small)))
    assert not data_dir.exists()


def test_dotdot_member_is_refused(
    http_server: LocalServer,
    small: Files,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    existing_sst: dict[str, bytes | None],
    tmp_path: Path,
) -> None:
    archive = make_archive(small, extra={"trees/../../../evil.txt": b"x"})
    with pytest.raises(ValueError, match=re.escape("'trees/../../../evil.txt'")):
        download_sst(data_dir, url=_serve(http_server, archive), force=True)
    assert _snapshot(data_dir) == existing_sst
    assert not list(tmp_path.rglob("evil.txt"))


def test_wrong_archive_checksum_is_refused(
    http_server: LocalServer,
    small: Files,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    existing_sst: dict[str, bytes | None],
) -> None:
    archive = make_archive(small)
    url = _serve(http_server, archive)
    with pytest.raises(DataIntegrityError) as info:
        download_sst(data_dir, url=url, archive_sha256="ab" * 32, force=True)
    assert hashlib.sha256(archive).hexdigest() in str(info.value)
    assert _snapshot(data_dir) == existing_sst


def test_archive_without_trees_folder(http_server: LocalServer, tmp_path: Path) -> None:
    served = tmp_path / "other.zip"
    with zipfile.ZipFile(served, "w") as zf:
        zf.writestr("train.txt", SMALL["train.txt"])
    with pytest.raises(DataIntegrityError, match=r"has no trees/"):
        download_sst(tmp_path / "data", url=_serve(http_server, served.read_bytes()))
    assert not (tmp_path / "data").exists()


def test_http_404(http_server: LocalServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "other").write_text("kept")
    url = http_server.url("/sentiment/missing.zip")
    with pytest.raises(DownloadError, match=re.escape(f"could not download {url}: HTTP 404")):
        download_sst(data_dir, url=url)
    assert _snapshot(data_dir) == {"other": b"kept"}


def test_valid_existing_sst_needs_no_network(
    closed_port_url: str, data_dir: Path, existing_sst: dict[str, bytes | None]
) -> None:
    assert download_sst(data_dir, url=closed_port_url) == data_dir / "sst"
    assert _snapshot(data_dir) == existing_sst


# --- load_sst --------------------------------------------------------------------------


def test_load_missing_explains_how_to_get_the_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEQLEARN_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_sst("dev")
    message = str(info.value)
    assert str(tmp_path / "env" / "sst" / "dev.txt") in message
    for hint in ("download_sst()", "load_sst(download=True)", "SEQLEARN_DATA", SST_URL):
        assert hint in message
    assert _snapshot(tmp_path) == {}


def test_load_bad_split(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="expected a split among 'train', 'dev', 'test', got 'valid'"
    ):
        load_sst("valid", tmp_path)  # type: ignore[arg-type]


def test_load_checks_only_its_split(small: Files, tmp_path: Path) -> None:
    folder = tmp_path / "sst"
    folder.mkdir()
    (folder / "dev.txt").write_bytes(small["dev.txt"])
    (folder / "test.txt").write_bytes(b"(2 (2 One) (2 .))\n")
    assert len(load_sst("dev", tmp_path)) == 2
    with pytest.raises(
        DataIntegrityError, match=re.escape("test.txt: expected 2 sentences, got 1")
    ):
        load_sst("test", tmp_path)
    with pytest.raises(FileNotFoundError, match="the SST train file was not found"):
        load_sst("train", tmp_path)


def test_load_with_download(
    http_server: LocalServer,
    small: Files,
    make_archive: Callable[..., bytes],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _serve(http_server, make_archive(small))
    monkeypatch.setattr(sst, "download_sst", functools.partial(download_sst, url=url))
    assert len(load_sst("train", data_dir, download=True)) == 3
    phrases = load_sst("dev", data_dir, download=True, phrases=True)
    assert phrases.texts == ["Meh .", "Meh", ".", "Awful .", "Awful", "."]  # per sentence
    assert len(http_server.requests) == 1


def test_load_real(shared_data_dir: Path, real_sst: Path) -> None:
    train = load_sst("train", shared_data_dir)
    assert len(train) == 8544
    assert train[0].text.startswith("The Rock is destined to be the 21st Century 's new")
    assert train[0].label == 3
    dev = load_sst("dev", shared_data_dir, phrases=True)
    assert len(dev.sentences()) == 1101
    assert len(dev.binary().sentences()) == 872
