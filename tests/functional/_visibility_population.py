"""Workflows and custom search attributes of the visibility population test (test_visibility_population).

Attribute values travel to workflows as JSON-safe dicts (`Attrs`: name -> value, datetimes as ISO strings,
None meaning "unset"). Kept free of test imports so the SDK's workflow sandbox can re-import it cheaply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.exceptions import ApplicationError

Attrs = dict[str, Any]

# One custom attribute of every type; the names are registered by the module's own server.
KEYS: dict[str, SearchAttributeKey[Any]] = {
    "PopKeyword": SearchAttributeKey.for_keyword("PopKeyword"),
    "PopText": SearchAttributeKey.for_text("PopText"),
    "PopInt": SearchAttributeKey.for_int("PopInt"),
    "PopDouble": SearchAttributeKey.for_float("PopDouble"),
    "PopBool": SearchAttributeKey.for_bool("PopBool"),
    "PopDatetime": SearchAttributeKey.for_datetime("PopDatetime"),
    "PopKeywords": SearchAttributeKey.for_keyword_list("PopKeywords"),
}
_FLAG_TYPES = {
    "PopKeyword": "Keyword",
    "PopText": "Text",
    "PopInt": "Int",
    "PopDouble": "Double",
    "PopBool": "Bool",
    "PopDatetime": "Datetime",
    "PopKeywords": "KeywordList",
}
# `--search-attribute Name=Type` flags, taken alike by `temporal server start-dev` and Tempyral.
SEARCH_ATTRIBUTE_FLAGS = [
    arg for name, kind in _FLAG_TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")
]


def _value(name: str, value: Any) -> Any:
    return datetime.fromisoformat(value) if name == "PopDatetime" else value


def typed(attrs: Attrs) -> TypedSearchAttributes:
    """The set values of `attrs` as the SDK's typed search attributes."""
    pairs = [
        SearchAttributePair(KEYS[name], _value(name, value))
        for name, value in attrs.items()
        if value is not None
    ]
    return TypedSearchAttributes(pairs)


def updates(attrs: Attrs) -> list[SearchAttributeUpdate[Any]]:
    """An upsert of `attrs`: None removes the attribute."""
    return [
        KEYS[name].value_unset() if value is None else KEYS[name].value_set(_value(name, value))
        for name, value in attrs.items()
    ]


@workflow.defn
class PopEcho:
    """Upserts, then completes."""

    @workflow.run
    async def run(self, upsert: Attrs) -> str:
        if upsert:
            workflow.upsert_search_attributes(updates(upsert))
        return "done"


@workflow.defn
class PopFail:
    """Upserts, then fails (non-retryable, and a workflow has no retry policy unless given one)."""

    @workflow.run
    async def run(self, upsert: Attrs) -> str:
        if upsert:
            workflow.upsert_search_attributes(updates(upsert))
        raise ApplicationError("planned failure", non_retryable=True)


@workflow.defn
class PopWait:
    """Upserts, then waits until cancelled, terminated or timed out."""

    @workflow.run
    async def run(self, upsert: Attrs) -> str:
        if upsert:
            workflow.upsert_search_attributes(updates(upsert))
        await workflow.wait_condition(lambda: False)
        return "unreachable"


@workflow.defn
class PopChain:
    """Continues as new once per entry of `later_runs`, each run getting that entry as its search
    attributes; the last run returns the run ids of the whole chain."""

    @workflow.run
    async def run(self, later_runs: list[Attrs], trail: list[str]) -> list[str]:
        trail = [*trail, workflow.info().run_id]
        if not later_runs:
            return trail
        workflow.continue_as_new(args=[later_runs[1:], trail], search_attributes=typed(later_runs[0]))


def child_attrs(depth: int) -> Attrs:
    """The search attributes a `PopChild` of `depth` starts with."""
    return {"PopKeyword": "child", "PopInt": 300 + depth, "PopKeywords": ["child", f"depth{depth}"]}


@workflow.defn
class PopChild:
    """Starts a child of its own while `depth` > 0 (id `<own id>-sub`) and completes when it has."""

    @workflow.run
    async def run(self, depth: int) -> str:
        if depth > 0:
            await workflow.execute_child_workflow(
                PopChild.run,
                depth - 1,
                id=f"{workflow.info().workflow_id}-sub",
                search_attributes=typed(child_attrs(depth - 1)),
            )
        return "done"


@workflow.defn
class PopParent:
    """Runs a `PopChild` of depth 1 (id `<own id>-sub`), which runs one of depth 0: three generations."""

    @workflow.run
    async def run(self) -> str:
        await workflow.execute_child_workflow(
            PopChild.run, 1, id=f"{workflow.info().workflow_id}-sub", search_attributes=typed(child_attrs(1))
        )
        return "done"


WORKFLOWS = [PopEcho, PopFail, PopWait, PopChain, PopChild, PopParent]
