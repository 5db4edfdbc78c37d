"""The `BuildIds` search attribute: which worker builds have completed a run's workflow tasks.

The real server keeps it for every run whose workers name a build id, so that operators can find the runs a
given build touched (`BuildIds = 'unversioned:<id>'`). Unversioned workers add "unversioned" and
"unversioned:<id>"; workers with versioning on add "versioned:<id>".
"""

from __future__ import annotations

import json

from temporalio.api.common.v1 import message_pb2 as common

from tempyral.history.mutable_state import ExecutionState
from tempyral.history.upserts import merged_search_attributes

NAME = "BuildIds"


def record_build_id(state: ExecutionState, build_id: str, versioned: bool) -> bool:
    """Add the build id that completed a workflow task to the run's BuildIds; True if it changed."""
    if not build_id:
        return False
    current = _current_values(state)
    wanted = [f"versioned:{build_id}"] if versioned else ["unversioned", f"unversioned:{build_id}"]
    added = [value for value in wanted if value not in current]
    if not added:
        return False
    payload = common.Payload(
        metadata={"encoding": b"json/plain", "type": b"KeywordList"},
        data=json.dumps(current + added, separators=(",", ":")).encode(),
    )
    state.search_attributes = merged_search_attributes(state.search_attributes, {NAME: payload})
    return True


def without_build_ids(search_attributes: bytes) -> bytes:
    """Search attributes as a next run inherits them: the build ids are the old run's own."""
    attributes = common.SearchAttributes.FromString(search_attributes)
    if NAME not in attributes.indexed_fields:
        return search_attributes
    del attributes.indexed_fields[NAME]
    return attributes.SerializeToString()


def _current_values(state: ExecutionState) -> list[str]:
    attributes = common.SearchAttributes.FromString(state.search_attributes)
    if NAME not in attributes.indexed_fields:
        return []
    values = json.loads(attributes.indexed_fields[NAME].data)
    return [str(value) for value in values] if isinstance(values, list) else []
