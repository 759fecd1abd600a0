"""The catalog: a library of checks shared across benchmark versions, packs mapping control
ids onto them, parameters, a user's own packs beside CIS, and every loader rejection
named by file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cisaudit.api import (
    Selection,
    build_run,
    evaluate_bundle,
    load_catalog,
    load_tailoring,
)
from cisaudit.catalog import Catalog
from cisaudit.cli import main
from cisaudit.evidence import load_bundle
from cisaudit.model import Status
from cisaudit.yamlsrc import SourceError

ROOT = Path(__file__).parents[1]
BUNDLE = ROOT / "tests" / "data" / "bundles" / "lab-docker.json"
NODES = ROOT / "tests" / "data" / "bundles" / "lab-k8s-nodes.json"
ENGLISH = {"CISAUDIT_LANG": "en"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_packs_map_control_ids_onto_shared_checks(catalog: Catalog) -> None:
    docker = catalog.get("cis-docker-1.6.0")
    assert len(docker.controls) == 117 and len(catalog.get("cis-kubernetes-1.12").controls) == 131
    privileged = docker.controls["5.5"]
    assert privileged.check_slug == "container-privileged"
    assert privileged.check == catalog.checks["container-privileged"].logic
    # the versions share checks: Kubernetes 1.11 adds two (4.2.15, and 5.2.10 "capabilities
    # assigned", which 1.12 keeps as 5.2.9) and Docker 1.8.0 one (2.7 devicemapper) to the
    # 248 of Docker 1.6.0 and Kubernetes 1.12
    assert len(catalog.get("cis-kubernetes-1.11").controls) == 133
    assert len(catalog.get("cis-docker-1.8.0").controls) == 118
    assert catalog.get("cis-docker-1.8.0").controls["2.8"].check_slug == "daemon-tcp-requires-tls"
    assert len(catalog.checks) == 251
    shared = {c.check_slug for c in catalog.get("cis-kubernetes-1.11").controls.values()} & {
        c.check_slug for c in catalog.get("cis-kubernetes-1.12").controls.values()
    }
    assert len(shared) == 131  # every check of 1.12 is one of 1.11's
    info = privileged.info()
    assert info.check == "container-privileged" and info.benchmark == "cis-docker-1.6.0"


def _copy(tmp_path: Path) -> Path:
    checks = tmp_path / "checks"
    shutil.copytree(ROOT / "checks", checks)
    return checks


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


REJECTIONS = [
    (
        "library/docker/container-privileged.yaml",
        "op: is_not_true",
        "op: is_nott_true",
        "unknown operator 'is_nott_true'",
    ),
    (
        "library/docker/container-privileged.yaml",
        "  empty: no containers on this host",
        "  empty: no containers on this host\n  bogus: 1",
        "unknown key 'bogus'",
    ),
    (
        "library/docker/daemon-icc-disabled.yaml",
        "fact: daemon.",
        "fact: deamon.",
        "unknown fact 'deamon.",
    ),
    (
        "library/docker/container-privileged.yaml",
        "id: container-privileged",
        "id: container-privileges",
        "must equal the file name",
    ),
    (
        "library/docker/container-restart-policy.yaml",
        "{param: max_retries}",
        "{param: max_retry}",
        "unknown parameter 'max_retry'",
    ),
    (
        "library/docker/container-restart-policy.yaml",
        "value: {param: max_retries}",
        "value: {param: max_retries, fact: x}",
        "a value is a literal",
    ),
    (
        "packs/cis-docker-1.6.0.yaml",
        "check: container-privileged,",
        "check: container-privilege,",
        "unknown check 'container-privilege'",
    ),
    (
        "packs/cis-docker-1.6.0.yaml",
        '"5.5": {check: container-privileged, section: "5"',
        '"5.5": {check: container-privileged, section: "9"',
        "unknown section '9'",
    ),
    (
        "packs/cis-docker-1.6.0.yaml",
        "id: cis-docker-1.6.0",
        "id: cis-docker-1.6.1",
        "must equal the file name",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    REJECTIONS,
    ids=[r[3].split("'")[0].strip() + " " + r[0].split("/")[-1] for r in REJECTIONS],
)
def test_loader_rejections_name_file_and_line(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    checks = _copy(tmp_path)
    _edit(checks / file, old, new)
    with pytest.raises(SourceError) as info:
        load_catalog(checks)
    assert message in str(info.value)
    assert info.value.path.endswith(file.split("/")[-1]) and info.value.line


def test_a_bad_regex_is_rejected_at_load(tmp_path: Path) -> None:
    checks = _copy(tmp_path)
    _edit(
        checks / "library" / "docker" / "daemon-log-level-info.yaml",
        "'^(?i:info)$'",
        "'(?<=x)info'",
    )
    with pytest.raises(SourceError, match="RE2"):
        load_catalog(checks)


def _user_pack(tmp_path: Path) -> Path:
    """An organisation's own pack, in English only: one control on a library check with
    its own parameter value, one on a check of its own."""
    folder = tmp_path / "acme"
    (folder / "packs").mkdir(parents=True)
    (folder / "library").mkdir()
    (folder / "library" / "acme-daemon-debug-off.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "acme-daemon-debug-off",
                "title": "dockerd does not run in debug mode",
                "automated": True,
                "description": "Debug logging writes request bodies to the logs.",
                "rationale": "Logs travel further than the daemon.",
                "audit": "Look at dockerd's command line and daemon.json for debug.",
                "remediation": 'Remove --debug and "debug": true.',
                "snippet": {"kind": "text", "text": "remove debug"},
                "check": {
                    "test": {"fact": "daemon.options.debug", "op": "is_not_true", "label": "debug"}
                },
            }
        )
    )
    (folder / "packs" / "acme-docker.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "acme-docker",
                "name": "ACME Docker baseline",
                "version": "2026.1",
                "target_kinds": ["docker-host"],
                "sections": {"1": "Daemon", "2": "Containers"},
                "controls": {
                    "1.1": {"check": "acme-daemon-debug-off", "section": "1", "level": 1},
                    "2.1": {
                        "check": "container-restart-policy",
                        "section": "2",
                        "level": 1,
                        "title": "Containers restart at most twice",
                        "params": {"max_retries": 2},
                    },
                },
            }
        )
    )
    return folder


def test_a_users_own_pack_runs_beside_cis(tmp_path: Path) -> None:
    catalog = load_catalog(extra=[_user_pack(tmp_path)])
    assert catalog.get("acme-docker").type == "custom"
    run = evaluate_bundle(BUNDLE, catalog=catalog).run
    weak = next(t for t in run.targets if t.name == "lab-weak")
    assert (
        weak.packs == ["cis-docker-1.6.0", "acme-docker"] and weak.benchmark == "cis-docker-1.6.0"
    )
    by_pack = {(r.pack, r.control_id): r for r in weak.results}
    assert ("cis-docker-1.6.0", "5.15") in by_pack and ("acme-docker", "2.1") in by_pack
    assert by_pack[("acme-docker", "2.1")].params == {"max_retries": 2}
    assert by_pack[("cis-docker-1.6.0", "5.15")].params == {"max_retries": 5}
    assert by_pack[("acme-docker", "1.1")].status in (Status.PASS, Status.FAIL)
    assert run.controls["acme-docker/1.1"].title == {"en": "dockerd does not run in debug mode"}
    assert "acme-docker" in run.summary["sections"]
    traps = next(t for t in run.targets if t.name == "lab-traps")
    mine = next(r for r in traps.results if (r.pack, r.control_id) == ("acme-docker", "2.1"))
    theirs = next(
        r for r in traps.results if (r.pack, r.control_id) == ("cis-docker-1.6.0", "5.15")
    )
    # on-failure:5 passes CIS's threshold and fails the organisation's own (2)
    assert theirs.status is Status.PASS and mine.status is Status.FAIL
    assert "on-failure:2" in mine.remediation


def test_a_users_pack_through_the_cli_and_into_a_chinese_report(tmp_path: Path) -> None:
    pack = _user_pack(tmp_path)
    result = CliRunner(env=ENGLISH).invoke(
        main,
        [
            "evaluate",
            str(BUNDLE),
            "-o",
            str(tmp_path / "o"),
            "--checks",
            str(pack),
            "--only",
            "1.1.1,acme-daemon-debug-off",
            "--format",
            "html",
            "--report-lang",
            "zh",
        ],
    )
    assert result.exit_code in (0, 1, 3), result.output
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    assert {r["pack"] for t in data["targets"] for r in t["results"]} == {
        "cis-docker-1.6.0",
        "acme-docker",
    }
    assert "dockerd does not run in debug mode" in (tmp_path / "o" / "report.html").read_text()
    listed = CliRunner(env=ENGLISH).invoke(
        main, ["checks", "list", "--json", "--checks", str(pack)]
    )
    assert {
        "benchmark": "acme-docker",
        "id": "2.1",
        "check": "container-restart-policy",
    }.items() <= next(
        c for c in json.loads(listed.output) if c["id"] == "2.1" and c["benchmark"] == "acme-docker"
    ).items()


def test_tailoring_sets_parameters_and_results_say_which(tmp_path: Path) -> None:
    tailoring = tmp_path / "tailoring.yml"
    tailoring.write_text("params:\n  container-restart-policy: {max_retries: 3}\n")
    catalog = load_catalog(tailoring=load_tailoring(tailoring))
    run = evaluate_bundle(BUNDLE, catalog=catalog, selection=Selection(only=["5.15"])).run
    traps = next(t for t in run.targets if t.name == "lab-traps")
    [verdict] = traps.results
    assert verdict.status is Status.FAIL and verdict.params == {"max_retries": 3}
    tailoring.write_text("params:\n  container-restart-policy:\n    max_retry: 3\n")
    with pytest.raises(SourceError) as info:
        load_catalog(tailoring=load_tailoring(tailoring))
    assert info.value.path == str(tailoring) and info.value.line == 3
    result = CliRunner(env=ENGLISH).invoke(
        main, ["evaluate", str(BUNDLE), "-o", str(tmp_path / "o"), "--tailoring", str(tailoring)]
    )
    assert result.exit_code == 2 and f"{tailoring}:3" in result.output


def test_parameters_from_the_inventory_are_kept_with_the_evidence(tmp_path: Path) -> None:
    bundle = load_bundle(BUNDLE)
    traps = next(t for t in bundle.targets if t.name == "lab-traps")
    traps.params = {"container-restart-policy": {"max_retries": 4}}
    from cisaudit.evidence import write_bundle

    path = write_bundle(tmp_path / "e.json", [traps], {"run_id": "r"})
    run = evaluate_bundle(path, selection=Selection(only=["5.15"])).run
    assert run.targets[0].results[0].params == {"max_retries": 4}
    assert run.targets[0].results[0].status is Status.FAIL


def test_the_benchmark_is_chosen_for_a_reason_never_silently(catalog: Catalog) -> None:
    node = load_bundle(NODES).targets[0]
    chosen = catalog.select("k8s-node", node.platform_version)
    assert chosen is not None and chosen.pack.id == "cis-kubernetes-1.12"
    assert "covers version" in chosen.reason or "no benchmark lists" in chosen.reason
    old = catalog.select("k8s-node", "v1.20.4")
    assert old is not None and "version 1.20 of this k8s-node is older than any" in old.reason
    assert old.pack.id == "cis-kubernetes-1.11"
    assert catalog.select("k8s-node", "v1.30.2").pack.id == "cis-kubernetes-1.11"  # type: ignore[union-attr]
    newer = catalog.select("k8s-node", "v1.36.0")
    assert newer is not None and newer.pack.id == "cis-kubernetes-1.12"
    assert "no benchmark lists version 1.36" in newer.reason
    named = catalog.select("docker-host", None, "cis-docker-1.6.0")
    assert named is not None and "named" in named.reason
    docker = catalog.select("docker-host")
    assert docker is not None and "newest benchmark for docker-host" in docker.reason
    run = build_run([node], catalog=catalog, selection=Selection(), started="t", options={})
    assert (
        run.targets[0].selection
        and run.targets[0].selection == catalog.select("k8s-node", node.platform_version).reason
    )  # type: ignore[union-attr]


def test_an_unmanaged_cluster_lists_only_the_controls_it_judged(tmp_path: Path) -> None:
    from cisaudit.api import audit
    from cisaudit.targets import Target

    dump = ROOT / "tests" / "data" / "k8s" / "cluster-weak"
    run = audit([Target(name="repo", kind="k8s-cluster", path=str(dump))]).run
    judged = {f"{r.pack}/{r.control_id}" for t in run.targets for r in t.results}
    assert set(run.controls) == judged
    assert run.summary["fleet"]["controls"] == len(judged) < 60
    managed = audit([Target(name="eks", kind="k8s-cluster", path=str(dump), managed=True)]).run
    reasons = [r.reason for r in managed.targets[0].results if r.control_id == "1.2.1"]
    assert reasons and "managed control plane" in reasons[0]
    assert set(managed.controls) == {f"{r.pack}/{r.control_id}" for r in managed.targets[0].results}
