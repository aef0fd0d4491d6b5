"""The realistic test app itself (tests/support/python_app.py), run with plain Docker and the
security settings Berth gives app containers: the web app answers and stops gracefully, the
worker ticks and leaves on SIGTERM, the release command and the cron job exit as told."""

from __future__ import annotations

import ipaddress
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from berth_testing import isolated_subnet_pool, wait_for
from python_app import build_app_image, build_base_image

# The first test builds the base image when this machine has none (debootstrap: 1-2 minutes).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# What Berth's agent sets on every app container (berth_agent.containers.decide.host_config).
HARDENED = ["--init", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--memory", "128m"]
HARDENED += ["--cpus", "0.5", "--pids-limit", "100"]
# One-off containers here need no network at all.
ONE_OFF = ["run", "--rm", "--network", "none", *HARDENED]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    """A bridge of the tests' own on a /28 no Docker network uses (as Berth gives each app one;
    the engine's default bridge may not exist on a platform host)."""
    name = f"berth-test-pyapp-{uuid.uuid4().hex[:8]}"
    subnet = next(ipaddress.IPv4Network(isolated_subnet_pool()).subnets(new_prefix=28))
    docker("network", "create", "--subnet", str(subnet), name)
    yield name
    docker("network", "rm", name, check=False)


@pytest.fixture
def started() -> Iterator[list[str]]:
    """Names of the containers a test started; removed after it."""
    names: list[str] = []
    yield names
    if names:
        docker("rm", "-f", *names, check=False)


def run_detached(started: list[str], network: str, image: str, *command: str, env: dict[str, str] | None = None) -> str:
    name = f"berth-test-pyapp-{uuid.uuid4().hex[:8]}"
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    started.append(name)  # removed even when it was created but could not start
    docker("run", "-d", "--name", name, "--network", network, *HARDENED, *flags, image, *command)
    return name


def address(name: str) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


def logs(name: str) -> str:
    done = docker("logs", name)
    return done.stdout + done.stderr


def exit_code(name: str) -> int:
    return int(docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout)


def test_the_web_app_answers_and_finishes_its_requests_on_sigterm(
    pyapp_images: dict[str, str], network: str, started: list[str]
) -> None:
    web = run_detached(started, network, pyapp_images["v1"], env={"BERTH_RELEASE": "rel-1"})
    base = f"http://{address(web)}:8080"
    assert wait_for(lambda: httpx.get(f"{base}/", timeout=2).text, what="the web app") == "v1\n"
    assert httpx.get(f"{base}/health", timeout=2).text == "ok\n"
    who = httpx.get(f"{base}/whoami", timeout=2).json()
    assert (who["version"], who["release"], who["process"]) == ("v1", "rel-1", "web")
    echoed = httpx.post(f"{base}/anything", content=b"hello \x00 bytes", timeout=2)
    assert (echoed.status_code, echoed.content) == (200, b"hello \x00 bytes")
    assert "POST /anything" in logs(web)  # one access line per request

    # A request in flight when the container is stopped is answered; then the app exits 0.
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(httpx.get(f"{base}/slow?seconds=1.5", timeout=10)))
    slow.start()
    wait_for(lambda: "slow request for 1.5 s" in logs(web), what="the slow request to arrive")
    docker("stop", "-t", "10", web)
    slow.join(10)
    assert [(r.status_code, r.text) for r in answers] == [(200, "slow\n")]
    assert exit_code(web) == 0
    assert "web: stopped" in logs(web)


def test_v2_answers_its_own_version(pyapp_images: dict[str, str], network: str, started: list[str]) -> None:
    web = run_detached(started, network, pyapp_images["v2"])
    base = f"http://{address(web)}:8080"
    assert wait_for(lambda: httpx.get(f"{base}/", timeout=2).text, what="the web app") == "v2\n"


def test_the_worker_ticks_with_its_process_and_release_and_leaves_on_sigterm(
    pyapp_images: dict[str, str], network: str, started: list[str]
) -> None:
    worker = run_detached(started, network, pyapp_images["v1"], "python", "worker.py", env={"BERTH_RELEASE": "rel-7"})
    wait_for(lambda: logs(worker).count("worker tick") >= 2, what="two ticks")
    ticks = [line for line in logs(worker).splitlines() if line.startswith("worker tick")]
    assert all("process=worker release=rel-7 version=v1" in line for line in ticks), ticks
    began = time.monotonic()
    docker("stop", "-t", "10", worker)
    assert time.monotonic() - began < 5  # SIGTERM, not the stop timeout's SIGKILL
    assert exit_code(worker) == 0
    assert "worker stopping on SIGTERM process=worker release=rel-7" in logs(worker)


def test_a_worker_told_to_crash_exits_3(pyapp_images: dict[str, str]) -> None:
    image = pyapp_images["v1"]
    done = docker(*ONE_OFF, image, "python", "worker.py", "--crash-after", "1", check=False)
    assert done.returncode == 3
    assert "worker crashing process=worker" in done.stderr


def test_the_release_command_exits_with_migrate_exit(pyapp_images: dict[str, str]) -> None:
    ok = docker(*ONE_OFF, pyapp_images["v2"], "python", "migrate.py", check=False)
    assert ok.returncode == 0
    assert ok.stdout.splitlines() == [
        "migrate: version v2 release -",
        "migrate: applying 0001_initial",
        "migrate: applying 0002_add_index",
        "migrate: done",
    ]
    failing = docker(*ONE_OFF, "--env=MIGRATE_EXIT=3", pyapp_images["v2"], "python", "migrate.py", check=False)
    assert failing.returncode == 3
    assert "migrate: applying 0002_add_index" in failing.stdout
    assert failing.stderr.strip() == "migrate: failed with code 3"


def test_the_cron_job_prints_start_and_end_and_exits_as_told(pyapp_images: dict[str, str]) -> None:
    image = pyapp_images["v1"]
    done = docker(*ONE_OFF, image, "python", "cronjob.py", "0.2", "--name", "nightly", check=False)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    expected = ["cron start name=nightly release=-", "cron end name=nightly release=-"]
    assert [line.split(" at=")[0] for line in lines] == expected
    failing = docker(*ONE_OFF, image, "python", "cronjob.py", "0", "--exit", "2", check=False)
    assert failing.returncode == 2


def test_images_are_reused_by_later_sessions(pyapp_images: dict[str, str]) -> None:
    """A second build of an unchanged recipe finds the images and builds nothing."""
    ids = {k: docker("image", "inspect", "-f", "{{.Id}}", v).stdout for k, v in pyapp_images.items()}
    assert build_base_image() == pyapp_images["base"]
    assert build_app_image("v1") == pyapp_images["v1"]
    assert {k: docker("image", "inspect", "-f", "{{.Id}}", v).stdout for k, v in pyapp_images.items()} == ids
