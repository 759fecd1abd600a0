"""From a Kubernetes node's raw probe output to the facts checks read (docs/facts-k8s.md).

Pure functions only, live and offline alike. The parts live by topic in this package;
``derive`` puts them together."""

from __future__ import annotations

import json
import re
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.k8s_node.derive.common import (  # noqa: F401
    CNI_DIRS,
    COMPONENTS,
    FILE_NAMES,
    KUBEADM,
    KUBELET_UNITS,
    ROLE_COMPONENTS,
)
from cisaudit.kinds.k8s_node.derive.components import (  # noqa: F401
    derive_component,
    derive_encryption,
    kubelet_config,
)
from cisaudit.kinds.k8s_node.derive.files import (  # noqa: F401
    StatPlan,
    _node,
    cni_dirs,
    derive_files,
    file_candidates,
    parse_stats,
    plan_phase2,
)
from cisaudit.kinds.k8s_node.derive.manifests import ManifestPod, _config_doc, parse_manifests  # noqa: F401
from cisaudit.kinds.k8s_node.derive.records import (  # noqa: F401
    ConfigFile,
    Process,
    Record,
    parse_configs,
    parse_processes,
    record_prefix,
    split_records,
)


def binary_versions(sections: dict[str, Section]) -> dict[str, str]:
    """What ``--version`` answered, per binary (``kubelet``, ``kube-apiserver``)."""
    section = sections.get("k8s.version")
    answers = {}
    for line in (section.output if section else "").splitlines():
        binary, _, text = line.partition(" ")
        match = re.search(r"v\d+\.\d+\.\d+\S*", text)
        if match:
            answers[binary] = match.group(0)
    return answers


def node_version(sections: dict[str, Section]) -> str | None:
    """The node's Kubernetes version: the kubelet's, else the API server's (``--version``
    of the running binary, else of the one on the PATH), else the image tag of the API
    server's static pod."""
    answers = binary_versions(sections)
    if answers.get("kubelet") or answers.get("kube-apiserver") or answers.get("k3s"):
        return answers.get("kubelet") or answers.get("kube-apiserver") or answers.get("k3s")
    pod = parse_manifests(parse_configs(sections.get("k8s.configs")), {}).get("apiserver")
    match = re.search(r":(v\d+\.\d+\.\d+\S*)$", pod.image or "") if pod else None
    return match.group(1) if match else None


def _roles(sections: dict[str, Section]) -> list[str]:
    section = sections.get("k8s.target")
    if section is None:
        return []
    try:
        return [str(r) for r in json.loads(section.output).get("roles") or []]
    except (ValueError, AttributeError):
        return []


def _why(sections: dict[str, Section], name: str) -> str:
    section = sections.get(name)
    if section is None:
        return f"{name} was not collected"
    text = (section.stderr or section.output).strip().splitlines()
    return f"{name} failed (exit {section.rc}): {text[-1] if text else 'no output'}"


def derive(sections: dict[str, Section]) -> tuple[dict[str, Any], dict[str, str]]:
    """All facts of a Kubernetes node from its probe sections; errors say what is missing."""
    errors: dict[str, str] = {}
    processes_section = sections.get("k8s.processes")
    if processes_section is None or processes_section.rc != 0:
        errors["k8s"] = _why(sections, "k8s.processes")
    node = _node(sections, errors)
    components = node["components"]
    roles = _roles(sections)
    distribution = node["distribution"]
    if distribution.problem:
        # K3s runs, but where its components' command lines are was not found: say so on
        # each component the node's roles need, rather than that the component is absent
        for role in roles:
            for name in ROLE_COMPONENTS.get(role, ()):
                if components[name]["source"] is None:
                    errors.setdefault(
                        f"k8s.components.{name}",
                        f"K3s runs on this node (pid {distribution.pid}), but the command "
                        f"line of {COMPONENTS[name]} was not found: {distribution.problem}",
                    )
    _expect_role_components(components, roles, errors)
    files, pki_files, cni_files = derive_files(sections, plan_phase2(sections, node), errors)
    version = node_version(sections)
    detected = [
        role
        for role, names in ROLE_COMPONENTS.items()
        if any(components[n]["source"] for n in names)
    ]
    uid = sections.get("id")
    audit_uid = int(uid.output.strip()) if uid and uid.output.strip().isdigit() else None
    k8s = {
        "components": components,
        "kubelet": _kubelet_facts(components["kubelet"], node["files"], sections),
        "proxy": _proxy_facts(components["proxy"], node["files"], errors),
        "encryption": derive_encryption(components["apiserver"], node["files"]),
        "version": version,
        "roles": roles,
        "detected_roles": detected,  # worker: a kubelet runs here
        "audit_uid": audit_uid,
        "distribution": _distribution(distribution, components, version),
    }
    summary = {
        "platform_version": version,
        "roles": roles,
        "detected_roles": detected,
        "components_running": [n for n, c in components.items() if c["running"]],
        "os": _os_name(sections.get("host.os")),
        "audit_uid": audit_uid,
        "distribution": k8s["distribution"]["name"],
        "distribution_how": k8s["distribution"]["how"],
    }
    values = {
        "_evidence_keys": sorted(sections),
        "k8s": k8s,
        "files": files,
        "pki_files": pki_files,
        "cni_files": cni_files,
        "summary": summary,
    }
    return values, errors


