"""The lab's assertions, replayed on evidence recorded from the lab (no network, no root).

``tests/data/bundles/lab-docker.json`` is a real evidence bundle from the lab hosts; the
verdicts must equal ``tests/lab/expected.yaml``, the same file the live lab test uses.
Re-record it with ``python tests/lab/record_bundle.py`` when the probe changes.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from cisaudit.api import evaluate_bundle

HERE = Path(__file__).parent
BUNDLE = HERE / "data" / "bundles" / "lab-docker.json"
EXPECTED = yaml.safe_load((HERE / "lab" / "expected.yaml").read_text())
# (recorded bundle, expectations of the live lab test) for each kind of lab host
RECORDINGS = [
    (HERE / "data" / "bundles" / "lab-docker.json", HERE / "lab" / "expected.yaml"),
    (HERE / "data" / "bundles" / "lab-k8s-nodes.json", HERE / "lab" / "expected-k8s.yaml"),
]


@pytest.fixture(scope="module")
def outcome():  # type: ignore[no-untyped-def]
    return evaluate_bundle(BUNDLE)


@pytest.mark.parametrize("bundle,expected", RECORDINGS, ids=lambda p: p.name)
def test_recorded_verdicts_match_the_lab_expectations(bundle: Path, expected: Path) -> None:
    want_all = yaml.safe_load(expected.read_text())
    outcome = evaluate_bundle(bundle)
    wrong = []
    for target in outcome.run.targets:
        want = want_all[target.name.removeprefix("lab-")]
        got = {r.control_id: r.status.value for r in target.results}
        assert set(got) == set(want), f"{target.name}: controls differ from {expected.name}"
        for control_id, status in want.items():
            if got.get(control_id) != status:
                wrong.append(
                    f"{target.name} {control_id}: expected {status}, got {got.get(control_id)}"
                )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("bundle,expected", RECORDINGS, ids=lambda p: p.name)
def test_every_automated_control_passes_and_fails_in_the_recording(
    bundle: Path, expected: Path
) -> None:
    outcome = evaluate_bundle(bundle)
    seen: dict[str, set[str]] = {}
    for target in outcome.run.targets:
        for result in target.results:
            seen.setdefault(result.control_id, set()).add(result.status.value)
    allowed = set(yaml.safe_load(expected.read_text()).get("not_reproducible_here") or {})
    automated = {c.id for c in outcome.run.controls.values() if c.automated}
    missing = sorted(
        cid
        for cid in automated - allowed
        if not ("PASS" in seen.get(cid, set()) and {"FAIL", "MANUAL"} & seen.get(cid, set()))
    )
    assert not missing, f"automated controls that never both pass and fail: {missing}"


def test_evaluation_is_offline(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*_a, **_k):  # type: ignore[no-untyped-def]
        raise AssertionError("evaluate must not touch the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert evaluate_bundle(BUNDLE).run.targets


def test_results_schema(outcome) -> None:  # type: ignore[no-untyped-def]
    data = outcome.run.to_dict()
    assert data["schema_version"] == "1.3"
    # bound to the evidence it was evaluated from (name, SHA-256 of the file, run id)
    assert data["evidence"]["file"] == BUNDLE.name and len(data["evidence"]["sha256"]) == 64
    assert data["evidence"]["modified"] == []
    fleet = data["summary"]["fleet"]
    assert set(fleet["counts"]) == {"PASS", "FAIL", "MANUAL", "NOT_APPLICABLE", "ERROR", "WAIVED"}
    assert 0 < fleet["automated_coverage"] <= 1 and fleet["score"] is not None
    for target in data["targets"]:
        assert target["name"] and target["results"]
        assert data["summary"]["targets"][target["name"]]["score"] is not None
        for result in target["results"]:
            assert {"control_id", "status", "observed", "expected", "offenders", "evidence"} <= set(
                result
            )
            assert f"{target['benchmark']}/{result['control_id']}" in data["controls"]
            if result["status"] == "FAIL":
                assert result["offenders"] or result["expected"] is not None
    assert data["summary"]["sections"]["cis-docker-1.6.0"]["5"]["counts"]


def test_failures_name_offenders_and_carry_a_fix(outcome) -> None:  # type: ignore[no-untyped-def]
    weak = next(t for t in outcome.run.targets if t.name == "lab-weak")
    privileged = next(r for r in weak.results if r.control_id == "5.5")
    assert privileged.status.value == "FAIL" and privileged.offenders
    assert privileged.remediation and privileged.offenders[0].name in privileged.remediation
    for result in weak.results:
        if result.status.value == "FAIL":
            assert result.remediation, f"{result.control_id} fails without a remediation snippet"
            assert result.evidence, f"{result.control_id} fails without evidence keys"


def _docker_180(control_id: str) -> str:
    """A CIS Docker 1.6.0 id as 1.8.0 numbers it: 2.7-2.18 became 2.8-2.19 (the new 2.7 is
    the devicemapper driver)."""
    section, _, number = control_id.partition(".")
    if section == "2" and number.isdigit() and int(number) >= 7:
        return f"2.{int(number) + 1}"
    return control_id


def test_docker_1_8_0_on_the_recorded_lab() -> None:
    """CIS Docker 1.8.0 judges the lab hosts as 1.6.0 does, under its own numbers, plus the
    devicemapper driver (2.7), which no lab engine uses."""
    from cisaudit.api import Selection

    outcome = evaluate_bundle(BUNDLE, selection=Selection(benchmark="cis-docker-1.8.0"))
    for target in outcome.run.targets:
        want = {_docker_180(c): s for c, s in EXPECTED[target.name.removeprefix("lab-")].items()}
        want["2.7"] = "PASS"
        got = {r.control_id: r.status.value for r in target.results}
        assert target.benchmark == "cis-docker-1.8.0" and len(got) == 118
        assert got == want, {c: (want.get(c), got.get(c)) for c in got if got[c] != want.get(c)}


def test_kubernetes_1_11_on_the_recorded_nodes() -> None:
    """CIS Kubernetes 1.11 judges the lab nodes as 1.12 does, plus its 4.2.15 (the kubelet's
    IPAddressDeny), a review item wherever a kubelet runs."""
    from cisaudit.api import Selection

    nodes = HERE / "data" / "bundles" / "lab-k8s-nodes.json"
    expected = yaml.safe_load((HERE / "lab" / "expected-k8s.yaml").read_text())
    outcome = evaluate_bundle(nodes, selection=Selection(benchmark="cis-kubernetes-1.11"))
    for target in outcome.run.targets:
        want = dict(expected[target.name.removeprefix("lab-")])
        got = {r.control_id: r.status.value for r in target.results}
        assert got.pop("4.2.15") == "MANUAL"
        assert got == want, {c: (want.get(c), got.get(c)) for c in got if got[c] != want.get(c)}
