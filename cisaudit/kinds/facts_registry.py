"""Names of the facts controls may use, what they hold and the evidence behind them.

Facts form one nested, JSON-serialisable dict per target. A control refers to a fact by
a dotted path whose first segment must be listed here; deeper keys are free. The catalog
loader rejects any other name, so a typo is a load error, not a check that never fails.
"""

from __future__ import annotations

# top-level fact -> (what it holds, raw evidence sections it is derived from; "x.*" = every
# section whose name starts with "x.")
FACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # Docker hosts (and Kubernetes nodes that run Docker)
    "engine": (
        "docker info / docker version, normalised (versions, drivers, security options)",
        ("docker.info", "docker.version"),
    ),
    "daemon": (
        "dockerd: pid, argv, daemon.json, effective options (argv over daemon.json)",
        ("host.ps", "dockerd.cmdline", "daemon.json"),
    ),
    "host": (
        "host facts: OS, docker group, mounts, listeners, environment",
        ("host.os", "host.group", "host.mounts", "host.listeners", "host.environment"),
    ),
    "paths": (
        "resolved locations of Docker's binaries, units, sockets and config files",
        ("host.which", "host.units", "dockerd.cmdline", "daemon.json"),
    ),
    "files": (
        "stat of each resolved path (type, mode bits, owner) and the audit rules covering it",
        ("host.stat", "audit.rules"),
    ),
    "cert_files": ("stat of every file under /etc/docker/certs.d", ("host.certs_d",)),
    "audit": ("audit rules: loaded (auditctl -l) or from rules files", ("audit.rules",)),
    "containers": (
        "every container (running or not): inspect data plus normalised fields",
        ("docker.inspect", "host.ps", "host.cgroups"),
    ),
    "images": (
        "every local image: inspect data plus its build history",
        ("docker.images", "docker.history"),
    ),
    "networks": ("every Docker network: inspect data", ("docker.networks",)),
    "swarm": ("swarm state of the engine", ("docker.info",)),
    # Kubernetes nodes (over SSH) and clusters (over the API)
    "k8s": (
        "Kubernetes node facts: component processes, flags, config files (docs/facts-k8s.md)",
        ("k8s.processes", "k8s.configs", "k8s.version", "k8s.referenced", "k8s.target", "host.units"),
    ),
    "pki_files": ("stat of every file under the Kubernetes PKI directory", ("host.stat",)),
    "cni_files": ("stat of every CNI configuration file", ("host.stat",)),
    "cluster": (
        "Kubernetes cluster objects from the API or an offline dump (docs/facts-k8s.md)",
        ("k8s.api.*", "k8s.inventory"),
    ),
}

# Collections a check may iterate with ``each``; items are mappings.
SUBJECTS: dict[str, str] = {
    "containers": "containers",
    "images": "images",
    "networks": "networks",
    "cert_files": "cert_files",
    "pki_files": "pki_files",
    "cni_files": "cni_files",
}
# Any collection under "cluster." (cluster.pods, cluster.workloads, ...) may be iterated too.
SUBJECT_PREFIXES = ("cluster.",)
