"""llama-server's flags follow the model: read from the GGUF's own metadata."""

from __future__ import annotations

import signal
from pathlib import Path

from gguf import GGUFWriter

from app.llm.server import EMBEDDING_CTX, EmbeddingServerConfig, config_for, exit_message, read_gguf


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


def test_the_embedding_server_pools_by_mean_and_one_batch_holds_a_whole_input() -> None:
    config = EmbeddingServerConfig(Path("nomic.gguf"), 8081, alias="nomic-embed-text-v1.5", threads=1)
    args = config.command(Path("llama-server"))

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert "--embedding" in args and value("--pooling") == "mean"
    assert (value("--port"), value("--threads"), value("--alias")) == ("8081", "1", "nomic-embed-text-v1.5")
    # llama-server refuses an input longer than a ubatch or a slot's share of the context.
    ctx = int(value("--ctx-size"))
    assert ctx >= EMBEDDING_CTX
    assert int(value("--ubatch-size")) >= ctx and int(value("--batch-size")) >= ctx
    assert int(value("--parallel")) == 1
    assert "--threads" not in EmbeddingServerConfig(Path("m"), 1, alias="a", threads=0).command(Path("s"))


def test_a_server_killed_by_an_illegal_instruction_says_how_to_rebuild_it() -> None:
    assert "build_flags.py" in exit_message(-signal.SIGILL, "init: llama threadpool init")
    assert "build_flags.py" not in exit_message(1, "error: unknown argument")
