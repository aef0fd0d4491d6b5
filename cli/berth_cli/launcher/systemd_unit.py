"""The systemd unit that runs `berth up` as a service (pure: text in, text out; no I/O).

`berth service install` writes what these functions render; `berth up` stays the one way the
platform runs, in the foreground, whether a terminal or systemd started it.

Why each setting:

* ``After=``/``Wants=docker.service``: apps need the engine; the platform starts once the
  engine's unit has been started, but is not stopped with it (``Wants``, not ``Requires``): the
  runtime agent rides out an engine restart and brings the apps back itself.
* ``Restart=on-failure``: `berth up` exits non-zero when it cannot start (e.g. a port in use);
  systemd tries again. A clean stop (SIGTERM, exit 0) is not restarted.
* ``KillMode=mixed``: on stop, SIGTERM goes to `berth up` alone, which stops its children in
  its own order (services first, then Caddy, NATS, Postgres last); only what is still running
  when the timeout ends is SIGKILLed. The default (``control-group``) would signal every
  process at once, and Postgres would stop under services still writing to it.
* ``TimeoutStopSec``: longer than the supervisor's worst-case stop (each child's stop timeout
  in turn) so systemd never kills a clean shutdown half-way.
* ``EnvironmentFile=``: the settings (``BERTH_*``), written by `berth service install` from
  the environment it ran in, mode 0600 (it may hold ``BERTH_MASTER_KEY``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "berth.service"
UNIT_DIR = Path("/etc/systemd/system")
ENV_FILE = Path("/etc/berth/berth.env")
WANTED_BY = "multi-user.target"

# The supervisor's stop, child by child in reverse start order (berth_cli.launcher.platform):
# five services and Caddy and NATS at ChildSpec's default of 10 s each, then Postgres at 20 s.
SUPERVISOR_STOP_TIMEOUTS: tuple[float, ...] = (10.0,) * 5 + (10.0, 10.0, 20.0)
STOP_MARGIN_SECONDS = 30

# Variables `berth up` reads that belong in the service's environment file. Anything else named
# BERTH_* is a platform setting too, except these, which belong to the CLI or to one service.
CLIENT_ONLY = frozenset({"BERTH_URL", "BERTH_TOKEN"})
SERVICE_ONLY_PREFIXES = ("BERTH_SERVICE", "BERTH_PROVISION_")
EXTRA_SETTINGS = ("DOCKER_HOST",)


@dataclass(frozen=True)
class UnitSpec:
    berth: Path  # the `berth` executable (absolute)
    env_file: Path = ENV_FILE
    stop_timeouts: Sequence[float] = SUPERVISOR_STOP_TIMEOUTS
    restart_seconds: int = 5
    description: str = "Berth personal cloud (berth up)"


def stop_timeout_seconds(stop_timeouts: Sequence[float], margin: int = STOP_MARGIN_SECONDS) -> int:
    """Longer than a clean stop can take: children stop one after another."""
    return int(sum(stop_timeouts)) + margin


def render_unit(spec: UnitSpec) -> str:
    if not spec.berth.is_absolute():
        raise ValueError(f"the berth executable must be an absolute path, got {spec.berth}")
    return "\n".join(
        [
            "# Written by `berth service install`; `berth service uninstall` removes it.",
            "[Unit]",
            f"Description={spec.description}",
            "After=network-online.target docker.service",
            "Wants=network-online.target docker.service",
            # A unit that keeps failing to start is retried for as long as it takes (a reboot
            # where the engine comes up slowly must not leave the platform down).
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=exec",
            f"EnvironmentFile=-{spec.env_file}",
            f"ExecStart={shlex.quote(str(spec.berth))} up",
            "Restart=on-failure",
            f"RestartSec={spec.restart_seconds}",
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={stop_timeout_seconds(spec.stop_timeouts)}",
            "TimeoutStartSec=300",
            "LimitNOFILE=65536",
            "",
            "[Install]",
            f"WantedBy={WANTED_BY}",
            "",
        ]
    )


def service_settings(env: Mapping[str, str], home: Path) -> dict[str, str]:
    """The settings the service runs with: the platform's ``BERTH_*`` variables from ``env``
    (and ``DOCKER_HOST``), with ``BERTH_HOME`` made absolute (systemd's HOME is not the
    installer's)."""
    chosen = {
        k: v
        for k, v in env.items()
        if (k.startswith("BERTH_") and k not in CLIENT_ONLY and not k.startswith(SERVICE_ONLY_PREFIXES))
        or k in EXTRA_SETTINGS
    }
    chosen["BERTH_HOME"] = str(home)
    return dict(sorted(chosen.items()))


def render_env_file(settings: Mapping[str, str]) -> str:
    """systemd's EnvironmentFile syntax: one ``KEY="value"`` a line, quotes and backslashes escaped."""
    lines = ["# Settings of berth.service (see README: Settings). Mode 0600: it may hold BERTH_MASTER_KEY."]
    for key, value in settings.items():
        if "\n" in value:
            raise ValueError(f"{key}: a setting cannot span lines")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + "\n"


def under(root: Path, path: Path) -> Path:
    """``path`` (absolute) placed under ``root`` (``/`` on a real install)."""
    return root / path.relative_to("/")
