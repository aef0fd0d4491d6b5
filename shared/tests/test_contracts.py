"""Messages are tagged and versioned, and only ever gain fields: an older producer's payload
(without the newer fields) still decodes, with the new fields at their defaults."""

from __future__ import annotations

import json

from berth_shared.contracts.apps import AppCreated, AppEvent
from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.desired import DesiredApp
from berth_shared.contracts.releases import AgentEvent, ReleaseFailed, ReleaseLive
from berth_shared.errors import Conflict, ErrorReply, from_reply, to_http_body, to_reply


def test_union_decoding_picks_the_tagged_type() -> None:
    data = encode(ReleaseFailed(app_id="a", release_id="r", reason="image not found: x"))
    event = decode(data, AgentEvent)
    assert isinstance(event, ReleaseFailed) and event.reason == "image not found: x"
    assert json.loads(data)["type"] == "ReleaseFailed" and json.loads(data)["v"] == 1


def test_an_older_payload_without_newer_fields_still_decodes() -> None:
    old = {"type": "AppCreated", "v": 1, "id": "x", "at": "2026-12-01T00:00:00Z",
           "app_id": "a", "name": "web", "hostname": "web.x", "port": 80, "subnet": "10.240.0.0/28"}  # fmt: skip
    event = decode(json.dumps(old).encode(), AppEvent)
    assert isinstance(event, AppCreated) and event.health_path == "/" and event.health_check is None
    live = decode(json.dumps({**old, "type": "ReleaseLive", "release_id": "r", "slot": "a"}).encode(), AgentEvent)
    assert isinstance(live, ReleaseLive) and live.image_digest == ""


def test_desired_app_defaults() -> None:
    app = decode(b'{"app_id":"a","name":"n","hostname":"h","port":1,"subnet":"10.0.0.0/28"}', DesiredApp)
    assert app.release is None and app.keep_images == [] and app.resources.memory_mb == 256


def test_errors_round_trip_over_the_bus_and_render_for_http() -> None:
    reply = decode(encode(to_reply(Conflict("taken"))), ErrorReply)
    error = from_reply(reply)
    assert isinstance(error, Conflict) and error.http_status == 409
    assert to_http_body(error) == {"error": {"code": "conflict", "message": "taken", "details": []}}


def test_issue_17_fields_default_for_older_producers() -> None:
    """Every message issue 17 extended decodes from a payload without the new fields (ADR 0026)."""
    from berth_shared.contracts.agent import HeldContainer
    from berth_shared.contracts.builds import BuildLog
    from berth_shared.contracts.containers import ContainerEvent, ContainerExited
    from berth_shared.contracts.logs import LogBatch, LogItem, LogQuery
    from berth_shared.contracts.owner_state import LiveRelease
    from berth_shared.contracts.releases import AppCrashed, ReleaseStep
    from berth_shared.contracts.slots import ServingSlot, SwitchSlot

    head = {"v": 1, "id": "x", "at": "2026-12-01T00:00:00Z", "app_id": "a", "release_id": "r"}
    step = decode(json.dumps({**head, "type": "ReleaseStep", "step": "health.passed"}).encode(), AgentEvent)
    assert isinstance(step, ReleaseStep) and (step.process, step.instance) == ("web", 0)
    live = decode(json.dumps({**head, "type": "ReleaseLive", "slot": "a"}).encode(), AgentEvent)
    assert isinstance(live, ReleaseLive) and live.addresses == []
    crashed = decode(json.dumps({**head, "type": "AppCrashed", "exit_code": 1, "restarts": 5}).encode(), AgentEvent)
    assert isinstance(crashed, AppCrashed) and crashed.process == "web"
    log = decode(json.dumps({**head, "type": "BuildLog", "lines": ["x"]}).encode(), AgentEvent)
    assert isinstance(log, BuildLog) and log.source == "build"
    exited = decode(
        json.dumps({**head, "type": "ContainerExited", "slot": "a", "container_id": "c", "exit_code": 0}).encode(),
        ContainerEvent,
    )
    assert isinstance(exited, ContainerExited) and (exited.process, exited.index, exited.run_id) == ("web", 0, "")
    batch_fields = {"slot": "a", "container_id": "c", "stream": "stdout", "lines": []}
    batch = decode(json.dumps({**head, "type": "LogBatch", **batch_fields}).encode(), LogBatch)
    assert (batch.process, batch.run_id) == ("web", "")
    assert decode(b'{"type":"LogQuery","app_id":"a"}', LogQuery).process is None
    item = decode(b'{"id":1,"timestamp":"t","stream":"stdout","release_id":"r","message":"m"}', LogItem)
    assert (item.process, item.run_id) == ("web", "")
    switch = decode(b'{"type":"SwitchSlot","app_id":"a","release_id":"r","slot":"b"}', SwitchSlot)
    assert switch.addresses == []
    assert decode(b'{"app_id":"a","release_id":"r","slot":"a"}', ServingSlot).addresses == []
    held = decode(b'{"release_id":"r","slot":"a","container_id":"c"}', HeldContainer)
    assert (held.process, held.index, held.run_id, held.address) == ("web", 0, "", "")
    assert decode(b'{"release_id":"r","slot":"a","live_at":"2026-12-01T00:00:00Z"}', LiveRelease).addresses == []
    desired = decode(
        b'{"app_id":"a","name":"n","hostname":"h","port":1,"subnet":"10.0.0.0/28",'
        b'"release":{"release_id":"r","image":"i"}}',
        DesiredApp,
    )
    assert desired.release is not None and desired.release.processes == [] and desired.release.release_command is None
