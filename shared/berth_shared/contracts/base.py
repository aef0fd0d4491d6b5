"""Base message type and codec shared by every family.

Every message is a msgspec Struct tagged with its type name, carrying a schema
version ``v``, a unique ``id`` and a UTC timestamp ``at``. New fields must have
defaults so older producers and consumers keep working (NATS ADR-1/ADR-2 style).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

import msgspec


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(msgspec.Struct, kw_only=True, tag=True, omit_defaults=False):
    v: int = 1
    id: str = msgspec.field(default_factory=new_id)
    at: datetime = msgspec.field(default_factory=utcnow)


M = TypeVar("M")

_encoder = msgspec.json.Encoder()


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


@overload
def decode(data: bytes, kind: type[M]) -> M: ...
@overload
def decode(data: bytes, kind: Any) -> Any: ...
def decode(data: bytes, kind: Any) -> Any:
    """Decode ``data`` as ``kind`` (a Struct type or a Union of tagged Structs)."""
    return msgspec.json.decode(data, type=kind)


def to_builtins(message: msgspec.Struct) -> Any:
    return msgspec.to_builtins(message)
