"""Which address of an app's shared range a new container gets (ADR 0026 §2). Pure.

The taken set is what the app's containers say they hold (their ``berth.address`` label) plus the
addresses picked but not yet written on a container (``pending``); the lowest free one of the
shared range wins (:func:`berth_shared.netplan.pick_address`). Nothing here remembers anything:
after a restart the labels are the whole truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from berth_shared import labels
from berth_shared.netplan import pick_address


def labelled_addresses(container_labels: Iterable[Mapping[str, str]]) -> frozenset[str]:
    """The addresses containers carry in their ``berth.address`` label (missing or empty: none)."""
    return frozenset(found[labels.ADDRESS] for found in container_labels if found.get(labels.ADDRESS))


def choose(subnet: str, labelled: Iterable[str], pending: Iterable[str]) -> str | None:
    """The address for the next container of the app, or None when the shared range is full."""
    return pick_address(subnet, {*labelled, *pending})
