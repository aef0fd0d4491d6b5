"""Every API route and the scope it needs (see :mod:`berth_api.scopes`). A route missing here
is refused at run time (403) and fails a unit test: each new action must be placed."""

from __future__ import annotations

from berth_api.scopes import ADMIN, DEPLOY_APP, PUBLIC, READ, Need, Scope

READ_UNLESS_REVEAL = Need(Scope.READ, admin_if="reveal")

ROUTE_SCOPES: dict[tuple[str, str], Need] = {
    # the dashboard's sign-in: these authenticate the token or cookie themselves
    ("POST", "/api/session"): PUBLIC,
    ("GET", "/api/session"): PUBLIC,
    ("DELETE", "/api/session"): PUBLIC,
    # apps and releases
    ("GET", "/api/apps"): READ,
    ("POST", "/api/apps"): ADMIN,
    ("GET", "/api/apps/{ref}"): READ,
    ("PATCH", "/api/apps/{ref}"): DEPLOY_APP,  # port, resources, timeouts: how its process runs
    ("DELETE", "/api/apps/{ref}"): ADMIN,
    ("POST", "/api/apps/{ref}/deploy"): DEPLOY_APP,
    ("POST", "/api/apps/{ref}/restart"): DEPLOY_APP,
    ("POST", "/api/apps/{ref}/rollback"): DEPLOY_APP,
    ("POST", "/api/apps/{ref}/builds"): DEPLOY_APP,
    ("GET", "/api/apps/{ref}/events"): READ,
    ("GET", "/api/apps/{ref}/releases"): READ,
    ("GET", "/api/apps/{ref}/releases/{release_id}"): READ,
    # process types, release command, cron jobs (ADR 0026): how the app's code runs
    ("GET", "/api/apps/{ref}/formation"): READ,
    ("PUT", "/api/apps/{ref}/formation"): DEPLOY_APP,
    ("GET", "/api/apps/{ref}/processes"): READ,
    ("PATCH", "/api/apps/{ref}/processes/{name}"): DEPLOY_APP,  # scale
    # one-off and cron runs (ADR 0026 §5): starting or stopping one runs code with the app's secrets
    ("POST", "/api/apps/{ref}/runs"): DEPLOY_APP,
    ("GET", "/api/apps/{ref}/runs"): READ,
    ("GET", "/api/apps/{ref}/runs/{run_id}"): READ,
    ("POST", "/api/apps/{ref}/runs/{run_id}/stop"): DEPLOY_APP,
    ("GET", "/api/apps/{ref}/runs/{run_id}/output"): READ,
    ("POST", "/api/apps/{ref}/runs/{run_id}/stdin"): DEPLOY_APP,
    ("GET", "/api/apps/{ref}/cron"): READ,
    ("GET", "/api/apps/{ref}/cron/{name}/runs"): READ,
    ("POST", "/api/apps/{ref}/cron/{name}/runs"): DEPLOY_APP,  # run now
    # health checks: part of how the app's process is run
    ("GET", "/api/apps/{ref}/health"): READ,
    ("PUT", "/api/apps/{ref}/health"): DEPLOY_APP,
    ("DELETE", "/api/apps/{ref}/health"): DEPLOY_APP,
    # env vars and secrets: values only for admin
    ("GET", "/api/apps/{ref}/env"): READ_UNLESS_REVEAL,
    ("POST", "/api/apps/{ref}/env"): ADMIN,
    ("GET", "/api/secrets/status"): READ,  # key ids and counts, never keys
    ("POST", "/api/secrets/rotate-key"): ADMIN,
    # domains
    ("GET", "/api/apps/{ref}/domains"): READ,
    ("POST", "/api/apps/{ref}/domains"): ADMIN,
    ("DELETE", "/api/apps/{ref}/domains/{domain_ref}"): ADMIN,
    # logs
    ("GET", "/api/apps/{ref}/logs"): READ,
    ("GET", "/api/apps/{ref}/logs/retention"): READ,
    ("GET", "/api/apps/{ref}/logs/stats"): READ,
    ("PUT", "/api/apps/{ref}/logs/retention"): ADMIN,  # can discard history
    ("GET", "/api/platform/logs"): READ,
    # webhooks: their URLs often carry a secret (chat services' incoming-webhook URLs)
    ("GET", "/api/webhooks"): ADMIN,
    ("POST", "/api/webhooks"): ADMIN,
    ("DELETE", "/api/webhooks/{webhook_id}"): ADMIN,
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): ADMIN,
    # the audit log and tokens
    ("GET", "/api/audit"): ADMIN,
    ("GET", "/api/tokens"): ADMIN,
    ("POST", "/api/tokens"): ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): ADMIN,
    ("POST", "/api/tokens/rotate"): ADMIN,
}


def need_of(method: str, path: str) -> Need | None:
    """The declared need of a route (``path`` as declared, e.g. ``/api/apps/{ref}``); HEAD is
    GET's. None: the route was never placed in a scope."""
    return ROUTE_SCOPES.get(("GET" if method == "HEAD" else method, path))
