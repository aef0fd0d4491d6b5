"""Pull progress becomes one readable line for the timeline."""

from __future__ import annotations

from berth_agent.images.decide_pull import PullProgress


def test_layers_and_bytes_are_summed() -> None:
    p = PullProgress("nginx:1.27")
    for message in [
        {"status": "Pulling from library/nginx", "id": "1.27"},
        {"status": "Pulling fs layer", "id": "aaa"},
        {"status": "Pulling fs layer", "id": "bbb"},
        {"status": "Downloading", "id": "aaa", "progressDetail": {"current": 1_000_000, "total": 4_000_000}},
        {"status": "Downloading", "id": "bbb", "progressDetail": {"current": 500_000, "total": 1_000_000}},
        {"status": "Pull complete", "id": "bbb"},
        {"status": "Digest: sha256:abc"},
    ]:
        p.update(message)
    assert p.summary() == "pulling nginx:1.27: 1/3 layers, 2.0/5.0 MB"


def test_layers_already_present_count_as_done() -> None:
    p = PullProgress("x")
    p.update({"status": "Already exists", "id": "ccc"})
    assert p.summary() == "pulling x: 1/1 layers"
