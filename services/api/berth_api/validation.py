"""Request bodies, validated once at the boundary. Field names follow the user's data model."""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args

from berth_shared.contracts.cron import CRON_ALERT_EVENTS
from berth_shared.contracts.health import ALERT_EVENTS, HealthCheck
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

APP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# A Docker image reference: [registry[:port]/]path[:tag][@digest], loosely.
IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def no_booleans_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        """``true``/``false`` are not numbers (pydantic would read them as 1/0)."""
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation is not bool and bool not in get_args(annotation):
                raise ValueError("must not be true or false")
        return value


def stated(pattern: re.Pattern[str], **schema: int) -> Any:
    """A string checked by a field validator (for its message) whose rule the schema states too:
    taken as sent (no whitespace stripping), so what the schema accepts is exactly what is."""
    return Field(json_schema_extra={"pattern": pattern.pattern, **schema})


Exact = StringConstraints(strip_whitespace=False)


class ResourcesIn(Body):
    memory_mb: Annotated[int, Field(alias="memoryMb", ge=32, le=65536)] = 256
    cpus: Annotated[float, Field(ge=0.05, le=64)] = 0.5


DeployTimeout = Annotated[int, Field(alias="deployTimeoutSeconds", ge=5, le=3600)]
StopTimeout = Annotated[int, Field(alias="stopTimeoutSeconds", ge=0, le=600)]


