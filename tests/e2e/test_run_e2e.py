"""`make run`'s entry point: llama.cpp and Mnemo start together, serve, and stop together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.llm.models import DEFAULT, MODELS
from bench.harness import ROOT, free_port


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never printed:\n{''.join(lines)}")


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return True
    return False


def test_run_starts_both_serves_and_stops_both_on_sigterm(model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / MODELS[DEFAULT].file).symlink_to(
        model_path
    )  # the model is written once, elsewhere
    port, llama_port = free_port(), free_port()
    env = {
        **os.environ,
        "MNEMO_PORT": str(port),
        "MNEMO_LLAMA_PORT": str(llama_port),
        "MNEMO_DATA_DIR": str(tmp_path),
        "MNEMO_LLAMA_CTX": "4096",
        "MNEMO_EXTRACTION_ENABLED": "false",
        "MNEMO_LOG_LEVEL": "warning",
    }
    env.pop("MNEMO_LLM_BASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "app.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = wait_for_line(process, "Mnemo is ready", timeout=180)
        assert any(f"starting llama.cpp on http://127.0.0.1:{llama_port}" in line for line in lines)
        banner = "".join(lines) + "".join(process.stdout.readline() for _ in range(4))  # type: ignore[union-attr]
        assert f"curl -N http://127.0.0.1:{port}/chat" in banner

        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/ready", timeout=10).json()["status"] == "ready"
        reply = httpx.post(
            f"{url}/chat",
            json={"conversation_id": "run", "message": "Hello!", "stream": False, "max_tokens": 8},
            timeout=120,
        )
        assert reply.status_code == 200
        assert reply.json()["usage"]["prompt_tokens"] == reply.json()["prompt"]["tokens"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert refused(f"{url}/health")
        assert refused(f"http://127.0.0.1:{llama_port}/health")  # llama.cpp was stopped too
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
