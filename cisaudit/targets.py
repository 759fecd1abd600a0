"""Targets: what to audit and how to reach it (filled in by ``cisaudit.inventory``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Kinds of target. Docker hosts and Kubernetes nodes are reached over SSH; clusters over
# their API; "local" audits the machine cisaudit runs on; "bundle" is recorded evidence.
KINDS = ("docker-host", "docker-api", "k8s-node", "k8s-cluster", "local", "bundle")
NODE_ROLES = ("control-plane", "etcd", "worker")
# Group names of the inventories teams already keep, and the node role each means:
# kubespray's (kube_control_plane, the older kube-master, etcd, kube_node, kube-node,
# k8s_cluster) and kubeadm-style ones (masters, workers).
ROLE_GROUPS: dict[str, str] = {
    "kube_control_plane": "control-plane",
    "kube-master": "control-plane",
    "kube_master": "control-plane",
    "masters": "control-plane",
    "control_plane": "control-plane",
    "control-plane": "control-plane",
    "etcd": "etcd",
    "kube_node": "worker",
    "kube-node": "worker",
    "workers": "worker",
}
CLUSTER_GROUPS = ("k8s_cluster", "k8s-cluster")  # kubespray's parent of all the above


@dataclass(frozen=True)
class JumpHost:
    address: str
    port: int = 22
    user: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Target:
    """One thing to audit. Secrets are never stored here: only the names of the
    environment variables that hold them."""

    name: str
    kind: str = "docker-host"
    address: str | None = None
    port: int = 22
    user: str | None = None
    key: str | None = None  # private key path, ~ expanded
    password_env: str | None = None  # name of the env var holding the SSH password
    become: bool = False  # run the probe through sudo
    become_method: str = "sudo"
    become_password_env: str | None = None
    jump: tuple[JumpHost, ...] = ()
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # Kubernetes node roles
    kubeconfig: str | None = None
    context: str | None = None
    path: str | None = None  # for "bundle" targets and offline cluster dumps
    in_cluster: bool = False  # k8s-cluster: use the pod's service account, not a kubeconfig
    # k8s-cluster settings; None = not given (the collector then reads vars.<name>, as
    # inventories written before these keys existed say it there)
    managed: bool | None = None  # the provider runs the control plane (EKS, GKE, AKS ...)
    page_size: int | None = None  # `limit` of each list request (default 500)
    dump_complete: bool | None = None  # offline: the dump holds every object (vouched)
    known_hosts: str | None = None  # SSH known_hosts file to verify host keys against
    # docker-api: the engine's address as DOCKER_HOST spells it (tcp://, ssh://, unix://)
    # and, for tcp://, the TLS material (paths); tls_verify checks the engine's certificate.
    docker_host: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool = True
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    source: str = ""  # "file:line" where the target was defined
    # How kind and roles were decided: "inventory" (written), "group <name>" (a group name
    # teams already use: kubespray's, kubeadm-style), or "default" (a Docker host); the
    # collector may add what the host turned out to run.
    kind_source: str = "inventory"

    def params(self) -> dict[str, dict[str, Any]]:
        """Parameter values for this target's checks (``vars.cisaudit_params`` in the
        inventory): {check slug or pack/control: {parameter: value}}."""
        value = self.vars.get("cisaudit_params") or {}
        if not isinstance(value, dict):
            return {}
        return {str(k): dict(v) for k, v in value.items() if isinstance(v, dict)}

    def describe(self) -> str:
        if self.kind in ("docker-host", "k8s-node"):
            who = f"{self.user}@" if self.user else ""
            return f"{who}{self.address or self.name}:{self.port}"
        if self.kind == "docker-api":
            return self.docker_host or self.name
        return self.path or self.kubeconfig or self.name
