"""Platform backup and restore: the executors (I/O). The file format is ``backup_archive``,
the keys ``backup_keys``, what a restore can bring back ``restore_plan``.

A backup holds Berth's own state: one consistent ``pg_dump`` of the whole database (every
service's schema in one snapshot), Caddy's data (certificates, ACME account keys, the local CA),
``credentials.json`` and the admin token; and a manifest. Never the master key: the file is
sealed under it. Apps' containers, images and logs on disk are not in it; the restore brings
apps back from the database's desired state when `berth up` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from berth_shared.settings import Settings

from berth_cli.launcher import backup_archive, backup_keys, postgres, restore_plan
from berth_cli.launcher.home import SCHEMAS, SERVICES, Home, write_private

FORMAT = "berth-platform-backup-v1"
DUMP = "database.dump"
MANIFEST = "manifest.json"
HOME_FILES = ("credentials.json", "admin-token")
CADDY_SKIP = frozenset({"admin.sock", "bootstrap.json", "locks"})
DRIFT_SETTINGS = ("BERTH_SUBNET_POOL", "BERTH_HOST_ID", "BERTH_DOMAIN")


class BackupError(Exception):
    """A backup or restore that cannot proceed; the message says why and what to do."""


@dataclass
class BackupResult:
    path: Path
    key_id: str
    size_bytes: int
    files: list[str]


@dataclass
class RestoreResult:
    home: Path
    key_id: str
    created_at: str
    recoveries: list[restore_plan.Recovery] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- settings the restored state depends on --------------------------------------------------
def drift_values(settings: Settings) -> dict[str, str]:
    return {
        "BERTH_SUBNET_POOL": str(settings.subnet_pool),
        "BERTH_HOST_ID": settings.host_id,
        "BERTH_DOMAIN": settings.domain,
    }


# -- the platform's lock and its Postgres --------------------------------------------------
@contextlib.contextmanager
def _lock_if_free(home: Home) -> Iterator[bool]:
    """Hold `berth up`'s lock while this runs if no platform holds it; yields whether one runs."""
    if not home.lock_file.exists():
        yield False
        return
    fd = os.open(home.lock_file, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield True
            return
        try:
            yield False
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _pg_ready(home: Home, port: int) -> bool:
    probe = [str(postgres.bin_dir() / "pg_isready"), "-q", "-h", str(home.pg_run), "-p", str(port), "-d", "postgres"]
    return subprocess.run(probe, capture_output=True).returncode == 0


@contextlib.contextmanager
def _own_postgres(home: Home, port: int) -> Iterator[str]:
    """Postgres on ``home``'s data directory, started for this command and stopped after it."""
    home.logs.mkdir(parents=True, exist_ok=True)
    with open(home.logs / "postgres.log", "ab") as log:
        proc = subprocess.Popen(
            postgres.command(home.pg_data, home.pg_run, port),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(home.pg_data.parent), "LANG": "C.UTF-8"},
            start_new_session=True,
            **postgres.drop_to(postgres.system_user()),
        )
    try:
        deadline = time.monotonic() + 60
        while not _pg_ready(home, port):
            if proc.poll() is not None:
                raise BackupError(
                    f"Postgres exited with {proc.returncode} while starting (see {home.logs}/postgres.log)"
                )
            if time.monotonic() > deadline:
                raise BackupError(f"Postgres did not start within 60 s (see {home.logs}/postgres.log)")
            time.sleep(0.1)
        yield postgres.socket_dsn(home.pg_run, port)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown: a clean checkpoint
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def _database(settings: Settings, home: Home) -> Iterator[str]:
    """A superuser DSN of the platform's database, whether `berth up` runs or not."""
    if settings.database_url:
        yield settings.database_url
        return
    with _lock_if_free(home) as running:
        if running:
            yield postgres.socket_dsn(home.pg_run, settings.pg_port)
        else:
            if not (home.pg_data / "PG_VERSION").exists():
                raise BackupError(f"no database in {home.pg_data}: is BERTH_HOME right?")
            with _own_postgres(home, settings.pg_port) as dsn:
                yield dsn


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


# -- backup ------------------------------------------------------------------------------------
def _caddy_members(caddy_dir: Path) -> Iterator[tuple[Path, str]]:
    if not caddy_dir.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(caddy_dir):
        dirnames[:] = [d for d in dirnames if d not in CADDY_SKIP]
        for name in filenames:
            path = Path(dirpath) / name
            if name in CADDY_SKIP or not path.is_file() or path.is_symlink():
                continue
            yield path, "home/caddy/" + str(path.relative_to(caddy_dir))


