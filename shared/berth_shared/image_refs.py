"""Image references re-run by id, and what to say when such an image is gone (pure).

Restarts, config changes and rollbacks re-run an earlier release's image by its id
(``sha256:…``), which no registry can serve: when the host no longer has it, the release
fails at once with this message, from the API when it can ask the agent, else at the agent's
first step.
"""

from __future__ import annotations


def is_image_id(ref: str) -> bool:
    return ref.startswith("sha256:")


def gone_message(image: str, app_name: str, source_image: str = "", source_version: int = 0) -> str:
    """``image sha256:… of release v3 is no longer on this host; …`` with how to get it back."""
    of = f" of release v{source_version}" if source_version else ""
    again = (
        f"deploy it again with `berth deploy {app_name} --image {source_image}`"
        if source_image and not is_image_id(source_image)
        else f"deploy its image again by name with `berth deploy {app_name} --image IMAGE`"
    )
    return f"image {image}{of} is no longer on this host (it was removed or pruned); {again}"
