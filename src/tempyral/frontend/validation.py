"""Request checks shared by frontend methods; each failure is an InvalidArgument a person can act on."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from tempyral.config import DynamicConfig
from tempyral.errors import FailedPrecondition, InvalidArgument
from tempyral.limits import blob_too_large

MIN_LONG_POLL_SECONDS = 2.0


def require(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is not set on request.")
    return value


def check_id_length(value: str, what: str, dynamic: DynamicConfig) -> None:
    limit = dynamic.get_int("limit.maxIDLength")
    if len(value) > limit:
        raise InvalidArgument(f"{what} exceeds maximum allowed length ({len(value)}/{limit})")


def check_run_id(run_id: str) -> None:
    """An empty run id means the current run; anything else must be a UUID."""
    if not run_id:
        return
    try:
        uuid.UUID(run_id)
    except ValueError as err:
        raise InvalidArgument("Invalid RunId.") from err


def check_blob_size(
    payload: Message | None, dynamic: DynamicConfig, message: str = "Blob data size exceeds limit."
) -> None:
    """Payloads over `limit.blobSize.error` are refused, as the real server does."""
    if blob_too_large(payload, dynamic):
        raise InvalidArgument(message)


def check_memo_size(memo: Message, dynamic: DynamicConfig) -> None:
    if memo.ByteSize() > dynamic.get_int("limit.memoSize.error"):
        raise InvalidArgument("Memo size exceeds limit.")


def check_long_poll_deadline(remaining: float | None) -> None:
    """Long polls need a deadline, and one long enough to be worth waiting on."""
    if remaining is None:
        raise InvalidArgument("Context timeout is not set.")
    if remaining < MIN_LONG_POLL_SECONDS:
        raise FailedPrecondition("Context timeout is too short.")
