"""One error hierarchy with stable codes, mapped once to HTTP statuses and bus replies."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """A problem with one input field, named by its dotted path (e.g. ``resources.memoryMb``)."""

    field: str
    message: str


class BerthError(Exception):
    """Base of every error Berth reports on purpose. ``code`` is stable and documented."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(BerthError):
    code = "validation_failed"
    http_status = 422

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", details=[FieldError(field, message)])


class Unauthorized(BerthError):
    code = "unauthorized"
    http_status = 401


class Forbidden(BerthError):
    """Authenticated, but the token's scope does not allow this (or a cookie lacks the CSRF header)."""

    code = "forbidden"
    http_status = 403


class NotFound(BerthError):
    code = "not_found"
    http_status = 404


class Conflict(BerthError):
    code = "conflict"
    http_status = 409


class ImageGone(Conflict):
    """A rollback (or re-run) to an image that is no longer on the host."""

    code = "image_gone"


class DiskFull(BerthError):
    """A new deploy or build refused: a disk Berth needs is past the refuse watermark (ADR 0016)."""

    code = "disk_full"
    http_status = 507


class PayloadTooLarge(BerthError):
    """A request body over its route's cap (the message names the limit)."""

    code = "payload_too_large"
    http_status = 413


class RateLimited(BerthError):
    """Too many failed authentications from one client; answered with ``Retry-After``."""

    code = "rate_limited"
    http_status = 429


class MethodNotAllowed(BerthError):
    """An HTTP method the path does not have (the response's ``Allow`` header lists those it has)."""

    code = "method_not_allowed"
    http_status = 405


class EngineUnavailable(BerthError):
    code = "engine_unavailable"
    http_status = 503


class BusUnavailable(BerthError):
    code = "bus_unavailable"
    http_status = 503


class InternalError(BerthError):
    code = "internal"
    http_status = 500


ERROR_TYPES: dict[str, type[BerthError]] = {
    cls.code: cls
    for cls in (
        ValidationFailed,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        ImageGone,
        DiskFull,
        PayloadTooLarge,
        RateLimited,
        EngineUnavailable,
        BusUnavailable,
        InternalError,
    )
}


class ErrorReply(msgspec.Struct, tag="error", kw_only=True):
    """What a bus responder sends back instead of its normal reply when it fails."""

    code: str
    message: str
    details: list[FieldError] = []


def to_reply(error: BerthError) -> ErrorReply:
    return ErrorReply(code=error.code, message=error.message, details=list(error.details))


def from_reply(reply: ErrorReply) -> BerthError:
    cls = ERROR_TYPES.get(reply.code, InternalError)
    return cls(reply.message, details=list(reply.details))


def to_http_body(error: BerthError) -> dict[str, object]:
    """The JSON body of every error response: ``{"error": {code, message, details}}``."""
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": [{"field": d.field, "message": d.message} for d in error.details],
        }
    }
