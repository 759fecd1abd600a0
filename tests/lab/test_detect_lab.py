"""Targets know what they are, on real lab hosts whose inventory entries name no kind:
a Docker engine with a kubelet beside it gets both benchmarks; a Kubernetes node with no
Docker engine gets the node benchmark only, with the roles its processes show; a host
where nothing cisaudit audits runs says so instead of a page of ERRORs. A kubespray
inventory's group names make Kubernetes nodes with roles."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cisaudit.api import audit
from cisaudit.inventory import load_inventory
from tests.lab.required import lab_or_skip

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    lab = lab_or_skip(
        ["docker-and-kubelet", "k8s-cp-hardened", "bare"], tmp_path_factory.mktemp("detect-lab")
    )
    with lab:
        yield lab


def _bare_inventory(lab, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The lab's inventory with every kind and role removed."""
    data = yaml.safe_load(Path(lab.inventory_path).read_text())
    for entry in data["hosts"].values():
        entry.pop("kind", None)
        entry.pop("roles", None)
    path.write_text(yaml.safe_dump(data))
    return path


def test_what_a_host_runs_decides_its_benchmarks(hosts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    names = {h.profile: h.name for h in hosts.hosts}
    rc, out = hosts.exec(names["bare"], "pkill dockerd; pkill containerd; sleep 1; true")
    assert rc == 0, out
    inventory = _bare_inventory(hosts, tmp_path / "inventory.yaml")
    run = audit(load_inventory(inventory).select(None)).run
    by_name = {t.name: t for t in run.targets}

    both = by_name[names["docker-and-kubelet"]]
    assert set(both.packs) >= {"cis-docker-1.6.0", "cis-kubernetes-1.12"}, both.packs
    packs = {r.pack for r in both.results}
    assert {"cis-docker-1.6.0", "cis-kubernetes-1.12"} <= packs
    assert "dockerd" in both.detected and "kubelet" in both.detected
    assert "Docker host and a Kubernetes node" in both.kind_source
    kubelet = {r.control_id: r for r in both.results if r.pack == "cis-kubernetes-1.12"}
    assert kubelet["4.2.1"].status.value == "PASS"  # anonymous auth off in its config
    assert all(e.startswith("k8s-node:") for e in kubelet["4.2.1"].evidence)
    assert all(
        r.status.value != "ERROR"
        for r in both.results
        if r.pack == "cis-docker-1.6.0" and r.control_id.startswith("2.")
    )

    node = by_name[names["k8s-cp-hardened"]]
    assert node.kind == "k8s-node" and node.benchmark == "cis-kubernetes-1.12"
    assert {"kube-apiserver", "etcd", "kubelet"} <= set(node.detected)
    assert not any(r.pack.startswith("cis-docker") for r in node.results)
    assert {r.control_id.split(".")[0] for r in node.results} >= {"1", "2", "4"}

    nothing = by_name[names["bare"]]
    assert nothing.reachable and nothing.results == []
    assert "nothing cisaudit audits runs on this host" in nothing.selection
    assert run.summary["targets"][names["bare"]]["counts"]["ERROR"] == 0


def test_kubespray_groups_make_kubernetes_nodes(hosts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(Path(hosts.inventory_path).read_text())
    node = next(h for h in hosts.hosts if h.profile == "k8s-cp-hardened")
    entry = {k: v for k, v in data["hosts"][node.name].items() if k not in ("kind", "roles")}
    kubespray = {
        "all": {
            "hosts": {
                node.name: {
                    "ansible_host": entry["address"],
                    "ansible_port": entry["port"],
                    "ansible_user": entry["user"],
                    "ansible_ssh_private_key_file": entry["key"],
                    "cisaudit_known_hosts": entry["known_hosts"],
                }
            },
            "children": {
                "kube_control_plane": {"hosts": {node.name: None}},
                "etcd": {"hosts": {node.name: None}},
                "kube_node": {"hosts": {node.name: None}},
                "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
            },
        }
    }
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(kubespray))
    [target] = load_inventory(path).select(None)
    assert target.kind == "k8s-node"
    assert set(target.roles) == {"control-plane", "etcd", "worker"}
    assert target.kind_source.startswith("group ")


def test_a_k3s_server_is_found_and_read_from_its_log(tmp_path: Path) -> None:
    """No kind in the inventory: the probe sees k3s, and the node benchmark runs with the
    roles K3s plays here (embedded etcd included), its flags read from K3s's log."""
    lab = lab_or_skip(["k8s-k3s"], tmp_path / "lab")
    with lab:
        inventory = _bare_inventory(lab, tmp_path / "inventory.yaml")
        (target,) = audit(load_inventory(inventory).select(None)).run.targets
    assert target.kind == "k8s-node" and "k3s" in target.detected, target.kind_source
    assert set(target.packs) == {"cis-kubernetes-1.12"}
    assert target.facts_summary["distribution"] == "k3s"
    assert "/var/log/k3s.log" in target.facts_summary["distribution_how"]
    results = {r.control_id: r for r in target.results}
    assert results["1.2.1"].status.value == "PASS"  # --anonymous-auth=false, from the log
    assert results["2.1"].status.value == "PASS"  # embedded etcd, from its config file
    assert results["4.2.5"].status.value == "FAIL"  # kubelet idle timeout 0
    assert not [r for r in target.results if r.status.value == "ERROR"]
