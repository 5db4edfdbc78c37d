"""Turn history events and other protos into plain, comparable dicts with run-specific noise replaced.

Both the oracle recorder (which writes /work/oracle/histories.md) and the differential tests use this, so the
document the lead reads and the comparison the tests make show exactly the same fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

# Fields whose values differ from run to run or server to server without meaning anything; they are replaced
# by a marker (not dropped) so that the comparison still checks that the field is set.
_MASKED_FIELDS: dict[str, str] = {
    "request_id": "<request-id>",
    "run_id": "<run-id>",
    "base_run_id": "<run-id>",
    "new_run_id": "<run-id>",
    "original_execution_run_id": "<run-id>",
    "first_execution_run_id": "<run-id>",
    "new_execution_run_id": "<run-id>",
    "continued_execution_run_id": "<run-id>",
    "history_size_bytes": "<size>",
    "task_token": "<token>",
    "next_page_token": "<token>",
    "event_time": "<time>",
    "task_id": "<task-id>",
    "build_id": "<build-id>",
    "binary_checksum": "<checksum>",
    # Same SDK on both sides, but paths make them long and unreadable in the document.
    "stack_trace": "<stack trace>",
}

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Fields left out entirely: set or not depending on timing (the real matching service's poller-scaling hint).
_DROPPED_FIELDS = {"poller_scaling_decision"}

# Lists whose order is not meaningful (the SDK builds them from a hash set).
_UNORDERED_FIELDS = {"core_used_flags", "lang_used_flags"}

# Top-level HistoryEvent fields that are pure bookkeeping.
_EVENT_ENVELOPE_SKIP = {"event_id", "event_type", "event_time", "task_id", "version"}


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return f"<{len(value)} bytes>"
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_plain(value)
    return value


def _payload(message: Message) -> str:
    """A payload as its decoded JSON text (short), so failures and results stay readable."""
    metadata = dict(message.metadata)  # type: ignore[attr-defined]
    encoding = metadata.get("encoding", b"").decode(errors="replace")
    data: bytes = message.data  # type: ignore[attr-defined]
    if encoding == "json/plain":
        text = data.decode(errors="replace")
        try:
            # Local-activity markers carry wall-clock times inside their JSON.
            text = json.dumps(_mask_times(json.loads(text)), separators=(",", ":"))
        except ValueError:
            pass
        return f"json:{text[:120]}"
    return f"<{encoding or 'no-encoding'} {len(data)} bytes>"


def _mask_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<time>" if k.endswith("_time") else _mask_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_times(item) for item in value]
    return value


def _duration(message: Message) -> str:
    seconds = message.seconds + message.nanos / 1e9  # type: ignore[attr-defined]
    return f"{seconds:g}s"


def to_plain(message: Message) -> Any:
    """A proto message as nested dicts/lists of its non-default fields; timestamps become '<time>'."""
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        return "<time>"
    if name == "google.protobuf.Duration":
        return _duration(message)
    if name == "temporal.api.common.v1.Payload":
        return _payload(message)
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {key: _scalar(value_field, item) for key, item in sorted(value.items())}
        elif field.is_repeated:
            out[field.name] = [_scalar(field, item) for item in value]
        else:
            out[field.name] = _scalar(field, value)
    return out


class Names:
    """Maps the random names a scenario made up (task queues, workflow ids) to stable placeholders."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.mapping: dict[str, str] = dict(mapping or {})

    def add(self, real: str, placeholder: str) -> None:
        self.mapping[real] = placeholder

    def replace(self, text: str) -> str:
        # Longest first, so a task queue named "<wf>-acts" is not half-replaced by "<wf>".
        for real in sorted(self.mapping, key=len, reverse=True):
            text = text.replace(real, self.mapping[real])
        return text


def mask(value: Any, names: Names) -> Any:
    """Replace noisy fields (see _MASKED_FIELDS), sticky queue names and scenario names in a plain value."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _DROPPED_FIELDS:
                continue
            if key in _MASKED_FIELDS and item not in ("", 0, None):
                out[key] = _MASKED_FIELDS[key]
            elif key in _UNORDERED_FIELDS and isinstance(item, list):
                out[key] = sorted(item)
            else:
                out[key] = mask(item, names)
        if out.get("kind") == "TASK_QUEUE_KIND_STICKY" and "name" in out:
            # Sticky queue names embed the worker's host, pid and a random id.
            out["name"] = "<sticky>"
        return out
    if isinstance(value, list):
        return [mask(item, names) for item in value]
    if isinstance(value, str):
        return _UUID.sub("<uuid>", names.replace(value))
    return value


def normalize_event(event: HistoryEvent, names: Names) -> dict[str, Any]:
    """One event as {'id', 'type', 'attrs', [envelope fields]} with noise masked."""
    plain = to_plain(event)
    attributes_field = event.WhichOneof("attributes")
    attrs = plain.pop(attributes_field, {}) if attributes_field else {}
    extra = {key: item for key, item in plain.items() if key not in _EVENT_ENVELOPE_SKIP}
    normalized: dict[str, Any] = {
        "id": event.event_id,
        "type": EventType.Name(event.event_type).removeprefix("EVENT_TYPE_"),
        "attrs": mask(attrs, names),
    }
    if extra:
        normalized["envelope"] = mask(extra, names)
    return normalized


def normalize_history(events: list[HistoryEvent], names: Names) -> list[dict[str, Any]]:
    return [normalize_event(event, names) for event in events]


def compact(value: Any) -> str:
    """One-line rendering used in the oracle document and in diffs."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def render_event(event: Mapping[str, Any]) -> str:
    line = f"{event['id']:>3} {event['type']}"
    if event["attrs"]:
        line += "  " + compact(event["attrs"])
    if event.get("envelope"):
        line += "  envelope=" + compact(event["envelope"])
    return line
