"""Recorded facts in, expected verdicts out: one parametrised test runs every case.

A case is ``tests/data/cases/<benchmark>/<control-id>/<status>-<what>.yaml``; the expected
status is the file name's prefix (pass, fail, na, error, manual). The file holds
``facts`` (only those the control needs), optionally ``errors`` (fact -> reason) and
``offenders`` (names that must be reported, in any order).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cisaudit.catalog import load_catalog
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
    return sorted(CASES.glob("*/*/*.yaml"))


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_case(case: Path) -> None:
    benchmark = CATALOG.get(case.parent.parent.name)
    control = benchmark.controls[case.parent.name]
    data = load_file(case)
    expected = PREFIX[case.stem.split("-")[0]]
    result = evaluate(control, FactSet(data.get("facts", {}), data.get("errors", {})))
    assert result.status is expected, f"{result.status}: {result.reason} observed={result.observed}"
    if "offenders" in data:
        assert sorted(o.name for o in result.offenders) == sorted(data["offenders"])
    if expected in (Status.NOT_APPLICABLE, Status.ERROR, Status.MANUAL):
        assert result.reason, "a non-verdict must say why"
    if expected is Status.FAIL:
        assert result.remediation or control.snippet.get("text") == "", "a failure carries its fix"


@pytest.mark.parametrize("bench_id", sorted(CATALOG.benchmarks))
def test_every_automated_control_has_pass_and_fail_cases(bench_id: str) -> None:
    missing = []
    for control in CATALOG.get(bench_id).ordered():
        if not control.automated:
            continue
        folder = CASES / bench_id / control.id
        kinds = {p.stem.split("-")[0] for p in folder.glob("*.yaml")}
        outcomes = {"fail", "manual"} & kinds  # review-only controls end in MANUAL, not FAIL
        if "pass" not in kinds or not outcomes:
            missing.append(f"{control.id} has {sorted(kinds) or 'no cases'}")
    assert not missing, "controls without pass and fail cases:\n" + "\n".join(missing)
