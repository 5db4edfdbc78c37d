"""Server settings: command-line options and the dynamic-config limits we honour (Temporal key names)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MIB = 1024 * 1024

# Temporal dynamic-config keys we honour, with Temporal's defaults.
DYNAMIC_CONFIG_DEFAULTS: dict[str, Any] = {
    "limit.historyCount.suggestContinueAsNew": 4096,
    "limit.historySize.suggestContinueAsNew": 4 * MIB,
    "limit.historyCount.warn": 10240,
    "limit.historySize.warn": 10 * MIB,
    "limit.historyCount.error": 51200,
    "limit.historySize.error": 50 * MIB,
    "limit.blobSize.warn": 512 * 1024,
    "limit.blobSize.error": 2 * MIB,
    "limit.memoSize.error": 2 * MIB,
    "limit.maxIDLength": 1000,
    # Per-workflow limits on work in flight: one more fails the workflow task.
    "limit.numPendingActivities.error": 2000,
    "limit.numPendingChildExecutions.error": 2000,
    # Seconds a poll waits for a task before answering empty.
    "matching.longPollExpirationInterval": 60.0,
    # Events in the first page of a workflow task's history (the worker reads the rest page by page).
    "frontend.historyMaxPageSize": 256,
    # Seconds a GetWorkflowExecutionHistory long poll waits before answering with nothing new.
    "history.longPollExpirationInterval": 20.0,
    "system.defaultWorkflowTaskTimeout": 10.0,
    "system.maxWorkflowTaskTimeout": 120.0,
    # Attempts after which a failing workflow task is retried with backoff rather than at once.
    "history.workflowTaskRetryBackoffFromAttempt": 3,
    "history.workflowTaskRetryMaxInterval": 600.0,
    # A query nobody answered fails as "no poller seen" if no worker polled its task queue for this long.
    "matching.queryPollerUnavailableWindow": 20.0,
    # Queries that may wait for a run's pending workflow task (to ride in it); more are refused as busy.
    "history.MaxBufferedQueryCount": 1,
}


def parse_duration_value(value: Any) -> float:
    """Dynamic-config durations come as numbers of seconds or Go-style strings like "1s", "500ms"."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * scale
    return float(text)


@dataclass
class DynamicConfig:
    """Values from `--dynamic-config-value KEY=VALUE`, falling back to Temporal's defaults."""

    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: list[str]) -> DynamicConfig:
        values: dict[str, Any] = {}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            if not sep:
                raise ValueError(f"--dynamic-config-value expects KEY=VALUE, got {pair!r}")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ValueError(f"dynamic config value for {key} must be JSON: {raw!r}") from err
            if key not in DYNAMIC_CONFIG_DEFAULTS:
                log.warning("dynamic config key %s is not used by Tempyral; accepted and ignored", key)
            values[key] = value
        return cls(values)

    def get_int(self, key: str) -> int:
        return int(self.values.get(key, DYNAMIC_CONFIG_DEFAULTS[key]))

    def get_seconds(self, key: str) -> float:
        return parse_duration_value(self.values.get(key, DYNAMIC_CONFIG_DEFAULTS[key]))


@dataclass
class ServerConfig:
    ip: str = "127.0.0.1"
    port: int = 7233
    db_filename: str | None = None
    namespaces: list[str] = field(default_factory=list)
    log_level: str = "warn"
    search_attributes: list[str] = field(default_factory=list)
    dynamic: DynamicConfig = field(default_factory=DynamicConfig)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"
