"""/ui: the web page (static HTML, CSS and JS modules in app/ui), served by Mnemo itself."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

UI_DIR = Path(__file__).resolve().parents[2] / "ui"

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    """The page's folder: its relative links (`js/main.js`, the API at `../`) resolve from `/ui/`."""
    return RedirectResponse("ui/")


def mount_ui(app: FastAPI) -> None:
    """Serve the page at /ui/ (index.html for the folder)."""
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
