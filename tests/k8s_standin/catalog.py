"""The API kinds the stand-in serves, as a real API server describes them in discovery.

Written independently of cisaudit's own table so that a wrong path or kind on either side
shows up as a failing test, not as two copies of the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


@dataclass(frozen=True)
class Kind:
    resource: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def discovery(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": sorted(READ + WRITE),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


KINDS: tuple[Kind, ...] = (
    Kind("namespaces", "Namespace", "", "v1", False, ("ns",)),
    Kind("nodes", "Node", "", "v1", False, ("no",)),
    Kind("pods", "Pod", "", "v1", True, ("po",)),
    Kind("serviceaccounts", "ServiceAccount", "", "v1", True, ("sa",)),
    Kind("secrets", "Secret", "", "v1", True),
    Kind("configmaps", "ConfigMap", "", "v1", True, ("cm",)),
    Kind("services", "Service", "", "v1", True, ("svc",)),
    Kind("deployments", "Deployment", "apps", "v1", True, ("deploy",)),
    Kind("daemonsets", "DaemonSet", "apps", "v1", True, ("ds",)),
    Kind("statefulsets", "StatefulSet", "apps", "v1", True, ("sts",)),
    Kind("replicasets", "ReplicaSet", "apps", "v1", True, ("rs",)),
    Kind("jobs", "Job", "batch", "v1", True),
    Kind("cronjobs", "CronJob", "batch", "v1", True, ("cj",)),
    Kind("replicationcontrollers", "ReplicationController", "", "v1", True, ("rc",)),
    Kind("roles", "Role", "rbac.authorization.k8s.io", "v1", True),
    Kind("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False),
    Kind("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True),
    Kind("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False),
    Kind("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, ("netpol",)),
    Kind(
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1",
        False,
    ),
    Kind(
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1",
        False,
    ),
    Kind(
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io",
        "v1",
        False,
    ),
    Kind(
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io",
        "v1",
        False,
    ),
)
# Custom resources: served only when the cluster holds such objects (the CRD is installed).
CUSTOM: tuple[Kind, ...] = (
    Kind("ciliumnetworkpolicies", "CiliumNetworkPolicy", "cilium.io", "v2", True, ("cnp",)),
    Kind(
        "ciliumclusterwidenetworkpolicies",
        "CiliumClusterwideNetworkPolicy",
        "cilium.io",
        "v2",
        False,
        ("ccnp",),
    ),
)
KINDS = KINDS + CUSTOM
BY_KIND = {k.kind: k for k in KINDS}
BY_RESOURCE = {k.resource: k for k in KINDS}
