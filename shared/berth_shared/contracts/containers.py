"""Container family: what the runtime agent saw Docker do to app containers.

Subjects: ``berth.evt.agent.container.<event>.<app_id>`` (BERTH_EVT).
"""

from __future__ import annotations

from berth_shared.contracts.base import Message


def container_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.agent.container.{event}.{app_id}"


CONTAINER_EVENTS = "berth.evt.agent.container.>"


class ContainerStarted(Message, kw_only=True):
    app_id: str
    release_id: str
    slot: str
    container_id: str
    # The process type (``run``/``cron``/``release`` for one-off containers), its instance, the run.
    process: str = "web"
    index: int = 0
    run_id: str = ""


class ContainerExited(Message, kw_only=True):
    app_id: str
    release_id: str
    slot: str
    container_id: str
    exit_code: int
    expected: bool = False
    # The process type (``run``/``cron``/``release`` for one-off containers), its instance, the run.
    process: str = "web"
    index: int = 0
    run_id: str = ""


class ContainerOomKilled(Message, kw_only=True):
    app_id: str
    release_id: str
    slot: str
    container_id: str
    # The process type (``run``/``cron``/``release`` for one-off containers), its instance, the run.
    process: str = "web"
    index: int = 0
    run_id: str = ""


class ImagePruned(Message, kw_only=True):
    """The agent removed an image it built or pulled for the app (``refs``: the names it
    untagged); ``reason`` says why, e.g. past the disk watermark. Subject event: ``image_pruned``."""

    app_id: str
    image_id: str
    refs: list[str] = []
    reason: str = ""


ContainerEvent = ContainerStarted | ContainerExited | ContainerOomKilled | ImagePruned
