"""Waivers: validation of the file (exit 2 with file and line), and what applying them
does to recorded results of the lab (tests/data/bundles/lab-docker.json): whole-control
and per-object scope, expiry, unused waivers, scores with and without, and taking
waivers back exactly."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cisaudit import api
from cisaudit.cli import main
from cisaudit.model import Status
from cisaudit.rollup import rescore
from cisaudit.waivers import (
    KnownControl,
    KnownControls,
    apply_waivers,
    clear_waivers,
    parse_waivers,
    status_without_waivers,
)
from cisaudit.yamlsrc import SourceError

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "bundles" / "lab-docker.json"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return api.load_catalog()


@pytest.fixture(scope="module")
def known(catalog) -> KnownControls:  # type: ignore[no-untyped-def]
    return KnownControls(
        KnownControl(p.id, c.id, c.check_slug)
        for p in catalog.packs.values()
        for c in p.controls.values()
    )


def _parse(text: str, known: KnownControls, **kw):  # type: ignore[no-untyped-def]
    return parse_waivers(text, "w.yaml", known, today=TODAY, **kw)


def _one(extra: str = "", **fields: str) -> str:
    base = {
        "id": "W-1",
        "controls": '["5.10"]',
        "reason": "needed",
        "approved_by": "张伟 (CISO)",
        "expires": "2027-03-31",
    }
    base.update(fields)
    body = "".join(f"    {k}: {v}\n" for k, v in base.items() if v is not None)
    return "waivers:\n  - " + body[4:] + extra


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (_one(approved_by=None), 2, "approved_by is required"),  # type: ignore[arg-type]
        (_one(reason=None), 2, "reason is required"),  # type: ignore[arg-type]
        (_one(expires=None), 2, "expires is required"),  # type: ignore[arg-type]
        (_one(controls='["9.99"]'), 3, "unknown control, section or check '9.99'"),
        (_one(controls='["cis-docker-1.6.0:4.2.1"]'), 3, "unknown control"),
        (_one(expires="2027-02-30"), 6, "not a valid date"),
        (_one(expires="next week"), 6, "must be a date"),
        (_one(expires="2028-06-01"), 6, "the maximum is 365"),
        (_one(approved_on="2026-11-01", expires="2026-10-01"), 6, "expires before approved_on"),
        (_one(colour="red"), 7, "unknown key 'colour'"),
        (_one(targets="[]"), 7, "targets is a non-empty list"),
        (
            _one(
                "  - id: W-1\n    controls: ['5.11']\n    reason: r\n    approved_by: a\n"
                "    expires: 2027-01-01\n"
            ),
            7,
            "duplicate waiver id 'W-1' (first on line 2)",
        ),
        ("waivers:\n  - just a string\n", 2, "each waiver is a mapping"),
        (_one(controls="[5.10]"), 3, "quote 5.1 in controls"),
        ("rules: []\n", 1, "unknown key 'rules'"),
    ],
)
def test_invalid_files_name_the_line(
    known: KnownControls, text: str, line: int, message: str
) -> None:
    with pytest.raises(SourceError) as caught:
        _parse(text, known)
    assert caught.value.line == line, caught.value
    assert message in caught.value.message


def test_validity_is_counted_from_approval_and_configurable(known: KnownControls) -> None:
    # 400 days from approval is refused at 365 and accepted at 450.
    text = _one(approved_on="2026-11-01", expires="2027-12-06")
    with pytest.raises(SourceError, match="valid for 400 days from its approval"):
        _parse(text, known)
    assert _parse(text, known, max_days=450).waivers[0].approved_on == dt.date(2026, 11, 1)


def test_controls_may_be_sections_slugs_and_pack_qualified(known: KnownControls) -> None:
    text = _one(
        controls='["5", "cis-docker-1.6.0/2.2", "cis-kubernetes-1.12:4.2.1", '
        '"container-memory-limit", "cis-docker-1.6.0"]'
    )
    waiver = _parse(text, known).waivers[0]
    assert waiver.covers_control("cis-docker-1.6.0", "5.31", "")
    assert waiver.covers_control("cis-docker-1.6.0", "2.2", "")
    assert waiver.covers_control("cis-kubernetes-1.12", "4.2.1", "")
    assert waiver.covers_control("cis-kubernetes-1.12", "5.1.1", "")  # "5": any pack's section 5
    assert not waiver.covers_control("cis-kubernetes-1.12", "1.2.1", "")
    spec = [s for s in waiver.controls if s.text == "cis-kubernetes-1.12:4.2.1"][0]
    assert not spec.matches("cis-docker-1.6.0", "4.2.1")


# -- applying ---------------------------------------------------------------------------------


def _run():  # type: ignore[no-untyped-def]
    return api.evaluate_bundle(BUNDLE).run


def _result(run, target: str, control: str):  # type: ignore[no-untyped-def]
    found = [t for t in run.targets if t.name == target][0]
    return [r for r in found.results if r.control_id == control and r.pack == "cis-docker-1.6.0"][0]


WAIVERS = """
waivers:
  - id: W-OBJ
    controls: ["5.11"]
    targets: ["lab-weak"]
    objects: ["container:w-priv*", "container:w-hostns"]
    reason: partial
    approved_by: A
    ticket: T-1
    expires: 2027-01-31
  - id: W-ALL-OBJ
    controls: ["5.10"]
    targets: ["lab-weak"]
    objects: ["container:w-hostns"]
    reason: every failing object
    approved_by: A
    expires: 2027-01-31
  - id: W-WHOLE
    controls: ["2.2"]
    targets: ["lab-b*", "lab-weak"]
    reason: whole control
    approved_by: B
    expires: 2026-12-20
  - id: W-EXPIRED
    controls: ["1.1.3"]
    reason: old
    approved_by: C
    expires: 2026-11-30
  - id: W-UNUSED
    controls: ["4.1"]
    targets: ["nowhere-*"]
    reason: nothing
    approved_by: D
    expires: 2027-01-31
