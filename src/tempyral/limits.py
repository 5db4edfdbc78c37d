"""Payload size limits as the real server applies them (`limit.blobSize.*` dynamic config)."""

from __future__ import annotations

from google.protobuf.message import Message

from tempyral.config import DynamicConfig


def blob_too_large(payload: Message | None, dynamic: DynamicConfig) -> bool:
    """A blob is refused only when over both the error and the warn limit (Temporal checks them in that
    order, so an error limit below the warn limit has no effect)."""
    if payload is None:
        return False
    size = payload.ByteSize()
    return size > dynamic.get_int("limit.blobSize.error") and size > dynamic.get_int("limit.blobSize.warn")
