"""The Kubernetes components a node may run, and what every part of the derivation shares."""

from __future__ import annotations

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
