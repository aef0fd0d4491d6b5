"""Layout of $BERTH_HOME and the credentials kept in it (files with mode 0600)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SERVICES = ("api", "runtime-agent", "router", "logs", "health")

# Database role and schema of each service: each role owns exactly its schema.
SCHEMAS = {"api": "api", "runtime-agent": "agent", "router": "router", "logs": "logs", "health": "health"}
NATS_USERS = {"api": "api", "runtime-agent": "agent", "router": "router", "logs": "logs", "health": "health"}


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def pg_data(self) -> Path:
        return self.root / "postgres" / "data"

    @property
    def pg_run(self) -> Path:
        return self.root / "postgres" / "run"

    @property
    def nats_store(self) -> Path:
        return self.root / "nats"

    @property
    def caddy_dir(self) -> Path:
        return self.root / "caddy"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock_file(self) -> Path:
        return self.root / "berth.lock"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def admin_token_file(self) -> Path:
        return self.root / "admin-token"

    @property
    def master_key_file(self) -> Path:
        """The keyring that seals env values (only the API process is told where it is)."""
        return self.root / "master.key"

    def prepare(self) -> None:
        for d in (self.root, self.pg_data.parent, self.nats_store, self.caddy_dir, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        # Caddy's admin socket, certificates and keys: the launcher's user (Caddy's) only.
        self.caddy_dir.chmod(0o700)


@dataclass(frozen=True)
class Credentials:
    instance: str
    pg_superuser_password: str
    db_passwords: dict[str, str]
    nats_passwords: dict[str, str]
    observer_password: str
    # Sent by Caddy to the API on the platform route (header ``X-Berth-Proxy``): only requests
    # that carry it may name their client in ``X-Forwarded-For`` (rate limits, audit).
    proxy_secret: str


def write_private(path: Path, text: str, *, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only from the start.

    A temporary file in the same directory is created with mode 0600 (never a moment more
    open), written and fsynced, then renamed over ``path`` and the directory fsynced: a crash
    leaves the old file or the new one, never a half-written credential. ``owner``: (uid, gid)
    to hand the file to before it appears under its name.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            if owner is not None:
                os.fchown(f.fileno(), *owner)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_write_private = write_private  # the earlier name, kept for callers elsewhere in the tree


def load_or_create_credentials(home: Home) -> Credentials:
    path = home.credentials_file
    data = json.loads(path.read_text()) if path.exists() else {}

    def pw() -> str:
        return secrets.token_urlsafe(24)

    data.setdefault("instance", secrets.token_hex(4))
    data.setdefault("pg_superuser_password", pw())
    data.setdefault("observer_password", pw())
    data.setdefault("proxy_secret", pw())
    db = data.setdefault("db_passwords", {})
    nats = data.setdefault("nats_passwords", {})
    for service in SERVICES:
        db.setdefault(service, pw())
        nats.setdefault(service, pw())
    write_private(path, json.dumps(data, indent=2))
    return Credentials(
        instance=data["instance"],
        pg_superuser_password=data["pg_superuser_password"],
        db_passwords=dict(db),
        nats_passwords=dict(nats),
        observer_password=data["observer_password"],
        proxy_secret=data["proxy_secret"],
    )


def load_or_create_admin_token(home: Home, from_env: str | None) -> tuple[str, bool]:
    """The admin token, and whether it was created now (it is printed only then)."""
    path = home.admin_token_file
    if path.exists():
        return path.read_text().strip(), False
    token = from_env or "berth_" + secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token, True


KEYRING_FORMAT = "berth-keyring-v1"  # read and rotated by the API (berth_api.keyring)


class MasterKeyError(RuntimeError):
    pass


def check_master_key(raw: str) -> None:
    """``BERTH_MASTER_KEY`` must be base64 of 32 bytes; say so before anything starts."""
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(
            "BERTH_MASTER_KEY must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)"
        ) from None
    if len(key) != 32:
        raise MasterKeyError(f"BERTH_MASTER_KEY must decode to exactly 32 bytes, got {len(key)}")


def ensure_master_key_file(home: Home) -> tuple[Path, bool]:
    """Create ``$BERTH_HOME/master.key`` (mode 0600) with one fresh key at first start; an
    existing file is never rewritten here (the API rotates it), only kept private."""
    path = home.master_key_file
    if path.exists():
        path.chmod(0o600)
        return path, False
    key_id = "k-" + secrets.token_hex(4)
    ring = {
        "format": KEYRING_FORMAT,
        "current": key_id,
        "keys": [
            {
                "id": key_id,
                "key": base64.b64encode(secrets.token_bytes(32)).decode(),
                "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "retiredAt": None,
            }
        ],
    }
    write_private(path, json.dumps(ring, indent=2) + "\n")
    return path, True
