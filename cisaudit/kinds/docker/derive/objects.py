"""Containers, images and networks, with the normalised fields checks read (``cis``)."""

from __future__ import annotations

import json
import re
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.docker.derive.common import DEFAULT_SOCK, SENSITIVE_DIRS


def _published(container: dict[str, Any]) -> list[dict[str, Any]]:
    running = (container.get("State") or {}).get("Running")
    ports = (
        ((container.get("NetworkSettings") or {}).get("Ports") if running else None)
        or (container.get("HostConfig") or {}).get("PortBindings")
        or {}
    )
    found = []
    for container_port, bindings in ports.items():
        for binding in bindings or []:
            host_port = str(binding.get("HostPort") or "0").split("-")[0]
            found.append(
                {
                    "host_ip": binding.get("HostIp") or "",
                    "host_port": int(host_port) if host_port.isdigit() else 0,
                    "container_port": container_port.split("/")[0],
                    "proto": container_port.split("/")[1] if "/" in container_port else "tcp",
                }
            )
    return found


def _under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def daemon_ulimits(options: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The daemon's default-ulimits as {name: (soft, hard)}, from daemon.json or flags."""
    found: dict[str, tuple[int, int]] = {}
    value = options.get("default-ulimits") or {}
    if isinstance(value, dict):
        for name, spec in value.items():
            if isinstance(spec, dict):
                found[name] = (int(spec.get("Soft", 0)), int(spec.get("Hard", 0)))
    else:
        for item in value:
            name, _, limits = str(item).partition("=")
            soft, _, hard = limits.partition(":")
            if soft.lstrip("-").isdigit():
                found[name] = (int(soft), int(hard or soft))
    return found


def derive_container(
    container: dict[str, Any],
    processes: list[dict[str, Any]],
    cgroups: dict[int, set[str]],
    docker_sock: str | None,
    defaults: dict[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    host = container.get("HostConfig") or {}
    config = container.get("Config") or {}
    state = container.get("State") or {}
    user = str(config.get("User") or "")
    mounts = [
        {
            "type": m.get("Type"),
            "source": m.get("Source") or "",
            "destination": m.get("Destination"),
            "rw": bool(m.get("RW")),
            "propagation": m.get("Propagation") or "",
        }
        for m in container.get("Mounts") or []
    ]
    binds = [m for m in mounts if m["type"] == "bind"]
    sock_spellings = {DEFAULT_SOCK, "/run/docker.sock"} | ({docker_sock} if docker_sock else set())
    security = [str(s) for s in host.get("SecurityOpt") or []]
    networks = list(((container.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    mode = str(host.get("NetworkMode") or "")
    healthcheck = (config.get("Healthcheck") or {}).get("Test") or []
    full_id = container.get("Id", "")
    owned = (
        [p for p in processes if full_id in cgroups.get(p["pid"], set())]
        if state.get("Running")
        else []
    )
    return {
        "name": str(container.get("Name", "")).lstrip("/"),
        "id": full_id[:12],
        "running": bool(state.get("Running")),
        "user": user,
        "runs_as_root": user.split(":")[0] in ("", "root", "0"),
        "cap_add": [str(c).upper().removeprefix("CAP_") for c in host.get("CapAdd") or []],
        "published": _published(container),
        "mounts": mounts,
        "sensitive_mounts": [
            m["source"]
            for m in binds
            if m["source"] == "/" or any(_under(m["source"], d) for d in SENSITIVE_DIRS)
        ],
        "docker_sock_mounted": any(_under(s, m["source"]) for m in binds for s in sock_spellings),
        "processes": [{"pid": p["pid"], "comm": p["comm"], "uid": p["uid"]} for p in owned],
        "security_opt": security,
        "no_new_privileges": any(
            re.fullmatch(r"no-new-privileges([=:]true)?", s) for s in security
        ),
        "seccomp_unconfined": bool(host.get("Privileged"))
        or any(re.fullmatch(r"seccomp[=:]unconfined", s) for s in security),
        # The container's own seccomp profile (--security-opt seccomp=FILE), if any.
        "seccomp_profile": next(
            (s[len("seccomp") + 1 :] for s in security if re.match(r"seccomp[=:]", s)), None
        ),
        "selinux_labelled": bool(container.get("ProcessLabel"))
        or any(
            re.match(r"label[=:]", s) and not re.match(r"label[=:]disable", s) for s in security
        ),
        "networks": networks,
        "on_default_bridge": "bridge" in networks
        or (not networks and mode in ("default", "bridge")),
        "cpu_limited": (host.get("CpuShares") or 0) not in (0, 1024)
        or (host.get("NanoCpus") or 0) > 0
        or (host.get("CpuQuota") or 0) > 0
        or bool(host.get("CpusetCpus")),
        "restart_policy": ((host.get("RestartPolicy") or {}).get("Name") or "no"),
        "restart_max": (host.get("RestartPolicy") or {}).get("MaximumRetryCount", 0),
        "has_healthcheck": bool(healthcheck) and healthcheck[0] != "NONE",
        # The engine copies the daemon's default-ulimits into every container's
        # HostConfig.Ulimits; only values that differ from them are real overrides.
        "ulimit_overrides": [
            f"{u.get('Name')}={u.get('Soft')}:{u.get('Hard')}"
            for u in host.get("Ulimits") or []
            if (defaults or {}).get(u.get("Name")) != (u.get("Soft"), u.get("Hard"))
        ],
    }


UPDATE_RE = re.compile(
    r"\b(apt-get|apt|yum|dnf|microdnf|apk|zypper)\b[^;&|]*\b(update|makecache|refresh)\b"
)
INSTALL_RE = re.compile(r"\b(install|add|upgrade|dist-upgrade|in)\b")


def parse_history(section: Section | None) -> dict[str, list[str]]:
    history: dict[str, list[str]] = {}
    current = None
    for line in (section.output if section else "").splitlines():
        if line.startswith("#image "):
            current = line[7:]
            history[current] = []
        elif current and line.startswith("{"):
            try:
                history[current].append(json.loads(line).get("CreatedBy", ""))
            except json.JSONDecodeError:
                continue
    return {k: v[::-1] for k, v in history.items()}  # docker lists newest first


def _is_add(created_by: str) -> bool:
    text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", created_by.strip())
    return text.startswith("ADD ")


def _run_text(created_by: str) -> str | None:
    text = created_by.strip()
    if "#(nop)" in text:
        return None
    return re.sub(r"^(RUN\s+)?(\|\d+ \S+ )?(/bin/sh -c\s+)?", "", text)


def derive_image(image: dict[str, Any], history: list[str], used: set[str]) -> dict[str, Any]:
    tags = image.get("RepoTags") or []
    healthcheck = ((image.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    updates = []
    for line in history:
        run = _run_text(line)
        if run is None:
            continue
        for command in re.split(r"&&|;|\|\|", run):
            if UPDATE_RE.search(command) and not INSTALL_RE.search(run.replace(command, "")):
                updates.append(line)
                break
    return {
        "name": tags[0] if tags else image.get("Id", "")[7:19],
        "id": image.get("Id", "")[7:19],
        "has_healthcheck": bool(healthcheck) and healthcheck[0] != "NONE",
        "history": history,
        "add_layers": [h for h in history[1:] if _is_add(h)],
        "update_alone": updates,
        "in_use": image.get("Id") in used,
    }
