"""Compliance frameworks: the mapping files validate, the roll-up rule gives every
verdict it should, framework parameters re-judge controls, and the outputs (CLI, CSV,
the xlsx workbook read back by two independent readers) carry the verdicts."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from cisaudit import api, rollup
from cisaudit.api import Selection
from cisaudit.catalog import load_catalog
from cisaudit.cli import main
from cisaudit.model import Result, Status, TargetResult
from cisaudit.report import render
from cisaudit.yamlsrc import SourceError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
DOCKER_BUNDLE = DATA / "bundles" / "lab-docker.json"
K8S_BUNDLE = DATA / "bundles" / "lab-k8s-nodes.json"
IDS = {
    "mlps-2.0-l2",
    "mlps-2.0-l3",
    "mlps-2.0-l4",
    "pci-dss-4.0.1",
    "iso-27001-2022",
    "cis-controls-v8",
}
# GB/T 28448-2019 test units per level and class (general 1, cloud extension 2): facts.
UNIT_COUNTS = {
    "L2": {"CNS1": 4, "ABS1": 11, "CES1": 23, "SMC1": 4, "CNS2": 3, "ABS2": 7, "CES2": 11},
    "L3": {
        "CNS1": 8,
        "ABS1": 20,
        "CES1": 34,
        "SMC1": 12,
        "CNS2": 5,
        "ABS2": 8,
        "CES2": 19,
        "SMC2": 4,
    },
    "L4": {
        "CNS1": 11,
        "ABS1": 21,
        "CES1": 36,
        "SMC1": 13,
        "CNS2": 8,
        "ABS2": 8,
        "CES2": 19,
        "SMC2": 4,
    },
}


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return api.load_catalog()


# -- the mapping files ------------------------------------------------------------------------


def test_every_framework_loads(catalog) -> None:  # type: ignore[no-untyped-def]
    assert set(catalog.frameworks) == IDS


def test_every_mapped_control_exists_and_covered_items_have_controls(catalog) -> None:  # type: ignore[no-untyped-def]
    for framework in catalog.frameworks.values():
        for item in framework.items:
            for key in item.controls + item.supporting:
                pack, _, cid = key.partition("/")
                assert cid in catalog.packs[pack].controls, (framework.id, item.id, key)
            if item.coverage in ("full", "partial"):
                assert item.controls, (framework.id, item.id)
            else:
                assert not item.controls, (framework.id, item.id)
            assert item.title.get("en") and item.title.get("zh"), (framework.id, item.id)
        # the control knows the items it gives evidence for
        for item in framework.items:
            for key in item.controls:
                pack, _, cid = key.partition("/")
                assert item.id in catalog.packs[pack].controls[cid].mappings[framework.id]


@pytest.mark.parametrize("level", ["L2", "L3", "L4"])
def test_mlps_units_are_the_standards_own(catalog, level: str) -> None:  # type: ignore[no-untyped-def]
    framework = catalog.frameworks[f"mlps-2.0-{level.lower()}"]
    ids = [i.id for i in framework.items]
    assert len(ids) == len(set(ids))
    counts = Counter(i[3:7] for i in ids)
    assert counts == Counter(UNIT_COUNTS[level])
    assert "L3-CES1-16" not in ids  # GB/T 28448 has no such unit
    chapter = {"L2": "7", "L3": "8", "L4": "9"}[level]
    for item in framework.items:
        assert re.fullmatch(rf"{level}-(CNS|ABS|CES|SMC)[12]-\d\d", item.id)
        # the unit tests item n of its GB/T 22239 clause: 8.1.4.4 a) -> 8.1.4.4.1
        clause, _, letter = item.clause.partition(" ")
        assert clause.startswith(chapter + "."), item.id
        number = "abcdefghijklmnop".index(letter[0]) + 1 if letter else 1
        assert item.test_unit == f"{clause}.{number}", item.id
        assert item.layer.get("zh") and item.control_point.get("zh")


def test_the_same_requirement_has_different_ids_at_each_level(catalog) -> None:  # type: ignore[no-untyped-def]
    # 入侵防范 a) (minimal installation) is L2-CES1-11, L3-CES1-17 and L4-CES1-16.
    for fid, unit, clause in (
        ("mlps-2.0-l2", "L2-CES1-11", "7.1.4.4 a)"),
        ("mlps-2.0-l3", "L3-CES1-17", "8.1.4.4 a)"),
        ("mlps-2.0-l4", "L4-CES1-16", "9.1.4.4 a)"),
    ):
        item = {i.id: i for i in catalog.frameworks[fid].items}[unit]
        assert item.clause == clause and item.coverage != "none"


def test_retention_thresholds_are_framework_parameters(catalog) -> None:  # type: ignore[no-untyped-def]
    days = {
        fid: catalog.frameworks[fid].params["apiserver-audit-log-maxage"]["min_days"]
        for fid in ("mlps-2.0-l3", "pci-dss-4.0.1")
    }
    assert days == {"mlps-2.0-l3": 180, "pci-dss-4.0.1": 365}


def _copy_catalog(tmp_path: Path, edit: str, old: str, new: str) -> Path:
    root = tmp_path / "checks"
    shutil.copytree(ROOT / "checks", root)
    path = root / "mappings" / edit
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "cis-docker-1.6.0: ['2.2', '5.30']",
            "cis-docker-1.6.0: ['2.2', '9.99']",
            "unknown control '9.99'",
        ),
        ("cis-docker-1.6.0: ['2.2', '5.30']", "cis-dokker-1.6.0: ['2.2']", "unknown pack"),
        ("- id: L3-CNS1-02", "- id: L3-CNS1-01", "duplicate item 'L3-CNS1-01'"),
        ("  coverage: none\n", "  coverage: partial\n", "needs at least one direct control"),
        ("  coverage: none\n", "  coverage: most\n", "coverage is one of"),
        ("id: mlps-2.0-l3", "id: mlps-3", "must equal the file name"),
        ("    min_days: 180", "    min_weeks: 26", "has no parameter 'min_weeks'"),
        (
            "cis-docker-1.6.0: ['2.2', '5.30']",
            "cis-docker-1.6.0: [2.2, 5.30]",
            "quote the control id",
        ),
    ],
)
def test_a_bad_mapping_is_an_error_naming_file_and_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    root = _copy_catalog(tmp_path, "mlps-2.0-l3.yaml", old, new)
    with pytest.raises(SourceError) as caught:
        load_catalog(root)
    assert caught.value.path.endswith("mlps-2.0-l3.yaml") and caught.value.line
    assert message in caught.value.message


# -- the roll-up rule -------------------------------------------------------------------------

P, F, W, M, E, N = (
    Status.PASS,
    Status.FAIL,
    Status.WAIVED,
    Status.MANUAL,
    Status.ERROR,
    Status.NOT_APPLICABLE,
)


@pytest.mark.parametrize(
    ("statuses", "coverage", "verdict"),
    [
        ([P, P], "full", rollup.COMPLIANT),
        ([P, N], "full", rollup.COMPLIANT),
        ([P, P], "partial", rollup.PARTIAL),  # never 符合 on technical evidence alone
        ([P, F], "full", rollup.PARTIAL),
        ([W, F], "full", rollup.PARTIAL),
        ([F, F], "full", rollup.NON_COMPLIANT),
        ([F, N, M], "partial", rollup.NON_COMPLIANT),
        ([N, N], "full", rollup.NOT_APPLICABLE),
        ([P, E], "full", rollup.ERROR),
        ([P, M], "full", rollup.MANUAL),
        ([E, M], "full", rollup.ERROR),
        ([P, W], "full", rollup.PARTIAL),  # an accepted risk is not compliance
        ([W], "full", rollup.PARTIAL),
        ([], "full", rollup.NOT_ASSESSED),
        ([P], "none", rollup.NOT_COVERED),
    ],
)
def test_item_verdict_on_a_target(statuses: list[Status], coverage: str, verdict: str) -> None:
    assert rollup.judge(statuses, coverage) == verdict


@pytest.mark.parametrize(
    ("verdicts", "fleet"),
    [
        ([rollup.COMPLIANT, rollup.COMPLIANT], rollup.COMPLIANT),
        ([rollup.COMPLIANT, rollup.NOT_APPLICABLE], rollup.COMPLIANT),
        ([rollup.COMPLIANT, rollup.NON_COMPLIANT], rollup.PARTIAL),
        ([rollup.PARTIAL, rollup.COMPLIANT], rollup.PARTIAL),
        ([rollup.NON_COMPLIANT, rollup.NON_COMPLIANT], rollup.NON_COMPLIANT),
        ([rollup.NON_COMPLIANT, rollup.ERROR], rollup.NON_COMPLIANT),
        ([rollup.COMPLIANT, rollup.ERROR], rollup.ERROR),
        ([rollup.COMPLIANT, rollup.MANUAL], rollup.MANUAL),
        ([rollup.NOT_APPLICABLE, rollup.NOT_ASSESSED], rollup.NOT_APPLICABLE),
        ([rollup.NOT_ASSESSED], rollup.NOT_ASSESSED),
        ([], rollup.NOT_ASSESSED),
    ],
)
def test_fleet_verdict(verdicts: list[str], fleet: str) -> None:
    assert rollup.combine(verdicts) == fleet


def test_item_score() -> None:
    assert rollup.score([rollup.COMPLIANT, rollup.PARTIAL, rollup.NON_COMPLIANT]) == 50.0
    assert rollup.score([rollup.NOT_COVERED, rollup.MANUAL]) is None


@pytest.fixture(scope="module")
def docker_run():  # type: ignore[no-untyped-def]
    return api.evaluate_bundle(DOCKER_BUNDLE).run


@pytest.fixture(scope="module")
def k8s_run():  # type: ignore[no-untyped-def]
    return api.evaluate_bundle(K8S_BUNDLE).run


def test_recorded_lab_gives_every_judged_verdict(docker_run, k8s_run) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    for run in (docker_run, k8s_run):
        for framework in run.frameworks.values():
            for verdict in framework["verdicts"].values():
                seen.update(v[0] for v in verdict["targets"].values())
                seen.add(verdict["verdict"])
    assert {
        rollup.COMPLIANT,
        rollup.PARTIAL,
        rollup.NON_COMPLIANT,
        rollup.NOT_APPLICABLE,
        rollup.MANUAL,
        rollup.NOT_COVERED,
    } <= seen


def test_verdicts_follow_the_rule_on_recorded_results(docker_run) -> None:  # type: ignore[no-untyped-def]
    framework = docker_run.frameworks["mlps-2.0-l3"]
    checked = 0
    for item in framework["items"]:
        verdict = framework["verdicts"][item["id"]]
        if item["coverage"] == "none":
            assert verdict["verdict"] == rollup.NOT_COVERED and not verdict["targets"]
            continue
        for target in docker_run.targets:
            if target.name not in verdict["targets"]:
                continue
            statuses = [
                r.status for r in target.results if target.control_key(r) in item["controls"]
            ]
            assert verdict["targets"][target.name][0] == rollup.judge(statuses, item["coverage"])
            checked += 1
        assert verdict["verdict"] == rollup.combine(v[0] for v in verdict["targets"].values())
    assert checked > 200


def test_kubernetes_items_are_not_judged_on_docker_hosts(docker_run) -> None:  # type: ignore[no-untyped-def]
    framework = docker_run.frameworks["mlps-2.0-l3"]
    for item in framework["items"]:
        packs = {k.split("/")[0] for k in item["controls"] + item["supporting"]}
        if packs == {"cis-kubernetes-1.12"}:
            verdict = framework["verdicts"][item["id"]]
            assert verdict["targets"] == {} and verdict["verdict"] == rollup.NOT_ASSESSED


def test_framework_parameters_rejudge_retention(k8s_run) -> None:  # type: ignore[no-untyped-def]
    # lab-k8s-cp-hardened keeps audit logs 30 days: CIS passes it, 等保 (180) and PCI (365) not.
    target = [t for t in k8s_run.targets if t.name == "lab-k8s-cp-hardened"][0]
    base = [r for r in target.results if r.control_id == "1.2.17"][0]
    assert base.status is Status.PASS and base.params == {"min_days": 30}
    for fid, days in (("mlps-2.0-l3", 180), ("pci-dss-4.0.1", 365)):
        variant = [r for r in target.variants[fid] if r.control_id == "1.2.17"][0]
        assert variant.status is Status.FAIL and variant.params == {"min_days": days}
    item = [i for i in k8s_run.frameworks["mlps-2.0-l3"]["items"] if i["id"] == "L3-SMC1-10"][0]
    detail = rollup.target_detail(k8s_run, "mlps-2.0-l3", item, target)
    control = [c for c in detail["controls"] if c["id"] == "1.2.17"][0]
    assert control["status"] == "FAIL" and control["framework_params"]
    assert "min_days=180" in detail["record"]["zh"] and "min_days=180" in detail["record"]["en"]
    assert detail["verdict"] in (rollup.PARTIAL, rollup.NON_COMPLIANT)
    assert all(len(e["sha256"]) == 64 for c in detail["controls"] for e in c["evidence"])


def test_a_target_override_does_not_weaken_a_framework(k8s_run) -> None:  # type: ignore[no-untyped-def]
    catalog = api.load_catalog()
    bundle = api.load_bundle(K8S_BUNDLE)
    for item in bundle.targets:
        item.params = {"apiserver-audit-log-maxage": {"min_days": 7}}
    run = api.build_run(
        bundle.targets,
        catalog=catalog,
        selection=Selection(frameworks=["mlps-2.0-l3"]),
        started="",
        options={},
    )
    target = [t for t in run.targets if t.name == "lab-k8s-cp-weak"][0]
    assert [r for r in target.results if r.control_id == "1.2.17"][0].status is Status.PASS
    variant = [r for r in target.variants["mlps-2.0-l3"] if r.control_id == "1.2.17"][0]
    assert variant.status is Status.FAIL and variant.params == {"min_days": 180}
    assert list(run.frameworks) == ["mlps-2.0-l3"]


def test_result_record_names_failures_and_partial_coverage() -> None:
    target = TargetResult(
        name="web-1", kind="docker-host", benchmark="cis-docker-1.6.0", packs=["cis-docker-1.6.0"]
    )
    target.results = [
        Result("5.10", Status.FAIL, reason="2 of 3 containers fail: a, b", pack="cis-docker-1.6.0"),
        Result("5.11", Status.PASS, pack="cis-docker-1.6.0"),
    ]
    item = {
        "id": "X",
        "coverage": "partial",
        "objects": ["docker-host"],
        "controls": ["cis-docker-1.6.0/5.10", "cis-docker-1.6.0/5.11"],
        "supporting": [],
    }
    run = api.Run("r", "0", "", "", [], {}, [target], {})
    detail = rollup.target_detail(run, "f", item, target)
    assert detail["verdict"] == rollup.PARTIAL
    assert (
        "1 项不通过（5.10）" in detail["record"]["zh"] and "5.10：2 of 3" in detail["record"]["zh"]
    )
    assert "1 fail (5.10)" in detail["record"]["en"]


# -- command line and outputs -----------------------------------------------------------------


def test_frameworks_list_and_show() -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(main, ["frameworks", "list", "--json"]).output)
    assert {f["id"] for f in listed} == IDS
    l3 = [f for f in listed if f["id"] == "mlps-2.0-l3"][0]
    assert l3["items"] == 110 and l3["coverage"]["none"] > 0
    shown = runner.invoke(main, ["frameworks", "show", "mlps-2.0-l3", "--lang", "zh"])
    assert shown.exit_code == 0 and "L3-CES1-17" in shown.output and "入侵防范" in shown.output
    assert "cis-docker-1.6.0/" in shown.output
    bad = runner.invoke(main, ["frameworks", "show", "mlps-9"])
    assert bad.exit_code == 2 and "unknown framework" in bad.output


def test_unknown_framework_on_evaluate_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["evaluate", str(DOCKER_BUNDLE), "-o", str(tmp_path), "--framework", "sox-404"]
    )
    assert result.exit_code == 2 and "unknown framework(s) sox-404" in result.output


def test_csv_has_framework_columns(docker_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    render(docker_run, tmp_path, formats=["csv"])
    with (tmp_path / "results.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert IDS <= set(rows[0])
    row = [r for r in rows if r["target"] == "lab-weak" and r["control_id"] == "2.2"][0]
    assert re.search(r"L3-\w+-\d\d=(partial|non_compliant)", row["mlps-2.0-l3"])
    assert row["status_without_waivers"] == "FAIL"


def _ssconvert(book: Path, out: Path) -> list[list[list[str]]]:
    """Every sheet of ``book`` as CSV rows, converted by gnumeric (not openpyxl)."""
    subprocess.run(
        ["ssconvert", "-S", "--export-type=Gnumeric_stf:stf_csv", str(book), str(out / "s%n.csv")],
        check=True,
        capture_output=True,
    )
    sheets = []
    for n in range(10):
        path = out / f"s{n}.csv"
        if not path.exists():
            break
        with path.open(encoding="utf-8") as fh:
            sheets.append(list(csv.reader(fh)))
    return sheets


@pytest.mark.parametrize(
    ("lang", "first_header"),
    [("zh", "测评单元编号"), ("en", "Test unit"), ("both", "测评单元编号 / Test unit")],
)
def test_workbook_read_back_by_independent_readers(
    docker_run,
    tmp_path: Path,
    lang: str,
    first_header: str,  # type: ignore[no-untyped-def]
) -> None:
    from python_calamine import CalamineWorkbook

    run = docker_run
    written = render(run, tmp_path, formats=["xlsx"], lang=lang)
    book = tmp_path / "mlps-2.0-l3.xlsx"
    assert book in written and len(written) == len(run.frameworks)
    summary, records = _ssconvert(book, tmp_path)
    assert records[0][0] == first_header and len(records[0]) == 12
    framework = run.frameworks["mlps-2.0-l3"]
    expected_rows = sum(
        max(len(framework["verdicts"][i["id"]]["targets"]), 1) for i in framework["items"]
    )
    assert len(records) - 1 == expected_rows
    labels = {v: rollup.label(v, "zh" if lang != "en" else "en") for v in rollup.VERDICTS}
    by_key = {(r[0], r[3]): r for r in records[1:]}
    for item in framework["items"]:
        for name, (verdict, _) in framework["verdicts"][item["id"]]["targets"].items():
            assert labels[verdict] in by_key[(item["id"], name)][6]
    # the evidence column carries the SHA-256 recorded for that target's sections
    weak = [t for t in run.targets if t.name == "lab-weak"][0]
    row = by_key[("L3-CES1-17", "lab-weak")]
    hashes = dict(line.split(": ") for line in row[8].splitlines())
    assert hashes and all(weak.evidence_sha256[s] == h for s, h in hashes.items())
    assert any(run.run_id in cell for line in summary for cell in line)
    # calamine (Rust) agrees cell for cell
    calamine = CalamineWorkbook.from_path(str(book)).get_sheet_by_index(1).to_python()
    assert [[str(c) for c in r] for r in calamine] == records


def test_workbook_cells_are_never_formulas(tmp_path: Path) -> None:
    from python_calamine import CalamineWorkbook

    run = api.evaluate_bundle(DOCKER_BUNDLE, selection=Selection(frameworks=["mlps-2.0-l3"])).run
    run.targets[0].name = '=HYPERLINK("http://evil.example/","x")'
    framework = run.frameworks["mlps-2.0-l3"]
    for verdict in framework["verdicts"].values():
        if "lab-bare" in verdict["targets"]:
            verdict["targets"] = {
                run.targets[0].name: verdict["targets"].pop("lab-bare"),
                **verdict["targets"],
            }
    render(run, tmp_path, formats=["xlsx"], lang="en")
    rows = (
        CalamineWorkbook.from_path(str(tmp_path / "mlps-2.0-l3.xlsx"))
        .get_sheet_by_index(1)
        .to_python()
    )
    cells = [r[3] for r in rows]
    assert run.targets[0].name in cells  # kept as the text it is, not evaluated
    with __import__("zipfile").ZipFile(tmp_path / "mlps-2.0-l3.xlsx") as archive:
        sheet = archive.read("xl/worksheets/sheet2.xml").decode()
    assert "<f>" not in sheet


def test_a_tailoring_file_can_set_what_a_framework_judges_against(tmp_path: Path) -> None:
    tailoring = tmp_path / "tailoring.yaml"
    tailoring.write_text(
        "frameworks:\n  mlps-2.0-l3:\n    apiserver-audit-log-maxage: {min_days: 30}\n"
    )
    catalog = api.load_catalog(tailoring=api.load_tailoring(tailoring))
    assert catalog.frameworks["mlps-2.0-l3"].params["apiserver-audit-log-maxage"] == {
        "min_days": 30
    }
    run = api.evaluate_bundle(K8S_BUNDLE, catalog=catalog).run
    target = [t for t in run.targets if t.name == "lab-k8s-cp-hardened"][0]
    assert "mlps-2.0-l3" not in target.variants  # the values CIS uses: nothing to re-judge
    assert target.variants["pci-dss-4.0.1"]
    tailoring.write_text("frameworks:\n  sox:\n    apiserver-audit-log-maxage: {min_days: 1}\n")
    with pytest.raises(SourceError, match="unknown framework 'sox'") as caught:
        api.load_catalog(tailoring=api.load_tailoring(tailoring))
    assert caught.value.line == 2
    tailoring.write_text(
        "frameworks:\n  mlps-2.0-l3:\n    apiserver-audit-log-maxage: {min_weeks: 1}\n"
    )
    with pytest.raises(SourceError, match="unknown parameter 'min_weeks'"):
        api.load_catalog(tailoring=api.load_tailoring(tailoring))
