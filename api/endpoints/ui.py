"""GET /: the operator dashboard, a static page whose script calls /api/v1 with the token."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ASSET_TYPES = {  # the only kinds of file served besides the page; anything else is 404
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
ASSET_RE = re.compile(r"^(?:[a-z0-9_-]+/){0,2}[A-Za-z0-9_.-]+$")  # at most two folders deep
# The page loads nothing from elsewhere and talks only to its own origin; no inline script,
# so text injected into the page by a bug could not run either.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate, so an upgrade shows at the next load
}


@router.get("/")
def dashboard() -> FileResponse:
    """The dashboard page (no token needed to load it; every data call sends one)."""
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS
    )


PLAN_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg"}
PLAN_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a site or floor name


@router.get("/plans/{site}/{floor}")
def floor_plan(request: Request, site: str, floor: str) -> FileResponse:
    """A floor's plan image from SITEWATCH_FLOOR_PLANS (no token: an <img> cannot send one)."""
    folder = request.app.state.runtime.settings.floor_plans
    if folder is not None and PLAN_PART_RE.fullmatch(site) and PLAN_PART_RE.fullmatch(floor):
        for suffix, media_type in PLAN_TYPES.items():
            path = Path(folder) / site / f"{floor}{suffix}"
            if ".." not in (site + floor) and path.is_file():
                return FileResponse(path, media_type=media_type, headers=HEADERS)
    raise HTTPException(404, f"no plan for floor {floor!r} of site {site!r}")


@lru_cache(maxsize=128)
def _asset_bytes(path: Path, mtime_ns: int) -> bytes:
    """A static file's bytes, kept while its mtime stays (the package's files rarely change)."""
    return path.read_bytes()


@router.get("/static/{name:path}")
async def asset(request: Request, name: str) -> Response:
    """The page's scripts, stylesheet and message catalogs, from the package's static folder.

    Served from memory on the event loop: a first load asks for about ten small files at once,
    and a thread-pool hop per file is most of their time on a busy service.
    """
    path = (STATIC_DIR / name).resolve()
    media_type = ASSET_TYPES.get(path.suffix)
    if (
        ASSET_RE.fullmatch(name) is None
        or ".." in name
        or media_type is None
        or not path.is_relative_to(STATIC_DIR)
        or not path.is_file()
    ):
        raise HTTPException(404, f"no asset {name!r}")
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {**HEADERS, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(_asset_bytes(path, stat.st_mtime_ns), media_type=media_type, headers=headers)