def make_backup(settings: Settings, dest: Path, env: Mapping[str, str]) -> BackupResult:
    home = Home(settings.home)
    if not home.credentials_file.exists():
        raise BackupError(f"no platform in {home.root} (no credentials.json): is BERTH_HOME right?")
    keys = backup_keys.load(env, home.master_key_file)
    credentials = json.loads(home.credentials_file.read_text())
    staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=home.root))
    try:
        dump = staging / DUMP
        with _database(settings, home) as dsn:
            # One snapshot of the whole database: every schema as of the same moment.
            _run([str(postgres.bin_dir() / "pg_dump"), "--format=custom", f"--file={dump}", dsn], "pg_dump")
        manifest = {
            "format": FORMAT,
            "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "instance": credentials.get("instance"),
            "keyId": keys.current,
            "schemas": sorted(SCHEMAS.values()),
            "settings": drift_values(settings),
        }
        members: list[tuple[Path | bytes, str]] = [(json.dumps(manifest, indent=2).encode(), MANIFEST), (dump, DUMP)]
        members += [(home.root / name, f"home/{name}") for name in HOME_FILES if (home.root / name).exists()]
        members += list(_caddy_members(home.caddy_dir))
        dest = dest.absolute()
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)
                sealer = backup_archive.SealingWriter(
                    out, keys.usable[keys.current], backup_archive.new_header(keys.current)
                )
                with tarfile.open(fileobj=sealer, mode="w|") as tar:
                    for source, name in members:
                        if isinstance(source, bytes):
                            info = tarfile.TarInfo(name)
                            info.size, info.mode, info.mtime = len(source), 0o600, int(time.time())
                            tar.addfile(info, io.BytesIO(source))
                        else:
                            tar.add(str(source), arcname=name, recursive=False)
                sealer.close()
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return BackupResult(dest, keys.current, dest.stat().st_size, [name for _, name in members])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- restore -------------------------------------------------------------------------------
def _check_fresh(home: Home) -> None:
    taken = [p for p in (home.credentials_file, home.pg_data / "PG_VERSION", home.admin_token_file) if p.exists()]
    if taken:
        raise BackupError(
            f"{home.root} already holds a platform ({', '.join(p.name for p in taken)}): restore into an empty "
            "BERTH_HOME (move this one away first)"
        )
    with _lock_if_free(home) as running:
        if running:
            raise BackupError(f"Berth is running on {home.root}: stop it first")


def open_backup(src: Path, keys: backup_keys.MasterKeys, into: Path) -> dict[str, object]:
    """Authenticate and unpack the whole backup into ``into``; returns its manifest. Fails on a
    wrong key at the first chunk and on damage anywhere, before the caller touches anything."""
    try:
        f = open(src, "rb")  # noqa: SIM115 - closed below, after the tar stream
    except OSError as exc:
        raise BackupError(f"cannot read {src}: {exc.strerror}") from None
    with f:
        header = backup_archive.read_header(f)
        key = keys.key_for(header.key_id)
        reader = io.BufferedReader(backup_archive.OpeningReader(f, key, header), buffer_size=1024 * 1024)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(into, filter="data")
        if reader.read(1):
            raise BackupError("the backup has data after its end")
    manifest_path = into / MANIFEST
    if not manifest_path.exists() or not (into / DUMP).exists():
        raise BackupError("the backup lacks its manifest or database dump")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return dict(manifest)


def _install_home_files(staged: Path, home: Home) -> None:
    home.prepare()
    for name in HOME_FILES:
        source = staged / "home" / name
        if source.exists():
            write_private(home.root / name, source.read_text())
    caddy = staged / "home" / "caddy"
    if caddy.is_dir():
        shutil.copytree(caddy, home.caddy_dir, dirs_exist_ok=True)
        home.caddy_dir.chmod(0o700)


def _restore_database(home: Home, settings: Settings, dump: Path, credentials: dict[str, object]) -> None:
    superuser = str(credentials["pg_superuser_password"])
    db_passwords = dict(credentials["db_passwords"])  # type: ignore[call-overload]
    postgres.ensure_initialized(home.pg_data, home.pg_run, superuser)
    with _own_postgres(home, settings.pg_port) as _:
        maintenance = postgres.socket_dsn(home.pg_run, settings.pg_port, "postgres")
        asyncio.run(postgres.psql(maintenance, f'CREATE DATABASE "{postgres.DATABASE}";'))
        target = postgres.socket_dsn(home.pg_run, settings.pg_port)
        # Roles before the dump (it gives each schema and table to its role); schemas come from the dump.
        roles: list[str] = []
        for service in SERVICES:
            for statement in postgres.provision_sql(SCHEMAS[service], SCHEMAS[service], str(db_passwords[service])):
                if not statement.startswith(("CREATE SCHEMA", "ALTER SCHEMA")):
                    roles.append(statement)
        asyncio.run(postgres.psql(target, ";\n".join(roles) + ";\n"))
        _run(
            [
                str(postgres.bin_dir() / "pg_restore"),
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={target}",
                str(dump),
            ],
            "pg_restore",
        )


