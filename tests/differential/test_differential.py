"""Each scenario's normalized histories and notes on Tempyral equal those on the real Temporal dev server."""

from __future__ import annotations

import pytest

from tests.differential.catalog import ALL_SCENARIOS, Outcome
from tests.differential.compare import KNOWN_DIFFERENCES, apply_known_differences, mismatches

# The session fixture runs every scenario on both servers before the first test: give that test the time.
pytestmark = [pytest.mark.differential, pytest.mark.timeout(300)]


# Scenarios of features not built yet, with the reason; strict xfail, so a scenario that starts passing
# must leave this table. Empty now: every recorded scenario matches the real server.
NOT_YET_BUILT: dict[str, str] = {}


def _scenario_params() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=NOT_YET_BUILT[name], strict=True))
        if name in NOT_YET_BUILT
        else name
        for name in (scenario.name for scenario in ALL_SCENARIOS)
    ]


@pytest.mark.parametrize("name", _scenario_params())
def test_same_as_temporal(
    name: str, oracle_results: dict[str, Outcome], tempyral_results: dict[str, Outcome]
) -> None:
    expected, actual = oracle_results[name], tempyral_results[name]
    if isinstance(expected, str):
        pytest.fail(f"{name} failed on the real server (no oracle):\n{expected}", pytrace=False)
    if isinstance(actual, str):
        pytest.fail(f"{name} failed on Tempyral:\n{actual}", pytrace=False)
    problems = mismatches(name, expected, actual)
    if problems:
        pytest.fail(f"{name}: {len(problems)} mismatch(es)\n\n" + "\n\n".join(problems), pytrace=False)


def test_known_differences_still_apply(oracle_results: dict[str, Outcome]) -> None:
    """Every KNOWN_DIFFERENCES entry excuses at least one value, so stale entries cannot hide anything."""
    unused = []
    for path, reason in KNOWN_DIFFERENCES.items():
        excused = (
            "<known difference:" in str(apply_known_differences(name, outcome, {path: reason}, create=False))
            for name, outcome in oracle_results.items()
            if not isinstance(outcome, str)
        )
        if not any(excused):
            unused.append(path)
    assert not unused, f"KNOWN_DIFFERENCES entries that match nothing on the real server: {unused}"
