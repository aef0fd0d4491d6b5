"""The published schema (``/api/openapi.json``) says what the API answers: besides its success
response, every operation lists the errors it can return, each with Berth's error body
(``{"error": {code, message, details}}``, see :mod:`berth_api.errors`), instead of FastAPI's
``{"detail": ...}``. Installed once from :func:`berth_api.app.create_app`; routes need not
repeat it. :func:`document_errors` is pure (a schema in, a schema out)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = "#/components/schemas/Error"

ERROR_SCHEMAS: dict[str, Any] = {
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "the input's path, e.g. resources.memoryMb or events[1]"},
            "message": {"type": "string"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "stable: validation_failed, unauthorized, forbidden, not_found, conflict, "
                        "payload_too_large, rate_limited, method_not_allowed, engine_unavailable, "
                        "bus_unavailable, internal",
                    },
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
                },
            }
        },
    },
}

DESCRIPTIONS = {
    401: "No token, or a token that is wrong, expired or revoked (`unauthorized`)",
    403: "The token's scope does not cover this action, or a cookie-signed change lacks X-Berth-CSRF (`forbidden`)",
    404: "The app, release, domain, webhook or token named in the path does not exist (`not_found`)",
    409: "The request conflicts with the current state (`conflict`); the message says why",
    413: "The request body is over the limit (`payload_too_large`); the message names it",
    422: "An input is invalid (`validation_failed`); `details` names each field by its path",
    429: "Too many failed authentications from this client (`rate_limited`); wait for Retry-After",
    503: "The Docker engine, the bus or a service behind it is unavailable (`engine_unavailable`, `bus_unavailable`)",
    507: "A disk Berth writes to is past the refuse watermark (`disk_full`); running apps keep serving",
}
# Operations refused while a disk is past the refuse watermark (ADR 0016).
DISK_GUARDED = frozenset({("post", "/api/apps/{ref}/deploy"), ("post", "/api/apps/{ref}/builds")})

# Operations that answer Server-Sent Events with ?follow=1 (JSON otherwise).
# One Server-Sent Event of a ``?follow=1`` stream (comments and keep-alives carry no event).
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "one Server-Sent Event, with ?follow=1; `data` is a JSON document",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
EVENT_STREAMS = frozenset({("get", "/api/apps/{ref}/logs"), ("get", "/api/apps/{ref}/events")})
# Conflicts a GET can answer (everything else that is not a GET may conflict with state).
GET_CONFLICTS = frozenset({"/api/apps/{ref}/env"})  # a value that cannot be decrypted, with ?reveal=true
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def error_statuses(method: str, path: str, *, has_body: bool, parameters: frozenset[str] = frozenset()) -> list[int]:
    """The error statuses an operation can answer, in order: 404 when it names something (in its
    path, or an app by ``appId``), 409 for changes, 413 when it takes a body."""
    statuses = {401, 403, 422, 429, 503}
    if "{" in path or "appId" in parameters:
        statuses.add(404)
    if method != "get" or path in GET_CONFLICTS:
        statuses.add(409)
    if has_body:
        statuses.add(413)
    if (method, path) in DISK_GUARDED:
        statuses.add(507)
    return sorted(statuses)


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
        }
    return response


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with Berth's error body in its components and the error responses of every
    ``/api`` operation (FastAPI's own 422 body replaced)."""
    out = copy.deepcopy(schema)
    components = out.setdefault("components", {}).setdefault("schemas", {})
    components.update(copy.deepcopy(ERROR_SCHEMAS))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, item in out.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS or not path.startswith("/api"):
                continue
            responses = operation.setdefault("responses", {})
            if (method, path) in EVENT_STREAMS and "200" in responses:
                content = responses["200"].setdefault("content", {})
                content["text/event-stream"] = {"schema": SSE_EVENT}
            names = frozenset(str(p.get("name")) for p in operation.get("parameters", []))
            for status in error_statuses(method, path, has_body="requestBody" in operation, parameters=names):
                responses[str(status)] = _error_response(status)
    return out


def install(app: FastAPI) -> None:
    """Serve the documented schema at ``app.openapi_url`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            base = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
            app.openapi_schema = document_errors(base)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
