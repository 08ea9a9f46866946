"""The page as a whole: served at /ui, asks for a key when keys are on and sends it, fits a phone."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr

from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from tests.ui.browser import PHONE, screenshot
from tests.ui.conftest import Served, serving

pytestmark = pytest.mark.ui
ADMIN_KEY = "admin-key-for-the-page-0123456789"


@pytest.fixture
def keyed(settings: Settings, tenancy: Tenancy) -> Iterator[tuple[str, str]]:
    """Mnemo with keys on (MNEMO_ADMIN_KEY) and a tenant made by the admin API: the URL, the tenant's key."""
    keys_on = settings.model_copy(update={"admin_key": SecretStr(ADMIN_KEY)})
    with serving(create_app(keys_on, tenants=tenancy)) as url:
        made = httpx.post(f"{url}/admin/tenants", json={"name": "ada"}, headers=bearer(ADMIN_KEY))
        assert made.status_code == 201, made.text
        yield url, made.json()["api_key"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_with_keys_on_the_page_asks_for_one_and_sends_it_on_every_call(
    keyed: tuple[str, str], page: Page
) -> None:
    url, key = keyed
    sent: list[str | None] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/ui/" not in r.url else None)
    page.goto(f"{url}/ui")  # the bare path leads to the page's folder, open without a key
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    refused = httpx.get(f"{url}/memories").json()["error"]["message"]
    expect(dialog.locator("#key-reason")).to_have_text(refused)
    dialog.locator("#key-input").fill("not-a-key")
    dialog.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_visible()  # refused again: asked again
    dialog.locator("#key-input").fill(key)
    dialog.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("li.empty")).to_have_text("No memory matches.")
    assert page.evaluate("sessionStorage.getItem('mnemo.apiKey')") == key
    sent.clear()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".stat").filter(has_text="current")).to_be_visible()
    assert sent and all(given == f"Bearer {key}" for given in sent)


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


def test_what_the_page_adds_with_a_tenants_key_is_that_tenants(keyed: tuple[str, str], page: Page) -> None:
    url, key = keyed
    page.goto(f"{url}/ui/")
    page.locator("#key-input").fill(key)
    page.locator("#key-dialog").get_by_role("button", name="Use key").click()
    page.get_by_role("button", name="Add memory").click()
    form = page.locator("dialog[open]")
    form.locator("input[name=title]").fill("Theme")
    form.locator("textarea[name=content]").fill("Ada prefers a dark theme")
    form.get_by_role("button", name="Add").click()
    expect(page.locator("li.memory .title")).to_have_text(["Theme"])
    # The tenant's key reads it back; another tenant's does not see it.
    listed = httpx.get(f"{url}/memories", headers=bearer(key)).json()["memories"]
    assert [m["content"] for m in listed] == ["Ada prefers a dark theme"]
    bob = httpx.post(f"{url}/admin/tenants", json={"name": "bob"}, headers=bearer(ADMIN_KEY))
    assert httpx.get(f"{url}/memories", headers=bearer(bob.json()["api_key"])).json()["memories"] == []
