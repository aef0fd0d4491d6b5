"""The Docker engine restarts under a running platform: every app serves again, and a container
the engine can no longer start is replaced, or ends ``crashed`` with the engine's reason.

The platform runs against an engine of this module's own (``second_engine.SecondEngine``), so
killing it never touches the engine other tests use. That engine shares the host's network
namespace: Caddy and the agent run there and reach app slots by their bridge addresses, exactly
as on a real host, and the drain rules the agent inserts in ``OUTPUT``/``FORWARD`` see that
traffic. A namespace of its own would need a veth, a route for the app pool through it (which
the launcher's ``unreachable`` route for the pool would shadow) and drain rules inside it —
testing plumbing no user has. Sharing the namespace is safe because that engine runs with
``--iptables=false`` and ``--bridge=none``: it never rewrites the ``DOCKER`` chains the main
engine owns (an engine flushes them when it starts) and never touches ``docker0``. Measured
here: it answers ~0.3 s after ``dockerd`` starts; slots on its bridges answered Caddy directly.
Its app pool is a /22 of 10.242.0.0/16 that no route uses, so platforms on the main engine
(10.241.0.0/16) never collide with it.

"Task already exists": killing ``dockerd`` with SIGKILL while a container is starting leaves
the container's task in containerd (the shim outlives the engine) while the engine records the
container as exited (143); every later ``docker start`` of it fails with ``task …: already
exists``. The test freezes the agent (SIGSTOP) while it does that, so the agent's own restart
cannot race its ``docker start``, and confirms the state by trying a start itself; the agent
then resumes and finds the engine restarted, as after any outage.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform, wait_for
from second_engine import SecondEngine, paused, unrouted_pool

pytestmark = pytest.mark.e2e

IMAGE = "berth-test/web:v1"
# A tag of the v1 image naming a registry that refuses every connection: deployed while the tag
# is on the engine, then removed, so no fresh container of it can ever be made (the pull fails).
DOOMED = "127.0.0.1:1/berth-test/recover:doomed"


class Receiver:
    """Webhook posts on 127.0.0.1 (the platform allows private webhook targets for it)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                posts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def engine(test_images: dict[str, str]) -> Iterator[SecondEngine]:
    e = SecondEngine()
    try:
        e.start()
        e.load_images(IMAGE)
        e.docker("tag", IMAGE, DOOMED, check=True)
        yield e
    finally:
        e.destroy()


@pytest.fixture(scope="module")
def berth(engine: SecondEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    home = tmp_path_factory.mktemp("berth-engine-restart")
    p = start_platform(
        home, DOCKER_HOST=engine.docker_host, BERTH_SUBNET_POOL=unrouted_pool(), BERTH_ALLOW_PRIVATE_WEBHOOKS="true"
    )
    try:
        yield p
    finally:
        stop_platform(p)


def deploy_live(p: RunningPlatform, name: str, image: str) -> str:
    assert p.api.post("/api/apps", json={"name": name}).status_code == 201
    release = p.api.post(f"/api/apps/{name}/deploy", json={"image": image}).json()
    wait_for(
        lambda: p.api.get(f"/api/apps/{name}/releases/{release['id']}").json()["status"] == "live",
        timeout=120,
        what=f"{name} live",
    )
    return str(p.api.get(f"/api/apps/{name}").json()["id"])


def serves(p: RunningPlatform, name: str) -> bool:
    return p.proxy_get(f"{name}.berth.test", timeout=3).text == "v1\n"


def app_containers(engine: SecondEngine, p: RunningPlatform, app_id: str) -> list[dict[str, Any]]:
    ids = engine.docker(
        "ps", "-aq", "--filter", f"label=berth.instance={p.instance}", "--filter", f"label=berth.app={app_id}"
    ).stdout.split()
    return engine.inspect(*ids)  # type: ignore[return-value]


def live_container(engine: SecondEngine, p: RunningPlatform, app_id: str) -> str:
    running = [c for c in app_containers(engine, p, app_id) if c["State"]["Running"]]
    assert len(running) == 1, running
    return str(running[0]["Id"])


@contextmanager
def agent_frozen(p: RunningPlatform) -> Iterator[None]:
    with paused(p.service_pid("berth_agent")):
        yield


def test_every_app_serves_again_after_the_engine_is_killed_mid_start(
    engine: SecondEngine, berth: RunningPlatform
) -> None:
    p = berth
    ids = {name: deploy_live(p, name, IMAGE) for name in ("rs-one", "rs-two", "rs-three")}
    for name in ids:
        wait_for(lambda n=name: serves(p, n), timeout=30, what=f"{name} serving")
    stuck = live_container(engine, p, ids["rs-three"])

    with agent_frozen(p):
        engine.leave_tasks_behind([stuck])
        # Every app's container is down now: the others were killed with the engine.
        assert not any(c["State"]["Running"] for i in ids.values() for c in app_containers(engine, p, i))

    for name in ids:
        wait_for(lambda n=name: serves(p, n), timeout=120, what=f"{name} serving after the engine restart")
    for name, app_id in ids.items():
        containers = app_containers(engine, p, app_id)
        assert len(containers) == 1 and containers[0]["State"]["Running"], (name, containers)
    # The container the engine could not start was replaced by a fresh one.
    assert live_container(engine, p, ids["rs-three"]) != stuck
    wait_for(
        lambda: all(p.api.get(f"/api/apps/{n}").json()["status"] == "running" for n in ids),
        timeout=60,
        what="every app running at the API",
    )


def test_a_container_that_can_never_start_again_ends_crashed_with_the_engines_reason(
    engine: SecondEngine, berth: RunningPlatform
) -> None:
    p = berth
    receiver = Receiver()
    hook = p.api.post("/api/webhooks", json={"url": receiver.url, "events": ["app.crashed"]})
    assert hook.status_code == 201, hook.text
    app_id = deploy_live(p, "rs-doomed", DOOMED)
    wait_for(lambda: serves(p, "rs-doomed"), timeout=30, what="rs-doomed serving")
    stuck = live_container(engine, p, app_id)

    with agent_frozen(p):
        engine.leave_tasks_behind([stuck])
        engine.docker("rmi", DOOMED, check=True)  # untagged only: the stuck container still holds the image

    shown = wait_for(
        lambda: (a := p.api.get("/api/apps/rs-doomed").json())["status"] == "crashed" and a,
        timeout=180,
        what="rs-doomed crashed",
    )
    assert f"image not found: {DOOMED}" in shown["statusReason"], shown["statusReason"]
    crashed = wait_for(
        lambda: [e for e in receiver.posts if e["event"] == "app.crashed" and e["app"]["id"] == app_id],
        timeout=60,
        what="the app.crashed webhook",
    )
    assert f"image not found: {DOOMED}" in crashed[0]["reason"], crashed[0]
    # Not retried forever: crashed is where it stays, the container it could not start kept for
    # inspection (as after a crash loop) and nothing else made.
    assert [c["Id"] for c in app_containers(engine, p, app_id)] == [stuck]
    assert p.api.get("/api/apps/rs-doomed").json()["status"] == "crashed"
