"""The image policy on recorded facts: the policy file and its errors, image references,
package versions, layer databases (overlay2, vfs, unreadable, containerd store), scanner
reports (Trivy, Grype) and their errors, and the policy applied to clusters' workloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cisaudit.evidence import Section
from cisaudit.imagepolicy import approved, enrich, load_policy, load_reports, split_ref
from cisaudit.imagepolicy.versions import compare
from cisaudit.kinds.docker.derive.packages import image_packages, layer_steps, parse_layers
from cisaudit.yamlsrc import SourceError

M = "==CISAUDIT:0011/"
D1, D2, D3 = (f"sha256:{c * 64}" for c in "abc")


def _policy(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("images: [a]\n", 1, "must be a mapping"),
        ("images:\n  registry: [a]\n", 2, "unknown key 'registry'"),
        ("images:\n  vulnerabilities: {max_severity: SEVERE}\n", 2, "not one of"),
        (
            "images:\n  golden_bases:\n    - {name: b, diff_ids: [sha256:12]}\n",
            3,
            "not a layer diff id",
        ),
        ("images:\n  golden_bases:\n    - {name: b}\n", 3, "either `ref` or `diff_ids`"),
        ("images:\n  packages:\n    forbid: [{name: 'a b'}]\n", 3, "not a package name"),
        ("images:\n  packages:\n    require: [{name: x, below: '1'}]\n", 3, "unknown key 'below'"),
        ("images:\n  tags: {require_digest: yes please}\n", 2, "true or false"),
        ("other: 1\n", 1, "unknown key 'other'"),
    ],
)
def test_policy_errors_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    with pytest.raises(SourceError) as caught:
        _policy(tmp_path, text)
    assert caught.value.line == line, str(caught.value)
    assert words in caught.value.message


def test_only_the_rules_a_policy_sets_run(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "images:\n  registries: [r.example]\n  user: {forbid_root: true}\n")
    assert policy.checks() == ["policy-registries", "policy-non-root"]


@pytest.mark.parametrize(
    "ref,registry,repository,tag,digest",
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("team/app:2", "docker.io", "team/app", "2", None),
        (
            "registry.internal:5000/base/debian:12",
            "registry.internal:5000",
            "base/debian",
            "12",
            None,
        ),
        ("localhost/app", "localhost", "app", None, None),
        (
            "harbor.corp.example/x/y@sha256:" + "d" * 64,
            "harbor.corp.example",
            "x/y",
            None,
            "sha256:" + "d" * 64,
        ),
    ],
)
def test_image_references_are_read_as_docker_reads_them(
    ref, registry, repository, tag, digest
) -> None:  # type: ignore[no-untyped-def]
    assert split_ref(ref) == {
        "registry": registry,
        "repository": repository,
        "tag": tag,
        "digest": digest,
    }


def test_approved_registries_are_hosts_or_path_prefixes() -> None:
    allowed = ("registry.internal:5000", "harbor.corp.example/platform")
    assert approved("registry.internal:5000/a/b:1", allowed)
    assert approved("harbor.corp.example/platform/tool:2", allowed)
    assert not approved("harbor.corp.example/other/tool:2", allowed)
    assert not approved("registry.internal:5000.evil.example/a:1", allowed)
    assert not approved("nginx:1", allowed)  # docker.io


@pytest.mark.parametrize(
    "a,b,order",
    [
        ("3.0.11-1~deb12u2", "3.0.13", -1),
        ("3.0.15-1~deb12u1", "3.0.13", 1),
        ("1:1.0", "2.0", 1),
        ("1.0~rc1", "1.0", -1),
        ("1.2.3-r4", "1.2.3-r10", -1),
        ("2.36-9+deb12u9", "2.36-9+deb12u10", -1),
        ("1.0", "1.0", 0),
        ("1.0a", "1.0", 1),
    ],
)
def test_versions_order_as_dpkg_orders_them(a: str, b: str, order: int) -> None:
    assert compare(a, b) == order
    assert compare(b, a) == -order


def _layers(driver: str, body: str, rc: int = 0, stderr: str = "") -> Section:
    return Section("layers", rc, f"{M}STORE {driver} /var/lib/docker\n{body}", stderr)


def _stanza(name: str, version: str, status: str = "install ok installed") -> str:
    return f"Package: {name}\nStatus: {status}\nVersion: {version}\n"


def test_overlay2_layers_attribute_each_package_to_the_layer_that_brought_it() -> None:
    body = (
        f"{M}LAYER {D1} /d/1\n{M}DPKG\n{_stanza('libc6', '2.36')}{_stanza('openssl', '3.0.11')}"
        f"{M}LAYER {D2} /d/2\n"  # changes no package
        f"{M}LAYER {D3} /d/3\n{M}DPKG\n{_stanza('libc6', '2.36')}{_stanza('openssl', '3.0.15')}"
        f"{_stanza('telnetd', '0.17')}{_stanza('gone', '1', 'deinstall ok config-files')}"
    )
    store = parse_layers(_layers("overlay2", body))
    history = [
        "",
        "/bin/sh -c #(nop)  ENV A=1",
        "/bin/sh -c #(nop) COPY file:x in /",
        "RUN apt-get install -y telnetd",
    ]
    found = image_packages([D1, D2, D3], store, history)
    by_name = {p["name"]: p for p in found["packages"]}
    assert set(by_name) == {"libc6", "openssl", "telnetd"}  # config-files only: not installed
    assert by_name["libc6"]["layer"] == 0
    assert by_name["openssl"]["layer"] == 2 and by_name["openssl"]["version"] == "3.0.15"
    assert by_name["telnetd"]["step"] == "RUN apt-get install -y telnetd"
    assert found["package_db"] == "dpkg" and found["packages_error"] is None


def test_vfs_layers_hold_full_copies_and_apk_and_status_d_are_read() -> None:
    body = (
        f"{M}LAYER {D1} /v/1\n{M}APK\nP:busybox\nV:1.36.1-r29\n"
        f"{M}LAYER {D2} /v/2\n{M}APK\nP:busybox\nV:1.36.1-r29\nP:netcat-openbsd\nV:1.226-r0\n"
        f"{M}LAYER {D3} /v/3\n{M}DPKGD\nPackage: base-files\nVersion: 12.4\n"
    )
    store = parse_layers(_layers("vfs", body))
    apk = image_packages([D1, D2], store, [])
    assert {p["name"]: p["layer"] for p in apk["packages"]} == {"busybox": 0, "netcat-openbsd": 1}
    distroless = image_packages([D3], store, [])
    assert distroless["package_db"] == "dpkg" and distroless["packages"][0]["name"] == "base-files"


def test_an_unreadable_layer_or_store_is_that_images_error() -> None:
    store = parse_layers(_layers("overlay2", f"{M}LAYER {D1} /d/1\n{M}MISSING\n"))
    assert "could not be read" in image_packages([D1], store, [])["packages_error"]
    assert "could not be read" in image_packages([D2], store, [])["packages_error"]  # not in store
    containerd = parse_layers(
        _layers(
            "",
            "",
            rc=4,
            stderr="no layer database at /x: storage driver overlayfs (the containerd image store ...)",
        )
    )
    assert "containerd image store" in image_packages([D1], containerd, [])["packages_error"]
    rpm = parse_layers(
        _layers("overlay2", f"{M}LAYER {D1} /d/1\n{M}RPM /var/lib/rpm/rpmdb.sqlite\n")
    )
    assert "rpm" in image_packages([D1], rpm, [])["packages_error"]


def test_build_steps_line_up_from_the_newest_layer() -> None:
    assert layer_steps(["", "COPY a /a", "ENV X=1", "RUN make"], 3) == ["", "COPY a /a", "RUN make"]
    assert layer_steps(["COPY a /a", "RUN make"], 4) == [None, None, "COPY a /a", "RUN make"]


def _trivy(tmp_path: Path, name: str, doc: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_scanner_reports_are_read_and_matched(tmp_path: Path) -> None:
    _trivy(
        tmp_path,
        "a.json",
        {
            "SchemaVersion": 2,
            "Metadata": {
                "ImageID": "sha256:" + "1" * 64,
                "RepoDigests": ["r/a@sha256:" + "2" * 64],
            },
            "Results": [
                {
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": "CVE-1",
                            "PkgName": "p",
                            "InstalledVersion": "1",
                            "Severity": "CRITICAL",
                        }
                    ]
                }
            ],
        },
    )
    _trivy(
        tmp_path,
        "b.json",
        {
            "matches": [
                {
                    "vulnerability": {
                        "id": "GHSA-1",
                        "severity": "High",
                        "fix": {"state": "not-fixed"},
                    },
                    "artifact": {"name": "q", "version": "2"},
                }
            ],
            "source": {"type": "image", "target": {"imageID": "sha256:" + "3" * 64}},
        },
    )
    index = load_reports([tmp_path])
    assert index.for_image("sha256:" + "9" * 64, ["other/x@sha256:" + "2" * 64]).scanner == "trivy"  # type: ignore[union-attr]
    grype = index.for_image("sha256:" + "3" * 64, [])
    assert grype is not None and grype.vulnerabilities[0].fixed is None
    assert index.for_image("sha256:" + "4" * 64, []) is None


@pytest.mark.parametrize(
    "content,words",
    [
        ("{not json", "not JSON"),
        ('{"SchemaVersion": 1, "Metadata": {"ImageID": "x"}}', "only 2 is read"),
        ('{"matches": [], "source": {"type": "directory", "target": {}}}', "not of an image"),
        ('{"SchemaVersion": 2, "Metadata": {}}', "names no image id"),
        ("[1, 2]", "not a Trivy"),
    ],
)
def test_bad_scanner_reports_name_the_file(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(SourceError) as caught:
        load_reports([path])
    assert caught.value.path == str(path) and words in caught.value.message


def test_workloads_of_a_cluster_are_judged_on_what_pod_specs_decide(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        "images:\n  registries: [registry.internal:5000]\n  tags: {forbid: [latest], require_digest: true}\n"
        "  user: {forbid_root: true}\n",
    )
    values = {
        "cluster": {
            "pod_specs": [
                {
                    "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
                    "cis": {
                        "images": [
                            {
                                "container": "app",
                                "image": "registry.internal:5000/shop/web@sha256:" + "e" * 64,
                            },
                            {"container": "proxy", "image": "nginx"},
                        ],
                        "run_as_root": ["proxy"],
                    },
                }
            ]
        }
    }
    enrich(values, policy, None)
    (source,) = values["policy"]["sources"]
    assert source["cis"]["name"] == "shop/Deployment/web"
    assert source["cis"]["unapproved"] == ["nginx"]
    assert source["cis"]["tag_problems"] == [
        "nginx: no tag, which means latest",
        "nginx: not pinned by digest",
    ]
    assert source["cis"]["root_user"] and "proxy" in source["cis"]["root_user"]


def test_scanner_report_without_a_policy_is_a_usage_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cisaudit.cli import main

    report = tmp_path / "r.json"
    report.write_text("{}")
    done = CliRunner().invoke(
        main,
        [
            "evaluate",
            "tests/data/bundles/lab-docker.json",
            "--scanner-report",
            str(report),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert done.exit_code == 2 and "needs --policy" in done.output
