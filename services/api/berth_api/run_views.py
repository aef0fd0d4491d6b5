"""How runs and cron jobs read in API responses (camelCase, times in UTC with ``Z``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def run_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "appId": str(row["app_id"]),
        "releaseId": str(row["release_id"]) if row["release_id"] else None,
        "kind": row["kind"],
        "job": row["job"],
        "trigger": row["trigger"],
        "status": row["status"],
        "command": json.loads(row["command"]),
        "attach": row["attach"],
        "timeoutSeconds": row["timeout_seconds"],
        "exitCode": row["exit_code"],
        "reason": row["reason"] or None,
        "lastLines": json.loads(row["last_lines"]),
        "dueAt": _ts(row["due_at"]),
        "firstDueAt": _ts(row["first_due_at"]),
        "missedCount": row["missed_count"],
        "lateMs": row["late_ms"],
        "createdAt": _ts(row["created_at"]),
        "startedAt": _ts(row["started_at"]),
        "finishedAt": _ts(row["finished_at"]),
        "durationMs": row["duration_ms"],
        "actor": row["actor"],
    }


def job_view(row: asyncpg.Record) -> dict[str, Any]:
    last = None
    if row["last_run_id"] is not None:
        last = {
            "id": str(row["last_run_id"]),
            "status": row["last_status"],
            "exitCode": row["last_exit_code"],
            "createdAt": _ts(row["last_at"]),
            "startedAt": _ts(row["last_started_at"]),
            "dueAt": _ts(row["last_run_due_at"]),
        }
    return {
        "name": row["name"],
        "schedule": row["schedule"],
        "timezone": row["timezone"],
        "command": json.loads(row["command"]),
        "timeoutSeconds": row["timeout_seconds"],
        "concurrency": row["concurrency"],
        "catchUp": row["catch_up"],
        "nextRunAt": _ts(row["next_due_at"]),
        "lastDueAt": _ts(row["last_due_at"]),
        "releaseId": str(row["release_id"]),
        "lastRun": last,
    }