"""


@pytest.fixture(scope="module")
def waived(known: KnownControls):  # type: ignore[no-untyped-def]
    run = _run()
    apply_waivers(run, _parse(WAIVERS, known), as_of=TODAY)
    rescore(run)
    return run


def test_per_object_waiver_keeps_the_control_failing_and_names_the_rest(waived) -> None:  # type: ignore[no-untyped-def]
    result = _result(waived, "lab-weak", "5.11")
    assert result.status is Status.FAIL
    names = [o.name for o in result.offenders]
    assert "w-privileged" not in names and "w-hostns" not in names and "w-cgroup" in names
    assert result.waiver["partial"] is True and result.waiver["ids"] == ["W-OBJ"]
    assert {e["offender"]["name"] for e in result.waiver["waived_offenders"]} == {
        "w-privileged",
        "w-hostns",
    }
    assert "still fail: w-cgroup" in result.reason


def test_waiving_every_failing_object_waives_the_control(waived) -> None:  # type: ignore[no-untyped-def]
    result = _result(waived, "lab-weak", "5.10")
    assert result.status is Status.WAIVED and result.offenders == []
    assert status_without_waivers(result) is Status.FAIL


def test_whole_waiver_only_where_its_targets_match(waived) -> None:  # type: ignore[no-untyped-def]
    assert _result(waived, "lab-bare", "2.2").status is Status.WAIVED
    assert _result(waived, "lab-weak", "2.2").status is Status.WAIVED
    assert _result(waived, "lab-swarm", "2.2").status is Status.FAIL
    # a passing control is never "waived"
    assert _result(waived, "lab-hardened", "2.2").status is Status.PASS


def test_expired_and_unused_are_listed_and_apply_nothing(waived) -> None:  # type: ignore[no-untyped-def]
    register = waived.waivers
    assert register["expired"] == ["W-EXPIRED"] and register["unused"] == ["W-UNUSED"]
    assert _result(waived, "lab-weak", "1.1.3").status is Status.FAIL
    by_id = {w["id"]: w for w in register["waivers"]}
    assert by_id["W-WHOLE"]["expiring_soon"] and by_id["W-WHOLE"]["days_left"] == 19
    covered = {(c["target"], c["control"]) for c in by_id["W-WHOLE"]["covered"]}
    assert ("lab-bare", "cis-docker-1.6.0/2.2") in covered
    assert by_id["W-OBJ"]["covered"][0]["objects"] == ["w-privileged", "w-hostns"]


def test_every_score_is_given_with_and_without_waivers(waived) -> None:  # type: ignore[no-untyped-def]
    weak = waived.summary["targets"]["lab-weak"]
    assert weak["counts"]["WAIVED"] == 2
    assert weak["counts_without_waivers"]["WAIVED"] == 0
    assert weak["counts_without_waivers"]["FAIL"] == weak["counts"]["FAIL"] + 2
    assert weak["score"] > weak["score_without_waivers"]
    fleet = waived.summary["fleet"]
    assert fleet["score"] > fleet["score_without_waivers"]
    for block in (waived.summary["levels"], waived.summary["sections"]["cis-docker-1.6.0"]):
        assert all("score_without_waivers" in b for b in block.values())
    for framework in waived.summary["frameworks"].values():
        assert "score_without_waivers" in framework


def test_taking_waivers_back_restores_the_results_exactly(known: KnownControls) -> None:
    plain = _run()
    before = json.dumps([t.to_dict() for t in plain.targets], sort_keys=True)
    apply_waivers(plain, _parse(WAIVERS, known), as_of=TODAY)
    clear_waivers(plain)
    assert json.dumps([t.to_dict() for t in plain.targets], sort_keys=True) == before
    assert plain.waivers is None


def test_groups_and_manual_results(known: KnownControls) -> None:
    run = _run()
    for target in run.targets:
        target.groups = ["batch"] if target.name == "lab-swarm" else []
    manual = [r for r in run.targets[0].results if r.status is Status.MANUAL][0]
    text = f"""
