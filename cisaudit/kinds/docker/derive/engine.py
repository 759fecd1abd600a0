"""The engine as `docker info` and `docker version` describe it, and its swarm state."""

from __future__ import annotations

import re
from typing import Any


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
