"""The facts a Docker host offers checks (``docs/facts.md``), and the evidence behind each."""

from __future__ import annotations

from cisaudit.catalog.facts import FactsContract, Subject
from cisaudit.kinds.common.policy import POLICY_FACT, POLICY_SUBJECTS

# Docker objects are identified in results by their full engine id.
_BY_ID = Subject(name="cis.name", id=("Id", "cis.id"))

CONTRACT = FactsContract(
    facts={
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
            "every local image: inspect data, build history, and its packages by layer",
            ("docker.images", "docker.history", "image.layers"),
        ),
        "policy": POLICY_FACT,
        "networks": ("every Docker network: inspect data", ("docker.networks",)),
        "swarm": ("swarm state of the engine", ("docker.info",)),
    },
    subjects={
        "containers": _BY_ID,
        "images": _BY_ID,
        "networks": _BY_ID,
        **POLICY_SUBJECTS,
        "cert_files": _BY_ID,
    },
)
