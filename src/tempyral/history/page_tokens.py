"""The next_page_token of a run's history: which run, and the id of the next event to read.

GetWorkflowExecutionHistory hands it out and reads it back; a workflow-task poll response whose history is
too long for one page hands out the same token, so that the worker reads the rest the usual way.
"""

from __future__ import annotations

import json

from tempyral.errors import InvalidArgument


def encode_page_token(run_id: str, next_event_id: int) -> bytes:
    return json.dumps({"run_id": run_id, "next": next_event_id}).encode()


def decode_page_token(raw: bytes) -> tuple[str, int]:
    try:
        fields = json.loads(raw)
        return str(fields["run_id"]), int(fields["next"])
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidArgument("Invalid NextPageToken.") from err
