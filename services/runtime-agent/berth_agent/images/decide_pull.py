"""Summarising Docker's pull progress stream for the release timeline (pure).

The engine sends one JSON message per layer update (``{"id", "status", "progressDetail":
{"current", "total"}}``); the timeline wants one readable line now and then, e.g.
``pulling nginx:1.27: 3/5 layers, 12.4/30.1 MB``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DONE = {"Pull complete", "Already exists", "Download complete"}


@dataclass
class PullProgress:
    image: str
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)

    def update(self, message: dict[str, Any]) -> None:
        layer = message.get("id")
        status = str(message.get("status", ""))
        if not isinstance(layer, str) or ":" in layer:  # "latest: Pulling from ..." is not a layer
            return
        detail = message.get("progressDetail") or {}
        current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
        if status.startswith("Downloading") and total:
            self.layers[layer] = (current, total)
        elif status in DONE:
            self.finished.add(layer)
            _, size = self.layers.get(layer, (0, 0))
            self.layers[layer] = (size, size)
        else:
            self.layers.setdefault(layer, (0, 0))

    def summary(self) -> str:
        done = sum(1 for layer in self.layers if layer in self.finished)
        current = sum(c for c, _ in self.layers.values()) / 1e6
        total = sum(t for _, t in self.layers.values()) / 1e6
        size = f", {current:.1f}/{total:.1f} MB" if total else ""
        return f"pulling {self.image}: {done}/{len(self.layers)} layers{size}"
