"""Copying message fields only when the sender set them: presence is visible in history, and the real server
leaves unset what the worker left unset (an empty header is not the same event as no header)."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message


def copy_present(source: Message, target: Message, *names: str) -> None:
    for name in names:
        if source.HasField(name):
            getattr(target, name).CopyFrom(getattr(source, name))


def copy_nonempty(source: Message, target: Message, *names: str) -> None:
    """For memo and search attributes: the real server leaves them out of history when empty."""
    for name in names:
        value = getattr(source, name)
        if value.ByteSize():
            getattr(target, name).CopyFrom(value)


def present(message: Message, name: str) -> Any:
    """The sub-message `name` if the message type has it and the sender set it, else None."""
    if name not in message.DESCRIPTOR.fields_by_name or not message.HasField(name):
        return None
    return getattr(message, name)
