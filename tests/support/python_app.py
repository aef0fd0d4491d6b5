"""The realistic test app: a stdlib-only Python web app, worker, release command and cron job
(``tests/apps/pyapp``) on a Debian base image built on this machine with debootstrap.

There is no container registry on a test machine: the base is a Debian root filesystem made by
``debootstrap --variant=minbase --include=python3`` from the Debian mirror and imported with
``docker import`` as ``berth-test/pybase:<hash of its recipe>``. It takes a minute or two once;
later runs on the same machine find the image by its name and skip the build, and a changed
recipe builds (and names) a new one. App images are built on it without running a container
(only COPY/ENV instructions), named by a hash of the base, the app's files and the version.

Fixtures: ``pyapp_images`` (session-scoped): ``{"base", "v1", "v2"}`` image names; ``v1``/``v2``
answer their version at ``/``. tests/conftest.py imports it for every test under tests/.
For a build by the platform (``berth deploy APP DIR``), ``app_context`` writes a build directory
whose Dockerfile names the base (Berth passes no build arguments).

In the image (workdir ``/app``, ``python`` is ``python3``):
- ``python web.py`` (the CMD): GET / -> version, /health, /whoami, /slow?seconds=N, POST echoes;
  SIGTERM finishes the requests in flight and exits 0;
- ``python worker.py [--name N] [--crash-after S]``: a line every 0.5 s with its process name
  and release; exits 0 on SIGTERM;
- ``python migrate.py``: prints what it applies; exits ``MIGRATE_EXIT`` (after ``MIGRATE_SLEEP`` s);
- ``python cronjob.py SECONDS [--name N] [--exit CODE]``: prints start and end, exits CODE.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[1] / "apps" / "pyapp"
APP_FILES = ("Dockerfile", "web.py", "worker.py", "migrate.py", "cronjob.py")

# Run by bash with ROOT (an empty directory), MIRROR, TAG. Its text names the image: any change
# here builds a new base. The trimmed files (docs, man pages, locales, apt's lists and caches)
# are ~140 of ~260 MB.
BASE_RECIPE = """\
set -euo pipefail
debootstrap --variant=minbase --include=python3 bookworm "$ROOT" "$MIRROR"
ln -sf python3 "$ROOT/usr/bin/python"
rm -rf "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* \\
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/* "$ROOT"/usr/share/info/*
tar --numeric-owner -C "$ROOT" -c . | docker import --change 'CMD ["python3"]' - "$TAG"
"""
# debootstrap downloads from the mirror; under load on this 2-core machine it took ~2 minutes.
BUILD_TIMEOUT = 540


def base_tag() -> str:
    return f"berth-test/pybase:{hashlib.sha256(BASE_RECIPE.encode()).hexdigest()[:12]}"


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def debian_mirror() -> str:
    """The mirror apt uses on this host (the only package source reachable here)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and line.split()[1:]:
                return line.split()[1]
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """One builder at a time on this machine (several test sessions may want the same image)."""
    with open(Path(tempfile.gettempdir()) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _unmount_under(root: Path) -> None:
    """debootstrap mounts /proc and /sys in the target; a failed run can leave them mounted."""
    prefix = f"{root}/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def build_base_image() -> str:
    """``berth-test/pybase:<hash>``: Debian bookworm minbase with python3, built once per machine."""
    tag = base_tag()
    if image_exists(tag):
        return tag
    assert shutil.which("debootstrap"), "debootstrap is installed by `make test` (scripts/bootstrap.sh --dev)"
    with _machine_lock("berth-test-pybase"):
        if image_exists(tag):  # another session built it while this one waited
            return tag
        root = Path(tempfile.mkdtemp(prefix="berth-pybase-", dir="/var/tmp"))
        try:
            done = subprocess.run(
                ["bash", "-c", BASE_RECIPE],
                env={**os.environ, "ROOT": str(root), "MIRROR": debian_mirror(), "TAG": tag},
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
            )
            if done.returncode != 0:
                log = root / "debootstrap" / "debootstrap.log"
                tail = log.read_text()[-2000:] if log.exists() else done.stderr[-2000:]
                raise RuntimeError(f"building {tag} failed (exit {done.returncode}):\n{tail}")
        finally:
            _unmount_under(root)
            shutil.rmtree(root, ignore_errors=True)
    return tag


def render_context(directory: Path, version: str, base: str, berth_toml: str | None = None) -> Path:
    """Write the app's build context into ``directory``: its files, the Dockerfile with the base
    and version filled in (no build arguments needed), and ``berth.toml`` when given."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in APP_FILES:
        text = (APP_DIR / name).read_text()
        if name == "Dockerfile":
            text = text.replace("ARG BASE\n", f"ARG BASE={base}\n").replace(
                "ARG VERSION=dev\n", f"ARG VERSION={version}\n"
            )
        (directory / name).write_text(text)
    if berth_toml is not None:
        (directory / "berth.toml").write_text(berth_toml)
    return directory


def app_context(directory: Path, version: str, berth_toml: str | None = None) -> Path:
    """A build directory of the app at ``version`` for a build by the platform (``berth deploy
    APP DIR``); the base image is built first when this machine has none."""
    return render_context(directory, version, build_base_image(), berth_toml)


def app_tag(version: str, base: str) -> str:
    digest = hashlib.sha256(f"{base}\n{version}\n".encode())
    for name in APP_FILES:
        digest.update((APP_DIR / name).read_bytes())
    return f"berth-test/pyapp:{version}-{digest.hexdigest()[:12]}"


def build_app_image(version: str) -> str:
    """The app's image answering ``version`` at /, built on the base (cached by content)."""
    base = build_base_image()
    tag = app_tag(version, base)
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory() as ctx:
        render_context(Path(ctx), version, base)
        subprocess.run(["docker", "build", "-q", "-t", tag, ctx], check=True, capture_output=True)
    return tag


@pytest.fixture(scope="session")
def pyapp_images() -> dict[str, str]:
    """``base`` (Debian + python3) and the app's ``v1`` and ``v2`` images; see this module's doc."""
    return {"base": build_base_image(), "v1": build_app_image("v1"), "v2": build_app_image("v2")}
