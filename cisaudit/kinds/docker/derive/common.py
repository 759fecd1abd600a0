"""What every part of a Docker host's derivation shares: dockerd's flag names and the
small readers of probe sections."""

from __future__ import annotations

import json
from typing import Any

from cisaudit.evidence import Section

SENSITIVE_DIRS = ("/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DEFAULT_SOCK = "/var/run/docker.sock"
# dockerd flags whose daemon.json key differs, and flags that repeat into lists
FLAG_TO_KEY = {
    "H": "hosts",
    "host": "hosts",
    "insecure-registry": "insecure-registries",
    "storage-opt": "storage-opts",
    "authorization-plugin": "authorization-plugins",
    "default-ulimit": "default-ulimits",
    "log-opt": "log-opts",
    "label": "labels",
    "registry-mirror": "registry-mirrors",
    "exec-opt": "exec-opts",
    "dns": "dns",
    "dns-opt": "dns-opts",
    "dns-search": "dns-search",
    "add-runtime": "runtimes",
    "l": "log-level",
    "D": "debug",
    "G": "group",
    "p": "pidfile",
    "b": "bridge",
    "g": "data-root",
    "graph": "data-root",
    "s": "storage-driver",
    "allow-nondistributable-artifacts": "allow-nondistributable-artifacts",
    "default-address-pool": "default-address-pools",
}
LIST_KEYS = {
    "hosts",
    "insecure-registries",
    "storage-opts",
    "authorization-plugins",
    "default-ulimits",
    "log-opts",
    "labels",
    "registry-mirrors",
    "exec-opts",
    "dns",
    "dns-opts",
    "dns-search",
    "runtimes",
    "allow-nondistributable-artifacts",
    "default-address-pools",
}
BOOL_FLAGS = {
    "icc",
    "iptables",
    "ip6tables",
    "ipv6",
    "ip-forward",
    "ip-masq",
    "userland-proxy",
    "live-restore",
    "no-new-privileges",
    "experimental",
    "tls",
    "tlsverify",
    "debug",
    "selinux-enabled",
    "init",
    "raw-logs",
    "rootless",
    "validate",
    "D",
    "help",
    "version",
}
PATH_NAMES = (
    "dockerd",
    "containerd",
    "containerd_shim",
    "containerd_shim_runc_v1",
    "containerd_shim_runc_v2",
    "runc",
    "docker_service",
    "docker_socket_unit",
    "docker_sock",
    "containerd_sock",
    "run_containerd",
    "docker_root",
    "etc_docker",
    "daemon_json",
    "etc_default_docker",
    "etc_sysconfig_docker",
    "containerd_config",
    "certs_d",
    "tls_cacert",
    "tls_cert",
    "tls_key",
)


def _ok(sections: dict[str, Section], name: str) -> Section | None:
    section = sections.get(name)
    return section if section is not None and section.rc == 0 else None


def _why(sections: dict[str, Section], name: str) -> str:
    section = sections.get(name)
    if section is None:
        return f"{name} was not collected"
    text = (section.stderr or section.output).strip().splitlines()
    return f"{name} failed (exit {section.rc}): {text[-1] if text else 'no output'}"


def _json(section: Section | None) -> Any:
    if section is None or not section.output.strip():
        return None
    return json.loads(section.output)
