"""The single mapping from errors to HTTP responses."""

from __future__ import annotations

import logging

from berth_shared.errors import BerthError, FieldError, InternalError, ValidationFailed, to_http_body
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


def install(app: FastAPI) -> None:
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
