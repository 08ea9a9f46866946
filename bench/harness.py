"""Processes for the benchmarks and the end-to-end tests: a real llama-server, and Mnemo on its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.llm.server import LlamaServer, LlamaServerConfig, config_for, die_with_parent

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "data" / "models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MnemoProcess:
    """`python -m app` on a free port, with its own data folder."""

    def __init__(self, data_dir: Path, llm_url: str, **env: str) -> None:
        self.data_dir = data_dir
        self.llm_url = llm_url
        self.extra = env
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "MNEMO_PORT": str(self.port),
            "MNEMO_DATA_DIR": str(self.data_dir),
            "MNEMO_LLM_BASE_URL": self.llm_url,
            "MNEMO_LOG_LEVEL": "warning",
            **self.extra,
        }
        log = (self.data_dir / "mnemo.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.data_dir / "mnemo.log").read_text()[-3000:]
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("Mnemo did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def start_llama(
    model_path: Path, log_dir: Path, ctx: int = 8192, slots: int = 2, threads: int = 0
) -> LlamaServer:
    """A chat llama-server with Mnemo's flags; `threads` 0 is llama.cpp's default."""
    config = config_for(model_path, free_port(), ctx=ctx, slots=slots, threads=threads)
    server = LlamaServer(config, log_dir / f"llama-{config.port}.log")
    server.start()
    server.wait_ready()
    return server


@dataclass(frozen=True)
class EmbeddingServerConfig(LlamaServerConfig):
    """llama-server in embedding mode: mean pooling, and a batch that holds a whole input.

    Encoder models such as nomic-embed-text attend over the whole input at once, so an input must
    fit one micro-batch: `batch` tokens (nomic's context, 2,048) for both --batch-size and --ubatch-size.
    """

    batch: int = 2048

    def command(self, binary: Path) -> list[str]:
        size = str(self.batch)
        flags = ["--embedding", "--pooling", "mean", "--batch-size", size, "--ubatch-size", size]
        return [*super().command(binary), *flags]


def start_embedding_server(
    model_path: Path, log_dir: Path, *, slots: int = 4, threads: int = 0, alias: str = ""
) -> LlamaServer:
    """A llama-server that serves /v1/embeddings for `model_path`, each slot a full 2,048-token input."""
    config = EmbeddingServerConfig(
        model=model_path,
        port=free_port(),
        ctx=2048 * slots,
        slots=slots,
        threads=threads,
        alias=alias or model_path.stem,
    )
    server = LlamaServer(config, log_dir / f"embedding-{config.port}.log")
    server.start()
    server.wait_ready()
    return server
