"""POST /api/apps/{id}/builds: deploy from source. The body is a tar archive (optionally gzip)
of the directory; `X-Berth-Config` may carry its berth.toml (base64). Size limit: 200 MiB → 413."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from berth_shared.contracts.builds import BuildSpec
from berth_shared.errors import ValidationFailed
from fastapi import APIRouter, Depends, Header, Query, Request

from berth_api import apps_store, builds
from berth_api.app_config import parse
from berth_api.deps import Actor, State, authorize
from berth_api.disk_check import require_disk
from berth_api.engine_check import require_engine
from berth_api.views import release_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

DOCKERFILE_MAX = 255


@router.post("/apps/{ref}/builds", status_code=202)
async def create_build(
    ref: str,
    request: Request,
    *,
    s: State,
    actor: Actor,
    dockerfile: Annotated[
        str, Query(json_schema_extra={"minLength": 1, "maxLength": DOCKERFILE_MAX, "pattern": "^(?!/)(?!.*[.][.])"})
    ] = "Dockerfile",
    config_b64: Annotated[
        str | None, Header(alias="X-Berth-Config", json_schema_extra={"pattern": "^[A-Za-z0-9+/]*={0,2}$"})
    ] = None,
) -> dict[str, Any]:
    if not dockerfile or len(dockerfile) > DOCKERFILE_MAX or dockerfile.startswith("/") or ".." in dockerfile:
        raise ValidationFailed.on("dockerfile", "must be a relative path inside the build context")
    config = None
    if config_b64:
        try:
            text = base64.b64decode(config_b64, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationFailed.on("X-Berth-Config", "must be base64 of the berth.toml text") from None
        config = parse(text)
    await apps_store.find_app(s.pool, ref)
    require_disk(await require_engine(s.nc, s.settings.host_id), s.settings, "build")
    spooled, size = await builds.spool(request.stream())
    await builds.check_context(spooled, dockerfile)
    name = builds.new_context_name()
    try:
        await builds.store_context(s.nc.jetstream(), name, spooled)
    finally:
        spooled.close()
    spec = BuildSpec(context_object=name, size_bytes=size, dockerfile=dockerfile)
    async with s.pool.acquire() as conn:
        release = await builds.create_build_release(
            conn, ref, spec, config=config, host=s.settings.host_id, domain=s.settings.domain, actor=actor
        )
    return release_view(release)