_APPS_SQL = """
SELECT coalesce(json_agg(t ORDER BY t.app), '[]') FROM (
  SELECT a.name AS app, r.version, r.image, (r.build IS NOT NULL) AS built,
         coalesce((SELECT s.image FROM api.releases s
                   WHERE s.app_id = a.id AND (s.image_digest = r.image OR s.image = r.image)
                   ORDER BY (s.image LIKE 'sha256:%'), s.version DESC LIMIT 1), '') AS source_image
  FROM api.apps a JOIN api.releases r ON r.id = a.desired_release_id
  WHERE a.deleted_at IS NULL
) t;
"""


def _app_images(home: Home, settings: Settings) -> list[restore_plan.AppImage]:
    with _own_postgres(home, settings.pg_port) as dsn:
        out = asyncio.run(postgres.psql(dsn, _APPS_SQL))
    return [restore_plan.AppImage(**row) for row in json.loads(out.strip() or "[]")]


class Engine:
    """The few Docker engine calls a restore makes (over its Unix socket, as the agent does)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if not host.startswith("unix://"):
            raise BackupError(f"DOCKER_HOST={host}: only a Unix socket is supported here")
        self._client = httpx.Client(transport=httpx.HTTPTransport(uds=host.removeprefix("unix://")), timeout=600)

    def image_id(self, ref: str) -> str:
        try:
            r = self._client.get(f"http://docker/images/{quote(ref, safe='/:@')}/json")
        except httpx.HTTPError as exc:
            raise BackupError(f"the Docker engine does not answer ({exc}): start it, then restore again") from None
        return str(r.json().get("Id", "")) if r.status_code == 200 else ""

    def pull(self, ref: str) -> tuple[str, str]:
        """(image id now under ``ref``, error)."""
        if "@" in ref:
            name, tag = ref, ""
        elif ":" in ref.rsplit("/", 1)[-1]:
            name, _, tag = ref.rpartition(":")
        else:
            name, tag = ref, "latest"
        try:
            r = self._client.post("http://docker/images/create", params={"fromImage": name, "tag": tag})
        except httpx.HTTPError as exc:
            return "", str(exc)
        if r.status_code != 200:
            return "", _engine_message(r.text)
        for line in r.text.splitlines():
            with contextlib.suppress(ValueError):
                if err := json.loads(line).get("error"):
                    return "", str(err)
        return self.image_id(ref), "the engine has no image under that name after the pull"

    def close(self) -> None:
        self._client.close()


def _engine_message(body: str) -> str:
    with contextlib.suppress(ValueError):
        return str(json.loads(body).get("message", body))
    return body.strip()


def recover_images(items: list[restore_plan.AppImage], engine: Engine) -> list[restore_plan.Recovery]:
    out = []
    for item in items:
        rec = restore_plan.decide(item, bool(engine.image_id(item.image)))
        if rec.outcome == restore_plan.PULL:
            pulled, error = engine.pull(rec.pull_ref)
            rec = restore_plan.after_pull(rec, pulled, error)
        out.append(rec)
    return out


def restore(settings: Settings, src: Path, env: Mapping[str, str], keyring: Path | None = None) -> RestoreResult:
    home = Home(settings.home)
    _check_fresh(home)
    keys = backup_keys.load(env, keyring or home.master_key_file)
    parent = home.root.parent if home.root.parent.is_dir() else None
    staging = Path(tempfile.mkdtemp(prefix=".berth-restore-", dir=parent))
    try:
        try:
            manifest = open_backup(src, keys, staging)
        except backup_archive.ArchiveError as exc:
            raise BackupError(str(exc)) from None
        credentials = json.loads((staging / "home" / "credentials.json").read_text())
        # Nothing was touched until here: the key opened every chunk and the contents are whole.
        _install_home_files(staging, home)
        if keyring is not None and keys.source == "file" and not home.master_key_file.exists():
            write_private(home.master_key_file, keyring.read_text())
        _restore_database(home, settings, staging / DUMP, credentials)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    backed_up = manifest.get("settings")
    warnings = restore_plan.settings_drift(
        dict(backed_up) if isinstance(backed_up, dict) else {}, drift_values(settings)
    )
    engine = Engine(env)
    try:
        recoveries = recover_images(_app_images(home, settings), engine)
    finally:
        engine.close()
    key_id = str(manifest.get("keyId", ""))
    return RestoreResult(home.root, key_id, str(manifest.get("createdAt", "")), recoveries, warnings)
