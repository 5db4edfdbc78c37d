"""Which search attributes a workflow may carry: Temporal's settable system ones plus those registered with
`--search-attribute Name=Type`. Anything else is refused, as the real server refuses unmapped names."""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import IndexedValueType

from tempyral.errors import InvalidArgument

# System search attributes a workflow (or the SDK on its behalf) may set.
SETTABLE_SYSTEM_ATTRIBUTES: dict[str, int] = {
    "TemporalChangeVersion": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "BinaryChecksums": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "BuildIds": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "TemporalScheduledStartTime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "TemporalScheduledById": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "TemporalSchedulePaused": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}

_TYPE_NAMES = {
    "text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "keywordlist": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


# System attributes every workflow has, as GetSearchAttributes and ListSearchAttributes report them.
SYSTEM_ATTRIBUTES: dict[str, int] = {
    **{
        name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for name in (
            "WorkflowId",
            "RunId",
            "WorkflowType",
            "ExecutionStatus",
            "TaskQueue",
            "ParentWorkflowId",
            "ParentRunId",
            "RootWorkflowId",
            "RootRunId",
            "BatcherNamespace",
            "BatcherUser",
            "TemporalNamespaceDivision",
            "TemporalWorkerDeployment",
            "TemporalWorkerDeploymentVersion",
            "TemporalWorkflowVersioningBehavior",
        )
    },
    **{
        name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
        for name in ("TemporalPauseInfo", "TemporalReportedProblems", "TemporalUsedWorkerDeploymentVersions")
    },
    **{
        name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
        for name in ("StartTime", "CloseTime", "ExecutionTime")
    },
    **{
        name: IndexedValueType.INDEXED_VALUE_TYPE_INT
        for name in (
            "HistoryLength",
            "HistorySizeBytes",
            "ExecutionDuration",
            "StateTransitionCount",
            "TemporalExternalPayloadCount",
            "TemporalExternalPayloadSizeBytes",
        )
    },
    **SETTABLE_SYSTEM_ATTRIBUTES,
}


class SearchAttributeRegistry:
    """Custom attributes: those given on the command line (every namespace) and those registered
    through the OperatorService (per namespace, persisted by the caller)."""

    def __init__(self, custom: dict[str, int] | None = None) -> None:
        self.custom = dict(custom or {})
        self.by_namespace: dict[str, dict[str, int]] = {}

    def custom_of(self, namespace_name: str) -> dict[str, int]:
        return {**self.custom, **self.by_namespace.get(namespace_name, {})}

    @classmethod
    def from_flags(cls, pairs: list[str]) -> SearchAttributeRegistry:
        """Parse `Name=Type` pairs as `temporal server start-dev --search-attribute` takes them."""
        custom: dict[str, int] = {}
        for pair in pairs:
            name, sep, type_name = pair.partition("=")
            value_type = _TYPE_NAMES.get(type_name.strip().lower())
            if not sep or not name or value_type is None:
                raise ValueError(
                    "--search-attribute expects Name=Type, Type one of Text, Keyword, Int, Double, Bool, "
                    f"Datetime, KeywordList; got {pair!r}"
                )
            custom[name] = value_type
        return cls(custom)

    def custom_types(self, namespace_name: str) -> dict[str, str]:
        """Custom attributes by name, with their type names (KeywordList, Datetime, ...)."""
        return {name: type_name(value_type) for name, value_type in self.custom_of(namespace_name).items()}

    def check(self, namespace_name: str, attributes: common.SearchAttributes) -> None:
        custom = self.custom_of(namespace_name)
        for name in attributes.indexed_fields:
            if name not in custom and name not in SETTABLE_SYSTEM_ATTRIBUTES:
                raise InvalidArgument(
                    f"Namespace {namespace_name} has no mapping defined for search attribute {name}"
                )


def type_name(value_type: int) -> str:
    """Keyword, Text, Int, ... as the list-filter translator and GetSearchAttributes name them."""
    name = IndexedValueType.Name(value_type)  # type: ignore[arg-type]
    return name.removeprefix("INDEXED_VALUE_TYPE_").title().replace("_", "")
