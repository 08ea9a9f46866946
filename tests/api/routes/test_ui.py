"""/ui: the page's files served by the app, and declared as package data so an installed Mnemo has them."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx

from app.api.routes.ui import UI_DIR

ROOT = Path(__file__).resolve().parents[3]


async def test_the_bare_path_leads_to_the_pages_folder(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui")
    assert response.status_code == 307
    assert httpx.URL("http://mnemo/ui").join(response.headers["location"]) == "http://mnemo/ui/"


async def test_the_page_and_its_modules_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text
    for module in sorted((UI_DIR / "js").glob("*.js")):
        served = await client.get(f"/ui/js/{module.name}")
        assert served.status_code == 200 and served.text == module.read_text()


async def test_a_missing_file_is_a_404_in_the_one_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/nothing.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_every_file_of_the_page_is_package_data() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["app"]
    files = [p.relative_to(UI_DIR.parent).as_posix() for p in UI_DIR.rglob("*") if p.is_file()]
    assert files
    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)] == []
