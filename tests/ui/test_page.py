"""The page as a whole: served at /ui, asks for a key on 401 and sends it, fits a phone's screen."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from app.main import create_app
from app.settings import Settings
from app.wiring import Services
from tests.ui.browser import PHONE, screenshot
from tests.ui.conftest import Served, serving

pytestmark = pytest.mark.ui
KEY = "mk-tenant-secret"
ADMIN_KEY = "admin-key-for-the-page-0123456789"


class RequireKey:
    """What the tenant issue's auth does, as far as the page sees it: every API route wants a key, /ui not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/ui"):
            given = dict(scope["headers"]).get(b"authorization", b"").decode()
            self.seen.append(given)
            if given != f"Bearer {KEY}":
                body = b'{"error": {"code": "unauthorized", "message": "A valid API key is required."}}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@pytest.fixture
def locked(settings: Settings, services: Services) -> Iterator[tuple[str, RequireKey]]:
    guard = RequireKey(create_app(settings, services))
    with serving(guard) as url:
        yield url, guard


def test_the_page_asks_for_a_key_on_401_and_sends_it_on_every_call(
    locked: tuple[str, RequireKey], page: Page
) -> None:
    url, guard = locked
    page.goto(f"{url}/ui")  # the bare path leads to the page's folder
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#key-reason")).to_have_text("A valid API key is required.")
    dialog.locator("#key-input").fill("wrong")
    dialog.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_visible()  # refused again: asked again
    dialog.locator("#key-input").fill(KEY)
    dialog.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("li.empty")).to_have_text("No memory matches.")
    assert page.evaluate("sessionStorage.getItem('mnemo.apiKey')") == KEY
    guard.seen.clear()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".stat").filter(has_text="current")).to_be_visible()
    assert guard.seen and all(given == f"Bearer {KEY}" for given in guard.seen)


def test_without_keys_it_just_works_and_the_bare_path_redirects(served: Served, page: Page) -> None:
    assert served.api.get("/ui", follow_redirects=False).status_code in (302, 307)
    assert (
        served.api.get("/ui/js/main.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    page.goto(served.url + "/ui")
    expect(page.get_by_role("heading", name="Memories")).to_be_visible()
    expect(page.locator("#key-dialog")).to_be_hidden()


@pytest.mark.parametrize("view", ["memories", "conversations", "why", "chat", "dashboard"])
def test_every_view_fits_a_phone(served: Served, browser: Browser, view: str) -> None:
    body = {
        "type": "user_preference",
        "title": "Theme",
        "content": "User prefers a dark theme",
        "tags": ["ui"],
    }
    served.api.post("/memories", json=body)
    served.api.post(
        "/chat", json={"conversation_id": "phone", "message": "Hello from a phone", "stream": False}
    )
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        target = {"why": "why/phone", "chat": "chat/phone"}.get(view, view)
        page.goto(served.ui + f"#/{target}")
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
            "scrolls sideways"
        )
        screenshot(page, f"phone-{view}")
    finally:
        context.close()


def test_with_keys_on_the_page_signs_in_with_a_tenants_key(
    settings: Settings, services: Services, page: Page
) -> None:
    if "admin_key" not in Settings.model_fields:
        pytest.skip("API keys come with the tenant issue (MNEMO_ADMIN_KEY); until then RequireKey stands in")
    keyed = settings.model_copy(update={"admin_key": SecretStr(ADMIN_KEY)})
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with serving(create_app(keyed, services)) as url, httpx.Client(base_url=url, timeout=30) as api:
        made = api.post("/admin/tenants", json={"name": "ada"}, headers=admin)
        assert made.status_code == 201, made.text
        tenant = {"Authorization": f"Bearer {made.json()['api_key']}"}
        page.goto(f"{url}/ui/")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#key-reason")).to_have_text(api.get("/memories").json()["error"]["message"])
        dialog.locator("#key-input").fill(made.json()["api_key"])
        dialog.get_by_role("button", name="Use key").click()
        expect(page.locator("li.empty")).to_have_text("No memory matches.")
        page.get_by_role("button", name="Add memory").click()
        form = page.locator("dialog[open]")
        form.locator("input[name=title]").fill("Theme")
        form.locator("textarea[name=content]").fill("Ada prefers a dark theme")
        form.get_by_role("button", name="Add").click()
        expect(page.locator("li.memory .title")).to_have_text(["Theme"])
        # Stored as the tenant the key names: the tenant's key reads it back.
        listed = api.get("/memories", headers=tenant).json()["memories"]
        assert [m["content"] for m in listed] == ["Ada prefers a dark theme"]
