"""Copying message fields only when the sender set them: presence is visible in history, and the real server
leaves unset what the worker left unset (an empty header is not the same event as no header)."""

from __future__ import annotations

from google.protobuf.message import Message


def copy_present(source: Message, target: Message, *names: str) -> None:
    for name in names:
        if source.HasField(name):
            getattr(target, name).CopyFrom(getattr(source, name))
