"""Which images the agent may prune: a pure decision over plain data (no I/O; mypy strict).

The agent only ever considers images it recorded itself when it brought them into use for a
Berth release (``agent.images``), and of those only what Berth itself put on the host: images
it built (``built``) or pulled (``pulled``). An image that was already on the host when a
release named it (``found``: the user built or pulled it by hand) is never removed, and a tag
of it is never untagged. A Berth image is pruned only when none of its names is kept by an app
(``DesiredApp.keep_images``: the images of each app's last distinct live images), used by a
container, or used by a rollout in progress; images of deleted apps are kept by no app.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DOCKER_HUB_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/")


BUILT = "built"  # built by Berth from an uploaded context
PULLED = "pulled"  # pulled by Berth because the host did not have it
FOUND = "found"  # already on the host when a release named it: the user's own
ORIGINS = (BUILT, PULLED, FOUND)
BERTHS = frozenset({BUILT, PULLED})


@dataclass(frozen=True)
class RecordedImage:
    """A row of ``agent.images``: ``ref`` (as the release named it) resolved to ``image_id`` for
    ``app_id``; ``origin``: how the image came onto the host (``built``, ``pulled``, ``found``)."""

    image_id: str
    app_id: str
    ref: str
    origin: str = FOUND


@dataclass(frozen=True)
class LocalImage:
    """What Docker has for an image id now."""

    image_id: str
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneTarget:
    """Remove the references the agent used (``refs``; untagging leaves other tags alone), or the id."""

    image_id: str
    refs: tuple[str, ...]
    apps: tuple[str, ...] = field(default=(), compare=False)  # whose history hears of it


@dataclass(frozen=True)
class PrunePlan:
    remove: tuple[PruneTarget, ...] = ()
    forget: tuple[str, ...] = field(default=())  # image ids no longer on the host: drop their rows


def normalize(name: str) -> str:
    """One spelling per image name: Docker Hub prefixes dropped, ``:latest`` implied."""
    name = name.strip()
    if name.startswith("sha256:") or not name:
        return name
    for prefix in DOCKER_HUB_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def names_of(image_id: str, refs: Iterable[str], local: LocalImage | None) -> frozenset[str]:
    names = {image_id, *refs}
    if local is not None:
        names.update(local.tags)
        names.update(local.digests)
    return frozenset(normalize(n) for n in names if n)


def origin_of(observed: str, recorded: Iterable[str]) -> str:
    """The origin to record for an image: once Berth built or pulled an image id, later uses of
    it (found on the host because Berth put it there) keep that origin; a user's image stays
    ``found``."""
    if observed in BERTHS:
        return observed
    earlier = sorted(set(recorded) & BERTHS)
    return earlier[0] if earlier else FOUND


def plan_prune(
    recorded: Iterable[RecordedImage],
    local: Mapping[str, LocalImage],
    keep: Iterable[str],
    in_use: Iterable[str],
    keep_apps: Iterable[str] = (),
) -> PrunePlan:
    """``keep``: every app's kept images; ``in_use``: image ids/refs of every container and of
    every rollout in progress; ``keep_apps``: apps whose recorded images are all kept (the API
    did not say which to keep). Only images Berth built or pulled are removed, by the refs it
    used for them (a ref it found on the host is never untagged; an image known only by id is
    removed by id only when it has no tag left). Images absent from ``local`` are forgotten."""
    protected = frozenset(normalize(n) for n in (*keep, *in_use) if n)
    whole_apps = frozenset(keep_apps)
    refs_by_id: defaultdict[str, set[str]] = defaultdict(set)
    apps_by_id: defaultdict[str, set[str]] = defaultdict(set)
    owned_refs: defaultdict[str, set[str]] = defaultdict(set)
    kept_ids: set[str] = set()
    for row in recorded:
        refs_by_id[row.image_id].add(row.ref)
        apps_by_id[row.image_id].add(row.app_id)
        if row.origin in BERTHS:
            owned_refs[row.image_id].add(row.ref)
        if row.app_id in whole_apps:
            kept_ids.add(row.image_id)
    remove: list[PruneTarget] = []
    forget: list[str] = []
    for image_id in sorted(refs_by_id):
        refs = refs_by_id[image_id]
        present = local.get(image_id)
        if present is None:
            forget.append(image_id)
            continue
        if image_id not in owned_refs or image_id in kept_ids or names_of(image_id, refs, present) & protected:
            continue
        found_refs = {normalize(r) for r in refs - owned_refs[image_id]}
        ours = tuple(
            sorted(
                r for r in owned_refs[image_id] if r and not r.startswith("sha256:") and normalize(r) not in found_refs
            )
        )
        if not ours and present.tags:
            continue  # known to Berth only by id, and tagged by someone: deleting by id would untag it
        remove.append(PruneTarget(image_id=image_id, refs=ours, apps=tuple(sorted(apps_by_id[image_id]))))
    return PrunePlan(remove=tuple(remove), forget=tuple(forget))


def unspoken_apps(apps: Iterable[tuple[str, bool, int]]) -> frozenset[str]:
    """Of ``(app_id, has_release, len(keep_images))``: the apps with a release but an empty keep
    list. That cannot come from an API that fills the list (it names at least the current
    release), so it is an API that does not know the field yet: keep all of such an app's images."""
    return frozenset(app_id for app_id, has_release, kept in apps if has_release and kept == 0)
