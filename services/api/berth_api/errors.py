"""The single mapping from errors to HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from berth_shared.errors import (
    BerthError,
    FieldError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ValidationFailed,
    to_http_body,
)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

log = logging.getLogger("berth.api")


def field_path(loc: tuple[int | str, ...]) -> str:
    """('body', 'resources', 'memoryMb') -> 'resources.memoryMb'; list indexes as [i]."""
    parts: list[str] = []
    for item in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "body"


def _message(error: dict[str, object]) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at the request's path (a path such as /api/apps/{ref}
    is served by several routes, one per method), HEAD with GET. The dashboard's catch-all
    does not count under /api: it only answers 404 there."""
    methods: set[str] = set()
    under_api = scope["path"] == "/api" or scope["path"].startswith("/api/")
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        if under_api and route.path == "/{path:path}":
            continue
        match, _ = route.matches(scope)
        if match != Match.NONE:  # PARTIAL: the path matches, the method does not
            methods |= route.methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Routing's own answers (405, 404) in Berth's error shape; 405 with the full ``Allow``."""
        if exc.status_code == 405:
            allow = allowed_methods(request.app.routes, request.scope)
            if allow:
                error = MethodNotAllowed(
                    f"{request.method} is not allowed on {request.url.path}; use {', '.join(allow)}"
                )
                return JSONResponse(to_http_body(error), status_code=405, headers={"Allow": ", ".join(allow)})
            return JSONResponse(to_http_body(NotFound(f"no such API route: {request.url.path}")), status_code=404)
        if exc.status_code == 404:
            return JSONResponse(to_http_body(NotFound(str(exc.detail))), status_code=404)
        body = {"error": {"code": f"http_{exc.status_code}", "message": str(exc.detail), "details": []}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(BerthError)
    async def berth_error(_: Request, exc: BerthError) -> JSONResponse:
        return JSONResponse(to_http_body(exc), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [FieldError(field_path(tuple(e["loc"])), _message(e)) for e in exc.errors()]
        if not details:
            details = [FieldError("body", "invalid request")]
        summary = "; ".join(f"{d.field}: {d.message}" for d in details)
        return JSONResponse(to_http_body(ValidationFailed(summary, details=details)), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(to_http_body(InternalError("internal error; see the api log")), status_code=500)
