"""/api/secrets: master key status and rotation (key ids and counts only, never keys)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from berth_api import rotation
from berth_api.deps import Actor, Keys, State, authorize
from berth_api.validation import RotateKey

router = APIRouter(prefix="/api/secrets", dependencies=[Depends(authorize)])


@router.get("/status")
async def secrets_status(s: State, keys: Keys) -> dict[str, Any]:
    return await rotation.status(s.pool, keys)


@router.post("/rotate-key")
async def rotate_key(s: State, keys: Keys, actor: Actor, body: RotateKey | None = None) -> dict[str, Any]:
    return await rotation.rotate(s.pool, keys, actor, resume_only=bool(body and body.resume_only))
