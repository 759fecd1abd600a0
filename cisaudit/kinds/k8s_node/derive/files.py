"""The files node controls look at: what phase 2 reads and stats, and their modes and owners."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.common.stat_record import stat_record
from cisaudit.kinds.k8s_node.derive.common import (
    CNI_DIRS,
    COMPONENTS,
    FILE_NAMES,
    KUBEADM,
    KUBELET_UNITS,
    LAYOUTS,
)
from cisaudit.kinds.k8s_node.derive.components import _resolve, derive_component
from cisaudit.kinds.k8s_node.derive.manifests import ManifestPod, parse_manifests
from cisaudit.kinds.k8s_node.derive.records import (
    Process,
    parse_configs,
    parse_distribution,
    parse_processes,
)


@dataclass
class StatPlan:
    """What phase 2 reads and stats: derived from phase 1 alone, so that the collector
    and the deriver agree on every path."""

    reads: list[tuple[str, str, int | None]] = field(default_factory=list)  # label, path, pid
    stats: list[tuple[str, int | None]] = field(default_factory=list)  # path, pid
    trees: list[str] = field(default_factory=list)
    candidates: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)


def _node(sections: dict[str, Section], errors: dict[str, str] | None = None) -> dict[str, Any]:
    """Phase-1 view shared by planning and deriving: processes, configs, manifests."""
    errors = {} if errors is None else errors
    processes = parse_processes(sections.get("k8s.processes"))
    files = parse_configs(sections.get("k8s.configs"), sections.get("k8s.referenced"))
    pods = parse_manifests(files, errors)
    components = {
        name: derive_component(name, processes.get(name), pods.get(name), files, errors)
        for name in COMPONENTS
    }
    return {
        "processes": processes,
        "files": files,
        "pods": pods,
        "components": components,
        "distribution": parse_distribution(sections.get("k8s.processes")),
    }


def plan_phase2(sections: dict[str, Section], node: dict[str, Any] | None = None) -> StatPlan:
    """Files named only by a static pod manifest (their component is not running) to read,
    and every path to stat, with the process whose view of the filesystem counts."""
    node = node or _node(sections)
    plan = StatPlan()
    read_labels = {f.label for f in node["files"]}
    comps = node["components"]
    for component, label, flag in (
        ("apiserver", "apiserver.encryption", "encryption-provider-config"),
        ("apiserver", "apiserver.authorization", "authorization-config"),
        ("apiserver", "apiserver.authentication", "authentication-config"),
        ("scheduler", "scheduler.config", "config"),
        ("etcd", "etcd.config", "config-file"),
        ("kubelet", "kubelet.config", "config"),
        ("proxy", "proxy.config", "config"),
    ):
        # Phase 1 follows a running process's own command line to these files; a component
        # known only from its manifest, or from K3s's log, is followed here.
        facts = comps[component]
        named = facts["flags"].get(flag)
        elsewhere = facts["source"] == "manifest" or facts.get("argv_from")
        if named and elsewhere and label not in read_labels:
            plan.reads.append((label, named, None))
    plan.candidates = file_candidates(node, sections)
    for options in plan.candidates.values():
        plan.stats.extend(options)
    plan.stats = list(dict.fromkeys(plan.stats))
    layout = LAYOUTS.get(node["distribution"].name or "", KUBEADM)
    plan.trees = [layout["pki_dir"], *cni_dirs(node)]
    return plan


def cni_dirs(node: dict[str, Any]) -> list[str]:
    """Where CNI configuration lives: the kubelet's legacy --cni-conf-dir, the standard
    directory, and the host-local IPAM state."""
    dirs = list(CNI_DIRS)
    legacy = node["components"]["kubelet"]["flags"].get("cni-conf-dir")  # before 1.24
    if legacy:
        dirs.insert(0, legacy)
    return list(dict.fromkeys(dirs))


def file_candidates(
    node: dict[str, Any], sections: dict[str, Section]
) -> dict[str, list[tuple[str, int | None]]]:
    """Each file name -> the paths it may have (the first that exists wins), each with the
    pid through whose root it is seen. No entry: the thing has no location here."""
    comps = node["components"]
    pods: dict[str, ManifestPod] = node["pods"]
    processes: dict[str, Process] = node["processes"]
    found: dict[str, list[tuple[str, int | None]]] = {}

    def from_setting(component: str, key: str) -> tuple[str, int | None] | None:
        facts = comps[component]
        value = (facts.get("settings") or {}).get(key)
        if not value:
            return None
        process = processes.get(component)
        base = process.cwd if process else None
        path = _resolve(value, base)
        return (path, process.pid if process else None) if path else None

    layout = LAYOUTS.get(node["distribution"].name or "", KUBEADM)
    manifest_dir = layout.get("manifests")
    kubelet_static = (comps["kubelet"].get("settings") or {}).get("pod-manifest-path")
    if kubelet_static:
        manifest_dir = kubelet_static
    for component, file_name in (
        ("apiserver", "kube-apiserver"),
        ("controller_manager", "kube-controller-manager"),
        ("scheduler", "kube-scheduler"),
        ("etcd", "etcd"),
    ):
        pod = pods.get(component)
        if pod is None and manifest_dir is None:
            continue  # K3s: no static pods, so no pod specification files
        path = pod.path if pod else posixpath.join(str(manifest_dir), f"{file_name}.yaml")
        found[f"{component}_manifest"] = [(path, None)]

    etcd_dir = from_setting("etcd", "data-dir") if comps["etcd"]["source"] else None
    found["etcd_data_dir"] = [etcd_dir or (layout["etcd_data_dir"], None)]
    for name in ("admin_conf", "super_admin_conf"):
        if layout.get(name):  # super-admin.conf is kubeadm's alone
            found[name] = [(layout[name], None)]
    for component, name in (
        ("scheduler", "scheduler_kubeconfig"),
        ("controller_manager", "controller_manager_kubeconfig"),
    ):
        named = from_setting(component, "kubeconfig") if comps[component]["source"] else None
        found[name] = [named or (layout[name], None)]

    units = [(path, None) for path in _unit_paths(sections.get("host.units"))]
    unit_candidates = layout.get("kubelet_units", KUBELET_UNITS)
    found["kubelet_service"] = list(dict.fromkeys(units + [(p, None) for p in unit_candidates]))

    kubelet = comps["kubelet"]
    if kubelet["running"]:
        for name, key in (
            ("kubelet_kubeconfig", "kubeconfig"),
            ("kubelet_config", "config"),
            ("kubelet_client_ca", "client-ca-file"),
        ):
            named = from_setting("kubelet", key)
            if named:
                found[name] = [named]
    else:  # not running: where the distribution would put them
        for name in ("kubelet_kubeconfig", "kubelet_config", "kubelet_client_ca"):
            found[name] = [(layout[name], None)]
    proxy_kubeconfig = from_setting("proxy", "kubeconfig") if comps["proxy"]["running"] else None
    if proxy_kubeconfig:
        found["proxy_kubeconfig"] = [proxy_kubeconfig]
    found["pki_dir"] = [(layout["pki_dir"], None)]
    return found


def _unit_paths(section: Section | None) -> list[str]:
    """Unit files systemd reports for the kubelet (kubeadm's drop-in first)."""
    paths: list[str] = []
    unit = None
    for line in (section.output if section and section.rc == 0 else "").splitlines():
        key, _, value = line.partition("=")
        if key == "Id":
            unit = value
        elif unit == "kubelet.service" and key in ("DropInPaths", "FragmentPath") and value:
            paths.extend(value.split())
    drop_ins = [p for p in paths if p.endswith(".conf")]
    return drop_ins + [p for p in paths if p not in drop_ins]


def parse_stats(
    section: Section | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]] | None]]:
    """Named stat records by path, and the files found below each walked directory
    (None for a directory that does not exist)."""
    named: dict[str, dict[str, Any]] = {}
    trees: dict[str, list[dict[str, Any]] | None] = {}
    root = None
    for line in (section.output if section else "").splitlines():
        parts = line.split("\t")
        try:
            if parts[0] == "S" and len(parts) >= 8:
                named[parts[1]] = stat_record(parts[1], parts[3:8], parts[2] or None)
            elif parts[0] == "A" and len(parts) >= 2:
                named[parts[1]] = {"path": parts[1], "exists": False, "error": None}
            elif parts[0] == "E" and len(parts) >= 2:
                named[parts[1]] = {
                    "path": parts[1],
                    "exists": None,
                    "error": "\t".join(parts[2:]) or "stat failed",
                }
            elif parts[0] == "D" and len(parts) >= 2:
                root = parts[1]
                trees[root] = []
            elif parts[0] == "DA" and len(parts) >= 2:
                trees[parts[1]] = None
            elif parts[0] == "T" and len(parts) >= 7 and root is not None:
                record = stat_record(parts[1], parts[2:7])
                record["cis"] = {"name": parts[1], "dir": root}
                walked = trees.get(root)
                if walked is not None:
                    walked.append(record)
        except (ValueError, IndexError):
            continue
    return named, trees


def derive_files(
    sections: dict[str, Section], plan: StatPlan, errors: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``files`` (each name's first existing candidate), ``pki_files`` and ``cni_files``."""
    stat_section = sections.get("host.stat")
    if stat_section is None:
        reason = "the stat batch (second remote command) did not run"
        for fact in ("files", "pki_files", "cni_files"):
            errors[fact] = reason
    named, trees = parse_stats(stat_section)
    files: dict[str, Any] = {}
    for name in FILE_NAMES:
        options = plan.candidates.get(name)
        if not options:
            files[name] = None  # no location on this node
            continue
        records = [
            named.get(path) or {"path": path, "exists": None, "error": "path was not examined"}
            for path, _ in options
        ]
        files[name] = next((r for r in records if r.get("exists")), records[0])
    pki = (trees.get(plan.trees[0]) if plan.trees else None) or []  # the layout's PKI dir
    cni = [record for root in plan.trees[1:] for record in trees.get(root) or []]
    return files, pki, cni
