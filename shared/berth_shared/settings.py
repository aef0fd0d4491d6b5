"""Platform settings, read once from the environment. Every variable is documented in README.md."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from berth_shared.errors import ValidationFailed

# The router's slot DNS (UDP, loopback), which Caddy's config names (ADR 0025).
DEFAULT_SLOT_DNS_PORT = 2022


def _int(env: Mapping[str, str], name: str, default: int, lo: int = 1, hi: int = 65535) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed.on(name, f"must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValidationFailed.on(name, f"must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise ValidationFailed.on(name, f"must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    home: Path
    domain: str
    http_port: int
    https_port: int
    api_port: int
    admin_token: str | None
    nats_url: str | None
    nats_port: int
    database_url: str | None
    pg_port: int
    # Accepted for compatibility, unused: Caddy's admin API listens on a Unix socket
    # (``caddy_admin_socket``), never on a TCP port.
    caddy_admin_port: int
    # Loopback ports the router serves Caddy on: the on-demand TLS ``ask`` endpoint, the sink of
    # Caddy's TLS and error logs and (UDP) the slot DNS that tells Caddy each app's live slot.
    # Fixed, because Caddy's config names them.
    tls_ask_port: int
    proxy_log_port: int
    subnet_pool: ipaddress.IPv4Network
    host_id: str
    # BERTH_PUBLIC_DASHBOARD: the dashboard and admin API on the platform hostname.
    public_dashboard: bool = True
    # Disk watermarks (percent used) of the engine's data root and $BERTH_HOME: past the first
    # Berth prunes what it owns, past the second it refuses new deploys and builds (ADR 0016).
    disk_prune_percent: int = 90
    disk_refuse_percent: int = 95
    disk_check_seconds: int = 30
    # BERTH_RESYNC_SECONDS: how often the API re-reads the runtime agent's state to apply an event
    # it missed (ADR 0018; it also does at start).
    resync_seconds: int = 60
    # BERTH_SLOT_DNS_PORT: the router's slot DNS (UDP, loopback; see the ports above).
    slot_dns_port: int = DEFAULT_SLOT_DNS_PORT

    @property
    def caddy_admin_socket(self) -> Path:
        """Caddy's admin API: a Unix socket with mode 0600 under ``$BERTH_HOME``."""
        return self.home / "caddy" / "admin.sock"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("BERTH_HOME") or Path.home() / ".berth").expanduser().resolve()
        pool_raw = env.get("BERTH_SUBNET_POOL", "10.240.0.0/16")
        try:
            pool = ipaddress.IPv4Network(pool_raw)
        except ValueError as exc:
            raise ValidationFailed.on("BERTH_SUBNET_POOL", str(exc)) from None
        if pool.prefixlen > 26:
            raise ValidationFailed.on("BERTH_SUBNET_POOL", "must hold at least four /28 subnets")
        return cls(
            home=home,
            domain=(env.get("BERTH_DOMAIN") or "localhost").lower().strip("."),
            http_port=_int(env, "BERTH_HTTP_PORT", 80),
            https_port=_int(env, "BERTH_HTTPS_PORT", 443),
            api_port=_int(env, "BERTH_API_PORT", 8000),
            admin_token=env.get("BERTH_ADMIN_TOKEN") or None,
            nats_url=env.get("BERTH_NATS_URL") or None,
            nats_port=_int(env, "BERTH_NATS_PORT", 4222),
            database_url=env.get("BERTH_DATABASE_URL") or None,
            pg_port=_int(env, "BERTH_PG_PORT", 5433),
            caddy_admin_port=_int(env, "BERTH_CADDY_ADMIN_PORT", 2019),
            tls_ask_port=_int(env, "BERTH_TLS_ASK_PORT", 2020),
            proxy_log_port=_int(env, "BERTH_PROXY_LOG_PORT", 2021),
            subnet_pool=pool,
            host_id=env.get("BERTH_HOST_ID") or "local",
            public_dashboard=_bool(env, "BERTH_PUBLIC_DASHBOARD", True),
            disk_prune_percent=_int(env, "BERTH_DISK_PRUNE_PERCENT", 90, 1, 100),
            disk_refuse_percent=_int(env, "BERTH_DISK_REFUSE_PERCENT", 95, 1, 100),
            disk_check_seconds=_int(env, "BERTH_DISK_CHECK_SECONDS", 30, 1, 3600),
            resync_seconds=_int(env, "BERTH_RESYNC_SECONDS", 60, 1, 3600),
            slot_dns_port=_int(env, "BERTH_SLOT_DNS_PORT", DEFAULT_SLOT_DNS_PORT),
        )


@dataclass(frozen=True)
class ServiceEnv:
    """What the launcher hands each service process: its own credentials and nothing more."""

    name: str
    database_url: str
    nats_url: str
    nats_user: str
    nats_password: str
    instance: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceEnv:
        env = os.environ if env is None else env
        missing = [
            k
            for k in (
                "BERTH_SERVICE",
                "BERTH_SERVICE_DATABASE_URL",
                "BERTH_SERVICE_NATS_URL",
                "BERTH_INSTANCE",
            )
            if not env.get(k)
        ]
        if missing:
            raise ValidationFailed.on(missing[0], "must be set (services are started by `berth up`)")
        return cls(
            name=env["BERTH_SERVICE"],
            database_url=env["BERTH_SERVICE_DATABASE_URL"],
            nats_url=env["BERTH_SERVICE_NATS_URL"],
            # Empty with an external NATS (BERTH_NATS_URL): its credentials are in the URL.
            nats_user=env.get("BERTH_SERVICE_NATS_USER", ""),
            nats_password=env.get("BERTH_SERVICE_NATS_PASSWORD", ""),
            instance=env["BERTH_INSTANCE"],
        )
