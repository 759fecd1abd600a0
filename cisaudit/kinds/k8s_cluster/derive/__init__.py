"""From a Kubernetes cluster's object lists to the facts checks read (docs/facts-k8s.md).

Pure functions only, live and offline alike. The parts live by topic in this package;
``derive`` puts them together."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.k8s_cluster.derive.common import (  # noqa: F401
    BadList,
    _base_cis,
    _controller,
    _meta,
    _ns,
    _reason,
    object_name,
    section_items,
    section_stream,
)
from cisaudit.kinds.k8s_cluster.derive.pods import (
    MalformedSpec,
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
    malformed: list[dict[str, str]] = []
    for resource in RESOURCES:
        if resource.name == "pods":
            continue  # read last, an object at a time (_pods)
        raw[resource.name], why = section_items(sections, resource)
        if raw[resource.name] is not None:
            raw[resource.name] = _well_formed(resource, raw[resource.name] or [], malformed)
        if raw[resource.name] is None:
            _unavailable(resource, why, errors)
    inventory = _inventory(sections)
    cluster: dict[str, Any] = {
        "managed": bool(inventory.get("managed")),
        "version": _version(sections, errors),
    }
    sa_automount = _automount_lookup(raw["serviceaccounts"], errors)
    owners = _owner_index(raw)
    cluster["malformed"] = malformed
    pods, why = _pods(sections, malformed, sa_automount, owners)
    raw["pods"] = pods  # their facts: what the namespace counts and the summary need
    if pods is None:
        _unavailable(BY_NAME["pods"], why, errors)
    else:
        cluster["pods"] = pods
    _add_workloads(cluster, raw, errors, sa_automount, owners)
    _add_pod_specs(cluster, errors)
    _add_rbac(cluster, raw, errors)
    _add_network(cluster, raw, errors)
    _add_admission(cluster, raw, errors)
    return {"cluster": cluster, "summary": _summary(cluster, raw, inventory)}, errors


def _unavailable(resource: Resource, why: str, errors: dict[str, str]) -> None:
    if resource.optional:
        # recorded on its own: it blinds no fact it shares with required kinds
        errors[f"cluster.{resource.name}"] = why
        return
    key = f"cluster.{resource.fact}"
    errors[key] = f"{errors[key]}; {why}" if key in errors else why


def _pods(
    sections: dict[str, Section],
    malformed: list[dict[str, str]],
    sa_automount: AutomountFn,
    owners: dict[tuple[str, str, str], str],
) -> tuple[list[dict[str, Any]] | None, str]:
    """Every pod's facts, reading the list an object at a time: a pod's object is dropped
    as soon as its facts are taken, so a large cluster's pods are never all in memory as
    objects (the peak of a 50,000-pod audit was here)."""
    resource = BY_NAME["pods"]
    stream, why = section_stream(sections, resource)
    if stream is None:
        return None, why
    pods: list[dict[str, Any]] = []
    try:
        for obj in stream:
            for kept in _well_formed(resource, [obj], malformed):
                pods.append(_guarded(_pod, kept, sa_automount, owners))
    except BadList as exc:
        return None, str(exc)
    return pods, ""


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
    # one refused kind leaves every workload control unable to judge; a legacy kind most
    # clusters never use (ReplicationControllers) is only noted, so that a role without it
    # does not blind the audit to every other workload
    missing = [r for r in kinds if raw[r.name] is None and not r.optional]
    if missing:
        return  # errors["cluster.workloads"] names every refused kind
    cluster["workloads"] = [
        _guarded(_workload, obj, sa_automount, owners) for r in kinds for obj in raw[r.name] or []
    ]


# Fields of pod_spec_facts that name containers (or other things) and are merged as lists
# when a workload's running pods add to what its template says.
_LIST_FIELDS = (
    "containers",
    "images",
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
    names = [str(_meta(n).get("name")) for n in raw["namespaces"]]
    coverage, unknown = cni_policy_coverage(raw, names)
    default_objects, default_unknown = _default_namespace_objects(raw)
    cluster["namespaces"] = [
        _namespace(n, *by_ns, spec_counts, coverage, default_objects) for n in raw["namespaces"]
    ]
    for fact, dep in (("network_policies", "networkpolicies"), ("workloads", "pods")):
        if raw[dep] is None:
            errors[f"cluster.namespaces.cis.{fact}"] = errors[f"cluster.{dep}"]
    uncovered = [n for n in names if not coverage.get(n)]
    if raw["networkpolicies"] is None or (unknown and uncovered):
        why = [errors.get("cluster.networkpolicies", "")] if raw["networkpolicies"] is None else []
        why += [errors.get(f"cluster.{r}", r) for r in unknown]
        errors["cluster.namespaces.cis.covered_by"] = "; ".join(w for w in why if w)
    if default_unknown and not default_objects:
        errors["cluster.namespaces.cis.user_objects"] = "; ".join(
            errors.get(f"cluster.{r if BY_NAME[r].optional else BY_NAME[r].fact}", r)
            for r in default_unknown
        )


CNI_POLICY_KINDS = (
    "ciliumnetworkpolicies",
    "ciliumclusterwidenetworkpolicies",
    "calico-networkpolicies",
    "calico-globalnetworkpolicies",
)
_NS_LABELS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace")


def cni_policy_coverage(raw: Raw, namespaces: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Which policies cover each namespace: Kubernetes NetworkPolicies, and those of the CNI
    plugins that bring their own (CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy,
    Calico's NetworkPolicy and GlobalNetworkPolicy); plus the CNI kinds that could not be
    read."""
    covered: dict[str, list[str]] = {n: [] for n in namespaces}
    for policy in raw["networkpolicies"] or []:
        covered.setdefault(_ns(policy), []).append(f"NetworkPolicy/{_meta(policy).get('name')}")
    for key, kind in (
        ("ciliumnetworkpolicies", "CiliumNetworkPolicy"),
        ("calico-networkpolicies", "NetworkPolicy.crd.projectcalico.org"),
    ):
        for policy in raw.get(key) or []:
            covered.setdefault(_ns(policy), []).append(f"{kind}/{_meta(policy).get('name')}")
    for policy in raw.get("ciliumclusterwidenetworkpolicies") or []:
        label = f"CiliumClusterwideNetworkPolicy/{_meta(policy).get('name')}"
        for namespace in _cilium_namespaces(policy, namespaces):
            covered.setdefault(namespace, []).append(label)
    for policy in raw.get("calico-globalnetworkpolicies") or []:
        label = f"GlobalNetworkPolicy/{_meta(policy).get('name')}"
        for namespace in _calico_namespaces(policy, namespaces):
            covered.setdefault(namespace, []).append(label)
    unknown = [k for k in CNI_POLICY_KINDS if raw.get(k) is None]
    return covered, unknown


