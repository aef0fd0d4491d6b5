"""The dashboard: the built single-page app (``frontend/dist``) served at ``/``.

Files under ``assets/`` have content hashes in their names and are cached for a year;
everything else (``index.html``, and the SPA fallback for any path that is not ``/api/...``)
must be revalidated, so a new build shows at the next load. ``BERTH_DASHBOARD_DIR`` points
elsewhere (e.g. a packaged build); when nothing is built, ``/`` says how to build it."""

from __future__ import annotations

import os
from pathlib import Path

from berth_shared.errors import NotFound
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "frontend" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The app loads only its own scripts and styles and talks only to this origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Berth</title></head>
<body><h1>Berth</h1><p>The dashboard is not built. Run <code>make up</code> (or
<code>npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build</code>) and reload.
The HTTP API is described by <code>/api/openapi.json</code> (send your token).</p></body></html>"""


def dashboard_dir() -> Path:
    return Path(os.environ.get("BERTH_DASHBOARD_DIR") or DEFAULT_DIR)


def resolve(root: Path, path: str) -> tuple[Path | None, str]:
    """The file to answer ``path`` with and its Cache-Control; None: not built."""
    index = root / "index.html"
    if not index.is_file():
        return None, REVALIDATE
    if path:
        candidate = (root / path).resolve()
        if candidate.is_relative_to(root.resolve()) and candidate.is_file():
            hashed = candidate.parent == (root / "assets").resolve()
            return candidate, IMMUTABLE if hashed else REVALIDATE
        if path.startswith("assets/"):
            raise NotFound(f"no such file: /{path}")  # an old hashed asset: never index.html
    return index, REVALIDATE


def install(app: FastAPI, root: Path | None = None) -> None:
    """Register the catch-all route; call after every API router."""

    @app.get("/{path:path}", include_in_schema=False)
    async def dashboard(path: str, request: Request) -> Response:
        if path == "api" or path.startswith("api/"):
            raise NotFound(f"no such API route: {request.method} /{path}")
        file, cache = resolve(root or dashboard_dir(), path)
        if file is None:
            return HTMLResponse(NOT_BUILT, headers={**SECURITY_HEADERS, "Cache-Control": REVALIDATE})
        headers = {"Cache-Control": cache}
        if file.suffix == ".html":
            headers.update(SECURITY_HEADERS)
        return FileResponse(file, headers=headers)
