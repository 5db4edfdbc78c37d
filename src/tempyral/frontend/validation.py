"""Request checks shared by frontend methods; each failure is an InvalidArgument a person can act on."""

from __future__ import annotations

from google.protobuf.message import Message

from tempyral.config import DynamicConfig
from tempyral.errors import InvalidArgument


def require(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is not set on request.")
    return value


def check_id_length(value: str, what: str, dynamic: DynamicConfig) -> None:
    if len(value) > dynamic.get_int("limit.maxIDLength"):
        raise InvalidArgument(f"{what} exceeds length limit.")


def check_blob_size(payload: Message | None, what: str, dynamic: DynamicConfig) -> None:
    """Payloads over `limit.blobSize.error` are refused, as the real server does."""
    if payload is None:
        return
    size = payload.ByteSize()
    limit = dynamic.get_int("limit.blobSize.error")
    if size > limit:
        raise InvalidArgument(f"Blob data size exceeds limit: {what} is {size} bytes, the limit is {limit}.")
