"""The ASGI layer in front of every route (pure ASGI: it sees the body as a stream and can
answer before reading any of it). Per request it

1. names the caller (``client.caller``) and stores it for the routes (``CALLER_KEY``);
2. answers 429 to a locked-out client that tries to authenticate;
3. authenticates routes that need it from headers alone, answering 401/403 before the body is
   read, and stores the principal (``deps.PRINCIPAL_KEY``) so the route does not look it up again;
   a failed attempt with credentials counts against the client (``limiter``);
4. caps the body: 413 at once for a declared ``Content-Length`` over the cap, and while a
   chunked body streams in, as soon as it passes the cap (nothing beyond it is buffered).

The decisions are in ``gate``, ``client`` and ``limiter``; this module only applies them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from berth_shared.errors import BerthError, PayloadTooLarge, RateLimited, Unauthorized, to_http_body
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth_api.deps import PRINCIPAL_KEY
from berth_api.edge import gate
from berth_api.edge.client import PROXY_HEADER, Caller, caller, limiter_key
from berth_api.edge.context import CALLER_KEY, session_cookie_value
from berth_api.edge.limiter import FailureLimiter, Lockout

log = logging.getLogger("berth.api.edge")

Authenticate = Callable[[Request], Awaitable[Any]]
OnLockout = Callable[[Scope, Lockout, Caller], Awaitable[None]]


class _Cut(Exception):
    """Raised into the route when a streamed body passes its cap."""


@dataclass
class _Exchange:
    """One request's progress through the edge."""

    policy: gate.Policy
    caller: Caller
    received: int = 0
    over_cap: bool = False
    started: bool = False
    replaced: bool = False


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        on_lockout: OnLockout,
        proxy_secret: str | None,
        limiter: FailureLimiter | None = None,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.on_lockout = on_lockout
        self.proxy_secret = proxy_secret
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        peer = scope.get("client")
        who = caller(
            peer=peer[0] if peer else None,
            scheme=scope.get("scheme", "http"),
            forwarded_for=", ".join(headers.getlist("x-forwarded-for")) or None,
            forwarded_proto=headers.get("x-forwarded-proto"),
            proxy_header=headers.get(PROXY_HEADER),
            secret=self.proxy_secret,
        )
        state = scope.setdefault("state", {})
        state[CALLER_KEY] = who
        exchange = _Exchange(gate.policy(scope["method"], scope["path"]), who)
        key = limiter_key(who.address)
        credentials = gate.has_credentials(headers.get("authorization"), session_cookie_value(scope))

        refusal = await self._admit(scope, exchange, key, credentials)
        if refusal is not None:
            await _refuse(scope, receive, send, refusal)
            return
        await self._forward(scope, receive, send, exchange, key)

    async def _admit(self, scope: Scope, exchange: _Exchange, key: str, credentials: bool) -> BerthError | None:
        """Why the request is refused before its body is read (429, 401, 403, 413), or None."""
        policy = exchange.policy
        if credentials or policy.route_checks_token:
            retry = self.limiter.retry_after(key)
            if retry is not None:
                return _LockedOut(retry)
        if policy.auth is gate.Auth.REQUIRED or (policy.auth is gate.Auth.OPTIONAL and credentials):
            try:
                scope["state"][PRINCIPAL_KEY] = await self.authenticate(Request(scope))
            except BerthError as exc:  # 401; or 403: a cookie mutation without the CSRF header
                if isinstance(exc, Unauthorized) and credentials:
                    lockout = await self._failed(scope, key, exchange.caller)
                    if lockout is not None:
                        return _LockedOut(lockout.seconds)
                if policy.auth is gate.Auth.REQUIRED:
                    return exc
        if gate.over_cap(Headers(scope=scope).get("content-length"), policy.body_cap):
            return PayloadTooLarge(gate.cap_message(policy.body_cap or 0))
        return None

    async def _failed(self, scope: Scope, key: str, who: Caller) -> Lockout | None:
        lockout = self.limiter.failure(key)
        if lockout is not None:
            await self.on_lockout(scope, lockout, who)
        return lockout

    async def _forward(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange, key: str) -> None:
        cap = exchange.policy.body_cap

        async def capped_receive() -> Message:
            message = await receive()
            if cap is not None and message["type"] == "http.request":
                exchange.received += len(message.get("body", b""))
                if exchange.received > cap:
                    exchange.over_cap = True
                    raise _Cut(gate.cap_message(cap))
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not exchange.started:
                exchange.started = True
                if exchange.over_cap:
                    exchange.replaced = True
                    await _refuse(scope, receive, send, PayloadTooLarge(gate.cap_message(cap or 0)))
                    return
                if exchange.policy.route_checks_token and message["status"] == 401:
                    lockout = await self._failed(scope, key, exchange.caller)
                    if lockout is not None:
                        exchange.replaced = True
                        await _refuse(scope, receive, send, _LockedOut(lockout.seconds))
                        return
            elif exchange.replaced:
                return  # the route's own answer, superseded by ours
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not exchange.over_cap or exchange.started:
                raise
            exchange.started = exchange.replaced = True
            await _refuse(scope, receive, send, PayloadTooLarge(gate.cap_message(cap or 0)))


class _LockedOut(RateLimited):
    """429 with ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications from this address; try again in {retry_after} s")
        self.retry_after = retry_after


async def _refuse(scope: Scope, receive: Receive, send: Send, error: BerthError) -> None:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, _LockedOut) else None
    response = JSONResponse(to_http_body(error), status_code=error.http_status, headers=headers)
    await response(scope, receive, send)
