"""What a restore can bring back of each app, and why not (pure: rows in, decisions out).

After the database is restored, each app's desired release names an image: by name
(``web:v3``), by id (``sha256:…``: restarts, config changes and rollbacks re-run an image by
id), or built from source. On the new host the image is there, or can be pulled by the name it
was deployed as, or is gone: a build context lives in the bus's object store for a day and is
not part of a backup, and no registry serves an image by id.
"""

from __future__ import annotations

from dataclasses import dataclass

PRESENT = "present"  # on this engine: the app comes back as it was
PULL = "pull"  # not here; pull it by name
LOST = "lost"  # cannot be brought back; ``why`` says how to get it back


@dataclass(frozen=True)
class AppImage:
    """An app's desired release, as the restored database has it."""

    app: str
    version: int
    image: str  # what the release runs: a name, or an image id
    built: bool = False  # built from source by Berth
    source_image: str = ""  # for an image id: the name it was first deployed as ("" if none)


@dataclass(frozen=True)
class Recovery:
    app: str
    image: str
    outcome: str
    pull_ref: str = ""
    why: str = ""


def is_image_id(ref: str) -> bool:
    return ref.startswith("sha256:")


def _lost(item: AppImage, why: str) -> Recovery:
    return Recovery(item.app, item.image, LOST, why=why)


def decide(item: AppImage, present: bool) -> Recovery:
    """What to do for one app whose image is ``present`` on this engine or not."""
    if present:
        return Recovery(item.app, item.image, PRESENT)
    redeploy = f"`berth deploy {item.app} --image IMAGE`"
    if item.built:
        return _lost(
            item,
            f"release v{item.version} was built from source and its build context is not in backups "
            f"(contexts are kept a day on the old host's bus): deploy from source again with "
            f"`berth deploy {item.app} ./DIR`",
        )
    if not is_image_id(item.image):
        return Recovery(item.app, item.image, PULL, pull_ref=item.image)
    if item.source_image and not is_image_id(item.source_image):
        # Pulled by the name it was deployed as; only the same image id brings the release back.
        return Recovery(item.app, item.image, PULL, pull_ref=item.source_image)
    return _lost(
        item, f"image {item.image} is known only by id, which no registry serves: deploy again with {redeploy}"
    )


def after_pull(rec: Recovery, pulled_id: str, error: str) -> Recovery:
    """The outcome once a pull of ``rec.pull_ref`` was tried (``pulled_id``: the image id the
    engine now has under that name, ``""`` when the pull failed with ``error``)."""
    if rec.outcome != PULL:
        return rec
    if not pulled_id:
        return Recovery(
            rec.app,
            rec.image,
            LOST,
            rec.pull_ref,
            f"{rec.pull_ref} is not on this host and could not be pulled ({error}): "
            f"load it (`docker load`) or deploy again with `berth deploy {rec.app} --image IMAGE`",
        )
    if is_image_id(rec.image) and pulled_id != rec.image:
        return Recovery(
            rec.app,
            rec.image,
            LOST,
            rec.pull_ref,
            f"{rec.pull_ref} now names another image ({pulled_id[:19]}…, not {rec.image[:19]}…): "
            f"deploy it as a new release with `berth deploy {rec.app} --image {rec.pull_ref}`",
        )
    return Recovery(rec.app, rec.image, PULL, rec.pull_ref, f"pulled {rec.pull_ref}")


def settings_drift(backed_up: dict[str, str], current: dict[str, str]) -> list[str]:
    """Settings the restored state depends on that differ on this host (what to set, and why)."""
    why = {
        "BERTH_SUBNET_POOL": "app networks keep the subnets they were given",
        "BERTH_HOST_ID": "apps are placed on the host id they were deployed to",
        "BERTH_DOMAIN": "app hostnames were made under the old domain",
    }
    return [
        f"{key}={backed_up[key]} on the backed-up platform, {current.get(key, '')!r} here: set it as before ({reason})"
        for key, reason in why.items()
        if key in backed_up and backed_up[key] != current.get(key, "")
    ]
