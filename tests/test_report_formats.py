"""CSV, JUnit XML and SARIF: one verdict per target x control, escaped, well-formed."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_helpers import samples

from cisaudit.model import Status
from cisaudit.report import render
from cisaudit.report.sarif import build_sarif

DATA = Path(__file__).resolve().parent / "data" / "report"


_samples = samples


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    run, _ = _samples().sample_run()
    run.targets[0].name = '=HYPERLINK("http://x")'  # a formula-looking host name
    out = tmp_path_factory.mktemp("formats")
    written = render(run, out, formats=["csv", "junit", "sarif"], lang="zh")
    return {p.suffix: p for p in written}


def test_csv_one_row_per_target_and_control(outputs: dict[str, Path]) -> None:
    run, _ = _samples().sample_run()
    with outputs[".csv"].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(len(t.results) for t in run.targets)
    assert {r["status"] for r in rows} == {s.value for s in Status}
    assert rows[0]["target"].startswith("'="), "formula cells must be defused"
    hostile = [r for r in rows if _samples().HOSTILE_CONTAINER in r["offenders"]]
    assert hostile and hostile[0]["control_id"] == "5.5"
    assert any("确保" in r["title"] for r in rows)


def test_junit_counts(outputs: dict[str, Path]) -> None:
    root = ET.parse(outputs[".xml"]).getroot()
    run, _ = _samples().sample_run()
    counts = {s: sum(r.status is s for t in run.targets for r in t.results) for s in Status}
    assert int(root.get("tests", 0)) == sum(counts.values())
    assert int(root.get("failures", 0)) == counts[Status.FAIL]
    assert int(root.get("errors", 0)) == counts[Status.ERROR]
    assert len(root.findall("testsuite")) == len(run.targets)
    names = [c.text or "" for c in root.iter("failure")]
    assert any(_samples().HOSTILE_CONTAINER in n for n in names)


def test_sarif_shape(outputs: dict[str, Path]) -> None:
    doc = json.loads(outputs[".sarif"].read_text(encoding="utf-8"))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        # SARIF: only results of kind "fail" may carry a level other than "none"
        assert result["level"] == "none" or result["kind"] == "fail"
        assert result["locations"][0]["logicalLocations"][0]["name"]
    kinds = {r["kind"] for r in run["results"]}
    assert kinds == {"pass", "fail", "review", "notApplicable", "open"}
    waived = [r for r in run["results"] if r["properties"]["status"] == "WAIVED"]
    assert waived and all(r["suppressions"][0]["status"] == "accepted" for r in waived)


def test_sarif_rules_carry_framework_tags() -> None:
    run, _ = _samples().sample_run()
    rules = {r["id"]: r for r in build_sarif(run)["runs"][0]["tool"]["driver"]["rules"]}
    assert "pci-dss-4.0:2.2.1" in rules["cis-docker-1.6.0/5.5"]["properties"]["tags"]


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    run, _ = _samples().sample_run()
    with pytest.raises(ValueError, match="unknown report format"):
        render(run, tmp_path, formats=["docx"])
