"""From a Kubernetes cluster's object lists to the facts checks read (docs/facts-k8s.md).

Pure functions only, live and offline alike. The parts live by topic in this package;
``derive`` puts them together."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.k8s_cluster.derive.common import (  # noqa: F401
    _base_cis,
    _controller,
    _meta,
    _ns,
    _reason,
    object_name,
    section_items,
)
from cisaudit.kinds.k8s_cluster.derive.pods import (
    _replicas,
    _template,
    pod_spec_facts,  # noqa: F401
)
from cisaudit.kinds.k8s_cluster.derive.rbac import (  # noqa: F401
    PERMISSIONS,
    Binding,
    Permission,
    _binding,
    _bindings,
    _role,
    derive_rbac,
    granted_verbs,
    is_component,
    rule_allows,
    subject_name,
)
from cisaudit.kinds.k8s_cluster.derive.resources import (  # noqa: F401
    BOOTSTRAP_LABEL,
    BY_NAME,
    EVERYONE,
    INVENTORY_SECTION,
    MIRROR_ANNOTATION,
    NETWORK_PLUGIN_NAMESPACES,
    PLATFORM_NAMESPACES,
    PSA_MODES,
    PSA_PREFIX,
    RESOURCES,
    SYSTEM_NAMESPACES,
    VERSION_SECTION,
    WORKLOAD_KINDS,
    Resource,
)


def derive(sections: dict[str, Section]) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw sections in, ``({"cluster": ..., "summary": ...}, errors)`` out."""
    return _derive(sections)


Raw = dict[str, list[dict[str, Any]] | None]  # resource -> items, None when unavailable
AutomountFn = Callable[[str, str], bool | None]


