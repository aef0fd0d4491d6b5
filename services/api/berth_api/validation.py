"""Request bodies, validated once at the boundary. Field names follow the user's data model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

APP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# A Docker image reference: [registry[:port]/]path[:tag][@digest], loosely.
IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class ResourcesIn(Body):
    memory_mb: Annotated[int, Field(alias="memoryMb", ge=32, le=65536)] = 256
    cpus: Annotated[float, Field(ge=0.05, le=64)] = 0.5


DeployTimeout = Annotated[int, Field(alias="deployTimeoutSeconds", ge=5, le=3600)]
StopTimeout = Annotated[int, Field(alias="stopTimeoutSeconds", ge=0, le=600)]


class CreateApp(Body):
    name: str
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    deploy_timeout_seconds: DeployTimeout = 60
    stop_timeout_seconds: StopTimeout = 10

    @field_validator("name")
    @classmethod
    def name_is_dns_label(cls, value: str) -> str:
        if not APP_NAME.match(value):
            raise ValueError(
                "must be a DNS label: 1-40 lowercase letters, digits or hyphens, not starting or ending with a hyphen"
            )
        return value


class Deploy(Body):
    image: str

    @field_validator("image")
    @classmethod
    def image_is_reference(cls, value: str) -> str:
        if not IMAGE_REF.match(value):
            raise ValueError("must be a Docker image reference such as nginx:1.27 or ghcr.io/me/app@sha256:...")
        return value


class UpdateApp(Body):
    """PATCH /api/apps/{id}: only the fields given change."""

    port: Annotated[int | None, Field(ge=1, le=65535)] = None
    resources: ResourcesIn | None = None
    deploy_timeout_seconds: Annotated[int | None, Field(alias="deployTimeoutSeconds", ge=5, le=3600)] = None
    stop_timeout_seconds: Annotated[int | None, Field(alias="stopTimeoutSeconds", ge=0, le=600)] = None


class Rollback(Body):
    release_id: Annotated[str | None, Field(alias="releaseId")] = None


class EnvChange(BaseModel):
    """POST /api/apps/{id}/env. Values are kept byte for byte (no whitespace stripping); key
    and value rules live in :mod:`berth_api.env_store` so every error can name its key."""

    model_config = ConfigDict(extra="forbid")

    vars: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


class RotateKey(Body):
    """POST /api/secrets/rotate-key. ``resumeOnly``: finish an interrupted rotation, never start one."""

    resume_only: Annotated[bool, Field(alias="resumeOnly")] = False
