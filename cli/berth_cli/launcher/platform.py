"""The whole platform on one host, in start order: Postgres, NATS, Caddy, then the services.

Used by `berth up` and by the test fixtures, so tests exercise the code users run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from berth_shared import build_network, http1
from berth_shared.settings import Settings

from berth_cli.launcher import caddy, egress, nats_server, ports, postgres
from berth_cli.launcher.egress_rules import EgressPolicy
from berth_cli.launcher.home import (
    NATS_USERS,
    SCHEMAS,
    SERVICES,
    Credentials,
    Home,
    check_master_key,
    ensure_master_key_file,
    load_or_create_admin_token,
    load_or_create_credentials,
    write_private,
)
from berth_cli.launcher.supervisor import ChildSpec, Supervisor, minimal_env

log = logging.getLogger("berth.platform")

SERVICE_MODULES = {
    "router": "berth_router",
    "api": "berth_api",
    "runtime-agent": "berth_agent",
    "logs": "berth_logs",
    "health": "berth_health",
}
# Start order: the router first so routes exist, the API before the agent that asks it for desired state.
START_ORDER = ("router", "api", "runtime-agent", "logs", "health")


# Services that use aiohttp themselves (the agent's Docker client); the others run through
# berth_shared.start_without_aiohttp, which keeps nats-py from importing it.
USES_AIOHTTP = {"runtime-agent"}


def _service_argv(service: str) -> list[str]:
    module = SERVICE_MODULES[service]
    if service in USES_AIOHTTP:
        return [sys.executable, "-m", module]
    return [sys.executable, "-m", "berth_shared.start_without_aiohttp", module]


class AlreadyRunning(Exception):
    pass


async def _tcp_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


@dataclass
class Platform:
    settings: Settings
    services: tuple[str, ...] = START_ORDER
    # An ``observer`` NATS identity (subscribe to everything): only for tests that ask for it.
    observer: bool = False
    on_event: Callable[[str], None] | None = None
    home: Home = field(init=False)
    credentials: Credentials = field(init=False)
    admin_token: str = field(init=False)
    admin_token_created: bool = field(init=False)
    supervisor: Supervisor = field(init=False)
    _lock_fd: int | None = field(default=None, init=False)
    _provisioner_password: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.home = Home(self.settings.home)
        self.supervisor = Supervisor(self.on_event)

    # -- addresses -------------------------------------------------------------
    @property
    def nats_url(self) -> str:
        return self.settings.nats_url or f"nats://127.0.0.1:{self.settings.nats_port}"

    def service_database_url(self, service: str) -> str:
        role = SCHEMAS[service]
        if self.settings.database_url:
            base = self.settings.database_url.split("@", 1)[-1]
            return f"postgresql://{role}:{self.credentials.db_passwords[service]}@{base}"
        return (
            f"postgresql://{role}:{self.credentials.db_passwords[service]}"
            f"@127.0.0.1:{self.settings.pg_port}/{postgres.DATABASE}"
        )

    def admin_database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        return postgres.socket_dsn(self.home.pg_run, self.settings.pg_port)

    def observer_nats(self) -> tuple[str, str, str]:
        if not self.observer:
            raise RuntimeError("this platform was started without an observer (Platform(observer=True))")
        return self.nats_url, nats_server.OBSERVER, self.credentials.observer_password

    def egress_policy(self) -> EgressPolicy:
        s = self.settings
        return EgressPolicy(
            instance=self.credentials.instance,
            pool=s.subnet_pool,
            public_ports=(s.http_port, s.https_port),
            build_bridge=build_network.bridge_name(self.credentials.instance),
        )

    def service_env(self, service: str) -> dict[str, str]:
        user = NATS_USERS[service]
        s = self.settings
        env = {
            "BERTH_SERVICE": service,
            "BERTH_INSTANCE": self.credentials.instance,
            "BERTH_SERVICE_DATABASE_URL": self.service_database_url(service),
            "BERTH_SERVICE_NATS_URL": self.nats_url,
            "BERTH_SERVICE_NATS_USER": "" if s.nats_url else user,
            "BERTH_SERVICE_NATS_PASSWORD": "" if s.nats_url else self.credentials.nats_passwords[service],
            "BERTH_HOME": str(s.home),
            "BERTH_DOMAIN": s.domain,
            "BERTH_HTTP_PORT": str(s.http_port),
            "BERTH_HTTPS_PORT": str(s.https_port),
            "BERTH_API_PORT": str(s.api_port),
            "BERTH_CADDY_ADMIN_PORT": str(s.caddy_admin_port),
            "BERTH_PUBLIC_DASHBOARD": "true" if s.public_dashboard else "false",
            "BERTH_TLS_ASK_PORT": str(s.tls_ask_port),
            "BERTH_PROXY_LOG_PORT": str(s.proxy_log_port),
            "BERTH_SLOT_DNS_PORT": str(s.slot_dns_port),
            "BERTH_SUBNET_POOL": str(s.subnet_pool),
            "BERTH_HOST_ID": s.host_id,
            "BERTH_RESYNC_SECONDS": str(s.resync_seconds),
            "PYTHONUNBUFFERED": "1",
            # Two malloc arenas are plenty for an asyncio process; the default (8 per core) costs RSS.
            "MALLOC_ARENA_MAX": "2",
        }
        # Children inherit the launcher's environment: the master key reaches the API only.
        env["BERTH_MASTER_KEY"] = ""
        env["BERTH_KEYRING_FILE"] = ""
        if service in ("api", "router"):
            env["BERTH_PROXY_SECRET"] = self.credentials.proxy_secret
        if service == "api":
            env["BERTH_BOOTSTRAP_TOKEN"] = self.admin_token
            if os.environ.get("BERTH_MASTER_KEY"):
                env["BERTH_MASTER_KEY"] = os.environ["BERTH_MASTER_KEY"]
            else:
                env["BERTH_KEYRING_FILE"] = str(self.home.master_key_file)
        return env

    # -- lifecycle -------------------------------------------------------------
    def _take_lock(self) -> None:
        fd = os.open(self.home.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"Berth is already running on {self.home.root} (pid {holder}); "
                "stop it first or set BERTH_HOME to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    async def start(self) -> None:
        self.home.prepare()
        self._take_lock()
        try:  # before anything starts: a taken port is named with its setting and holder
            stale = postgres.stale_postmaster_pid(self.home.pg_data)  # replaced by this start
            ports.check_free(self.settings, ours=[stale] if stale else [])
        except ports.PortsInUse:
            assert self._lock_fd is not None
            os.close(self._lock_fd)
            self._lock_fd = None
            raise
        self.credentials = load_or_create_credentials(self.home)
        self.admin_token, self.admin_token_created = load_or_create_admin_token(self.home, self.settings.admin_token)
        if os.environ.get("BERTH_MASTER_KEY"):
            check_master_key(os.environ["BERTH_MASTER_KEY"])
        else:
            ensure_master_key_file(self.home)
        _block_unrouted_pool(str(self.settings.subnet_pool))
        try:
            egress.install(self.egress_policy())
            if not self.settings.database_url:
                await self._start_postgres()
            await self._provision_database()
            if not self.settings.nats_url:
                await self._start_nats()
            await self._provision_bus()
            await self._start_caddy()
            for service in START_ORDER:
                if service in self.services:
                    await self._start_service(service)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.supervisor.stop_all()
        if self._lock_fd is not None:
            _unblock_pool(str(self.settings.subnet_pool))
            egress.remove(self.credentials.instance)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _start_postgres(self) -> None:
        h, s = self.home, self.settings
        stale = postgres.stale_postmaster_pid(h.pg_data)
        if stale is not None:
            self._event(f"stopping a Postgres left running on {h.pg_data} by an earlier run (pid {stale})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(stale, signal.SIGINT)
            for _ in range(100):
                if postgres.stale_postmaster_pid(h.pg_data) is None:
                    break
                await asyncio.sleep(0.1)
        await asyncio.to_thread(
            postgres.ensure_initialized, h.pg_data, h.pg_run, self.credentials.pg_superuser_password
        )

        async def ready() -> bool:
            return await postgres.is_ready(h.pg_run, s.pg_port)

        await self.supervisor.start(
            ChildSpec(
                name="postgres",
                argv=postgres.command(h.pg_data, h.pg_run, s.pg_port),
                env=minimal_env(h.pg_data.parent),
                inherit_env=False,
                log_file=h.logs / "postgres.log",
                user=postgres.system_user(),
                stop_signal=signal.SIGINT,
                stop_timeout=20,
                ready=ready,
            )
        )

    async def _provision_database(self) -> None:
        if not self.settings.database_url:
            maintenance = postgres.socket_dsn(self.home.pg_run, self.settings.pg_port, "postgres")
            exists = await postgres.psql(
                maintenance, f"SELECT 1 FROM pg_database WHERE datname = '{postgres.DATABASE}';"
            )
            if not exists.strip():
                await postgres.psql(maintenance, f'CREATE DATABASE "{postgres.DATABASE}";')
        statements = ["CREATE EXTENSION IF NOT EXISTS pg_trgm", *postgres.database_sql()]
        for service in SERVICES:
            statements += postgres.provision_sql(
                SCHEMAS[service], SCHEMAS[service], self.credentials.db_passwords[service]
            )
        await postgres.psql(self.admin_database_url(), ";\n".join(statements) + ";\n")

    def _write_nats_config(self, provisioner_password: str | None) -> Path:
        h, s = self.home, self.settings
        conf = h.root / "nats.conf"
        passwords = {NATS_USERS[svc]: pw for svc, pw in self.credentials.nats_passwords.items()}
        text = nats_server.render_config(
            port=s.nats_port,
            store_dir=h.nats_store,
            passwords=passwords,
            observer_password=self.credentials.observer_password if self.observer else None,
            provisioner_password=provisioner_password,
        )
        write_private(conf, text)
        return conf

    async def _start_nats(self) -> None:
        h, s = self.home, self.settings
        # The provisioning identity exists only until _provision_bus has run; its password is
        # made for this start and never stored.
        self._provisioner_password = secrets.token_urlsafe(24)
        conf = self._write_nats_config(self._provisioner_password)
        await self.supervisor.start(
            ChildSpec(
                name="nats",
                argv=nats_server.command(conf),
                env=minimal_env(h.nats_store, GOGC="50"),
                inherit_env=False,
                log_file=h.logs / "nats.log",
                ready=lambda: _tcp_open("127.0.0.1", s.nats_port),
            )
        )

    async def _provision_bus(self) -> None:
        """Create the streams and the build bucket (the one owner of them), then remove the
        provisioning identity: at run time no identity may create, change or delete a stream."""
        embedded = not self.settings.nats_url
        password = self._provisioner_password if embedded else ""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "BERTH_PROVISION_NATS_URL": self.nats_url,
            "BERTH_PROVISION_NATS_USER": nats_server.PROVISIONER if embedded else "",
            "BERTH_PROVISION_NATS_PASSWORD": password,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "berth_shared.start_without_aiohttp",
            "berth_shared.provision",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        if proc.returncode != 0:
            raise RuntimeError(f"provisioning the NATS streams failed: {err.decode(errors='replace')[-2000:]}")
        if not embedded:
            return
        self._write_nats_config(None)
        pid = self.supervisor.child("nats").pid
        if pid is not None:
            os.kill(pid, signal.SIGHUP)  # reload: the provisioning identity is gone
        self._provisioner_password = ""
        for _ in range(200):
            if not await _nats_accepts(self.settings.nats_port, nats_server.PROVISIONER, password):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("NATS still accepts the provisioning identity after a configuration reload")

    async def _start_caddy(self) -> None:
        h, s = self.home, self.settings
        conf = h.caddy_dir / "bootstrap.json"
        conf.write_text(caddy.bootstrap_config(s.caddy_admin_socket))
        await self.supervisor.start(
            ChildSpec(
                name="caddy",
                argv=caddy.command(conf),
                env=caddy.environment(h.caddy_dir),
                inherit_env=False,
                log_file=h.logs / "caddy.log",
                ready=lambda: _unix_open(s.caddy_admin_socket),
            )
        )

    async def _start_service(self, service: str) -> None:
        await self.supervisor.start(
            ChildSpec(
                name=service,
                argv=_service_argv(service),
                env=self.service_env(service),
                log_file=self.home.logs / f"{service}.log",
                ready=self._api_ready if service == "api" else None,
            )
        )

    async def _api_ready(self) -> bool:
        return await _http_ok(f"http://127.0.0.1:{self.settings.api_port}/healthz")

    def _event(self, text: str) -> None:
        (self.on_event or log.warning)(text)


async def _unix_open(path: Path) -> bool:
    try:
        _, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


async def _nats_accepts(port: int, user: str, password: str) -> bool:
    """Whether NATS on 127.0.0.1:``port`` accepts ``user``/``password`` (plain protocol: the
    supervisor imports no NATS client)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    try:
        await asyncio.wait_for(reader.readline(), 2)  # INFO
        connect = json.dumps({"user": user, "pass": password, "verbose": False, "pedantic": False})
        writer.write(f"CONNECT {connect}\r\nPING\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 2)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return answer.startswith(b"PONG")


async def _http_ok(url: str) -> bool:
    """A plain GET answered 200, through Berth's one stdlib HTTP client (no HTTP client library
    in the supervisor; ADR 0001's addendum)."""
    hostport, _, path = url.removeprefix("http://").partition("/")
    host, _, port = hostport.partition(":")
    return await http1.get_status(host, int(port or 80), f"/{path}", host=hostport, timeout=2) == 200


def _block_unrouted_pool(pool: str) -> None:
    """Make addresses of the app pool without a Docker network unreachable on this host.

    Docker adds a more specific route per app network, so live slots are reached; an
    address whose network does not exist fails at once instead of leaving the host.
    """
    _ip_route("replace", pool)


def _unblock_pool(pool: str) -> None:
    """Remove that route when the platform stops (apps are not served while it is down)."""
    _ip_route("del", pool)


def _ip_route(verb: str, pool: str) -> None:
    if os.geteuid() != 0:
        return
    with contextlib.suppress(FileNotFoundError):
        subprocess.run(["ip", "route", verb, "unreachable", pool], check=False, capture_output=True)


def run_forever(platform: Platform, announce: Callable[[Platform], None]) -> int:
    """Start the platform, block until SIGINT/SIGTERM, stop everything. Returns an exit code."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await platform.start()
        announce(platform)
        await stop.wait()
        print("berth: stopping...", file=sys.stderr, flush=True)
        await platform.stop()
        return 0

    return asyncio.run(main())
