"""The duty-officer console: one page and its static assets, served by the notifier at /console.

Everything the page needs ships in `console_static/` (no CDN, no map tiles), so a content
security policy can allow this origin only.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from services.common.problems import ProblemError

STATIC = Path(__file__).parent / "console_static"
CONSOLE_PATH = "/console"
ASSETS_PATH = f"{CONSOLE_PATH}/static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        # The feed's WebSocket and the JSON API live on this origin (CSP 3: 'self' covers ws:).
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Revalidated on every load (the ETag makes that cheap), so a new release reaches a console
    # at its next reload instead of mixing old and new modules.
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


@router.api_route(CONSOLE_PATH, methods=["GET", "HEAD"])
def console_page() -> FileResponse:
    """The console page itself."""
    return _asset(STATIC / "index.html")


@router.get(f"{CONSOLE_PATH}/")
def console_slash(request: Request) -> RedirectResponse:
    """/console/ is /console (filters in the query string kept)."""
    query = request.url.query
    return RedirectResponse(f"{CONSOLE_PATH}?{query}" if query else CONSOLE_PATH, 308)


@router.api_route(f"{ASSETS_PATH}/{{path:path}}", methods=["GET", "HEAD"])
def console_asset(path: str) -> FileResponse:
    """A script, style sheet, data file or icon of the console."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or relative.suffix not in MEDIA_TYPES:
        raise _not_found(path)
    return _asset(STATIC.joinpath(*relative.parts))


def _asset(file: Path) -> FileResponse:
    if not file.is_file():
        raise _not_found(file.name)
    return FileResponse(file, media_type=MEDIA_TYPES[file.suffix], headers=SECURITY_HEADERS)


def _not_found(path: str) -> ProblemError:
    return ProblemError(404, "not_found", f"the console has no file '{path}'.", field="path")
