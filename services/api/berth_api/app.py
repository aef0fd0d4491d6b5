"""The FastAPI application: routes, error mapping, and /healthz."""

from __future__ import annotations

import asyncio
from typing import Any

from berth_shared.webhook_targets import TargetPolicy
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from berth_api import deps, errors, openapi, static
from berth_api.edge import lockouts
from berth_api.edge.middleware import EdgeMiddleware
from berth_api.keyring import Keychain
from berth_api.routes import apps, audit, builds, domains, env, events, health, logs, secrets, session, tokens, webhooks
from berth_api.routes.cron import router as cron_router
from berth_api.routes.processes import router as processes_router
from berth_api.routes.runs import router as runs_router
from berth_api.state import ApiState


def create_app(state: ApiState, keychain: Keychain | None = None, proxy_secret: str | None = None) -> FastAPI:
    """``proxy_secret``: the value Caddy sends in ``X-Berth-Proxy`` on the platform route; only
    requests carrying it may name their client in ``X-Forwarded-For`` (``BERTH_PROXY_SECRET``).
    No docs page (it loaded third-party scripts); the schema is served behind the same gate as
    every ``/api`` path, so to token holders only."""
    app = FastAPI(title="Berth API", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.berth = state
    app.state.keychain = keychain
    app.state.webhook_policy = TargetPolicy.from_env()  # a bad BERTH_ALLOW_PRIVATE_WEBHOOKS stops the start
    errors.install(app)
    openapi.install(app)  # every operation's error responses, in Berth's error shape
    app.include_router(session.router)
    app.include_router(events.router)  # before apps: adds follow=1 to GET /api/apps/{id}/events
    app.include_router(apps.router)
    app.include_router(domains.router)
    app.include_router(builds.router)
    app.include_router(env.router)
    app.include_router(secrets.router)
    app.include_router(audit.router)
    app.include_router(logs.router)
    app.include_router(health.router)
    app.include_router(processes_router)
    app.include_router(runs_router)
    app.include_router(cron_router)
    app.include_router(webhooks.router)
    app.include_router(tokens.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        problems = await _problems(request.app.state.berth)
        body: dict[str, Any] = {"ok": not problems, "problems": problems}
        return JSONResponse(body, status_code=200 if not problems else 503)

    static.install(app)  # last: the dashboard at / with its SPA fallback
    # Outermost but for error reporting: authenticates and caps before any route reads a body.
    app.add_middleware(
        EdgeMiddleware, authenticate=deps.principal, on_lockout=lockouts.record, proxy_secret=proxy_secret
    )
    return app


HEALTHZ_CHECK_SECONDS = 3.0  # each dependency's check: a stalled one is reported, not waited on


async def _problems(s: ApiState) -> list[str]:
    problems = []
    try:
        await asyncio.wait_for(s.pool.fetchval("SELECT count(*) FROM schema_migrations"), HEALTHZ_CHECK_SECONDS)
    except Exception as exc:
        problems.append(f"database: {_describe(exc)}")
    if not s.nc.is_connected:
        problems.append("bus: not connected to NATS")
    else:
        try:
            await asyncio.wait_for(s.nc.jetstream().account_info(), HEALTHZ_CHECK_SECONDS)
        except Exception as exc:
            problems.append(f"bus: JetStream unavailable: {_describe(exc)}")
    return problems


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {HEALTHZ_CHECK_SECONDS:g}s"
    return str(exc) or type(exc).__name__
