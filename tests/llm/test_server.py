"""llama-server's flags follow the model: read from the GGUF's own metadata."""

from __future__ import annotations

from pathlib import Path

from gguf import GGUFWriter

from app.llm.server import config_for, read_gguf


def gguf(path: Path, arch: str, window: int | None, template: str | None) -> Path:
    writer = GGUFWriter(path, arch)
    if window is not None:
        writer.add_uint32(f"{arch}.attention.sliding_window", window)
    if template is not None:
        writer.add_chat_template(template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_sliding_window_model_without_a_template_gets_swa_full_and_the_given_template(
    tmp_path: Path,
) -> None:
    model = gguf(tmp_path / "g.gguf", "gemma3", 512, None)
    assert read_gguf(model).sliding_window and not read_gguf(model).chat_template
    config = config_for(model, 8080, chat_template=tmp_path / "t.jinja", slots=3)
    args = config.command(Path("llama-server"))
    assert "--swa-full" in args and args[args.index("--chat-template-file") + 1] == str(tmp_path / "t.jinja")
    assert args[args.index("--parallel") + 1] == "3"


def test_a_model_with_its_own_template_and_no_sliding_window_gets_neither_flag(tmp_path: Path) -> None:
    model = gguf(tmp_path / "q.gguf", "qwen2", None, "{{ messages }}")
    facts = read_gguf(model)
    assert (facts.architecture, facts.sliding_window, facts.chat_template) == ("qwen2", False, True)
    args = config_for(model, 8080, chat_template=tmp_path / "t.jinja").command(Path("llama-server"))
    assert "--swa-full" not in args and "--chat-template-file" not in args  # the GGUF's own template wins
    assert "--swa-full" not in config_for(gguf(tmp_path / "z.gguf", "llama", 0, "x"), 1).command(Path("s"))
