"""Task tokens: opaque to workers, they carry enough to find the task and reject stale or repeated answers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from tempyral.errors import InvalidArgument

_VERSION = 1


@dataclass(frozen=True)
class TaskToken:
    namespace_id: str
    workflow_id: str
    run_id: str
    scheduled_event_id: int
    attempt: int
    # Workflow tasks: the started event id. Activity tasks: 0 (the started event is written only at the end).
    started_event_id: int = 0
    activity_id: str = ""
    # Distinguishes activity tokens from workflow-task tokens.
    kind: str = "workflow"

    def encode(self) -> bytes:
        fields = asdict(self)
        fields["v"] = _VERSION
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> TaskToken:
        if not raw:
            raise InvalidArgument("Task token not set on request.")
        try:
            fields = json.loads(raw)
            if not isinstance(fields, dict) or fields.pop("v", None) != _VERSION:
                raise ValueError("unknown token version")
            return cls(**fields)
        except (ValueError, TypeError, UnicodeDecodeError) as err:
            raise InvalidArgument("Error deserializing task token.") from err
