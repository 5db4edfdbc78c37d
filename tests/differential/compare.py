"""Compare what a scenario produced on the real dev server with what it produced on Tempyral.

A mismatch is reported as a unified diff of the rendered events (or notes), so the first differing event
and its attributes are readable at a glance. Legitimate differences are listed in KNOWN_DIFFERENCES,
keyed by an exact path, each with its reason; only those paths are excused, nothing else is loosened.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import json
from typing import Any

from tests.differential.harness import ScenarioResult
from tests.differential.normalize import render_event

# Path segments are separated by "/": scenario name, "histories" or "notes", the history label or note
# key, then (for histories) the event index (0-based) and the keys inside it. Each segment may be an
# fnmatch pattern. The value at a matching path is replaced on both sides by the reason.
_NOT_IMPLEMENTED = "Tempyral does not implement this feature, and a server must advertise only what works"

KNOWN_DIFFERENCES: dict[str, str] = {
    "91_system_info/notes/get_system_info/ok/server_version": (
        "Tempyral reports its own version, not the Temporal server release it imitates"
    ),
    "91_system_info/notes/get_system_info/ok/capabilities/nexus": _NOT_IMPLEMENTED,
    "91_system_info/notes/get_system_info/ok/capabilities/supports_schedules": _NOT_IMPLEMENTED,
    "91_system_info/notes/get_system_info/ok/capabilities/build_id_based_versioning": _NOT_IMPLEMENTED,
    "91_system_info/notes/get_system_info/ok/capabilities/server_scaled_deployments": _NOT_IMPLEMENTED,
    "91_system_info/notes/get_system_info/ok/capabilities/internal_error_differentiation": _NOT_IMPLEMENTED,
    "91_system_info/notes/get_system_info/ok/capabilities/eager_workflow_start": _NOT_IMPLEMENTED,
}


def _excuse(value: Any, segments: list[str], reason: str, create: bool) -> None:
    """Replace, in place, every value at a path matching `segments` with a marker naming `reason`.

    With `create`, a plain (non-pattern) last key that is absent is set too: a field one server leaves
    out and the other sets is a difference like any other.
    """
    if not segments or not isinstance(value, dict | list):
        return
    head, rest = segments[0], segments[1:]
    keys: list[Any] = (
        [k for k in value if fnmatch.fnmatchcase(str(k), head)]
        if isinstance(value, dict)
        else [i for i in range(len(value)) if fnmatch.fnmatchcase(str(i), head)]
    )
    if create and not rest and isinstance(value, dict) and not keys and not any(c in head for c in "*?["):
        keys = [head]
    for key in keys:
        if rest:
            _excuse(value[key], rest, reason, create)
        else:
            value[key] = f"<known difference: {reason}>"


def apply_known_differences(
    scenario: str, result: ScenarioResult, known: dict[str, str] | None = None, create: bool = True
) -> dict[str, Any]:
    """The result as one dict, with known-different paths of this scenario replaced by their reason."""
    tree: dict[str, Any] = {
        "histories": copy.deepcopy(result.histories),
        "notes": copy.deepcopy(result.notes),
    }
    for path, reason in (KNOWN_DIFFERENCES if known is None else known).items():
        first, *segments = path.split("/")
        if fnmatch.fnmatchcase(scenario, first):
            _excuse(tree, segments, reason, create)
    return tree


def _render_history(events: list[dict[str, Any]]) -> list[str]:
    return [render_event(event) for event in events]


def _render_note(value: Any) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True).splitlines()


def _diff(expected: list[str], actual: list[str], what: str) -> str:
    lines = difflib.unified_diff(expected, actual, f"temporal {what}", f"tempyral {what}", lineterm="", n=2)
    return "\n".join(lines)


_ABSENT = "<absent>"


def field_differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Leaf-level differences between two plain values, as 'path: temporal=... tempyral=...' lines."""
    if isinstance(left, dict) and isinstance(right, dict):
        lines: list[str] = []
        for key in list(left) + [k for k in right if k not in left]:
            sub = f"{path}.{key}" if path else str(key)
            lines += field_differences(left.get(key, _ABSENT), right.get(key, _ABSENT), sub)
        return lines
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            line
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for line in field_differences(a, b, f"{path}[{i}]")
        ]
    if left == right:
        return []
    return [f"{path}: temporal={json.dumps(left)} tempyral={json.dumps(right)}"]


def _history_fields(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[str]:
    """Per event at the same position: which fields differ (type changes are shown by the diff)."""
    lines = []
    for want, got in zip(left, right, strict=False):  # a longer history shows in the diff above
        if want == got:
            continue
        if want["type"] != got["type"]:
            # Every later position is shifted: the unified diff above says more than fields would.
            lines.append(f"  event {want['id']}: temporal {want['type']}, tempyral {got['type']} (stop here)")
            break
        lines.append(f"  event {want['id']} {want['type']}:")
        lines += [f"    {line}" for line in field_differences(want, got)]
    return lines


def _history_problem(what: str, left: list[dict[str, Any]], right: list[dict[str, Any]]) -> str:
    diff = _diff(_render_history(left), _render_history(right), what)
    return f"{what} differs:\n{diff}\n field by field:\n" + "\n".join(_history_fields(left, right))


def mismatches(scenario: str, expected: ScenarioResult, actual: ScenarioResult) -> list[str]:
    """Readable descriptions of every difference between the two results (empty when they agree)."""
    want = apply_known_differences(scenario, expected)
    got = apply_known_differences(scenario, actual)
    problems: list[str] = []
    for label in sorted(set(want["histories"]) | set(got["histories"])):
        left, right = want["histories"].get(label), got["histories"].get(label)
        if left is None or right is None:
            problems.append(f"history {label!r}: missing on {'temporal' if left is None else 'tempyral'}")
        elif left != right:
            problems.append(_history_problem(f"history {label!r}", left, right))
    for key in sorted(set(want["notes"]) | set(got["notes"])):
        left, right = want["notes"].get(key, "<absent>"), got["notes"].get(key, "<absent>")
        if left == right:
            continue
        if key.endswith(".history") and isinstance(left, list) and isinstance(right, list):
            problems.append(_history_problem(f"note {key!r}", left, right))
        else:
            fields = "\n".join(f"  {line}" for line in field_differences(left, right))
            problems.append(f"note {key!r} differs:\n{fields}")
    return problems
