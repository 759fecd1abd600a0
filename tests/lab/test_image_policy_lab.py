"""The image policy on real lab engines, over SSH: packages read from the image layers on
the host, golden bases identified by layers, registries, tags, users, and scanner reports
(Trivy and Grype JSON written here to their published schemas, matched by image id).
Every image-policy control passes on images-golden and fails on images-rogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cisaudit.api import Selection, audit
from cisaudit.imagepolicy import load_policy, load_reports
from cisaudit.inventory import load_inventory
from cisaudit.model import Status
from tests.lab.required import lab_or_skip

pytestmark = pytest.mark.lab

POLICY = """\
images:
  registries: [registry.internal:5000]
  tags: {forbid: [latest]}
  golden_bases:
    - ref: registry.internal:5000/base/debian:12-golden
  user: {forbid_root: true}
  packages:
    forbid: [{name: telnetd}, {name: netcat*}, {name: openssl, below: "3.0.13"}]
    require: [{name: corp-security-agent}]
  vulnerabilities: {max_severity: HIGH, only_fixable: true, require_scan: true}
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    lab = lab_or_skip(["images-golden", "images-rogue"], tmp_path_factory.mktemp("img"))
    with lab:
        yield lab


def _image_id(lab, profile: str, ref: str) -> str:  # type: ignore[no-untyped-def]
    rc, out = lab.exec(profile, f"docker image inspect --format '{{{{.Id}}}}' {ref}")
    assert rc == 0, out
    return out.strip()


def _diff_ids(lab, profile: str, ref: str) -> list[str]:  # type: ignore[no-untyped-def]
    rc, out = lab.exec(
        profile, f"docker image inspect --format '{{{{json .RootFS.Layers}}}}' {ref}"
    )
    assert rc == 0, out
    return json.loads(out)


def _reports(lab, folder: Path) -> Path:  # type: ignore[no-untyped-def]
    """Trivy (SchemaVersion 2) for the web image, Grype for the legacy image: one CRITICAL
    with a fix in the legacy image's base layer; the web image has only a HIGH. The public
    alpine image has no report (unscanned)."""
    folder.mkdir()
    web = "registry.internal:5000/team/web:1.4.2"
    (folder / "web.trivy.json").write_text(
        json.dumps(
            {
                "SchemaVersion": 2,
                "ArtifactName": web,
                "ArtifactType": "container_image",
                "Metadata": {
                    "ImageID": _image_id(lab, "images-golden", web),
                    "DiffIDs": _diff_ids(lab, "images-golden", web),
                    "RepoTags": [web],
                },
                "Results": [
                    {
                        "Target": f"{web} (debian 12.8)",
                        "Class": "os-pkgs",
                        "Type": "debian",
                        "Vulnerabilities": [
                            {
                                "VulnerabilityID": "CVE-2026-0001",
                                "PkgName": "libc6",
                                "InstalledVersion": "2.36-9+deb12u9",
                                "FixedVersion": "2.36-9+deb12u10",
                                "Severity": "HIGH",
                                "Layer": {"DiffID": _diff_ids(lab, "images-golden", web)[1]},
                            }
                        ],
                    }
                ],
            }
        )
    )
    base = "registry.internal:5000/base/debian:12-golden"
    (folder / "base.trivy.json").write_text(
        json.dumps(
            {
                "SchemaVersion": 2,
                "ArtifactName": base,
                "ArtifactType": "container_image",
                "Metadata": {"ImageID": _image_id(lab, "images-golden", base), "RepoTags": [base]},
                "Results": [{"Target": base, "Class": "os-pkgs", "Type": "debian"}],
            }
        )
    )
    legacy = "registry.internal:5000/team/legacy:1.0"
    layers = _diff_ids(lab, "images-rogue", legacy)
    (folder / "legacy.grype.json").write_text(
        json.dumps(
            {
                "matches": [
                    {
                        "vulnerability": {
                            "id": "CVE-2026-0002",
                            "severity": "Critical",
                            "fix": {"versions": ["3.0.15-1~deb12u1"], "state": "fixed"},
                        },
                        "artifact": {
                            "name": "openssl",
                            "version": "3.0.11-1~deb12u2",
                            "type": "deb",
                            "locations": [{"path": "/var/lib/dpkg/status", "layerID": layers[1]}],
                        },
                    }
                ],
                "source": {
                    "type": "image",
                    "target": {
                        "userInput": legacy,
                        "imageID": _image_id(lab, "images-rogue", legacy),
                        "tags": [legacy],
                        "repoDigests": [],
                    },
                },
                "descriptor": {"name": "grype", "version": "0.80.0"},
            }
        )
    )
    return folder


