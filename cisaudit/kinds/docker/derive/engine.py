"""The engine as `docker info` and `docker version` describe it, and its swarm state."""

from __future__ import annotations

import json
import re
from typing import Any

from cisaudit.evidence import Section


def derive_engine(
    info: dict[str, Any],
    version: dict[str, Any] | None,
    containers: list[dict[str, Any]] | None,
    images: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    security = [str(s) for s in info.get("SecurityOptions") or []]
    seccomp = next((s for s in security if s.startswith("name=seccomp")), None)
    seccomp_profile = None
    if seccomp:
        match = re.search(r"profile=([^,]+)", seccomp)
        seccomp_profile = match.group(1) if match else "default"
    registry = info.get("RegistryConfig") or {}
    insecure = [
        c
        for c in registry.get("InsecureRegistryCIDRs") or []
        if c not in ("127.0.0.0/8", "::1/128")
    ]
    for name, index in (registry.get("IndexConfigs") or {}).items():
        if index and index.get("Secure") is False:
            insecure.append(name)
    server = (version or {}).get("Server") or {}
    used = {c.get("Image") for c in containers or []}
    return {
        "info": info,
        "version": version,
        "server_version": info.get("ServerVersion") or server.get("Version"),
        "storage_driver": info.get("Driver"),
        "logging_driver": info.get("LoggingDriver"),
        "live_restore": info.get("LiveRestoreEnabled"),
        "experimental": bool(server.get("Experimental", info.get("ExperimentalBuild", False))),
        "security_options": security,
        "apparmor": any(s.startswith("name=apparmor") for s in security),
        "selinux": any(s.startswith("name=selinux") for s in security),
        "userns": any(s.startswith("name=userns") for s in security),
        "rootless": any(s.startswith("name=rootless") for s in security),
        "seccomp_profile": seccomp_profile,
        "insecure_registries": insecure,
        "docker_root_dir": info.get("DockerRootDir"),
        "containers_total": info.get("Containers"),
        "containers_stopped": info.get("ContainersStopped"),
        "images_total": len(images) if images is not None else info.get("Images"),
        "images_unused": (
            sum(1 for i in images if i.get("Id") not in used) if images is not None else None
        ),
    }


def derive_swarm(info: dict[str, Any]) -> dict[str, Any]:
    swarm = info.get("Swarm") or {}
    spec = (swarm.get("Cluster") or {}).get("Spec") or {}
    manager = bool(swarm.get("ControlAvailable"))
    expiry = (spec.get("CAConfig") or {}).get("NodeCertExpiry")
    return {
        "active": swarm.get("LocalNodeState") == "active",
        "manager": manager,
        "managers": swarm.get("Managers"),
        "autolock": (
            (spec.get("EncryptionConfig") or {}).get("AutoLockManagers", False) if manager else None
        ),
        "node_cert_expiry_hours": round(expiry / 3.6e12, 1)
        if isinstance(expiry, int | float)
        else None,
        "info": swarm,
    }


_DOCKERD_VERSION = re.compile(r"^Docker version ([0-9][0-9A-Za-z.+~-]{0,40}),", re.MULTILINE)


def engine_version(sections: dict[str, Section]) -> str | None:
    """The engine's version, which chooses the benchmark: ``docker info``'s ServerVersion,
    or, when the engine's socket is closed to the audit account, what the running dockerd's
    binary says of itself (``dockerd --version``; the docker client's own version is not
    the engine's and is never used)."""
    section = sections.get("docker.info")
    if section is not None and section.rc == 0:
        try:
            version = json.loads(section.output).get("ServerVersion")
        except (ValueError, AttributeError):
            version = None
        if version:
            return str(version)
    binary = sections.get("dockerd.version")
    if binary is not None and binary.rc == 0:
        found = _DOCKERD_VERSION.search(binary.output)
        if found:
            return found.group(1)
    return None


def version_at_least(version: str | None, major: int, minor: int) -> bool | None:
    """Whether an engine version ("20.10.24+dfsg1", "26.1.5") is at least major.minor;
    None when it cannot be read."""
    found = re.match(r"(\d+)\.(\d+)", version or "")
    if found is None:
        return None
    return (int(found[1]), int(found[2])) >= (major, minor)