def _cilium_namespaces(policy: dict[str, Any], namespaces: list[str]) -> list[str]:
    """The namespaces a clusterwide Cilium policy applies to: all of them, unless its
    endpoint selector names namespaces; none for a host policy (nodeSelector)."""
    spec = policy.get("spec") or {}
    specs = [spec] if spec else []
    specs += [s for s in policy.get("specs") or [] if isinstance(s, dict)]
    found: set[str] = set()
    for one in specs:
        if "nodeSelector" in one and "endpointSelector" not in one:
            continue
        selector = one.get("endpointSelector") or {}
        named = {str(v) for k, v in (selector.get("matchLabels") or {}).items() if k in _NS_LABELS}
        for expr in selector.get("matchExpressions") or []:
            if expr.get("key") in _NS_LABELS and expr.get("operator") == "In":
                named |= {str(v) for v in expr.get("values") or []}
        found |= named if named else set(namespaces)
    return sorted(found & set(namespaces)) if found else []


def _calico_namespaces(policy: dict[str, Any], namespaces: list[str]) -> list[str]:
    """The namespaces a Calico GlobalNetworkPolicy applies to: those its namespaceSelector
    names (``projectcalico.org/name == 'x'`` or ``in {...}``), else all of them."""
    selector = str((policy.get("spec") or {}).get("namespaceSelector") or "").strip()
    named = re.findall(r"projectcalico\.org/name\s*==\s*['\"]([^'\"]+)['\"]", selector)
    in_set = re.search(r"projectcalico\.org/name\s+in\s*\{([^}]*)\}", selector)
    if in_set:
        named += re.findall(r"['\"]([^'\"]+)['\"]", in_set.group(1))
    if named and "||" not in selector and "!" not in selector:
        return sorted(set(named) & set(namespaces))
    return list(namespaces)


# What Kubernetes itself puts in the default namespace: not "user resources" (5.6.4).
_DEFAULT_OWN = {
    "ServiceAccount": {"default"},
    "Service": {"kubernetes"},
    "ConfigMap": {"kube-root-ca.crt"},
}
_DEFAULT_KINDS = (
    "roles",
    "rolebindings",
    "serviceaccounts",
    "services",
    "configmaps",
    "replicationcontrollers",
)


def _default_namespace_objects(raw: Raw) -> tuple[list[str], list[str]]:
    """User objects in the default namespace other than pods and workload controllers
    (judged on their own), and the kinds that could not be read."""
    found = []
    for key in _DEFAULT_KINDS:
        resource = BY_NAME[key]
        for obj in raw.get(key) or []:
            if _ns(obj) != "default":
                continue
            name = str(_meta(obj).get("name"))
            if name in _DEFAULT_OWN.get(resource.kind, set()):
                continue
            if (_meta(obj).get("labels") or {}).get(BOOTSTRAP_LABEL) == "rbac-defaults":
                continue
            found.append(f"{resource.kind}/{name}")
    unknown = [k for k in _DEFAULT_KINDS if raw.get(k) is None]
    return sorted(found), unknown


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


