"""The CLI's HTTP client: configuration, requests, and turning failures into clear errors."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from berth_cli.launcher.home import write_private

# Documented exit codes (README): 0 ok, 1 operation failed, 2 usage or validation error,
# 3 cannot reach the API, 4 not authenticated, 5 not found, 6 conflict, 7 the token's scope
# does not allow it.
EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_CONFLICT = 1, 2, 3, 4, 5, 6
EXIT_FORBIDDEN = 7


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "berth" / "config.json"


@dataclass(frozen=True)
class Config:
    url: str
    token: str | None


def load_config() -> Config:
    stored: dict[str, str] = {}
    path = config_path()
    if path.exists():
        stored = json.loads(path.read_text())
    url = os.environ.get("BERTH_URL") or stored.get("url") or "http://127.0.0.1:8000"
    token = os.environ.get("BERTH_TOKEN") or stored.get("token")
    return Config(url=url.rstrip("/"), token=token)


def save_config(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, json.dumps({"url": url.rstrip("/"), "token": token}))
    return path


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
    details = error.get("details") or []
    if details:
        return "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return str(error.get("message"))


class Api:
    def __init__(self, config: Config, timeout: float = 30) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self.http = httpx.Client(base_url=config.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self.config.token:
            raise CliError("not logged in: run `berth login` or set BERTH_TOKEN", EXIT_AUTH)
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CliError(
                f"cannot reach the Berth API at {self.config.url} ({type(exc).__name__}); "
                "is `berth up` running? (set BERTH_URL to point elsewhere)",
                EXIT_UNREACHABLE,
            ) from None
        return self._result(response)

    def _result(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            return response.json() if response.content else None
        message = _error_message(response)
        if status == 401:
            raise CliError(f"the API refused the token ({message}); run `berth login` again", EXIT_AUTH)
        if status == 403:
            raise CliError(f"not allowed: {message}", EXIT_FORBIDDEN)
        if status == 404:
            raise CliError(f"{message} (see `berth apps list`)", EXIT_NOT_FOUND)
        if status == 409:
            raise CliError(message, EXIT_CONFLICT)
        if status == 422:
            raise CliError(f"invalid input: {message}", EXIT_USAGE)
        raise CliError(message, EXIT_FAILED)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)
