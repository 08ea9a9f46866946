"""One entry read out of a split zip's parts, by the entry's own local file header.

Python's `zipfile` needs the central directory at the end of the whole archive; when only some of
the parts are at hand it cannot open them. Each entry also starts with a local header carrying its
name, method, sizes and CRC-32, which is enough to inflate it from the parts alone, streaming.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
LOCAL = b"PK\x03\x04"
HEADER = struct.Struct("<4sHHHHHIIIHH")  # signature .. file name length, extra field length
STORED, DEFLATED = 0, 8
ENCRYPTED, DATA_DESCRIPTOR = 0x1, 0x8
ZIP64_SIZE = 0xFFFFFFFF


class SplitZipError(RuntimeError):
    """The entry is not in the parts, is of a kind not read here, or did not check out."""


@dataclass(frozen=True)
class LocalHeader:
    """What an entry's local header says of it."""

    method: int
    flags: int
    crc32: int
    compressed_size: int
    size: int


class Joined:
    """Files read one after the other as one stream."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = iter(paths)
        self._file: BinaryIO | None = None

    def read(self, size: int) -> bytes:
        while True:
            if self._file is None:
                path = next(self._paths, None)
                if path is None:
                    return b""
                self._file = path.open("rb")
            data = self._file.read(size)
            if data:
                return data
            self._file.close()
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def parse(header: bytes) -> LocalHeader:
    _, _, flags, method, _, _, crc, compressed, size, _, _ = HEADER.unpack(header)
    if flags & ENCRYPTED:
        raise SplitZipError("the entry is encrypted")
    if flags & DATA_DESCRIPTOR or ZIP64_SIZE in (compressed, size):
        raise SplitZipError("the entry's sizes are not in its local header (data descriptor or zip64)")
    if method not in (STORED, DEFLATED):
        raise SplitZipError(
            f"the entry is compressed with method {method}; only stored and deflated are read"
        )
    return LocalHeader(method, flags, crc, compressed, size)


def find_entry(stream: Joined, name: str) -> tuple[LocalHeader, bytes]:
    """The entry's local header, and the bytes read past it (the start of its data)."""
    wanted = name.encode()
    window = b""
    start = 0
    while chunk := stream.read(CHUNK):
        window += chunk
        while (at := window.find(wanted, start)) != -1:
            begin = at - HEADER.size
            if begin >= 0 and window[begin : begin + 4] == LOCAL:
                fields = HEADER.unpack(window[begin:at])
                if fields[9] == len(wanted):
                    while len(window) < at + len(wanted) + fields[10]:  # the extra field
                        more = stream.read(CHUNK)
                        if not more:
                            raise SplitZipError(f"the parts end inside the local header of {name}")
                        window += more
                    return parse(window[begin:at]), window[at + len(wanted) + fields[10] :]
            start = at + 1
        keep = len(wanted) + HEADER.size  # a header may straddle two chunks
        window, start = window[-keep:], 0
    raise SplitZipError(f"no local header of {name} in the parts")


def data(stream: Joined, first: bytes, compressed_size: int) -> Iterator[bytes]:
    """The entry's stored bytes: `first`, then from the stream, `compressed_size` in all."""
    left = compressed_size
    chunk = first
    while left > 0:
        if not chunk:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                raise SplitZipError(f"the parts end {left:,} bytes before the entry does")
        piece, chunk = chunk[:left], chunk[left:]
        left -= len(piece)
        yield piece


def contents(header: LocalHeader, stored: Iterator[bytes]) -> Iterator[bytes]:
    """The entry's own bytes, inflated where it is deflated."""
    if header.method == STORED:
        yield from stored
        return
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for piece in stored:
            yield inflate.decompress(piece)
        yield inflate.flush()
    except zlib.error as exc:
        raise SplitZipError(f"the entry's deflated data is damaged: {exc}") from exc


def extract(parts: Sequence[Path], name: str, target: Path, sha256: str) -> None:
    """Write entry `name` of the split zip into `target`, checked by size, CRC-32 and `sha256` first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    stream = Joined(parts)
    try:
        header, first = find_entry(stream, name)
        size, crc, digest = 0, 0, hashlib.sha256()
        with partial.open("wb") as out:
            for block in contents(header, data(stream, first, header.compressed_size)):
                size += len(block)
                crc = zlib.crc32(block, crc)
                digest.update(block)
                out.write(block)
        check(name, header, size, crc, digest.hexdigest(), sha256)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        stream.close()
    partial.replace(target)


def check(name: str, header: LocalHeader, size: int, crc: int, found: str, sha256: str) -> None:
    """Refuse what is not the entry the header describes, or not the file pinned by `sha256`."""
    if size != header.size:
        raise SplitZipError(f"{name} inflated to {size:,} bytes, its header says {header.size:,}")
    if crc != header.crc32:
        raise SplitZipError(f"{name} has CRC-32 {crc:08x}, its header says {header.crc32:08x}")
    if found != sha256:
        raise SplitZipError(f"{name} has sha256 {found}, expected {sha256}")
