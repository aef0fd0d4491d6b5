"""Rows to JSON, with the field names of the user's data model (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from berth_shared.contracts.domains import issuer_for
from berth_shared.contracts.processes import WEB, CronJob, Formation, ProcessSpec, with_counts

from berth_api import release_formation


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def app_view(row: asyncpg.Record, domain: str, http_port: int, current: asyncpg.Record | None = None) -> dict[str, Any]:
    hostname = f"{row['name']}.{domain}"
    port_suffix = "" if http_port == 80 else f":{http_port}"
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "status": row["status"],
        "statusReason": row["status_reason"],
        "generatedHostname": hostname,
        "url": f"http://{hostname}{port_suffix}",
        "port": row["port"],
        "resources": {"memoryMb": row["memory_mb"], "cpus": float(row["cpus"])},
        "deployTimeoutSeconds": row["deploy_timeout_seconds"],
        "stopTimeoutSeconds": row["stop_timeout_seconds"],
        "createdAt": _ts(row["created_at"]),
        "lastDeployedAt": _ts(row["last_deployed_at"]),
        "currentReleaseId": str(row["current_release_id"]) if row["current_release_id"] else None,
        "image": current["image"] if current else None,
        "imageDigest": current["image_digest"] if current else None,
        "healthCheck": health_check_view(row.get("health_check")),
    }


def release_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "appId": str(row["app_id"]),
        "version": row["version"],
        "kind": row["kind"],
        "image": row["image"],
        "imageDigest": row["image_digest"],
        "status": row["status"],
        "reason": row["reason"],
        "slot": row["slot"],
        "createdAt": _ts(row["created_at"]),
        "startedAt": _ts(row["started_at"]),
        "liveAt": _ts(row["live_at"]),
        "finishedAt": _ts(row["finished_at"]),
        "rolledBackAt": _ts(row["rolled_back_at"]),
        "rollbackOf": str(row["rollback_of"]) if row["rollback_of"] else None,
        "envChanges": _json(row.get("env_changes")),
        "formation": formation_view(release_formation.decode(row.get("formation"))),
    }


def formation_view(formation: Formation | None) -> dict[str, Any] | None:
    """A release's formation (ADR 0026) as ``PUT formation`` takes it; None: one web process
    from the image's CMD (a release from before issue 17, or that never stated one)."""
    if formation is None:
        return None
    release = formation.release_command
    return {
        "processes": {p.name: _process_view(p) for p in formation.processes},
        "releaseCommand": {"command": release.command, "timeoutSeconds": release.timeout_seconds} if release else None,
        "cron": [_cron_view(job) for job in formation.cron],
    }


def _process_view(p: ProcessSpec) -> dict[str, Any]:
    return {"command": p.command, "count": p.count, "memoryMb": p.memory_mb, "cpus": p.cpus}


def _cron_view(job: CronJob) -> dict[str, Any]:
    return {
        "name": job.name,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "command": job.command,
        "timeoutSeconds": job.timeout_seconds,
        "concurrency": job.concurrency,
        "catchUp": job.catch_up,
    }


def processes_view(
    formation: Formation | None, counts: dict[str, int], crashed: dict[str, str], memory_mb: int, cpus: float
) -> list[dict[str, Any]]:
    """Each process type of the app's release with the count in force (a scale since
    included), its resources (the app's unless its own) and whether Berth gave up restarting it."""
    return [
        {
            "name": p.name,
            "command": p.command,
            "count": p.count,
            "scaled": p.name in counts,
            "routed": p.name == WEB,
            "resources": {"memoryMb": p.memory_mb or memory_mb, "cpus": p.cpus or cpus},
            "crashed": crashed.get(p.name),
        }
        for p in with_counts(formation, counts).processes
    ]


def step_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "step": row["step"],
        "process": row.get("process", WEB),
        "instance": row.get("instance", 0),
        "slot": row["slot"],
        "detail": row["detail"],
        "durationMs": row["duration_ms"],
        "at": _ts(row["at"]),
    }


def event_view(row: asyncpg.Record) -> dict[str, Any]:
    import json

    return {
        "kind": row["kind"],
        "releaseId": str(row["release_id"]) if row["release_id"] else None,
        "detail": json.loads(row["detail"]) if isinstance(row["detail"], str) else row["detail"],
        "at": _ts(row["at"]),
    }


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


