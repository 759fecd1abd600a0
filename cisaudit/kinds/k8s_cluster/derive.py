"""From a cluster's raw API lists to the ``cluster`` facts controls read (``docs/facts-k8s.md``).

Pure functions only: the sections written by ``cisaudit.kinds.k8s_cluster.collect`` (live over
the API or from an offline dump, the same shape either way) in, a nested dict of facts and
a dict of per-fact errors out. A kind the API refused or a dump lacks becomes an entry in
``errors`` keyed by its fact (``cluster.pods``), never an empty list.

Section layout: ``k8s.api.<resource>`` holds one JSON List object (``kind: PodList``,
``items`` with ``apiVersion``/``kind`` filled in) when ``rc == 0``; otherwise ``rc`` is the
HTTP status (403, 404 ...), ``-1`` when no response came, ``1`` when an offline dump lacks
the kind, and ``stderr`` says why. ``k8s.api.version`` is ``/version``; ``k8s.inventory``
what the inventory said about the cluster (``managed``) and where the data came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cisaudit.evidence import Section


@dataclass(frozen=True)
class Resource:
    """One API kind the audit lists, and the fact it feeds."""

    name: str  # plural resource name, as in the URL
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    fact: str  # dotted fact path under "cluster."

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/{self.name}"

    @property
    def section(self) -> str:
        return f"k8s.api.{self.name}"


WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob")
RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", "", "v1", False, "namespaces"),
    Resource("pods", "Pod", "", "v1", True, "pods"),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, "serviceaccounts"),
    Resource("deployments", "Deployment", "apps", "v1", True, "workloads"),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, "workloads"),
    Resource("statefulsets", "StatefulSet", "apps", "v1", True, "workloads"),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, "workloads"),
    Resource("jobs", "Job", "batch", "v1", True, "workloads"),
    Resource("cronjobs", "CronJob", "batch", "v1", True, "workloads"),
    Resource("roles", "Role", "rbac.authorization.k8s.io", "v1", True, "roles"),
    Resource(
        "clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False, "clusterroles"
    ),
    Resource(
        "rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True, "rolebindings"
    ),
    Resource(
        "clusterrolebindings",
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "v1",
        False,
        "clusterrolebindings",
    ),
    Resource(
        "networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, "networkpolicies"
    ),
    Resource(
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1",
        False,
        "webhooks.validating",
    ),
    Resource(
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1",
        False,
        "webhooks.mutating",
    ),
    Resource(
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io",
        "v1",
        False,
        "admission_policies.policies",
    ),
    Resource(
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io",
        "v1",
        False,
        "admission_policies.bindings",
    ),
)
BY_NAME = {r.name: r for r in RESOURCES}
VERSION_SECTION = "k8s.api.version"
INVENTORY_SECTION = "k8s.inventory"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
# Namespaces the upstream manifests and operators of widespread network plugins install
# into. Their pods need host access by design (hostNetwork, privileged, hostPath), like
# kube-system's; they are cluster plumbing, not workloads the application teams control,
# so controls list them for review instead of passing or failing them (docs/facts-k8s.md).
NETWORK_PLUGIN_NAMESPACES = (
    "kube-flannel",  # flannel's kube-flannel.yml
    "calico-system",  # Calico via the Tigera operator
    "calico-apiserver",
    "tigera-operator",
    "cilium",  # Cilium installed with --namespace cilium
    "ovn-kubernetes",
)
PLATFORM_NAMESPACES = SYSTEM_NAMESPACES + NETWORK_PLUGIN_NAMESPACES
PSA_MODES = ("enforce", "audit", "warn")
PSA_PREFIX = "pod-security.kubernetes.io/"
# Subjects every request carries: whatever they are granted, every user is granted.
EVERYONE = (
    "Group//system:authenticated",
    "Group//system:unauthenticated",
    "User//system:anonymous",
)
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


# -- reading sections ---------------------------------------------------------------------


def section_items(sections: dict[str, Section], resource: Resource) -> tuple[list[Any] | None, str]:
    """The items of one kind, or None and the reason it is unavailable."""
    section = sections.get(resource.section)
    if section is None:
        return None, f"{resource.name} were not collected"
    if section.rc != 0:
        return None, _reason(section, resource.name)
    try:
        data = json.loads(section.output)
    except json.JSONDecodeError as exc:
        return None, f"{resource.name}: the recorded list is not valid JSON ({exc})"
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None, f"{resource.name}: the recorded answer is not a List object"
    return [i for i in items if isinstance(i, dict)], ""


def _reason(section: Section, what: str) -> str:
    if section.stderr.strip():
        return section.stderr.strip()
    try:
        message = json.loads(section.output).get("message")
    except (json.JSONDecodeError, AttributeError):
        message = None
    return f"{what}: HTTP {section.rc}: {message or 'no reason given'}"


# -- small accessors ----------------------------------------------------------------------


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _ns(obj: dict[str, Any]) -> str:
    # A manifest without a namespace lands in "default" when applied, as kubectl does.
    return str(_meta(obj).get("namespace") or "default")


def object_name(obj: dict[str, Any], namespaced: bool) -> str:
    """``namespace/Kind/name`` for namespaced objects, ``Kind/name`` for the others."""
    kind, name = obj.get("kind", "?"), _meta(obj).get("name", "?")
    return f"{_ns(obj)}/{kind}/{name}" if namespaced else f"{kind}/{name}"


def _base_cis(obj: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    cis: dict[str, Any] = {
        "name": object_name(obj, namespaced),
        "kind": obj.get("kind"),
        "id": _meta(obj).get("uid"),
    }
    if namespaced:
        cis["namespace"] = _ns(obj)
    return cis


def _caps(values: Iterable[Any] | None) -> list[str]:
    return [str(v).upper().removeprefix("CAP_") for v in values or []]


def _controller(obj: dict[str, Any]) -> str | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


# -- pod specs (pods and workload templates) ----------------------------------------------


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                yield container


def pod_spec_facts(
    spec: dict[str, Any], namespace: str, sa_automount: Callable[[str, str], bool | None]
) -> dict[str, Any]:
    """The ``cis`` fields of one pod spec. ``sa_automount(namespace, name)`` gives the
    effective automount of a service account (True when unset), None when unknown."""
    pod_sc = spec.get("securityContext") or {}
    names: dict[str, list[str]] = {
        k: []
        for k in (
            "privileged",
            "allow_privilege_escalation",
            "run_as_root",
            "net_raw",
            "not_dropping_all",
            "windows_host_process",
            "without_seccomp",
            "without_security_context",
        )
    }
    added: set[str] = set()
    capabilities: dict[str, dict[str, list[str]]] = {}
    host_ports: list[int] = []
    secret_env: list[str] = []
    containers = list(_containers(spec))
    for c in containers:
        name = str(c.get("name", "?"))
        sc = c.get("securityContext") or {}
        privileged = sc.get("privileged") is True
        caps = sc.get("capabilities") or {}
        add, drop = _caps(caps.get("add")), _caps(caps.get("drop"))
        if privileged:
            names["privileged"].append(name)
        if sc.get("allowPrivilegeEscalation") is not False:
            names["allow_privilege_escalation"].append(name)
        user = _first_set(sc.get("runAsUser"), pod_sc.get("runAsUser"))
        non_root = _first_set(sc.get("runAsNonRoot"), pod_sc.get("runAsNonRoot"))
        # Without a UID the image's USER decides; only runAsNonRoot keeps that from being 0.
        if user == 0 or (user is None and non_root is not True):
            names["run_as_root"].append(name)
        if privileged or {"NET_RAW", "ALL"} & set(add) or not {"NET_RAW", "ALL"} & set(drop):
            names["net_raw"].append(name)
        if "ALL" not in drop:
            names["not_dropping_all"].append(name)
        added.update(add)
        if add or drop:
            capabilities[name] = {"add": add, "drop": drop}
        host_process = _first_set(
            (sc.get("windowsOptions") or {}).get("hostProcess"),
            (pod_sc.get("windowsOptions") or {}).get("hostProcess"),
        )
        if host_process is True:
            names["windows_host_process"].append(name)
        profile = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        if profile.get("type") not in ("RuntimeDefault", "Localhost"):
            names["without_seccomp"].append(name)
        if not sc and not _meaningful(pod_sc):
            names["without_security_context"].append(name)
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                host_ports.append(int(port["hostPort"]))
        for env in c.get("env") or []:
            if ((env.get("valueFrom") or {}).get("secretKeyRef")) is not None:
                secret_env.append(f"{name}/{env.get('name')}")
        for source in c.get("envFrom") or []:
            if source.get("secretRef") is not None:
                secret_env.append(f"{name}/envFrom:{(source['secretRef'] or {}).get('name')}")
    account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    automount = spec.get("automountServiceAccountToken")
    if not isinstance(automount, bool):
        automount = sa_automount(namespace, account)
    return {
        "namespace": namespace,
        "service_account": account,
        "containers": [str(c.get("name", "?")) for c in containers],
        "privileged": names["privileged"],
        "allow_privilege_escalation": names["allow_privilege_escalation"],
        "run_as_root": names["run_as_root"],
        "net_raw": names["net_raw"],
        "not_dropping_all": names["not_dropping_all"],
        "added_capabilities": sorted(added),
        "capabilities": capabilities,
        "host_pid": spec.get("hostPID") is True,
        "host_ipc": spec.get("hostIPC") is True,
        "host_network": spec.get("hostNetwork") is True,
        "host_path_volumes": [
            str((v.get("hostPath") or {}).get("path"))
            for v in spec.get("volumes") or []
            if v.get("hostPath") is not None
        ],
        "host_ports": sorted(set(host_ports)),
        "automount_token": automount,
        "secret_env": secret_env,
        "seccomp_runtime_default": bool(containers) and not names["without_seccomp"],
        "without_seccomp": names["without_seccomp"],
        "security_context": bool(containers) and not names["without_security_context"],
        "windows_host_process": names["windows_host_process"],
        "in_default_namespace": namespace == "default",
    }


def _first_set(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _meaningful(pod_sc: dict[str, Any]) -> bool:
    # The API server defaults an empty pod securityContext ({}); that is no context at all.
    return any(v not in (None, {}, []) for v in pod_sc.values())


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _replicas(obj: dict[str, Any]) -> int | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet"):
        value = spec.get("replicas")
        return 1 if value is None else int(value)
    return None


# -- RBAC -------------------------------------------------------------------------------------


def subject_name(subject: dict[str, Any], binding_ns: str | None) -> str:
    kind = str(subject.get("kind", "?"))
    ns = subject.get("namespace") or (binding_ns if kind == "ServiceAccount" else "") or ""
    return f"{kind}/{ns}/{subject.get('name', '?')}"


def rule_allows(rule: dict[str, Any], verb: str, group: str, resource: str) -> bool:
    """Whether one PolicyRule grants ``verb`` on ``group``/``resource`` (``pods/exec`` for a
    subresource), matching as the RBAC authorizer does: ``*``, exact names, ``*/sub``."""
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    if "*" not in verbs and verb not in verbs:
        return False
    if "*" not in groups and group not in groups:
        return False
    sub = resource.partition("/")[2]
    for granted in rule.get("resources") or []:
        if granted in ("*", resource) or (sub and granted == f"*/{sub}"):
            return True
    return False


def _wildcard_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in rules
        if any("*" in (r.get(k) or []) for k in ("verbs", "resources", "apiGroups"))
    ]


def _grants(verbs: Iterable[str], group: str, *resources: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((v, group, r) for v in verbs for r in resources)


@dataclass(frozen=True)
class Permission:
    """One RBAC question: does a rule grant any of these (verb, apiGroup, resource) triples?
    ``named`` is False where a rule limited by resourceNames cannot grant it (create)."""

    grants: tuple[tuple[str, str, str], ...]
    named: bool = True


_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"
_CERTS = "certificates.k8s.io"
_WRITE = ("create", "update", "patch", "delete", "deletecollection")
PERMISSIONS: dict[str, Permission] = {
    "subjects_reading_secrets": Permission(_grants(("get", "list", "watch"), "", "secrets")),
    "pod_creators": Permission(_grants(("create",), "", "pods"), named=False),
    "escalation_grants": Permission(
        _grants(("bind", "escalate"), _RBAC, "roles", "clusterroles")
        + _grants(("impersonate",), "", "users", "groups", "serviceaccounts")
        + _grants(("impersonate",), "authentication.k8s.io", "uids")
    ),
    "pv_creators": Permission(_grants(("create",), "", "persistentvolumes"), named=False),
    "node_proxy_grants": Permission(
        _grants(("get", "list", "watch", "create", "update", "patch", "delete"), "", "nodes/proxy")
    ),
    "csr_approvers": Permission(
        _grants(("update", "patch"), _CERTS, "certificatesigningrequests/approval")
        + _grants(("approve",), _CERTS, "signers")
    ),
    "webhook_config_writers": Permission(
        _grants(
            _WRITE, _ADMISSION, "validatingwebhookconfigurations", "mutatingwebhookconfigurations"
        )
    ),
    "token_creators": Permission(_grants(("create",), "", "serviceaccounts/token")),
}


def granted_verbs(rule: dict[str, Any], permission: Permission) -> list[str]:
    """The verbs of ``permission`` that ``rule`` grants (empty when none)."""
    if rule.get("resourceNames") and not permission.named:
        return []
    found: list[str] = []
    for verb, group, resource in permission.grants:
        if verb not in found and rule_allows(rule, verb, group, resource):
            found.append(verb)
    return found


@dataclass
class Binding:
    obj: dict[str, Any]
    kind: str  # RoleBinding or ClusterRoleBinding
    namespace: str | None  # None for ClusterRoleBindings: the grant is cluster-wide
    role: str  # "ClusterRole/name" or "Role/name"
    subjects: list[str]

    @property
    def label(self) -> str:
        name = _meta(self.obj).get("name", "?")
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{where}{self.kind}/{name} -> {self.role}"

    @property
    def default(self) -> bool:
        return (_meta(self.obj).get("labels") or {}).get(BOOTSTRAP_LABEL) == "rbac-defaults"


def _bindings(
    rolebindings: list[dict[str, Any]], clusterrolebindings: list[dict[str, Any]]
) -> list[Binding]:
    found = []
    for kind, items in (("ClusterRoleBinding", clusterrolebindings), ("RoleBinding", rolebindings)):
        for obj in items:
            ns = _ns(obj) if kind == "RoleBinding" else None
            ref = obj.get("roleRef") or {}
            found.append(
                Binding(
                    obj,
                    kind,
                    ns,
                    f"{ref.get('kind', '?')}/{ref.get('name', '?')}",
                    [subject_name(s, ns) for s in obj.get("subjects") or []],
                )
            )
    return found


def _entry(subject: str, binding: Binding, **extra: Any) -> dict[str, Any]:
    """One grant: ``default`` when the binding is one the API server bootstraps itself,
    ``system`` when the subject is a Kubernetes component, ``everyone`` when it is a group
    every (or every anonymous) request belongs to."""
    return {
        "subject": subject,
        "via": binding.label,
        "namespace": binding.namespace,
        "default": binding.default,
        "system": is_component(subject),
        "everyone": subject in EVERYONE,
        **extra,
        "cis": {"name": f"{subject} via {binding.label}"},
    }


def is_component(subject: str) -> bool:
    """A control-plane or add-on identity (``system:kube-scheduler``, a service account of
    kube-system or of a network plugin's namespace), as opposed to people and to the broad ``system:`` groups that hold them."""
    kind, ns, name = subject.split("/", 2)
    if kind == "ServiceAccount":
        return ns in PLATFORM_NAMESPACES
    if subject in EVERYONE or name.startswith("system:serviceaccounts"):
        return False
    return name.startswith("system:")


def derive_rbac(
    roles: list[dict[str, Any]],
    clusterroles: list[dict[str, Any]],
    rolebindings: list[dict[str, Any]],
    clusterrolebindings: list[dict[str, Any]],
) -> dict[str, Any]:
    """Who may do what, from the roles and the bindings that grant them."""
    rules: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for obj in clusterroles:
        rules[(f"ClusterRole/{_meta(obj).get('name')}", None)] = obj.get("rules") or []
    for obj in roles:
        rules[(f"Role/{_meta(obj).get('name')}", _ns(obj))] = obj.get("rules") or []
    bindings = _bindings(rolebindings, clusterrolebindings)
    result: dict[str, Any] = {
        k: [] for k in ("cluster_admin_bindings", "system_masters_bindings", *PERMISSIONS)
    }
    for binding in bindings:
        for subject in binding.subjects:
            if binding.role == "ClusterRole/cluster-admin":
                result["cluster_admin_bindings"].append(_entry(subject, binding))
            if subject == "Group//system:masters":
                result["system_masters_bindings"].append(_entry(subject, binding))
        scope = None if binding.role.startswith("ClusterRole/") else binding.namespace
        role_rules = rules.get((binding.role, scope))
        if role_rules is None:
            continue  # a binding to a role that does not exist grants nothing
        for key, permission in PERMISSIONS.items():
            verbs: list[str] = []
            names: list[str] = []
            unrestricted = False
            for rule in role_rules:
                got = granted_verbs(rule, permission)
                if got:
                    verbs.extend(v for v in got if v not in verbs)
                    if rule.get("resourceNames"):
                        names.extend(str(n) for n in rule["resourceNames"])
                    else:
                        unrestricted = True
            if not verbs:
                continue
            for subject in binding.subjects:
                result[key].append(
                    _entry(
                        subject,
                        binding,
                        verbs=verbs,
                        resource_names=None if unrestricted else names,
                    )
                )
    everyone = set(EVERYONE)

    def open_to_all(key: str) -> bool:
        return any(e["subject"] in everyone and e["resource_names"] is None for e in result[key])

    result["authenticated_can_read_secrets"] = open_to_all("subjects_reading_secrets")
    result["authenticated_can_create_pods"] = open_to_all("pod_creators")
    # Roles and ClusterRoles in one list, so one check covers both (CIS 5.1.3)
    result["wildcard_roles"] = [
        {"cis": _role(obj, namespaced)["cis"], "rules": _wildcard_rules(obj.get("rules") or [])}
        for namespaced, objs in ((False, clusterroles), (True, roles))
        for obj in objs
        if _wildcard_rules(obj.get("rules") or [])
    ]
    return result


# -- the whole cluster --------------------------------------------------------------------


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
            errors["cluster.serviceaccounts.cis.bindings"] = "; ".join(
                errors[f"cluster.{k}"] for k in binding_kinds if raw[k] is None
            )
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
        }
    )
    return {**obj, "cis": cis}


def _role(obj: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    cis = _base_cis(obj, namespaced)
    cis["wildcards"] = _wildcard_rules(obj.get("rules") or [])
    cis["default"] = (_meta(obj).get("labels") or {}).get(BOOTSTRAP_LABEL) == "rbac-defaults"
    return {**obj, "cis": cis}


def _binding(binding: Binding) -> dict[str, Any]:
    cis = _base_cis(binding.obj, binding.kind == "RoleBinding")
    cis.update({"role": binding.role, "subjects": binding.subjects, "default": binding.default})
    return {**binding.obj, "cis": cis}


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
    return summary
