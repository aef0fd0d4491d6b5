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