ENV_MASK = "********"


def env_var_view(row: asyncpg.Record, value: str | None = None) -> dict[str, Any]:
    """One env var: the value only when revealed, else a fixed mask (which hides its length)."""
    return {
        "key": row["name"],
        "value": ENV_MASK if value is None else value,
        "masked": value is None,
        "createdAt": _ts(row["created_at"]),
        "updatedAt": _ts(row["updated_at"]),
    }


def audit_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": _ts(row["at"]),
        "actor": row["actor"],
        "tokenId": str(row["token_id"]) if row.get("token_id") else None,
        "action": row["action"],
        "appId": str(row["app_id"]) if row["app_id"] else None,
        "detail": _json(row["detail"]),
    }


def health_check_view(check: Any) -> dict[str, Any] | None:
    """An app's check definition (``HealthCheck``, or its JSON as stored), camelCase."""
    if check is None:
        return None
    data = _json(check) if isinstance(check, str) else check
    if not isinstance(data, dict):
        import msgspec

        data = msgspec.to_builtins(data)
    expected = int(data.get("expected_status", 0))
    return {
        "path": data.get("path", "/"),
        "intervalSeconds": data.get("interval_seconds"),
        "timeoutSeconds": data.get("timeout_seconds"),
        "expectedStatus": None if expected == 0 else f"{expected}xx" if expected < 100 else expected,
        "healthyThreshold": data.get("healthy_threshold"),
        "unhealthyThreshold": data.get("unhealthy_threshold"),
        "startPeriodSeconds": data.get("start_period_seconds"),
        "restartAfterSeconds": data.get("restart_after_seconds"),
        "maxRestarts": data.get("max_restarts"),
    }


def check_result_view(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "id": result.id,
        "timestamp": result.timestamp,
        "ok": result.ok,
        "statusCode": result.status_code,
        "error": result.error,
        "latencyMs": result.latency_ms,
        "releaseId": result.release_id,
        "slot": result.slot,
    }


def delivery_view(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "event": d.event,
        "appId": d.app_id,
        "status": d.status,
        "attempts": d.attempts,
        "lastStatusCode": d.last_status_code,
        "lastError": d.last_error,
        "createdAt": d.created_at,
        "nextAttemptAt": d.next_attempt_at,
        "deliveredAt": d.delivered_at,
    }


def webhook_view(w: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": w.webhook_id,
        "url": w.url,
        "events": list(w.events),
        "createdAt": w.created_at,
        "recentDeliveries": [delivery_view(d) for d in w.recent_deliveries],
    }
    if w.secret is not None:
        out["secret"] = w.secret
    return out


def domain_view(row: asyncpg.Record, proxy_target: str) -> dict[str, Any]:
    """An attached hostname: ``tlsStatus`` is ``pending``, ``issued`` or ``failed: <reason>``."""
    status = row["tls_status"]
    if status == "failed" and row["tls_reason"]:
        status = f"failed: {row['tls_reason']}"
    return {
        "id": str(row["id"]),
        "appId": str(row["app_id"]),
        "hostname": row["hostname"],
        "createdAt": _ts(row["created_at"]),
        "verifiedAt": _ts(row["verified_at"]),
        "tlsStatus": status,
        # Who certifies the name: "internal" (Caddy's own CA, local names) or "acme" (public CA).
        "tlsIssuer": row["tls_issuer"] or issuer_for(row["hostname"], tls_internal=False),
        # The router's last verification attempt (None: none yet, or not needed).
        "checkedAt": _ts(row["checked_at"]),
        "proxyTarget": proxy_target,
    }


def token_view(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """A token as listed: never its value or hash. ``apps``: names of the apps a deploy token
    is limited to (null: every app)."""
    expires = row["expires_at"]
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "scope": row["scope"],
        "apps": list(row["app_names"] or []) if row["apps"] is not None else None,
        "root": row["root"],  # the admin token `berth up` made: rotated, never revoked
        "createdAt": _ts(row["created_at"]),
        "lastUsedAt": _ts(row["last_used_at"]),
        "expiresAt": _ts(expires),
        "expired": expires is not None and expires <= now,
    }
