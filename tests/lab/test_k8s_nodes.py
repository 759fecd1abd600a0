"""Kubernetes nodes audited over real SSH: the k8s-* lab profiles (tests/lab/K8S_PROFILES.md).

Each node is a lab host whose process table holds Kubernetes components with the flags
under test (stand-in executables that keep their command line: no Kubernetes binary can
be installed here), with real static pod manifests, kubelet and kube-proxy configuration
files, kubeconfigs, PKI, CNI files, modes and owners. The inventory the lab writes names
each node's kind and roles. Every fact in ``k8s_expected_facts.yaml`` must come out of the
live audit, as it does from the recorded bundle in ``tests/test_derive_k8s_node.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cisaudit_lab import Lab, available_profiles
from cisaudit_lab.hosts import profile_target

from cisaudit.api import Outcome, audit, collect_target, load_catalog
from cisaudit.catalog import Catalog
from cisaudit.evaluate import dig
from cisaudit.inventory import load_inventory
from cisaudit.kinds.k8s_node.derive import derive
from cisaudit.targets import Target
from tests.lab.required import lab_or_skip

pytestmark = pytest.mark.lab
EXPECTED = yaml.safe_load((Path(__file__).parent / "k8s_expected_facts.yaml").read_text())
# One batched probe and one stat batch per node, however many files and processes.
MAX_SECONDS_PER_NODE = 5.0


@pytest.fixture(scope="module")
def k8s_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    started = lab_or_skip(available_profiles("k8s-node"), tmp_path_factory.mktemp("k8s"))
    with started:
        yield started


@pytest.fixture(scope="module")
def targets(k8s_lab: Lab) -> list[Target]:
    return load_inventory(k8s_lab.inventory_path).select(None)


@pytest.fixture(scope="module")
def outcome(targets: list[Target]) -> Outcome:
    return audit(targets, concurrency=8)


def facts_of(evidence: Any) -> tuple[dict[str, Any], dict[str, str]]:
    return derive(evidence.sections)  # type: ignore[no-any-return]


def _mismatches(values: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    wrong = []
    for path, want in expected.items():
        got = (
            len(dig(values, path.removesuffix("#count")) or [])
            if path.endswith("#count")
            else dig(values, path)
        )
        if got != want:
            wrong.append(f"{path}: expected {want!r}, got {got!r}")
    return wrong


def test_the_inventory_names_each_nodes_kind_and_roles(targets: list[Target]) -> None:
    assert {t.name.removeprefix("lab-") for t in targets} == set(EXPECTED)
    for target in targets:
        assert target.kind == "k8s-node"
        assert target.roles == profile_target(target.name.removeprefix("lab-"))[1]


def test_each_node_takes_two_remote_calls_and_well_under_a_second(outcome: Outcome) -> None:
    timings = []
    for evidence in outcome.evidence:
        assert evidence.error is None, f"{evidence.name}: {evidence.error}"
        assert evidence.remote_calls == 2
        assert evidence.duration_s is not None and evidence.duration_s < MAX_SECONDS_PER_NODE
        assert evidence.platform_version == "v1.33.2"
        timings.append(f"{evidence.name} {evidence.duration_s:.2f}s")
    print("probe time per node (connect, probe, stat batch):", ", ".join(timings))


def test_live_facts_match_expectations(outcome: Outcome) -> None:
    wrong = []
    for evidence in outcome.evidence:
        values, errors = facts_of(evidence)
        if errors:
            wrong.append(f"{evidence.name}: unexpected errors {errors}")
        wrong += [
            f"{evidence.name} {w}"
            for w in _mismatches(values, EXPECTED[evidence.name.removeprefix("lab-")])
        ]
    assert not wrong, "\n".join(wrong)


def test_the_node_runs_real_processes_with_the_flags_under_test(k8s_lab: Lab) -> None:
    rc, out = k8s_lab.exec("lab-k8s-cp-weak", "ps -eo comm=,args= | grep -E '^(kube|etcd)'")
    assert rc == 0
    assert (
        "kube-apiserver  kube-apiserver" in out and "--authorization-mode AlwaysAllow,RBAC" in out
    )
    # the decoy says --anonymous-auth=false; the audit must not believe it
    assert "kube-log-tail" in out and "--anonymous-auth=false" in out
    assert "kube-scheduler" not in out.split("kube-log-tail")[0]


def test_a_sudo_user_sees_what_root_sees_and_nosudo_is_refused(
    targets: list[Target], outcome: Outcome
) -> None:
    root = next(t for t in targets if t.name == "lab-k8s-cp-hardened")
    via_sudo = dataclasses.replace(root, user="audit", become=True)
    no_sudo = dataclasses.replace(root, name="nosudo", user="nosudo", become=True)
    sudo_evidence, refused = audit([via_sudo, no_sudo]).evidence
    reference = next(e for e in outcome.evidence if e.name == root.name)
    as_root, _ = facts_of(reference)
    as_sudo, errors = facts_of(sudo_evidence)
    assert errors == {}
    for key in ("components", "encryption", "kubelet"):
        assert as_sudo["k8s"][key] == as_root["k8s"][key]
    assert as_sudo["files"] == as_root["files"] and as_sudo["pki_files"] == as_root["pki_files"]
    assert refused.error is not None and "sudo" in refused.error


def test_without_root_what_cannot_be_read_is_an_error(targets: list[Target]) -> None:
    node = next(t for t in targets if t.name == "lab-k8s-cp-hardened")
    plain = dataclasses.replace(node, user="nosudo", become=False)
    values, errors = facts_of(collect_target(plain))
    assert values["k8s"]["audit_uid"] != 0
    # etcd's ETCD_* environment and the 0600 kubelet configuration are root's to read
    assert "root" in errors["k8s.components.etcd.settings"]
    assert "may not read" in errors["k8s.components.kubelet.settings"]
    # what any user may read is still judged
    assert values["k8s"]["components"]["apiserver"]["settings"]["profiling"] == "false"


def test_a_stopped_component_is_judged_from_its_manifest(
    k8s_lab: Lab, targets: list[Target]
) -> None:
    node = next(t for t in targets if t.name == "lab-k8s-cp-hardened")
    rc, argv = k8s_lab.exec(
        node.name,
        "p=$(pidof kube-scheduler) && tr '\\0' ' ' </proc/$p/cmdline"
        " && kill $p && while kill -0 $p 2>/dev/null; do sleep 0.05; done",
    )
    assert rc == 0, argv
    try:
        values, errors = facts_of(collect_target(node))
        scheduler = values["k8s"]["components"]["scheduler"]
        assert (scheduler["running"], scheduler["source"]) == (False, "manifest")
        assert scheduler["settings"]["profiling"] == "false" and errors == {}
    finally:  # put it back as it was, for the other tests
        rc, out = k8s_lab.exec(
            node.name, f"nohup {argv} >/dev/null 2>&1 & sleep 0.2; pidof kube-scheduler"
        )
        assert rc == 0, out


def test_a_mode_changed_on_the_node_is_seen(k8s_lab: Lab, targets: list[Target]) -> None:
    node = next(t for t in targets if t.name == "lab-k8s-worker-hardened")
    path = "/var/lib/kubelet/config.yaml"
    k8s_lab.exec(node.name, f"chmod 0606 {path}")
    try:
        values, _ = facts_of(collect_target(node))
        assert values["files"]["kubelet_config"]["mode_octal"] == "0606"
    finally:
        k8s_lab.exec(node.name, f"chmod 0600 {path}")


# -- through the whole engine ----------------------------------------------------------------
# A few node controls written against docs/facts-k8s.md, so that collection, derivation,
# role filtering and evaluation are tested together before (and apart from) the real
# catalog in checks/cis-kubernetes-1.12/.
_TEXT = {"en": "text", "zh": "文本"}
NODE_CONTROLS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "1.1.1": (
        ["control-plane"],
        {
            "file": "apiserver_manifest",
            "test": {"path": "mode", "op": "mode_at_most", "value": "0600"},
        },
    ),
    "1.1.12": (
        ["etcd"],
        {"file": "etcd_data_dir", "test": {"path": "user", "op": "equals", "value": "etcd"}},
    ),
    "1.1.21": (
        ["control-plane"],
        {
            "each": "pki_files",
            "kind": "file",
            "where": {"path": "cis.name", "op": "matches", "value": "[.]key$"},
            "test": {"path": "mode", "op": "mode_at_most", "value": "0600"},
        },
    ),
    "1.2.1": (
        ["control-plane"],
        {
            "test": {
                "fact": "k8s.components.apiserver.settings.anonymous-auth",
                "op": "equals",
                "value": "false",
            }
        },
    ),
    "1.3.7": (
        ["control-plane"],
        {
            "test": {
                "fact": "k8s.components.controller_manager.settings.bind-address",
                "op": "equals",
                "value": "127.0.0.1",
            }
        },
    ),
    "2.2": (
        ["etcd"],
        {
            "test": {
                "fact": "k8s.components.etcd.settings.client-cert-auth",
                "op": "equals",
                "value": "true",
            }
        },
    ),
    "4.2.4": (
        ["worker"],
        {
            "test": {
                "fact": "k8s.components.kubelet.settings.read-only-port",
                "op": "equals",
                "value": "0",
            }
        },
    ),
    "4.2.14": (
        ["worker"],
        {
            "test": {
                "fact": "k8s.components.kubelet.settings.seccomp-default",
                "op": "equals",
                "value": "true",
            }
        },
    ),
    "4.3.1": (
        ["worker"],
        {
            "when": {"fact": "k8s.components.proxy.running", "op": "is_true"},
            "otherwise": "kube-proxy does not run here",
            "test": {
                "fact": "k8s.components.proxy.settings.metrics-bind-address",
                "op": "matches",
                "value": "^127[.]0[.]0[.]1:",
            },
        },
    ),
}
ENGINE_VERDICTS = {
    "k8s-cp-hardened": {
        "1.1.1": "PASS",
        "1.1.12": "PASS",
        "1.1.21": "PASS",
        "1.2.1": "PASS",
        "1.3.7": "PASS",
        "2.2": "PASS",
    },
    "k8s-cp-weak": {
        "1.1.1": "FAIL",
        "1.1.12": "FAIL",
        "1.1.21": "FAIL",
        "1.2.1": "FAIL",
        "1.3.7": "FAIL",
        "2.2": "FAIL",
    },
    "k8s-worker-hardened": {"4.2.4": "PASS", "4.2.14": "PASS", "4.3.1": "PASS"},
    "k8s-worker-weak": {"4.2.4": "FAIL", "4.2.14": "FAIL", "4.3.1": "FAIL"},
    "k8s-etcd": {"1.1.12": "PASS", "2.2": "PASS"},
    # K3s: no static pods (1.1.1 has nothing to judge); the data dir root's (1.1.12)
    "k8s-k3s": {
        "1.1.1": "NOT_APPLICABLE",
        "1.1.12": "FAIL",
        "1.1.21": "PASS",
        "1.2.1": "PASS",
        "1.3.7": "PASS",
        "2.2": "PASS",
        "4.2.4": "PASS",
        "4.2.14": "FAIL",
        "4.3.1": "PASS",
    },
    "k8s-cp-partial": {
        "1.1.1": "PASS",
        "1.1.12": "FAIL",
        "1.1.21": "PASS",
        "1.2.1": "PASS",
        "1.3.7": "PASS",
        "2.2": "PASS",
    },
}


def node_catalog(root: Path) -> Catalog:
    """Write the pack ``test-k8s-node`` (Kubernetes 1.33) under ``root`` and load it alone."""
    from tests.catalog_builder import write_pack

    write_pack(
        root,
        {
            "id": "test-k8s-node",
            "name": "node contract test",
            "version": "1.0",
            "target_kinds": ["k8s-node"],
            "platform_versions": ["1.33"],
            "sections": {s: _TEXT for s in ("1", "2", "4")},
        },
        {
            cid: {"targets": ["k8s-node"], "roles": roles, "check": check}
            for cid, (roles, check) in NODE_CONTROLS.items()
        },
    )
    return load_catalog(root)


def test_node_controls_through_the_engine(targets: list[Target], tmp_path: Path) -> None:
    run = audit(targets, catalog=node_catalog(tmp_path / "checks")).run
    wrong = []
    for target in run.targets:
        assert target.benchmark == "test-k8s-node", target.error
        got = {r.control_id: r.status.value for r in target.results}
        want = ENGINE_VERDICTS.get(target.name.removeprefix("lab-"), {})
        if got != want:  # the roles decide which controls run, the facts how they end
            wrong.append(f"{target.name}: expected {want}, got {got}")
    assert not wrong, "\n".join(wrong)
    weak = next(t for t in run.targets if t.name == "lab-k8s-cp-weak")
    keys = next(r for r in weak.results if r.control_id == "1.1.21")
    assert {o.name for o in keys.offenders} == {
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/pki/sa.key",
    }


def test_a_role_the_node_does_not_play_is_an_error_not_a_verdict(
    targets: list[Target], tmp_path: Path
) -> None:
    worker = next(t for t in targets if t.name == "lab-k8s-worker-hardened")
    claimed = dataclasses.replace(worker, roles=("control-plane", "worker"))
    target = audit([claimed], catalog=node_catalog(tmp_path / "checks")).run.targets[0]
    got = {r.control_id: r for r in target.results}
    assert got["1.2.1"].status.value == "ERROR" and "kube-apiserver" in (got["1.2.1"].reason or "")
    assert got["1.1.1"].status.value == "NOT_APPLICABLE"  # the manifest does not exist
    assert got["4.2.4"].status.value == "PASS"


# Verdicts that follow from the facts alone, for automated controls, once the catalog
# holds the Kubernetes benchmark: (control, node) -> status.


EXPECTED_K8S = Path(__file__).parent / "expected-k8s.yaml"


def test_every_node_verdict_matches_expectations(outcome: Outcome) -> None:
    want_all = yaml.safe_load(EXPECTED_K8S.read_text())
    wrong = []
    for target in outcome.run.targets:
        want = want_all.get(target.name.removeprefix("lab-"), {})
        for result in target.results:
            status = want.get(result.control_id)
            if status != result.status.value:
                wrong.append(
                    f"{target.name} {result.control_id}: expected {status}, got "
                    f"{result.status.value} ({result.reason}; observed={result.observed})"
                )
    assert not wrong, "\n".join(wrong)


def test_every_automated_node_control_passes_and_fails_on_some_node(outcome: Outcome) -> None:
    seen: dict[str, set[str]] = {}
    for target in outcome.run.targets:
        for result in target.results:
            seen.setdefault(result.control_id, set()).add(result.status.value)
    automated = {c.id for c in outcome.run.controls.values() if c.automated}
    missing = sorted(
        cid
        for cid in automated
        if not ("PASS" in seen.get(cid, set()) and {"FAIL", "MANUAL"} & seen.get(cid, set()))
    )
    assert not missing, (
        f"automated node controls that never both pass and fail in the lab: {missing}"
    )


# Secrets the node profiles plant: etcd's cluster token in its environment, on its command
# line and in its config file; the API server's encryption keys (flow style on one node).
NODE_SECRETS = (
    "envtoken-Kx81wq",
    "argtoken-Jm27fz",
    "conftoken-Qp39vn",
    "c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==",
)


def test_no_secret_leaves_a_node(outcome: Outcome) -> None:
    import json

    text = json.dumps([e.to_dict() for e in outcome.evidence]) + json.dumps(outcome.run.to_dict())
    assert not [s for s in NODE_SECRETS if s in text]
    weak = next(e for e in outcome.evidence if e.name == "lab-k8s-cp-weak")
    assert "ETCD_INITIAL_CLUSTER_TOKEN=<redacted>" in weak.sections["k8s.processes"].output
    assert "--initial-cluster-token=<redacted>" in weak.sections["k8s.processes"].output


def test_a_flow_style_encryption_config_is_judged_after_masking(outcome: Outcome) -> None:
    hardened = next(t for t in outcome.run.targets if t.name == "lab-k8s-cp-hardened")
    verdict = next(r for r in hardened.results if r.control_id == "1.2.28")
    assert verdict.status.value == "PASS", verdict.reason
    evidence = next(e for e in outcome.evidence if e.name == "lab-k8s-cp-hardened")
    assert '{keys: [{name: key1, secret: "<redacted>"}]}' in evidence.sections["k8s.configs"].output
