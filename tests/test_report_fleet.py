"""Fleet reports: the fleet layout, per-target and per-group detail reports
(--split-by), evidence attached above a size, the evidence walked one target at a time.

Read back with poppler (pdftotext, pdfdetach, pdfsig), not only with our own code."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from report_helpers import poppler, samples

from cisaudit.model import Run, Status
from cisaudit.report import ReportMeta, evidence_file, render, resolve_layout
from cisaudit.report.signing import SignConfig, init_keys
from cisaudit.report.split import SplitError, file_stem, plan

DATA = Path(__file__).resolve().parent / "data" / "report"
HOSTS = 24


_samples = samples


_tool = poppler


def _text(pdf: Path) -> str:
    # -raw keeps words in reading order so that names are not cut by columns
    return " ".join(_tool("pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-").split())


def _failing(run: Run) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for target in run.targets:
        for result in target.results:
            if result.status is Status.FAIL:
                found[result.control_id].append(target.name)
    return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    run, evidence = _samples().synthetic_run(HOSTS, 30)
    work = tmp_path_factory.mktemp("fleet")
    path = work / "evidence.json.gz"
    path.write_bytes(gzip.compress(json.dumps(evidence).encode()))
    return run, path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return init_keys(tmp_path_factory.mktemp("keys"), common_name="Fleet Signer")


@pytest.fixture(scope="module")
def split_signed(
    fleet: tuple[Run, Path], keys: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    run, evidence = fleet
    out = tmp_path_factory.mktemp("split")
    render(
        run,
        out,
        formats=["pdf", "html"],
        lang="en",
        evidence_path=evidence,
        sign=SignConfig(key=keys.key, cert=keys.cert),
        meta=ReportMeta(client="Client Co"),
        split_by="target",
        workers=2,
    )
    return out


def test_auto_layout_switches_above_twenty_targets() -> None:
    assert resolve_layout("auto", 20, None) == "full"
    assert resolve_layout("auto", 21, None) == "fleet"
    assert resolve_layout("auto", 3, "target") == "fleet"
    assert resolve_layout("full", 500, "group") == "full"
    with pytest.raises(ValueError):
        resolve_layout("huge", 1, None)


def test_fleet_pdf_groups_findings_by_control(fleet: tuple[Run, Path], tmp_path: Path) -> None:
    run, evidence = fleet
    written = render(run, tmp_path, formats=["pdf"], lang="en", evidence_path=evidence)
    pdf = next(p for p in written if p.name == "report.pdf")
    text = _text(pdf)
    assert "Fleet overview" in text and "Findings by control" in text
    assert "Findings by target" not in text  # no per-target chapters in the fleet layout
    failing = _failing(run)
    worst = max(failing, key=lambda c: len(failing[c]))
    assert f"Targets failing: {len(failing[worst])}" in text
    # every target is on a row of its group's table, and every failing target is named
    for target in run.targets:
        assert target.name in text
    # the evidence is attached, not printed: no excerpt of any raw output in the text
    assert "key0.0 = value" not in text
    attached = _tool("pdfdetach", "-list", str(pdf))
    assert "evidence.json.gz" in attached and "results.json" in attached


def test_fleet_layout_lists_names_of_each_failing_control(
    fleet: tuple[Run, Path], tmp_path: Path
) -> None:
    from cisaudit.report.context import build_context

    run, _ = fleet
    context = build_context(run, lang="en", theme={"colors": {}}, meta=ReportMeta(), layout="fleet")
    failing = _failing(run)
    by_control = {c["control_id"]: c for c in context["fleet"]["controls"]}
    assert set(by_control) == set(failing)
    for control_id, names in failing.items():
        assert by_control[control_id]["names"] == sorted(names)
        assert by_control[control_id]["target_count"] == len(names)
    counts = [c["target_count"] for c in context["fleet"]["controls"]]
    assert counts == sorted(counts, reverse=True)
    rows = [r["name"] for g in context["fleet"]["groups"] for r in g["targets"]]
    assert sorted(rows) == sorted(t.name for t in run.targets)
    assert context["targets"] == [] and context["evidence"] == []


def test_every_target_gets_a_signed_detail_report(
    fleet: tuple[Run, Path], split_signed: Path, keys: Any
) -> None:
    run, _ = fleet
    parts = sorted((split_signed / "targets").glob("*.pdf"))
    assert len(parts) == HOSTS
    one = split_signed / "targets" / f"{run.targets[3].name}.pdf"
    sig = _tool("pdfsig", str(one))
    assert "Signature is Valid" in sig and "Fleet Signer" in sig
    text = _text(one)
    mine = {r.control_id for r in run.targets[3].results if r.status is Status.FAIL}
    for control_id in mine:
        assert control_id in text
    assert run.targets[3].name in text
    assert run.targets[4].name not in text  # only its own target
    assert "Client Co" in text and "report.pdf" in text


def test_a_target_report_is_its_findings_each_with_its_fix(
    fleet: tuple[Run, Path], split_signed: Path
) -> None:
    run, _ = fleet
    target = run.targets[3]
    text = _text(split_signed / "targets" / f"{target.name}.pdf")
    failures = [r for r in target.results if r.status is Status.FAIL]
    assert failures
    for result in failures:
        # the fix for this target is the shaded box under its failure, with no label
        assert result.remediation and " ".join(result.remediation.split()) in text
    assert "Fix for this target:" not in text
    # one target: the score heads its findings; the fleet's cards and counts are not
    # repeated above, and the sign-off belongs to the fleet report
    assert "Score: " in text and "Targets audited" not in text
    assert "Signature" in text and "Sign-off" not in text
    fleet_text = _text(split_signed / "report.pdf")
    assert "Sign-off" in fleet_text


def test_the_full_report_still_labels_each_fix(tmp_path: Path) -> None:
    run, evidence = _samples().synthetic_run(2, 30)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence))
    written = render(run, tmp_path / "out", formats=["pdf"], lang="en", evidence_path=path)
    text = _text(next(p for p in written if p.name == "report.pdf"))
    assert "Fix for this target:" in text and "Sign-off" in text


def test_detail_report_carries_only_its_own_evidence(
    fleet: tuple[Run, Path], split_signed: Path, tmp_path: Path
) -> None:
    run, _ = fleet
    name = run.targets[5].name
    pdf = split_signed / "targets" / f"{name}.pdf"
    listing = _tool("pdfdetach", "-list", str(pdf))
    assert f"evidence-{name}.json" in listing
    _tool("pdfdetach", "-saveall", "-o", str(tmp_path), str(pdf))
    evidence = json.loads((tmp_path / f"evidence-{name}.json").read_text())
    assert list(evidence["targets"]) == [name]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [t["name"] for t in results["targets"]] == [name]


def test_fleet_pdf_lists_every_detail_report_with_its_hash(
    split_signed: Path, tmp_path: Path
) -> None:
    import hashlib

    _tool("pdfdetach", "-saveall", "-o", str(tmp_path), str(split_signed / "report.pdf"))
    manifest = json.loads((tmp_path / "detail-reports.json").read_text())
    assert manifest["split_by"] == "target" and len(manifest["parts"]) == HOSTS
    for part in manifest["parts"]:
        data = (split_signed / part["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part["sha256"]
    text = _text(split_signed / "report.pdf")
    assert "Report file" in text and "targets/" in text


def test_cli_verify_a_detail_report(split_signed: Path, keys: Any) -> None:
    from cisaudit.cli import main

    part = next((split_signed / "targets").glob("*.pdf"))
    result = CliRunner().invoke(main, ["verify", str(part), "--trust", str(keys.cert)])
    assert result.exit_code == 0, result.output
    assert "hash matches" in result.output


def test_split_by_group_puts_each_target_in_each_of_its_groups(
    fleet: tuple[Run, Path], tmp_path: Path
) -> None:
    run, evidence = fleet
    first = run.targets[0]
    changed = dataclasses.replace(first, groups=[*first.groups, "payments"])
    run = dataclasses.replace(run, targets=[changed, *run.targets[1:]])
    render(
        run,
        tmp_path,
        formats=["pdf"],
        lang="en",
        evidence_path=evidence,
        split_by="group",
        workers=1,
    )
    groups = sorted(p.stem for p in (tmp_path / "groups").glob("*.pdf"))
    assert groups == sorted({g for t in run.targets for g in t.groups})
    text = _text(tmp_path / "groups" / "payments.pdf")
    assert first.name in text and run.targets[1].name not in text
    # a group has several targets: its report opens with their score and counts
    several = next(g for g in groups if sum(g in t.groups for t in run.targets) > 1)
    assert "Targets audited" in _text(tmp_path / "groups" / f"{several}.pdf")


def test_hostile_names_stay_inside_the_folder() -> None:
    taken: set[str] = set()
    names = ["../../etc/passwd", "a b/c", "web-1", "WEB-1", "", "名字"]
    stems = [file_stem(n, taken) for n in names]
    assert len(set(s.lower() for s in stems)) == len(names)
    for stem in stems:
        assert "/" not in stem and not stem.startswith(".") and stem
    assert stems[2] == "web-1"


def test_plan_names_every_target_once(fleet: tuple[Run, Path]) -> None:
    run, _ = fleet
    parts = plan(run, "target")
    assert [p.targets[0] for p in parts] == [t.name for t in run.targets]
    with pytest.raises(ValueError):
        plan(run, "rack")


def test_large_evidence_is_named_not_embedded(fleet: tuple[Run, Path], tmp_path: Path) -> None:
    run, evidence = fleet
    written = render(
        run, tmp_path, formats=["pdf"], lang="en", evidence_path=evidence, attach_max=0
    )
    pdf = next(p for p in written if p.name == "report.pdf")
    assert "evidence.json.gz" not in _tool("pdfdetach", "-list", str(pdf))
    digest = evidence_file.describe(evidence).sha256
    assert digest in _text(pdf).replace(" ", "")


def test_one_failing_part_does_not_stop_the_others(
    fleet: tuple[Run, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cisaudit.report import split

    run, evidence = fleet
    bad = run.targets[2].name
    real = split._render_part

    def flaky(job: Any) -> Path:
        if job.part.name == bad:
            raise RuntimeError("disk full")
        return real(job)

    monkeypatch.setattr(split, "_render_part", flaky)
    small = dataclasses.replace(run, targets=run.targets[:4])
    with pytest.raises(SplitError) as caught:
        render(
            small, tmp_path, formats=["pdf"], evidence_path=evidence, split_by="target", workers=1
        )
    assert [f.part for f in caught.value.failures] == [bad]
    assert "disk full" in str(caught.value)
    assert len(list((tmp_path / "targets").glob("*.pdf"))) == 3
    assert (tmp_path / "report.pdf").is_file()  # the fleet report is still written


@pytest.mark.parametrize("gz", [False, True])
def test_spool_walks_the_evidence_target_by_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    # tiny blocks, so that every value is cut by a block boundary somewhere
    monkeypatch.setattr(evidence_file, "BLOCK", 7)
    doc = {
        "schema_version": "1.0",
        "targets": {
            f"h{i}": {"evidence": {"x": {"output": "é" * i + '"\\', "rc": 1234567 * i}}}
            for i in range(30)
        },
        "run_id": "r1",
    }
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    path = tmp_path / ("e.json.gz" if gz else "e.json")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    spooled = evidence_file.spool(path, tmp_path / "spool")
    assert spooled.meta == {"schema_version": "1.0", "run_id": "r1"}
    assert spooled.read(["h3", "h29", "nope"]) == {
        "schema_version": "1.0",
        "run_id": "r1",
        "targets": {"h3": doc["targets"]["h3"], "h29": doc["targets"]["h29"]},
    }
    assert spooled.only(("h1",)).index.keys() == {"h1"}


@pytest.mark.parametrize(
    "body",
    ['{"targets": {"a": {"x": 1}', '{"targets": {"a": }}', '["targets"]', '{"targets": {}} x'],
)
def test_spool_refuses_malformed_evidence(tmp_path: Path, body: str) -> None:
    path = tmp_path / "e.json"
    path.write_text(body)
    with pytest.raises(ValueError, match="e.json"):
        evidence_file.spool(path, tmp_path / "spool")


def test_cli_report_split_by_target(fleet: tuple[Run, Path], tmp_path: Path) -> None:
    from cisaudit.cli import main

    run, evidence = fleet
    small = dataclasses.replace(run, targets=run.targets[:3])
    results = tmp_path / "results.json"
    results.write_text(json.dumps(small.to_dict()))
    out = tmp_path / "out"
    args = ["report", str(results), "--evidence", str(evidence), "-o", str(out)]
    result = CliRunner().invoke(
        main, [*args, "--format", "pdf", "--lang", "zh", "--split-by", "target", "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "3 detail report(s)" in result.output
    text = _text(out / "targets" / f"{small.targets[0].name}.pdf")
    assert "明细报告" in text
    bad = CliRunner().invoke(main, [*args, "--split-by", "rack"])
    assert bad.exit_code == 2


def test_fleet_html_has_the_fleet_chapter_and_no_per_target_table(
    fleet: tuple[Run, Path], split_signed: Path
) -> None:
    import html.parser

    run, _ = fleet
    text = (split_signed / "report.html").read_text(encoding="utf-8")
    html.parser.HTMLParser().feed(text)  # parses
    assert 'id="fleet"' in text and "Findings by control" in text
    assert 'id="results-table"' not in text  # the per-result table is the full layout's
    for target in run.targets:
        assert target.name in text
    assert "targets/" in text  # each row names its detail report


def test_evaluate_split_by_target_writes_a_detail_report_per_target(tmp_path: Path) -> None:
    from cisaudit.cli import main

    bundle = Path(__file__).resolve().parent / "data" / "bundles" / "lab-docker.json"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(bundle),
            "-o",
            str(out),
            "--format",
            "json,pdf",
            "--report-lang",
            "en",
            "--split-by",
            "target",
            "--no-store",
        ],
    )
    assert result.exit_code in (0, 1), result.output  # 1: the lab's weak hosts fail
    names = [t["name"] for t in json.loads((out / "results.json").read_text())["targets"]]
    assert sorted(p.stem for p in (out / "targets").glob("*.pdf")) == sorted(names)
    assert f"{len(names)} × " in result.output  # one line for the folder, not one a file
    assert "Fleet overview" in _text(out / "report.pdf")  # split: the PDF is the fleet's


def test_split_needs_pdf(fleet: tuple[Run, Path], tmp_path: Path) -> None:
    run, _ = fleet
    with pytest.raises(ValueError, match="add pdf"):
        render(run, tmp_path, formats=["html"], split_by="target")


def test_chinese_detail_reports_need_no_bold_cjk_face(
    fleet: tuple[Run, Path], tmp_path: Path
) -> None:
    run, evidence = fleet
    small = dataclasses.replace(run, targets=run.targets[:2])
    fonts = {}
    for lang in ("zh", "en"):
        render(
            small,
            tmp_path / lang,
            formats=["pdf"],
            lang=lang,
            evidence_path=evidence,
            split_by="target",
            workers=1,
        )
        part = tmp_path / lang / "targets" / f"{small.targets[0].name}.pdf"
        fonts[lang] = _tool("pdffonts", str(part))
    # emphasis by colour and size: the bold CJK face would be subset for every report
    assert "Noto-Sans-CJK-SC" in fonts["zh"] and "CJK-SC-Bold" not in fonts["zh"]
    assert "Bold" in fonts["en"]  # English keeps its bold (DejaVu, cheap to subset)