def test_every_policy_control_passes_on_one_host_and_fails_on_the_other(
    hosts, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    selection = Selection(
        policy=load_policy(policy_file), scans=load_reports([_reports(hosts, tmp_path / "r")])
    )
    outcome = audit(load_inventory(hosts.inventory_path).select(None), selection=selection)
    _, evidence = outcome.write(tmp_path / "out")
    _golden_by_layers_offline(hosts, evidence, tmp_path)
    run = outcome.run
    by_host = {
        t.name.removeprefix("lab-"): {
            r.control_id: r for r in t.results if r.pack == "image-policy"
        }
        for t in run.targets
    }
    golden, rogue = by_host["images-golden"], by_host["images-rogue"]
    assert set(golden) == {"1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2"}
    for control_id, result in golden.items():
        assert result.status is Status.PASS, (control_id, result.reason, result.offenders)
    for control_id, result in rogue.items():
        assert result.status is Status.FAIL, (control_id, result.reason)

    def offenders(control_id: str) -> dict[str, str]:
        return {o.name: str(o.observed) for o in rogue[control_id].offenders}

    assert "alpine-tools:latest" in offenders("1.1")
    assert "r-tools" in offenders("1.2") and "alpine-tools" in offenders("1.2")["r-tools"]
    assert set(offenders("1.3")) == {"alpine-tools:latest"}  # unknown base
    assert "r-legacy" in offenders("2.1")
    forbidden = offenders("2.2")
    legacy = forbidden["registry.internal:5000/team/legacy:1.0"]
    assert "telnetd 0.17-44" in legacy and "application layer" in legacy and "printf" in legacy
    assert "openssl 3.0.11-1~deb12u2 (below 3.0.13)" in legacy
    assert "golden base registry.internal:5000/base/debian:12-golden" in legacy
    assert "netcat-openbsd 1.226-r0" in forbidden["alpine-tools:latest"]
    assert "corp-security-agent" in offenders("2.3")["alpine-tools:latest"]
    assert "alpine-tools:latest" in offenders("3.1")
    vulns = offenders("3.2")
    assert "CVE-2026-0002 CRITICAL openssl" in vulns["registry.internal:5000/team/legacy:1.0"]
    assert "golden base" in vulns["registry.internal:5000/team/legacy:1.0"]
    # the packages were read from the layers on the host, in the same two remote calls
    rogue_target = next(t for t in run.targets if t.name == "lab-images-rogue")
    assert rogue_target.remote_calls == 2


def _golden_by_layers_offline(lab, evidence: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`images golden export` prints the base's layers from the recorded evidence; a policy
    naming the base by those layers judges the recorded audit offline as by reference."""
    import yaml
    from click.testing import CliRunner

    from cisaudit.cli import main

    base = "registry.internal:5000/base/debian:12-golden"
    done = CliRunner().invoke(
        main,
        [
            "images",
            "golden",
            "export",
            base,
            "--evidence",
            str(evidence),
            "--target",
            "lab-images-golden",
            "--name",
            "corp-debian",
        ],
    )
    assert done.exit_code == 0, done.output
    (entry,) = yaml.safe_load(done.output)
    assert entry["diff_ids"] == _diff_ids(lab, "images-golden", base)
    policy = tmp_path / "by-layers.yaml"
    policy.write_text(yaml.safe_dump({"images": {"golden_bases": [entry]}}))
    again = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(evidence),
            "--policy",
            str(policy),
            "-o",
            str(tmp_path / "off"),
            "--no-store",
        ],
    )
    assert again.exit_code in (0, 1, 3), again.output
    results = json.loads((tmp_path / "off" / "results.json").read_text())
    verdicts = {
        t["name"]: {
            r["control_id"]: r["status"] for r in t["results"] if r.get("pack") == "image-policy"
        }
        for t in results["targets"]
    }
    assert verdicts["lab-images-golden"] == {"1.3": "PASS"}
    assert verdicts["lab-images-rogue"] == {"1.3": "FAIL"}  # the rogue base has other layers


def test_a_malformed_policy_names_the_file_and_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cisaudit.cli import main

    bad = tmp_path / "policy.yaml"
    bad.write_text("images:\n  registries: [a]\n  vulnerabilities: {max_severity: SEVERE}\n")
    done = CliRunner().invoke(
        main,
        [
            "evaluate",
            "tests/data/bundles/lab-docker.json",
            "--policy",
            str(bad),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert done.exit_code == 2 and f"{bad}:3" in done.output, done.output