# Top-level fields of the kinds read, and the JSON type each must have. An object whose
# fields have other types (a spec written as a list, metadata as a string: a manifest with
# a slip in a GitOps folder) is not judged with the rest; see _well_formed.
_SHAPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "*": {"metadata": dict},
    "roles": {"rules": list},
    "clusterroles": {"rules": list, "aggregationRule": dict},
    "rolebindings": {"roleRef": dict, "subjects": list},
    "clusterrolebindings": {"roleRef": dict, "subjects": list},
    "networkpolicies": {"spec": dict},
    "namespaces": {"spec": dict},
    "serviceaccounts": {"automountServiceAccountToken": (bool, type(None))},
    "pods": {"spec": dict},
    **{r.name: {"spec": dict} for r in RESOURCES if r.fact == "workloads"},
}
_ITEM_SHAPES = {"rules": dict, "subjects": dict}
SOURCE_FIELD = "x-cisaudit-source"  # the dump file an object came from (set by the reader)


def _well_formed(
    resource: Any, items: list[Any], malformed: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """The objects of one kind whose fields have the types Kubernetes gives them; the others
    are set aside with the reason, file and name (``cluster.malformed``), so that one broken
    manifest costs the audit that object, not the cluster. Pods and workload controllers
    are judged object by object instead (see _guarded): theirs become per-object ERRORs."""
    kept = []
    shapes = {**_SHAPES["*"], **_SHAPES.get(resource.name, {})}
    per_object = resource.name == "pods" or resource.fact == "workloads"
    for obj in items:
        problem = ""
        if not isinstance(obj, dict):
            problem = f"the object is a {type(obj).__name__}, not a mapping"
        else:
            for key, kind in shapes.items():
                if key in obj and obj[key] is not None and not isinstance(obj[key], kind):
                    problem = f"{key} is a {type(obj[key]).__name__}"
                    break
                if key in _ITEM_SHAPES and isinstance(obj.get(key), list):
                    bad = [i for i in obj[key] if not isinstance(i, _ITEM_SHAPES[key])]
                    if bad:
                        problem = f"an entry of {key} is a {type(bad[0]).__name__}"
                        break
        if not problem and not per_object:
            obj.pop(SOURCE_FIELD, None)
        if problem and per_object and isinstance(obj, dict):
            obj = {
                **obj,
                "metadata": obj["metadata"] if isinstance(obj.get("metadata"), dict) else {},
            }
            obj[_MALFORMED] = problem  # judged per object, as an ERROR for that object
            kept.append(obj)
        elif problem:
            malformed.append(_malformed_entry(resource.kind, obj, problem))
        else:
            kept.append(obj)
    return kept


_MALFORMED = "x-cisaudit-malformed"


def _malformed_entry(kind: str, obj: Any, problem: str) -> dict[str, str]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    name = f"{meta.get('namespace') or ''}/{kind}/{meta.get('name', '?')}".lstrip("/")
    source = obj.get(SOURCE_FIELD) if isinstance(obj, dict) else None
    where = f" in {source}" if source else ""
    return {"name": name, "reason": f"{name}{where}: malformed: {problem}"}


def _guarded(fn: Callable[..., dict[str, Any]], obj: dict[str, Any], *args: Any) -> dict[str, Any]:
    """A pod's or workload's facts, or, when its manifest is malformed in a way Kubernetes
    itself would refuse (a securityContext that is a string, containers that are not a
    list ...), a stand-in that every per-object control reports as an ERROR naming it."""
    problem = obj.get(_MALFORMED)
    if not problem:
        try:
            facts = fn(obj, *args)
            facts.pop(SOURCE_FIELD, None)  # the dump file matters only to name a broken one
            return facts
        except MalformedSpec as exc:
            problem = str(exc)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
    entry = _malformed_entry(str(obj.get("kind") or "object"), obj, str(problem)[:300])
    meta = _meta(obj)
    cis: dict[str, Any] = {
        **_base_cis({**obj, "metadata": meta}, True),
        "owner": None,
        "top_owner": None,
        "malformed": entry["reason"],
    }
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta.get(k) for k in ("name", "namespace") if k in meta},
        "cis": cis,
    }


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
    # what controls and reports read of a pod: its identity and facts, not the whole
    # object (spec, status, annotations), so 50,000 pods' facts stay small
    meta = _meta(obj)
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in _POD_METADATA if k in meta},
        "cis": cis,
    }


_POD_METADATA = ("name", "namespace", "uid", "labels")


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
    coverage: dict[str, list[str]] | None = None,
    default_objects: list[str] | None = None,
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
            # every policy that covers it: NetworkPolicies and Cilium's and Calico's own
            "covered_by": (coverage or {}).get(name, []),
            # user objects besides pods and workloads (5.6.4): only default's are listed
            "user_objects": (default_objects or []) if name == "default" else [],
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
    # objects set aside because their manifests are malformed, with file and reason
    summary["malformed"] = list(cluster.get("malformed") or []) + [
        {"name": o["cis"]["name"], "reason": o["cis"]["malformed"]}
        for key in ("pods", "workloads")
        for o in cluster.get(key) or []
        if o.get("cis", {}).get("malformed")
    ]
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
