"""End-to-end fixtures: a real llama-server with the default model, and Mnemo as its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.llm.models import DEFAULT, SMOLLM2, ensure, resolve
from app.llm.server import LlamaServer, config_for, die_with_parent

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


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


MODELS = ROOT / "data" / "models"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model (Qwen2.5-Coder-0.5B-Instruct), written once into data/models."""
    return resolve(DEFAULT, MODELS)


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    """SmolLM2-135M-Instruct, for the tests whose length would make the default model too slow."""
    return ensure(SMOLLM2, MODELS)


def start_llama(model_path: Path, log_dir: Path, ctx: int = 8192, slots: int = 2) -> LlamaServer:
    config = config_for(model_path, free_port(), ctx=ctx, slots=slots)
    server = LlamaServer(config, log_dir / f"llama-{config.port}.log")
    server.start()
    server.wait_ready()
    return server


@pytest.fixture(scope="session")
def llama(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama(model_path, tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mnemo(llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MnemoProcess]:
    # Extraction has its own tests; here it would only add model calls to every turn.
    process = MnemoProcess(tmp_path_factory.mktemp("mnemo"), llama.url, MNEMO_EXTRACTION_ENABLED="false")
    process.start()
    yield process
    process.stop()
