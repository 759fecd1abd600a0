"""The kinds of object a cluster audit reads, and the names that matter in them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One API kind the audit lists, and the fact it feeds."""

    name: str  # plural resource name, as in the URL
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    fact: str  # dotted fact path under "cluster."
    plural: str = ""  # the URL's plural when ``name`` differs (two groups' NetworkPolicy)
    # A custom resource most clusters do not have (Cilium's, Calico's): not served (404), or
    # absent from evidence recorded before cisaudit read it, means there is none.
    optional: bool = False
    # Names, labels and namespaces only, never contents (ConfigMaps): asked for as
    # PartialObjectMetadataList, and anything more is dropped on reading.
    metadata_only: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/{self.plural or self.name}"

    @property
    def section(self) -> str:
        return f"k8s.api.{self.name}"

    @property
    def export_name(self) -> str:
        """The name ``kubectl get`` takes (``networkpolicies.crd.projectcalico.org``)."""
        plural = self.plural or self.name
        return f"{plural}.{self.group}" if self.group else plural


WORKLOAD_KINDS = (
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "ReplicationController",
)
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
    # legacy, and missing from most exports: absent means none (like the custom resources)
    Resource(
        "replicationcontrollers",
        "ReplicationController",
        "",
        "v1",
        True,
        "workloads",
        optional=True,
    ),
    Resource("services", "Service", "", "v1", True, "services"),
    Resource("configmaps", "ConfigMap", "", "v1", True, "configmaps", metadata_only=True),
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
# Network policies of the CNI plugins that bring their own (5.3.2 counts them too).
RESOURCES += (
    Resource(
        "ciliumnetworkpolicies",
        "CiliumNetworkPolicy",
        "cilium.io",
        "v2",
        True,
        "cni_policies.cilium",
        optional=True,
    ),
    Resource(
        "ciliumclusterwidenetworkpolicies",
        "CiliumClusterwideNetworkPolicy",
        "cilium.io",
        "v2",
        False,
        "cni_policies.cilium_clusterwide",
        optional=True,
    ),
    Resource(
        "calico-networkpolicies",
        "NetworkPolicy",
        "crd.projectcalico.org",
        "v1",
        True,
        "cni_policies.calico",
        plural="networkpolicies",
        optional=True,
    ),
    Resource(
        "calico-globalnetworkpolicies",
        "GlobalNetworkPolicy",
        "crd.projectcalico.org",
        "v1",
        False,
        "cni_policies.calico_global",
        plural="globalnetworkpolicies",
        optional=True,
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
