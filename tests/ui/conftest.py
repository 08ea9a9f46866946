"""The web page's fixtures: the app on fakes (real Chroma in a temp folder) served by uvicorn; Chromium."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page
from starlette.types import ASGIApp

from app.main import create_app
from app.settings import Settings
from app.wiring import Services
from bench.harness import free_port
from tests.fakes import FakeLLM
from tests.ui.browser import DESKTOP, chromium


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a free port, lifespan and all; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class Served:
    """Mnemo on fakes, as the page and the test see it."""

    url: str
    api: httpx.Client
    llm: FakeLLM

    @property
    def ui(self) -> str:
        return f"{self.url}/ui/"


@pytest.fixture
def served(settings: Settings, services: Services, llm: FakeLLM) -> Iterator[Served]:
    with serving(create_app(settings, services)) as url, httpx.Client(base_url=url, timeout=30) as api:
        yield Served(url, api, llm)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # One per module, closed before other modules' asyncio tests run in the same process.
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"