# Worker nodes of managed clusters, told apart by their kubelet: the version suffix EKS and
# GKE build into it, or the Azure configuration an AKS kubelet is given.
_MANAGED_NODES = (
    ("eks", "Amazon EKS", re.compile(r"-eks-")),
    ("gke", "Google GKE", re.compile(r"-gke\.")),
)


def _distribution(found: Any, components: dict[str, Any], version: str | None) -> dict[str, Any]:
    """Which layout the node was read with, and how: kubeadm-like (the default), K3s (one
    process; component command lines from its log), RKE2 (static pods under its own
    directory), or the worker node of a managed cluster (EKS, GKE, AKS), whose worker
    controls are the CIS Kubernetes node controls (section 4) as their own CIS benchmarks
    carry them. Reports say which variant was used."""
    origins = sorted({c["argv_from"] for c in components.values() if c.get("argv_from")})
    if found.name is None and components["kubelet"]["source"]:
        kubelet_args = " ".join(components["kubelet"].get("argv") or [])
        for name, title, pattern in _MANAGED_NODES:
            if version and pattern.search(version):
                return {
                    "name": name,
                    "pid": None,
                    "how": f"{title} worker node (kubelet {version}): the CIS Kubernetes node "
                    "controls, which its own benchmark's worker section carries",
                }
        if "azure" in kubelet_args.lower():
            return {
                "name": "aks",
                "pid": None,
                "how": "Azure AKS worker node (the kubelet is given Azure configuration): "
                "the CIS Kubernetes node controls, which its own benchmark's worker "
                "section carries",
            }
    if found.name == "k3s":
        how = (
            f"K3s (pid {found.pid}): component command lines from its log ({', '.join(origins)})"
            if origins
            else f"K3s (pid {found.pid}): {found.problem or 'no component command line found'}"
        )
    elif found.name == "rke2":
        how = f"RKE2 (pid {found.pid}): components as static pods; RKE2's file locations"
    else:
        how = "kubeadm layout (/etc/kubernetes)"
    return {"name": found.name or "kubeadm", "pid": found.pid, "how": how}


def _expect_role_components(
    components: dict[str, Any], roles: list[str], errors: dict[str, str]
) -> None:
    """A component the node's roles imply but the node lacks: its controls cannot be
    judged (ERROR with this reason), rather than judged on nothing."""
    for role in roles:
        for name in ROLE_COMPONENTS.get(role, ()):
            if components[name]["source"] is None:
                errors.setdefault(
                    f"k8s.components.{name}",
                    f"{COMPONENTS[name]} is neither running on this node nor described by a "
                    f"static pod manifest, yet the inventory gives the node the role {role}",
                )


def _kubelet_facts(
    kubelet: dict[str, Any], files: list[ConfigFile], sections: dict[str, Section]
) -> dict[str, Any]:
    config, path = kubelet_config(files, {})  # its errors are already recorded
    settings = kubelet.get("settings") or {}
    return {
        "config_file": path or kubelet["flags"].get("config"),
        "config": config,
        "config_dir": kubelet["flags"].get("config-dir"),
        "kubeconfig": settings.get("kubeconfig"),
        "client_ca_file": settings.get("client-ca-file") or None,
        "version": binary_versions(sections).get("kubelet") if kubelet["running"] else None,
    }


def _proxy_facts(
    proxy: dict[str, Any], files: list[ConfigFile], errors: dict[str, str]
) -> dict[str, Any]:
    config_file = next((f for f in files if f.label == "proxy.config"), None)
    return {
        "kubeconfig": (proxy.get("settings") or {}).get("kubeconfig") or None,
        "config_file": proxy["flags"].get("config"),
        "config": _config_doc(config_file, "k8s.proxy.config", errors),
    }


def _os_name(section: Section | None) -> str | None:
    for line in (section.output if section else "").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip('"')
    return None


__all__ = [
    "CNI_DIRS",
    "COMPONENTS",
    "ConfigFile",
    "FILE_NAMES",
    "KUBEADM",
    "KUBELET_UNITS",
    "ManifestPod",
    "Process",
    "ROLE_COMPONENTS",
    "Record",
    "StatPlan",
    "binary_versions",
    "cni_dirs",
    "derive",
    "derive_component",
    "derive_encryption",
    "derive_files",
    "file_candidates",
    "kubelet_config",
    "node_version",
    "parse_configs",
    "parse_manifests",
    "parse_processes",
    "parse_stats",
    "plan_phase2",
    "record_prefix",
    "split_records",
]
