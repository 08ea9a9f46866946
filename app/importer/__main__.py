"""`python -m app.importer FILE.ndjson [--url URL] [--from-line N]`: stream an archive into Mnemo.

The file is read a block at a time and streamed to `POST /conversations/import` in requests of
REQUEST_LINES lines (an HTTP/1.1 client reads the answer only once its body is sent, so a request
per slice is what lets progress print as it goes); memory stays constant whatever the archive's
size. If a line is bad, every line before it is stored: fix it and go on with `--from-line N`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
from anyio import AsyncFile

BLOCK_BYTES = 1 << 16
REQUEST_LINES = 5000
TIMEOUT = httpx.Timeout(30.0, read=600.0)  # a chunk may wait for a long chat turn of its conversation


class Archive:
    """An open file handed out a number of lines at a time, read a block at a time."""

    def __init__(self, file: AsyncFile[bytes]) -> None:
        self._file = file
        self._rest = b""

    async def more(self) -> bool:
        """Whether anything is left to read."""
        if not self._rest:
            self._rest = await self._file.read(BLOCK_BYTES)
        return bool(self._rest)

    async def lines(self, count: int) -> AsyncIterator[bytes]:
        """The next `count` lines (fewer at the end of the file), in blocks."""
        left = count
        while left > 0 and await self.more():
            block, self._rest = self._rest, b""
            end = 0
            while left > 0 and (found := block.find(b"\n", end)) >= 0:
                end, left = found + 1, left - 1
            if left == 0:
                block, self._rest = block[:end], block[end:]
            yield block


class Sender:
    """Sends an archive slice by slice, printing Mnemo's progress with line numbers of the file."""

    def __init__(self, client: httpx.AsyncClient, out: TextIO, request_lines: int = REQUEST_LINES) -> None:
        self._client = client
        self._out = out
        self._request_lines = request_lines
        self._imported = 0  # by the requests finished
        self._shown = 0

    async def send(self, path: Path, first_line: int = 1) -> int:
        """0 once the file from `first_line` on is stored, else 1."""
        async with await anyio.open_file(path, "rb") as file:
            archive = Archive(file)
            async for _ in archive.lines(first_line - 1):
                pass
            line = first_line
            while await archive.more():
                last = await self._post(archive.lines(self._request_lines), line)
                if "error" in last or not last.get("done"):
                    return 1
                self._imported += last["imported"]
                line += self._request_lines
        self._print(f"done: imported {self._imported:,} messages")
        return 0

    async def _post(self, content: AsyncIterator[bytes], first_line: int) -> dict[str, Any]:
        headers = {"content-type": "application/x-ndjson"}
        async with self._client.stream(
            "POST", "/conversations/import", content=content, headers=headers
        ) as answer:
            if "application/json" not in answer.headers.get("content-type", "") and answer.status_code != 200:
                await answer.aread()
                self._print(f"stopped: Mnemo answered {answer.status_code}: {answer.text}")
                return {"error": answer.text}
            last: dict[str, Any] = {}
            async for text in answer.aiter_lines():
                if text.strip():
                    last = json.loads(text)
                    self._show(last, first_line)
            return last

    def _show(self, progress: dict[str, Any], first_line: int) -> None:
        """A line per chunk stored (a request's last line repeats its last chunk's count), and errors."""
        imported = self._imported + progress.get("imported", 0)
        error = progress.get("error")
        if error is None:
            if imported != self._shown:
                self._print(f"imported {imported:,} messages")
                self._shown = imported
            return
        stored = f"imported {imported:,} messages"
        line = error.get("line")
        if line is None:
            self._print(
                f"stopped: {error['message']} ({error['code']}); {stored}; check each conversation's total"
            )
            return
        # Mnemo numbers the lines of its request; say where they are in the file.
        message = str(error["message"]).removeprefix(f"line {line}: ").replace(f"line {line} ", "it ", 1)
        at = first_line + line - 1
        self._print(
            f"stopped at line {at:,} of the file: {message} ({error['code']}); {stored} (the lines "
            f"before it); fix it and go on with --from-line {at}"
        )

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)


async def run(path: Path, url: str, first_line: int) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
        try:
            return await Sender(client, sys.stdout).send(path, first_line)
        except httpx.HTTPError as exc:
            print(f"could not import into Mnemo at {url}: {exc}", file=sys.stderr)
            return 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.importer", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="NDJSON, one message per line (see the README)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Mnemo's address")
    parser.add_argument("--from-line", type=int, default=1, help="skip the lines before this one")
    args = parser.parse_args()
    if not args.file.is_file():
        parser.error(f"{args.file} is not a file")
    if args.from_line < 1:
        parser.error("--from-line counts from 1")
    sys.exit(asyncio.run(run(args.file, args.url, args.from_line)))


if __name__ == "__main__":
    main()
