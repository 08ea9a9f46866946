import hashlib
import io
import os
import zipfile
from itertools import pairwise
from pathlib import Path

import pytest

from app.llm import split_zip
from app.llm.split_zip import SplitZipError, extract

NAME = "app/resources/model.gguf"
CONTENT = os.urandom(20_000) + b"compressible " * 5_000
SHA = hashlib.sha256(CONTENT).hexdigest()


def archive(compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        zf.writestr("app/readme.txt", "before the model " * 100)
        zf.writestr(NAME, CONTENT)
        zf.writestr("app/after.txt", "after the model")
    return buffer.getvalue()


def split(data: bytes, folder: Path, cuts: list[int]) -> list[Path]:
    """The archive cut at `cuts` into parts named like a split zip's."""
    bounds = [0, *cuts, len(data)]
    parts = []
    for n, (begin, end) in enumerate(pairwise(bounds), start=1):
        part = folder / f"archive.zip.{n:03d}"
        part.write_bytes(data[begin:end])
        parts.append(part)
    return parts


def header_at(data: bytes) -> int:
    return data.index(NAME.encode()) - 30


def test_a_deflated_entry_is_read_out_of_the_parts(tmp_path: Path) -> None:
    data = archive()
    at = header_at(data)
    parts = split(data, tmp_path, [at + 10, at + 5_000, len(data) - 50])  # a cut inside the header
    extract(parts, NAME, tmp_path / "out" / "model.gguf", SHA)
    assert (tmp_path / "out" / "model.gguf").read_bytes() == CONTENT
    assert not (tmp_path / "out" / "model.gguf.partial").exists()


def test_a_header_across_two_reads_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split_zip, "CHUNK", 7)
    parts = split(archive(), tmp_path, [1_000])
    extract(parts, NAME, tmp_path / "model.gguf", SHA)
    assert (tmp_path / "model.gguf").read_bytes() == CONTENT


def test_a_stored_entry_is_copied(tmp_path: Path) -> None:
    parts = split(archive(zipfile.ZIP_STORED), tmp_path, [30_000])
    extract(parts, NAME, tmp_path / "model.gguf", SHA)
    assert (tmp_path / "model.gguf").read_bytes() == CONTENT


def test_another_sha256_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    parts = split(archive(), tmp_path, [2_000])
    with pytest.raises(SplitZipError, match=rf"has sha256 {SHA}, expected 0+$"):
        extract(parts, NAME, tmp_path / "model.gguf", "0" * 64)
    assert not (tmp_path / "model.gguf").exists() and not (tmp_path / "model.gguf.partial").exists()


def test_data_that_is_not_what_the_header_says_fails_its_crc(tmp_path: Path) -> None:
    data = bytearray(archive(zipfile.ZIP_STORED))
    data[header_at(bytes(data)) + 30 + len(NAME) + 100] ^= 0xFF  # one stored byte changed
    parts = split(bytes(data), tmp_path, [2_000])
    with pytest.raises(SplitZipError, match=r"has CRC-32 [0-9a-f]{8}, its header says [0-9a-f]{8}"):
        extract(parts, NAME, tmp_path / "model.gguf", SHA)
    assert not (tmp_path / "model.gguf").exists()


def test_damaged_deflated_data_is_refused(tmp_path: Path) -> None:
    data = bytearray(archive())
    start = header_at(bytes(data)) + 30 + len(NAME)
    data[start : start + 64] = b"\xff" * 64
    with pytest.raises(SplitZipError, match=r"damaged|CRC-32|inflated to"):
        extract(split(bytes(data), tmp_path, [2_000]), NAME, tmp_path / "model.gguf", SHA)


def test_parts_that_end_early_are_refused(tmp_path: Path) -> None:
    data = archive()
    parts = split(data, tmp_path, [header_at(data) + 2_000])
    with pytest.raises(SplitZipError, match=r"the parts end [\d,]+ bytes before the entry does"):
        extract(parts[:1], NAME, tmp_path / "model.gguf", SHA)


def test_an_entry_named_only_in_the_central_directory_is_not_found(tmp_path: Path) -> None:
    data = archive()
    parts = split(data, tmp_path, [header_at(data) + 40])  # the local header is in the missing part
    with pytest.raises(SplitZipError, match=rf"^no local header of {NAME} in the parts$"):
        extract(parts[1:], NAME, tmp_path / "model.gguf", SHA)
