"""RBAC: who is granted what, by which binding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cisaudit.kinds.k8s_cluster.derive.authz import (
    binding_reaches,
    clusterrole_rules,
    rule_matches,
    subject_key,
)
from cisaudit.kinds.k8s_cluster.derive.common import _base_cis, _meta, _ns
from cisaudit.kinds.k8s_cluster.derive.resources import (
    BOOTSTRAP_LABEL,
    EVERYONE,
    PLATFORM_NAMESPACES,
)


def subject_name(subject: dict[str, Any], binding_ns: str | None) -> str:
    return subject_key(subject, binding_ns)


def rule_allows(rule: dict[str, Any], verb: str, group: str, resource: str) -> bool:
    """Whether one PolicyRule covers ``verb`` on ``group``/``resource`` (``pods/exec`` for a
    subresource), matching as the RBAC authorizer does: ``*``, exact names, ``*/sub``."""
    return rule_matches(rule, verb, group, resource)


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
    # Approving a CSR takes both: update on the approval subresource, and approve on the
    # signer. The two halves are asked separately and combined per subject.
    "csr_approvers": Permission(
        _grants(("update", "patch"), _CERTS, "certificatesigningrequests/approval")
    ),
    "csr_signers": Permission(_grants(("approve",), _CERTS, "signers")),
    "webhook_config_writers": Permission(
        _grants(
            _WRITE, _ADMISSION, "validatingwebhookconfigurations", "mutatingwebhookconfigurations"
        )
    ),
    "token_creators": Permission(_grants(("create",), "", "serviceaccounts/token")),
}


def granted_verbs(
    rule: dict[str, Any], permission: Permission, binding_namespace: str | None = None
) -> list[str]:
    """The verbs of ``permission`` that ``rule`` grants through a binding in
    ``binding_namespace`` (None: a ClusterRoleBinding); empty when none. A RoleBinding
    reaches no cluster-scoped resource (see authz.py)."""
    if rule.get("resourceNames") and not permission.named:
        return []
    found: list[str] = []
    for verb, group, resource in permission.grants:
        if verb in found or not binding_reaches(binding_namespace, verb, group, resource):
            continue
        if rule_allows(rule, verb, group, resource):
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
    """Who may do what, from the roles and the bindings that grant them, as the RBAC
    authorizer decides (authz.py): aggregated ClusterRoles resolved, RoleBindings limited
    to namespaced resources in their namespace."""
    rules: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for name, aggregated in clusterrole_rules(clusterroles).items():
        rules[(f"ClusterRole/{name}", None)] = aggregated
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
                got = granted_verbs(rule, permission, binding.namespace)
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
    result["csr_approvers"] = _approvers(result.pop("csr_approvers"), result.pop("csr_signers"))
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


def _approvers(
    approval: list[dict[str, Any]], signers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Subjects that can approve CSRs: those holding update on the approval subresource
    *and* approve on a signer (through whichever bindings), one entry per subject."""
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for entry in signers:
        by_subject.setdefault(entry["subject"], []).append(entry)
    found = []
    seen: set[str] = set()
    for entry in approval:
        subject = entry["subject"]
        if subject in seen or subject not in by_subject:
            continue
        seen.add(subject)
        halves = [e for e in approval if e["subject"] == subject] + by_subject[subject]
        signer_names = [n for e in by_subject[subject] for n in (e["resource_names"] or [])]
        restricted = all(e["resource_names"] is not None for e in by_subject[subject])
        vias = list(dict.fromkeys(e["via"] for e in halves))
        found.append(
            {
                **entry,
                "via": "; ".join(vias),
                "verbs": list(dict.fromkeys(v for e in halves for v in e["verbs"])),
                "resource_names": signer_names if restricted else None,
                "default": all(e["default"] for e in halves),
                "cis": {"name": f"{subject} via {'; '.join(vias)}"},
            }
        )
    return found


def _role(obj: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    cis = _base_cis(obj, namespaced)
    cis["wildcards"] = _wildcard_rules(obj.get("rules") or [])
    cis["default"] = (_meta(obj).get("labels") or {}).get(BOOTSTRAP_LABEL) == "rbac-defaults"
    return {**obj, "cis": cis}


def _binding(binding: Binding) -> dict[str, Any]:
    cis = _base_cis(binding.obj, binding.kind == "RoleBinding")
    cis.update({"role": binding.role, "subjects": binding.subjects, "default": binding.default})
    return {**binding.obj, "cis": cis}