waivers:
  - id: W-G
    controls: ["2.2", "{manual.control_id}"]
    targets: ["group:bat*"]
    reason: r
    approved_by: a
    expires: 2027-01-01
  - id: W-M
    controls: ["{manual.control_id}"]
    targets: ["{run.targets[0].name}"]
    reason: reviewed by hand
    approved_by: a
    expires: 2027-01-01
"""
    apply_waivers(run, _parse(text, known), as_of=TODAY)
    assert _result(run, "lab-swarm", "2.2").status is Status.WAIVED
    assert _result(run, "lab-bare", "2.2").status is Status.FAIL
    waived_manual = _result(run, run.targets[0].name, manual.control_id)
    assert waived_manual.status is Status.WAIVED
    assert status_without_waivers(waived_manual) is Status.MANUAL


# -- the command line ------------------------------------------------------------------------


def test_evaluate_with_a_bad_waiver_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text(_one(controls='["5.10", "7.77"]'))
    result = CliRunner().invoke(
        main, ["evaluate", str(BUNDLE), "-o", str(tmp_path / "o"), "--waivers", str(bad)]
    )
    assert result.exit_code == 2
    assert f"{bad}:3" in result.output and "7.77" in result.output
    assert "Traceback" not in result.output


def test_waivers_check(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "hosts:\n  web-1: {address: 192.0.2.1}\n  db-1: {address: 192.0.2.2}\n"
        "groups:\n  batch:\n    hosts: [db-1]\n"
    )
    good = tmp_path / "good.yaml"
    good.write_text(
        _one(targets='["group:batch"]', expires=str(dt.date.today() + dt.timedelta(100)))
    )
    result = CliRunner().invoke(main, ["waivers", "check", str(good), "-i", str(inventory)])
    assert result.exit_code == 0, result.output
    assert "db-1" in result.output
    nothing = tmp_path / "nothing.yaml"
    nothing.write_text(_one(targets='["app-*"]', expires=str(dt.date.today() + dt.timedelta(10))))
    result = CliRunner().invoke(
        main, ["waivers", "check", str(nothing), "-i", str(inventory), "--json"]
    )
    assert result.exit_code == 1
    row = json.loads(result.output)["waivers"][0]
    assert row["covers"] == [] and row["state"] == "expiring"
    result = CliRunner().invoke(main, ["waivers", "check", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "No such file" in result.output


def test_report_applies_another_waiver_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["evaluate", str(BUNDLE), "-o", str(out)]).exit_code == 1
    waivers = tmp_path / "w.yaml"
    waivers.write_text(_one(controls='["2.2"]', expires=str(dt.date.today() + dt.timedelta(60))))
    result = CliRunner().invoke(
        main,
        [
            "report",
            str(out / "results.json"),
            "-o",
            str(tmp_path / "rep"),
            "--format",
            "csv",
            "--waivers",
            str(waivers),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "rep" / "results.csv").read_text(encoding="utf-8-sig")
    assert ",WAIVED," in text and ",W-1,FAIL" in text
