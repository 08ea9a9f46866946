"""End-to-end fixtures: a real llama-server with the default model, and Mnemo as its own process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.llm.models import DEFAULT, SMOLLM2, ensure, resolve
from app.llm.server import LlamaServer
from bench.harness import MODELS, MnemoProcess, start_llama


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model (Qwen2.5-Coder-0.5B-Instruct), written once into data/models."""
    return resolve(DEFAULT, MODELS)


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    """SmolLM2-135M-Instruct, for the tests whose length would make the default model too slow."""
    return ensure(SMOLLM2, MODELS)


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
