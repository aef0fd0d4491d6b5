"""The single mapping from errors to HTTP responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

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

log = logging.getLogger("berth.api")


def field_path(loc: tuple[int | str, ...]) -> str:
    """('body', 'resources', 'memoryMb') -> 'resources.memoryMb'; list indexes as [i]."""
    parts: list[str] = []
    for item in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "body"


def _message(error: dict[str, object]) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _template(path: str) -> re.Pattern[str]:
    """/api/apps/{ref} -> a pattern matching /api/apps/<one segment>."""
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in _PARAM.split(path)))


_PARAM = re.compile(r"(\{[^}]+\})")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def allowed_methods(paths: Mapping[str, Mapping[str, object]], path: str) -> list[str]:
    """Every method the published schema lists for ``path`` (a path such as /api/apps/{ref} is
    served by several routes, one per method), so ``Allow`` and the schema always agree.
    Paths outside /api are the dashboard's, which only answers GET."""
    if not (path == "/api" or path.startswith("/api/")):
        return ["GET"]
    methods = {
        method.upper()
        for template, item in paths.items()
        if _template(template).fullmatch(path)
        for method in item
        if method in _METHODS
    }
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Routing's own answers (405, 404) in Berth's error shape; 405 with the full ``Allow``."""
        if exc.status_code == 405:
            allow = allowed_methods(request.app.openapi().get("paths", {}), request.url.path)
            if allow:
                error = MethodNotAllowed(
                    f"{request.method} is not allowed on {request.url.path}; use {', '.join(allow)}"
                )
                return JSONResponse(to_http_body(error), status_code=405, headers={"Allow": ", ".join(allow)})
            return JSONResponse(to_http_body(NotFound(f"no such API route: {request.url.path}")), status_code=404)
        if exc.status_code == 400:  # a body FastAPI could not even decode (e.g. not UTF-8)
            invalid = ValidationFailed.on("body", "must be a JSON document (UTF-8)")
            return JSONResponse(to_http_body(invalid), status_code=422)
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
