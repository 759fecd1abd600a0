"""Recorded facts in, expected verdicts out: one parametrised test runs every case.

A case is ``tests/data/cases/<check-slug>/<status>-<what>.yaml``: cases belong to the
check, so every benchmark version that maps a control onto it reuses them. The expected
status is the file name's prefix (pass, fail, na, error, manual). The file holds
``facts`` (only those the check needs), optionally ``errors`` (fact -> reason),
``offenders`` (names that must be reported, in any order) and ``params`` (parameter
values other than the check's defaults).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cisaudit.api import load_catalog
from cisaudit.catalog import Control
from cisaudit.evaluate import FactSet, evaluate
from cisaudit.model import Status
from cisaudit.yamlsrc import load_file

CASES = Path(__file__).parent / "data" / "cases"
PREFIX = {
    "pass": Status.PASS,
    "fail": Status.FAIL,
    "na": Status.NOT_APPLICABLE,
    "error": Status.ERROR,
    "manual": Status.MANUAL,
}
CATALOG = load_catalog()


def _cases() -> list[Path]:
    return sorted(CASES.glob("*/*.yaml"))


def control_for(slug: str) -> Control:
    """A pack control decided by this check (any one: cases are about the check)."""
    return next(c for p in CATALOG.packs.values() for c in p.ordered() if c.check_slug == slug)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_case(case: Path) -> None:
    control = control_for(case.parent.name)
    data = load_file(case)
    expected = PREFIX[case.stem.split("-")[0]]
    # a case is about the check: its own defaults, not one benchmark version's values
    defaults = {n: p.default for n, p in CATALOG.checks[control.check_slug].params.items()}
    params = {**defaults, **data.get("params", {})}
    result = evaluate(control, FactSet(data.get("facts", {}), data.get("errors", {})), params)
    assert result.status is expected, f"{result.status}: {result.reason} observed={result.observed}"
    if "offenders" in data:
        assert sorted(o.name for o in result.offenders) == sorted(data["offenders"])
    if expected in (Status.NOT_APPLICABLE, Status.ERROR, Status.MANUAL):
        assert result.reason, "a non-verdict must say why"
    if expected is Status.FAIL:
        assert result.remediation or control.snippet.get("text") == "", "a failure carries its fix"


def test_every_automated_check_has_pass_and_fail_cases() -> None:
    missing = []
    for control in (control_for(slug) for slug in sorted(CATALOG.checks)):
        if not control.automated:
            continue
        folder = CASES / control.check_slug
        kinds = {p.stem.split("-")[0] for p in folder.glob("*.yaml")}
        outcomes = {"fail", "manual"} & kinds  # review-only controls end in MANUAL, not FAIL
        if "pass" not in kinds or not outcomes:
            missing.append(f"{control.check_slug} has {sorted(kinds) or 'no cases'}")
    assert not missing, "checks without pass and fail cases:\n" + "\n".join(missing)
