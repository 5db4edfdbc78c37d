"""Merging upserted search attributes and memo fields into a run's current ones (a null value removes).

Shared by the commands that upsert and by the rebuild of state from history, which must agree exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from temporalio.api.common.v1 import message_pb2 as common


def merged_search_attributes(current: bytes, upserted: Mapping[str, common.Payload]) -> bytes:
    merged = common.SearchAttributes.FromString(current)
    _merge(merged.indexed_fields, upserted)
    return merged.SerializeToString()


def merged_memo(current: bytes, upserted: Mapping[str, common.Payload]) -> bytes:
    memo = common.Memo.FromString(current)
    _merge(memo.fields, upserted)
    return memo.SerializeToString()


def _merge(fields: MutableMapping[str, common.Payload], upserted: Mapping[str, common.Payload]) -> None:
    for name, value in upserted.items():
        if is_null(value):
            fields.pop(name, None)
        else:
            fields[name].CopyFrom(value)


def is_null(payload: common.Payload) -> bool:
    """An upsert of null (or of nothing at all) removes the field."""
    return payload.metadata.get("encoding") == b"binary/null" or not (payload.data or payload.metadata)