# The health check's request target, rendered into Caddy's active health check: an absolute
# path of RFC 3986 path characters, then optionally a query, with only well-formed %XX escapes
# (Caddy refuses a config holding "/%zz", so such a path must never get past the API).
_PCHAR = r"[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2}"
HEALTH_PATH_PATTERN = rf"^/(?:{_PCHAR}|/)*(?:\?(?:{_PCHAR}|[/?])*)?$"
# An absolute http(s) URL with a host; what it leads to is checked by berth_shared.addresses.
WEBHOOK_URL = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]*@?[^/?#@\s:]+")

HEALTH_PATH = re.compile(HEALTH_PATH_PATTERN)
HEALTH_PATH_MAX = 1024
STATUS_CLASS = re.compile(r"^([1-5])xx$")


class HealthCheckIn(Body):
    """PUT /api/apps/{id}/health, or ``healthCheck`` when creating an app."""

    path: Annotated[str, Field(json_schema_extra={"pattern": HEALTH_PATH_PATTERN, "maxLength": HEALTH_PATH_MAX})] = "/"
    interval_seconds: Annotated[float, Field(alias="intervalSeconds", ge=1, le=3600)] = 10
    timeout_seconds: Annotated[float, Field(alias="timeoutSeconds", gt=0, le=300)] = 5
    # null: any status in [200, 400); a code such as 200; or a class such as "2xx".
    expected_status: Annotated[
        int | str | None,
        Field(
            alias="expectedStatus",
            json_schema_extra={
                "anyOf": [
                    {"type": "integer", "minimum": 100, "maximum": 599},
                    {"type": "string", "pattern": "^[1-5]xx$"},
                    {"type": "null"},
                ]
            },
        ),
    ] = None
    healthy_threshold: Annotated[int, Field(alias="healthyThreshold", ge=1, le=100)] = 1
    unhealthy_threshold: Annotated[int, Field(alias="unhealthyThreshold", ge=1, le=100)] = 3
    start_period_seconds: Annotated[float, Field(alias="startPeriodSeconds", ge=0, le=3600)] = 10
    restart_after_seconds: Annotated[float, Field(alias="restartAfterSeconds", ge=1, le=86400)] = 60
    max_restarts: Annotated[int, Field(alias="maxRestarts", ge=0, le=100)] = 3

    @field_validator("path")
    @classmethod
    def path_is_absolute(cls, value: str) -> str:
        if len(value) > HEALTH_PATH_MAX or not HEALTH_PATH.fullmatch(value):
            raise ValueError(
                "must be an absolute path such as /healthz: at most 1024 characters that may appear in a URL "
                "path or query (no spaces), and '%' only as an escape of two hex digits such as %20"
            )
        return value

    @field_validator("expected_status", mode="before")
    @classmethod
    def status_or_class(cls, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError('must be an HTTP status code (100-599), a class such as "2xx", or null')
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema's integers include 200.0
        if isinstance(value, int) and 100 <= value <= 599:
            return value
        if isinstance(value, str) and (m := STATUS_CLASS.fullmatch(value)):
            return int(m.group(1))
        raise ValueError('must be an HTTP status code (100-599), a class such as "2xx", or null')

    def to_contract(self) -> HealthCheck:
        return HealthCheck(
            path=self.path,
            interval_seconds=float(self.interval_seconds),
            timeout_seconds=float(self.timeout_seconds),
            expected_status=int(self.expected_status or 0),
            healthy_threshold=self.healthy_threshold,
            unhealthy_threshold=self.unhealthy_threshold,
            start_period_seconds=float(self.start_period_seconds),
            restart_after_seconds=float(self.restart_after_seconds),
            max_restarts=self.max_restarts,
        )


# What a webhook may subscribe to: the health service's alerts and the cron runs' (ADR 0026).
WEBHOOK_EVENTS = (*ALERT_EVENTS, *CRON_ALERT_EVENTS)


class WebhookIn(Body):
    """POST /api/webhooks."""

    url: Annotated[str, Exact, stated(WEBHOOK_URL, maxLength=2048)]
    events: Annotated[list[str], Field(json_schema_extra={"minItems": 1, "items": {"enum": list(WEBHOOK_EVENTS)}})]

    @field_validator("url")
    @classmethod
    def url_is_http(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if not WEBHOOK_URL.match(value) or not parts.hostname or len(value) > 2048:
            raise ValueError("must be an absolute http:// or https:// URL (at most 2048 characters)")
        return value

    @field_validator("events")
    @classmethod
    def known_events(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"must name at least one of {', '.join(WEBHOOK_EVENTS)}")
        unknown = [e for e in value if e not in WEBHOOK_EVENTS]
        if unknown:
            raise ValueError(f"unknown event(s) {', '.join(map(repr, unknown))}; known: {', '.join(WEBHOOK_EVENTS)}")
        return list(dict.fromkeys(value))


class CreateApp(Body):
    name: Annotated[str, Exact, stated(APP_NAME, minLength=1, maxLength=40)]
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    deploy_timeout_seconds: DeployTimeout = 60
    stop_timeout_seconds: StopTimeout = 10
    health_check: Annotated[HealthCheckIn | None, Field(alias="healthCheck")] = None

    @field_validator("name")
    @classmethod
    def name_is_dns_label(cls, value: str) -> str:
        if not APP_NAME.fullmatch(value):
            raise ValueError(
                "must be a DNS label: 1-40 lowercase letters, digits or hyphens, not starting or ending with a hyphen"
            )
        return value


class Deploy(Body):
    image: Annotated[str, Exact, stated(IMAGE_REF, minLength=1, maxLength=255)]

    @field_validator("image")
    @classmethod
    def image_is_reference(cls, value: str) -> str:
        if not IMAGE_REF.fullmatch(value):
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


# Keys as env_store checks them: [A-Za-z_][A-Za-z0-9_]*, at most 256, PORT and BERTH_* reserved.
ENV_KEY_SCHEMA = "^(?!PORT$)(?!BERTH_)[A-Za-z_][A-Za-z0-9_]{0,255}$"


class EnvChange(BaseModel):
    """POST /api/apps/{id}/env. Values are kept byte for byte (no whitespace stripping); key
    and value rules live in :mod:`berth_api.env_store` so every error can name its key."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["vars"], "properties": {"vars": {"minProperties": 1}}},
                {"required": ["unset"], "properties": {"unset": {"minItems": 1}}},
            ]
        },
    )

    vars: Annotated[
        dict[str, str],
        Field(
            json_schema_extra={
                "maxProperties": 500,
                "propertyNames": {"pattern": ENV_KEY_SCHEMA},
                "additionalProperties": {"type": "string", "maxLength": 32768, "pattern": "^[^\\u0000]*$"},
            }
        ),
    ] = Field(default_factory=dict)
    unset: Annotated[
        list[str], Field(json_schema_extra={"maxItems": 500, "items": {"type": "string", "pattern": ENV_KEY_SCHEMA}})
    ] = Field(default_factory=list)


class RotateKey(Body):
    """POST /api/secrets/rotate-key. ``resumeOnly``: finish an interrupted rotation, never start one."""

    resume_only: Annotated[bool, Field(alias="resumeOnly")] = False


_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def check_hostname(value: str) -> str:
    """A fully qualified host name (RFC 1123), lowercased, without a trailing dot; never an IP."""
    import ipaddress

    host = value.strip().lower().removesuffix(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError("must be a host name, not an IP address")
    if not host or len(host) > 253:
        raise ValueError("must be a host name of 1-253 characters")
    labels = host.split(".")
    if len(labels) < 2:
        raise ValueError("must be a fully qualified host name such as www.example.com")
    bad = [label for label in labels if not _DNS_LABEL.match(label)]
    if bad:
        raise ValueError(
            f"label {bad[0]!r} is not valid: 1-63 letters, digits or hyphens, not starting or ending with a hyphen"
        )
    if labels[-1].isdigit():
        raise ValueError("must be a host name, not an IP address (the last label is numeric)")
    return host


class DomainIn(Body):
    """POST /api/apps/{id}/domains."""

    hostname: str

    @field_validator("hostname")
    @classmethod
    def hostname_is_valid(cls, value: str) -> str:
        return check_hostname(value)


class ScaleProcess(Body):
    """PATCH /api/apps/{id}/processes/{name}."""

    count: Annotated[int, Field(ge=0, le=10)]


# PUT /api/apps/{id}/formation, documented for clients and the fuzzer; the body itself is read by
# berth_api.formation (its one validator, path-named problems). What a JSON Schema cannot state —
# schedules, commands split into words, unique job names, a formation that fits the app's
# network — is refused there with 422 as well.
_COMMAND_SCHEMA: dict[str, Any] = {
    "description": "a command line (split into words like a POSIX shell, no shell) or an argv list",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
}
_PROCESS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        *_COMMAND_SCHEMA["anyOf"],
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "command": _COMMAND_SCHEMA,
                "count": {"type": "integer", "minimum": 0, "maximum": 10},
                "memoryMb": {"type": "integer", "minimum": 32, "maximum": 65536},
                "cpus": {"type": "number", "minimum": 0.05, "maximum": 64},
            },
        },
    ]
}
_RELEASE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        *_COMMAND_SCHEMA["anyOf"],
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["command"],
            "properties": {
                "command": _COMMAND_SCHEMA,
                "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
            },
        },
        {"type": "null", "description": "no release command"},
    ]
}
_CRON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "schedule", "command"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
        "schedule": {"type": "string", "description": "5-field cron, @hourly/@daily/…, or @every 30s"},
        "timezone": {"type": "string", "description": "an IANA time zone; default UTC"},
        "command": _COMMAND_SCHEMA,
        "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 86400},
        "concurrency": {"enum": ["forbid", "allow", "replace"]},
        "catchUp": {"type": "boolean"},
    },
}
FORMATION_KEYS = ("processes", "releaseCommand", "cron")
FORMATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "the sections stated replace the live release's; the others carry over (ADR 0026)",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "processes": {
            "anyOf": [
                {
                    "type": "object",
                    "maxProperties": 8,
                    "propertyNames": {"pattern": "^(?!(run|cron|release)$)[a-z][a-z0-9-]{0,29}$"},
                    "additionalProperties": _PROCESS_SCHEMA,
                },
                {"type": "null", "description": "one web process from the image's CMD"},
            ]
        },
        "releaseCommand": _RELEASE_SCHEMA,
        "cron": {"anyOf": [{"type": "array", "maxItems": 50, "items": _CRON_SCHEMA}, {"type": "null"}]},
    },
}
