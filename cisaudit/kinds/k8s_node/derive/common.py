"""The Kubernetes components a node may run, and what every part of the derivation shares."""

from __future__ import annotations

from typing import Any

# fact name -> executable name
COMPONENTS: dict[str, str] = {
    "apiserver": "kube-apiserver",
    "controller_manager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
    "etcd": "etcd",
    "kubelet": "kubelet",
    "proxy": "kube-proxy",
}
# Components a node role implies: their absence is an ERROR for the controls that read them.
ROLE_COMPONENTS: dict[str, tuple[str, ...]] = {
    "control-plane": ("apiserver", "controller_manager", "scheduler"),
    "etcd": ("etcd",),
    "worker": ("kubelet",),
}

# kubeadm's layout, used where no running component names a location.
KUBEADM = {
    "manifests": "/etc/kubernetes/manifests",
    "pki_dir": "/etc/kubernetes/pki",
    "admin_conf": "/etc/kubernetes/admin.conf",
    "super_admin_conf": "/etc/kubernetes/super-admin.conf",
    "scheduler_kubeconfig": "/etc/kubernetes/scheduler.conf",
    "controller_manager_kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "kubelet_kubeconfig": "/etc/kubernetes/kubelet.conf",
    "kubelet_config": "/var/lib/kubelet/config.yaml",
    "kubelet_client_ca": "/etc/kubernetes/pki/ca.crt",
    "etcd_data_dir": "/var/lib/etcd",
}
# Where K3s and RKE2 keep what kubeadm keeps under /etc/kubernetes (their documentation
# and CIS self-assessment guides): used where no running component names a location. K3s
# runs no static pods (None: no pod specification files); its kubelet has no unit of its
# own, so K3s's service units stand for it, as they do for RKE2's.
LAYOUTS: dict[str, dict[str, Any]] = {
    "k3s": {
        "manifests": None,
        "pki_dir": "/var/lib/rancher/k3s/server/tls",
        "admin_conf": "/var/lib/rancher/k3s/server/cred/admin.kubeconfig",
        "super_admin_conf": None,
        "scheduler_kubeconfig": "/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig",
        "controller_manager_kubeconfig": "/var/lib/rancher/k3s/server/cred/controller.kubeconfig",
        "kubelet_kubeconfig": "/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
        "kubelet_config": "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/00-k3s-defaults.conf",
        "kubelet_client_ca": "/var/lib/rancher/k3s/agent/client-ca.crt",
        "etcd_data_dir": "/var/lib/rancher/k3s/server/db/etcd",
        "kubelet_units": (
            "/etc/systemd/system/k3s.service",
            "/etc/systemd/system/k3s-agent.service",
        ),
    },
    "rke2": {
        "manifests": "/var/lib/rancher/rke2/agent/pod-manifests",
        "pki_dir": "/var/lib/rancher/rke2/server/tls",
        "admin_conf": "/var/lib/rancher/rke2/server/cred/admin.kubeconfig",
        "super_admin_conf": None,
        "scheduler_kubeconfig": "/var/lib/rancher/rke2/server/cred/scheduler.kubeconfig",
        "controller_manager_kubeconfig": "/var/lib/rancher/rke2/server/cred/controller.kubeconfig",
        "kubelet_kubeconfig": "/var/lib/rancher/rke2/agent/kubelet.kubeconfig",
        "kubelet_config": "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d/00-rke2-defaults.conf",
        "kubelet_client_ca": "/var/lib/rancher/rke2/agent/client-ca.crt",
        "etcd_data_dir": "/var/lib/rancher/rke2/server/db/etcd",
        "kubelet_units": (
            "/usr/local/lib/systemd/system/rke2-server.service",
            "/usr/lib/systemd/system/rke2-server.service",
            "/usr/local/lib/systemd/system/rke2-agent.service",
            "/usr/lib/systemd/system/rke2-agent.service",
        ),
    },
}
# The kubelet's systemd unit: kubeadm's drop-in first (where its packages put it), then
# the unit itself, as CIS 4.1.1 names them.
KUBELET_UNITS = (
    "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/etc/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service",
)
CNI_DIRS = ("/etc/cni/net.d", "/var/lib/cni/networks")
FILE_NAMES = (
    "apiserver_manifest",
    "controller_manager_manifest",
    "scheduler_manifest",
    "etcd_manifest",
    "etcd_data_dir",
    "admin_conf",
    "super_admin_conf",
    "scheduler_kubeconfig",
    "controller_manager_kubeconfig",
    "kubelet_service",
    "kubelet_kubeconfig",
    "kubelet_config",
    "kubelet_client_ca",
    "proxy_kubeconfig",
    "pki_dir",
)
