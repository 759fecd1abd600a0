"""The scheduling files: the systemd service and timer pass ``systemd-analyze verify``
(with no warning), the Kubernetes manifest validates against the Kubernetes API schema
(kubernetes-validate, strict) for the versions we support, and the commands and
inventory they hold are ones cisaudit accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cisaudit.cli import main
from tests.lab.required import unavailable

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "deploy" / "systemd"
CRONJOB = ROOT / "deploy" / "kubernetes" / "cronjob.yaml"


def _verify(tmp_path: Path, edit: str = "") -> subprocess.CompletedProcess[str]:
    # A root of our own, so the check of ExecStart's binary does not need one installed.
    (tmp_path / "usr/local/bin").mkdir(parents=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    fake = tmp_path / "usr/local/bin/cisaudit"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    units = []
    for unit in ("cisaudit-audit.service", "cisaudit-audit.timer"):
        text = (SYSTEMD / unit).read_text()
        if unit.endswith(".service"):
            text += edit
        (tmp_path / "etc/systemd/system" / unit).write_text(text)
        units.append(str(tmp_path / "etc/systemd/system" / unit))
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={tmp_path}", *units],
        capture_output=True,
        text=True,
        check=False,
    )


def test_systemd_units_verify_cleanly(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze not installed (scripts/setup.sh installs systemd)")
    done = _verify(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # no unknown keys, no bad values


def test_the_check_catches_a_broken_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze not installed (scripts/setup.sh installs systemd)")
    done = _verify(tmp_path, "ProtectSytem=strict\n")
    assert "Unknown key 'ProtectSytem'" in done.stderr


def _scan_args_parse(args: list[str]) -> None:
    scan = main.commands["scan"]
    ctx = scan.make_context("scan", list(args), resilient_parsing=False)
    assert ctx.params["inventory"]


def test_systemd_service_runs_a_real_scan_command() -> None:
    line = next(
        ln
        for ln in (SYSTEMD / "cisaudit-audit.service").read_text().splitlines()
        if ln.startswith("ExecStart=")
    )
    argv = shlex.split(line.split("=", 1)[1])
    assert argv[0] == "/usr/local/bin/cisaudit" and argv[1] == "scan"
    _scan_args_parse(argv[2:])
    assert "SuccessExitStatus=1" in (SYSTEMD / "cisaudit-audit.service").read_text()


@pytest.mark.parametrize("version", ["1.29.0", "1.33.0"])
def test_cronjob_validates_against_the_api_schema(version: str) -> None:
    import kubernetes_validate

    for document in yaml.safe_load_all(CRONJOB.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_the_schema_check_catches_a_broken_manifest() -> None:
    import kubernetes_validate

    documents = list(yaml.safe_load_all(CRONJOB.read_text()))
    cron = [d for d in documents if d["kind"] == "CronJob"][0]
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cron, "1.33.0", strict=True)


def test_cronjob_is_read_only_forbids_overlap_and_runs_a_real_scan(tmp_path: Path) -> None:
    from cisaudit.inventory import load_inventory

    documents = {d["kind"]: d for d in yaml.safe_load_all(CRONJOB.read_text())}
    role = documents["ClusterRole"]
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"list"}
    assert not any("secrets" in rule["resources"] for rule in role["rules"])
    cron = documents["CronJob"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    _scan_args_parse(container["args"][1:])
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(documents["ConfigMap"]["data"]["inventory.yml"])
    targets = load_inventory(inventory).select(None)
    assert [(t.kind, t.in_cluster) for t in targets] == [("k8s-cluster", True)]
