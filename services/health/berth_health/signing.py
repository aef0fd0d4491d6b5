"""Webhook payloads and signatures (pure)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

SIGNATURE_HEADER = "X-Berth-Signature"


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, exact body bytes)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def payload(event: str, app_id: str, app_name: str, details: dict[str, Any], timestamp: str) -> bytes:
    """``{event, app: {id, name}, ...details, timestamp}`` as compact JSON (the signed bytes)."""
    body: dict[str, Any] = {"event": event, "app": {"id": app_id, "name": app_name}}
    body.update({k: v for k, v in details.items() if k not in ("event", "app", "timestamp")})
    body["timestamp"] = timestamp
    return json.dumps(body, separators=(",", ":"), sort_keys=False).encode()


def backoff_seconds(attempt: int, base: float, cap: float = 300.0) -> float:
    """Delay before retry number ``attempt`` (1-based): base, 2·base, 4·base, … capped."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))
