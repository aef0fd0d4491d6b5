"""Layout of $BERTH_HOME and the credentials kept in it (files with mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
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

    def prepare(self) -> None:
        for d in (self.root, self.pg_data.parent, self.nats_store, self.caddy_dir, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)


@dataclass(frozen=True)
class Credentials:
    instance: str
    pg_superuser_password: str
    db_passwords: dict[str, str]
    nats_passwords: dict[str, str]
    observer_password: str


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)


def load_or_create_credentials(home: Home) -> Credentials:
    path = home.credentials_file
    data = json.loads(path.read_text()) if path.exists() else {}

    def pw() -> str:
        return secrets.token_urlsafe(24)

    data.setdefault("instance", secrets.token_hex(4))
    data.setdefault("pg_superuser_password", pw())
    data.setdefault("observer_password", pw())
    db = data.setdefault("db_passwords", {})
    nats = data.setdefault("nats_passwords", {})
    for service in SERVICES:
        db.setdefault(service, pw())
        nats.setdefault(service, pw())
    _write_private(path, json.dumps(data, indent=2))
    return Credentials(
        instance=data["instance"],
        pg_superuser_password=data["pg_superuser_password"],
        db_passwords=dict(db),
        nats_passwords=dict(nats),
        observer_password=data["observer_password"],
    )


def load_or_create_admin_token(home: Home, from_env: str | None) -> tuple[str, bool]:
    """The admin token, and whether it was created now (it is printed only then)."""
    path = home.admin_token_file
    if path.exists():
        return path.read_text().strip(), False
    token = from_env or "berth_" + secrets.token_urlsafe(32)
    _write_private(path, token + "\n")
    return token, True
