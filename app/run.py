"""`make run`: llama.cpp's server and Mnemo together, stopped together on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import httpx
import uvicorn

from app.llm.models import MODELS, ModelError, resolve
from app.llm.server import LlamaServer, LlamaServerError, config_for
from app.main import create_app
from app.settings import Settings

log = logging.getLogger("mnemo.run")


def say(text: str) -> None:
    print(f"mnemo: {text}", flush=True)


def start_llama(settings: Settings) -> LlamaServer:
    if settings.model in MODELS and not (settings.model_dir / MODELS[settings.model].file).exists():
        say(f"writing {settings.model} into {settings.model_dir} (once)")
    else:
        say(f"checking {settings.model}")
    model = resolve(settings.model, settings.model_dir)
    config = config_for(
        model,
        settings.llama_port,
        chat_template=Path(settings.chat_template_file) if settings.chat_template_file else None,
        ctx=settings.llama_ctx,
        slots=settings.llama_slots,
        threads=settings.llama_threads,
        alias=settings.model_alias,
    )
    server = LlamaServer(config, settings.data_dir / "logs" / "llama-server.log")
    say(f"starting llama.cpp on {server.url} (log: {server.log_path})")
    server.start()
    server.wait_ready()
    return server


def banner(settings: Settings) -> str:
    url = f"http://{settings.host}:{settings.port}"
    return f"""
Mnemo is ready at {url}  (API docs: {url}/docs, llama.cpp: {settings.llm_url})

  curl -N {url}/chat -H 'Content-Type: application/json' \\
       -d '{{"conversation_id": "demo", "message": "Hi! My name is Ada."}}'

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
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    llama: LlamaServer | None = None
    code = 0
    try:
        if settings.llm_base_url:
            say(f"using the llama.cpp server at {settings.llm_base_url}")
        else:
            llama = start_llama(settings)
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass
    except (ModelError, LlamaServerError) as exc:
        say(f"cannot start llama.cpp: {exc}")
        code = 1
    finally:
        if llama is not None:
            say("stopping llama.cpp")
            llama.stop()
    say("stopped")
    sys.exit(code)


if __name__ == "__main__":
    main()