def _derive(sections: dict[str, Section]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    raw: Raw = {}
    for resource in RESOURCES:
        raw[resource.name], why = section_items(sections, resource)
        if raw[resource.name] is None:
            errors[f"cluster.{resource.fact}"] = why
    inventory = _inventory(sections)
    cluster: dict[str, Any] = {
        "managed": bool(inventory.get("managed")),
        "version": _version(sections, errors),
    }
    sa_automount = _automount_lookup(raw["serviceaccounts"], errors)
    owners = _owner_index(raw)
    if raw["pods"] is not None:
        cluster["pods"] = [_pod(p, sa_automount, owners) for p in raw["pods"]]
    _add_workloads(cluster, raw, errors, sa_automount, owners)
    _add_pod_specs(cluster, errors)
    _add_rbac(cluster, raw, errors)
    _add_network(cluster, raw, errors)
    _add_admission(cluster, raw, errors)
    return {"cluster": cluster, "summary": _summary(cluster, raw, inventory)}, errors


def _automount_lookup(accounts: list[dict[str, Any]] | None, errors: dict[str, str]) -> AutomountFn:
    """Effective automount of a service account: its own setting, else True; None when
    the accounts could not be read (and an error for the fields that needed them)."""
    automount_of = {
        (_ns(sa), str(_meta(sa).get("name"))): sa.get("automountServiceAccountToken")
        for sa in accounts or []
    }
    if accounts is None:
        why = errors["cluster.serviceaccounts"]
        for fact in ("pods", "workloads"):
            errors[f"cluster.{fact}.cis.automount_token"] = (
                f"needs service accounts when the pod does not set it: {why}"
            )

    def sa_automount(namespace: str, name: str) -> bool | None:
        if accounts is None:
            return None
        value = automount_of.get((namespace, name))
        return True if value is None else bool(value)

    return sa_automount


def _add_workloads(
    cluster: dict[str, Any],
    raw: Raw,
    errors: dict[str, str],
    sa_automount: AutomountFn,
    owners: dict[tuple[str, str, str], str],
) -> None:
    kinds = [r for r in RESOURCES if r.fact == "workloads"]
    missing = [errors[f"cluster.{r.fact}"] for r in kinds if raw[r.name] is None]
    if missing:  # one refused kind leaves every workload control unable to judge
        errors["cluster.workloads"] = "; ".join(missing)
        return
    cluster["workloads"] = [
        _workload(obj, sa_automount, owners) for r in kinds for obj in raw[r.name] or []
    ]


# Fields of pod_spec_facts that name containers (or other things) and are merged as lists
# when a workload's running pods add to what its template says.
_LIST_FIELDS = (
    "containers",
    "privileged",
    "allow_privilege_escalation",
    "run_as_root",
    "net_raw",
    "not_dropping_all",
    "windows_host_process",
    "without_seccomp",
    "host_path_volumes",
    "secret_env",
)
_SORTED_FIELDS = ("added_capabilities", "host_ports")
_ANY_FIELDS = ("host_pid", "host_ipc", "host_network")
_ALL_FIELDS = ("seccomp_runtime_default", "security_context")
_SPEC_EXTRA = ("owner", "top_owner", "replicas", "static", "phase")


def pod_specs(workloads: list[dict[str, Any]], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each pod spec once, where it is written: every workload no other collected workload
    controls (a Deployment, not its ReplicaSets; a CronJob, not its Jobs), and every pod no
    collected workload controls (bare pods, static mirror pods, pods of controllers outside
    the six kinds). A workload's running pods are folded into it: their findings are added
    to the template's (an ephemeral debug container, a sidecar a webhook injected, an older
    ReplicaSet's pods mid-rollout), so nothing running is lost by judging the template."""
    by_key = {
        (w["cis"]["namespace"], str(w.get("kind")), str(_meta(w).get("name"))): w for w in workloads
    }

    def top(namespace: str, owner: str | None) -> tuple[str, str, str] | None:
        """The top-most collected workload up the controller chain, or None."""
        found = None
        for _ in range(5):  # Pod -> ReplicaSet -> Deployment; Pod -> Job -> CronJob
            if not owner:
                break
            kind, _, name = owner.partition("/")
            key = (namespace, kind, name)
            if key not in by_key:
                break
            found, owner = key, by_key[key]["cis"]["owner"]
        return found

    specs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, workload in by_key.items():
        if top(key[0], workload["cis"]["owner"]) is None:
            specs[key] = _spec_entry(workload, "workload")
    bare: list[dict[str, Any]] = []
    for pod in pods:
        parent = top(pod["cis"]["namespace"], pod["cis"]["owner"])
        if parent is None or parent not in specs:
            bare.append(_spec_entry(pod, "pod"))
        else:
            _fold(specs[parent]["cis"], pod)
    return [*specs.values(), *bare]


def _spec_entry(obj: dict[str, Any], source: str) -> dict[str, Any]:
    meta = _meta(obj)
    cis = {k: v for k, v in obj["cis"].items() if k not in _SPEC_EXTRA}
    cis.update(
        {
            "source": source,
            "owner": obj["cis"].get("owner"),
            "static": bool(obj["cis"].get("static")),
            "system": cis["namespace"] in SYSTEM_NAMESPACES,
            "platform": cis["namespace"] in PLATFORM_NAMESPACES,
            "pods": [] if source == "workload" else [str(meta.get("name"))],
        }
    )
    for field in _LIST_FIELDS:
        cis[field] = list(cis.get(field) or [])
    cis["capabilities"] = {k: dict(v) for k, v in (cis.get("capabilities") or {}).items()}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid") if k in meta},
        "cis": cis,
    }


def _fold(cis: dict[str, Any], pod: dict[str, Any]) -> None:
    """Add what one running pod of a workload shows to the workload's findings."""
    got = pod["cis"]
    cis["pods"].append(str(_meta(pod).get("name")))
    for field in _LIST_FIELDS:
        cis[field].extend(v for v in got.get(field) or [] if v not in cis[field])
    for field in _SORTED_FIELDS:
        cis[field] = sorted(set(cis.get(field) or []) | set(got.get(field) or []))
    for field in _ANY_FIELDS:
        cis[field] = bool(cis.get(field)) or bool(got.get(field))
    for field in _ALL_FIELDS:
        cis[field] = bool(cis.get(field)) and bool(got.get(field))
    for name, caps in (got.get("capabilities") or {}).items():
        mine = cis["capabilities"].setdefault(name, {"add": [], "drop": []})
        for k in ("add", "drop"):
            mine[k] = mine.get(k, []) + [c for c in caps.get(k, []) if c not in mine.get(k, [])]
    # True wins (some pod mounts the token), then unknown, then False
    values = (cis.get("automount_token"), got.get("automount_token"))
    cis["automount_token"] = True if True in values else None if None in values else False


def _add_pod_specs(cluster: dict[str, Any], errors: dict[str, str]) -> None:
    """``cluster.pod_specs``: needs both the pods and every workload kind, since a spec
    missing from either could be the one that fails."""
    missing = [errors[f"cluster.{k}"] for k in ("pods", "workloads") if k not in cluster]
    if missing:
        errors["cluster.pod_specs"] = "; ".join(missing)
        return
    cluster["pod_specs"] = pod_specs(cluster["workloads"], cluster["pods"])
    for fact in ("pods", "workloads"):
        key = f"cluster.{fact}.cis.automount_token"
        if key in errors:
            errors["cluster.pod_specs.cis.automount_token"] = errors[key]


def _add_rbac(cluster: dict[str, Any], raw: Raw, errors: dict[str, str]) -> None:
    bindings = _bindings(raw["rolebindings"] or [], raw["clusterrolebindings"] or [])
    binding_kinds = ("rolebindings", "clusterrolebindings")
    bindings_known = all(raw[k] is not None for k in binding_kinds)
    if raw["serviceaccounts"] is not None:
        cluster["serviceaccounts"] = [
            _serviceaccount(sa, bindings, bindings_known) for sa in raw["serviceaccounts"]
        ]
        if not bindings_known:
            why = "; ".join(errors[f"cluster.{k}"] for k in binding_kinds if raw[k] is None)
            errors["cluster.serviceaccounts.cis.bindings"] = why
            errors["cluster.serviceaccounts.cis.direct_bindings"] = why
    for name in ("roles", "clusterroles"):
        if raw[name] is not None:
            cluster[name] = [_role(o, name == "roles") for o in raw[name] or []]
    for name in binding_kinds:
        if raw[name] is not None:
            kind = "RoleBinding" if name == "rolebindings" else "ClusterRoleBinding"
            cluster[name] = [_binding(b) for b in bindings if b.kind == kind]
    rbac_kinds = ("roles", "clusterroles", *binding_kinds)
    refused = [errors[f"cluster.{k}"] for k in rbac_kinds if raw[k] is None]
    if refused:
        errors["cluster.rbac"] = "; ".join(refused)
    else:
        cluster["rbac"] = derive_rbac(*(raw[k] or [] for k in rbac_kinds))


def _add_network(cluster: dict[str, Any], raw: Raw, errors: dict[str, str]) -> None:
    if raw["networkpolicies"] is not None:
        cluster["networkpolicies"] = [{**p, "cis": _netpol_cis(p)} for p in raw["networkpolicies"]]
    if raw["namespaces"] is None:
        return
    by_ns = _group_by_namespace(cluster.get("networkpolicies"), raw["pods"])
    spec_counts: dict[str, int] | None = None
    if "pod_specs" in cluster:
        spec_counts = {}
        for spec in cluster["pod_specs"]:
            spec_counts[spec["cis"]["namespace"]] = spec_counts.get(spec["cis"]["namespace"], 0) + 1
    else:
        errors["cluster.namespaces.cis.pod_specs"] = errors["cluster.pod_specs"]
    cluster["namespaces"] = [_namespace(n, *by_ns, spec_counts) for n in raw["namespaces"]]
    for fact, dep in (("network_policies", "networkpolicies"), ("workloads", "pods")):
        if raw[dep] is None:
            errors[f"cluster.namespaces.cis.{fact}"] = errors[f"cluster.{dep}"]


def _add_admission(cluster: dict[str, Any], raw: Raw, errors: dict[str, str]) -> None:
    """``webhooks`` and ``admission_policies``: each part on its own, the whole group an
    error only when no part could be read."""
    for group in ("webhooks", "admission_policies"):
        parts = [r for r in RESOURCES if r.fact.startswith(group + ".")]
        found = {
            r.fact.split(".", 1)[1]: [{**o, "cis": _base_cis(o, False)} for o in raw[r.name] or []]
            for r in parts
            if raw[r.name] is not None
        }
        if found:
            cluster[group] = found
        else:
            errors[f"cluster.{group}"] = "; ".join(errors[f"cluster.{r.fact}"] for r in parts)


def _inventory(sections: dict[str, Section]) -> dict[str, Any]:
    section = sections.get(INVENTORY_SECTION)
    if section is None or section.rc != 0:
        return {}
    try:
        data = json.loads(section.output)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _version(sections: dict[str, Section], errors: dict[str, str]) -> dict[str, Any] | None:
    section = sections.get(VERSION_SECTION)
    if section is None:
        errors["cluster.version"] = "the API server version was not collected"
        return None
    if section.rc != 0:
        errors["cluster.version"] = _reason(section, "version")
        return None
    try:
        data = json.loads(section.output)
    except json.JSONDecodeError as exc:
        errors["cluster.version"] = f"version: not valid JSON ({exc})"
        return None
    return data if isinstance(data, dict) else None


def _owner_index(raw: Raw) -> dict[tuple[str, str, str], str]:
    """(namespace, Kind, name) -> its controller, to follow Pod -> ReplicaSet -> Deployment."""
    index = {}
    for name in ("replicasets", "jobs"):
        for obj in raw[name] or []:
            owner = _controller(obj)
            if owner:
                index[(_ns(obj), str(obj.get("kind")), str(_meta(obj).get("name")))] = owner
    return index


def _top_owner(
    namespace: str, owner: str | None, owners: dict[tuple[str, str, str], str]
) -> str | None:
    seen = 0
    while owner and seen < 5:
        kind, _, name = owner.partition("/")
        parent = owners.get((namespace, kind, name))
        if not parent:
            break
        owner, seen = parent, seen + 1
    return owner


def _pod(
    obj: dict[str, Any],
    sa_automount: Callable[[str, str], bool | None],
    owners: dict[tuple[str, str, str], str],
) -> dict[str, Any]:
    namespace = _ns(obj)
    owner = _controller(obj)
    static = MIRROR_ANNOTATION in (_meta(obj).get("annotations") or {})
    cis = {
        **_base_cis(obj, True),
        **pod_spec_facts(obj.get("spec") or {}, namespace, sa_automount),
        "owner": owner,
        "top_owner": _top_owner(namespace, owner, owners),
        "phase": (obj.get("status") or {}).get("phase"),
        "static": static,
    }
    if static:
        # The mirror pod of a static pod: admission gives it no service account and
        # the kubelet mounts no token for it.
        cis.update(service_account=None, automount_token=False)
    return {**obj, "cis": cis}


def _workload(
    obj: dict[str, Any],
    sa_automount: Callable[[str, str], bool | None],
    owners: dict[tuple[str, str, str], str],
) -> dict[str, Any]:
    namespace = _ns(obj)
    owner = _controller(obj)
    template = _template(obj)
    cis = {
        **_base_cis(obj, True),
        **pod_spec_facts(template.get("spec") or {}, namespace, sa_automount),
        "owner": owner,
        "top_owner": _top_owner(namespace, owner, owners),
        "replicas": _replicas(obj),
    }
    return {**obj, "cis": cis}


def _serviceaccount(obj: dict[str, Any], bindings: list[Binding], known: bool) -> dict[str, Any]:
    cis = _base_cis(obj, True)
    name = str(_meta(obj).get("name"))
    me = f"ServiceAccount/{cis['namespace']}/{name}"
    groups = {"Group//system:serviceaccounts", f"Group//system:serviceaccounts:{cis['namespace']}"}
    automount = obj.get("automountServiceAccountToken")
    cis.update(
        {
            "automount": automount if isinstance(automount, bool) else None,
            "is_default": name == "default",
            "bindings": [b.label for b in bindings if me in b.subjects or groups & set(b.subjects)]
            if known
            else None,
            # bindings naming this account itself (not one of its groups), bootstrap ones aside
            "direct_bindings": [b.label for b in bindings if me in b.subjects and not b.default]
            if known
            else None,
        }
    )
    return {**obj, "cis": cis}


def _netpol_cis(policy: dict[str, Any]) -> dict[str, Any]:
    cis = _base_cis(policy, True)
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
    selects_all = not (
        (spec.get("podSelector") or {}).get("matchLabels")
        or (spec.get("podSelector") or {}).get("matchExpressions")
    )
    cis.update({"policy_types": types, "selects_all_pods": selects_all})
    return cis


def _group_by_namespace(
    policies: list[dict[str, Any]] | None, pods: list[dict[str, Any]] | None
) -> tuple[dict[str, list[dict[str, Any]]] | None, dict[str, int] | None]:
    """NetworkPolicies (with their ``cis``) and pod counts per namespace; None when unknown."""
    by_policy: dict[str, list[dict[str, Any]]] | None = None
    if policies is not None:
        by_policy = {}
        for policy in policies:
            by_policy.setdefault(_ns(policy), []).append(policy)
    counts: dict[str, int] | None = None
    if pods is not None:
        counts = {}
        for pod in pods:
            counts[_ns(pod)] = counts.get(_ns(pod), 0) + 1
    return by_policy, counts


def _namespace(
    obj: dict[str, Any],
    policies: dict[str, list[dict[str, Any]]] | None,
    pod_counts: dict[str, int] | None,
    spec_counts: dict[str, int] | None,
) -> dict[str, Any]:
    name = str(_meta(obj).get("name"))
    labels = _meta(obj).get("labels") or {}
    cis = _base_cis(obj, False)
    mine = None if policies is None else policies.get(name, [])
    cis.update(
        {
            "psa": {m: labels.get(PSA_PREFIX + m) for m in PSA_MODES},
            "psa_versions": {m: labels.get(f"{PSA_PREFIX}{m}-version") for m in PSA_MODES},
            "system": name in SYSTEM_NAMESPACES,
            "platform": name in PLATFORM_NAMESPACES,
            "network_policies": None if mine is None else len(mine),
            # isolated: some policy selects every pod for that direction (a default deny or
            # an explicit allow-list), so no pod is left open by omission.
            "isolated": None
            if mine is None
            else {
                t: any(p["cis"]["selects_all_pods"] and t in p["cis"]["policy_types"] for p in mine)
                for t in ("Ingress", "Egress")
            },
            "workloads": None if pod_counts is None else pod_counts.get(name, 0),
            "pod_specs": None if spec_counts is None else spec_counts.get(name, 0),
            "phase": (obj.get("status") or {}).get("phase"),
        }
    )
    return {**obj, "cis": cis}


# Namespace labels that make groups of their own: team=payments -> group "team:payments".
GROUP_LABELS = ("team", "owner", "project", "tenant")


def _summary(cluster: dict[str, Any], raw: Raw, inventory: dict[str, Any]) -> dict[str, Any]:
    version = cluster.get("version") or {}
    summary: dict[str, Any] = {
        "platform_version": version.get("gitVersion"),
        "source": inventory.get("source"),
        "server": inventory.get("server"),
        "managed": cluster.get("managed"),
    }
    for resource in RESOURCES:
        items = raw[resource.name]
        summary[resource.name] = None if items is None else len(items)
    summary["unavailable"] = sorted(r.name for r in RESOURCES if raw[r.name] is None)
    # Every namespace, with the labels that name an owner: scores, trends and report rows
    # per namespace and per team (cisaudit/score.py).
    summary["namespace_labels"] = {
        str(_meta(ns).get("name")): {
            key: str(value)
            for key, value in (_meta(ns).get("labels") or {}).items()
            if key in GROUP_LABELS
        }
        for ns in raw["namespaces"] or []
    }
    return summary


__all__ = [
    "AutomountFn",
    "BOOTSTRAP_LABEL",
    "BY_NAME",
    "Binding",
    "EVERYONE",
    "INVENTORY_SECTION",
    "MIRROR_ANNOTATION",
    "NETWORK_PLUGIN_NAMESPACES",
    "PERMISSIONS",
    "PLATFORM_NAMESPACES",
    "PSA_MODES",
    "PSA_PREFIX",
    "Permission",
    "RESOURCES",
    "Raw",
    "Resource",
    "SYSTEM_NAMESPACES",
    "VERSION_SECTION",
    "WORKLOAD_KINDS",
    "derive",
    "derive_rbac",
    "granted_verbs",
    "is_component",
    "object_name",
    "pod_spec_facts",
    "pod_specs",
    "rule_allows",
    "section_items",
    "subject_name",
]
