"""From a Docker host's raw probe output to the facts checks read (``docs/facts.md``).

Pure functions only: raw sections in, a nested dict of facts and a dict of per-fact
errors out. The same code runs live and in ``cisaudit evaluate`` on a recorded bundle.
The parts live by topic in this package; ``derive`` puts them together."""

from __future__ import annotations

import json
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.docker.derive.common import (  # noqa: F401
    BOOL_FLAGS,
    DEFAULT_SOCK,
    FLAG_TO_KEY,
    LIST_KEYS,
    PATH_NAMES,
    SENSITIVE_DIRS,
    _json,
    _ok,
    _why,
)
from cisaudit.kinds.docker.derive.daemon import derive_daemon, parse_argv_options, parse_dockerd  # noqa: F401
from cisaudit.kinds.docker.derive.engine import (  # noqa: F401
    derive_engine,
    derive_swarm,
    engine_version,
    version_at_least,
)
from cisaudit.kinds.docker.derive.files import (  # noqa: F401
    derive_cert_files,
    derive_files,
    parse_stat,
    paths_to_stat,
    resolve_paths,
)
from cisaudit.kinds.docker.derive.host import (  # noqa: F401
    own_filesystem,
    parse_audit_rules,
    parse_cgroups,
    parse_content_trust,
    parse_listeners,
    parse_mountpoints,
    parse_processes,
    parse_rule,
    parse_units,
    parse_which,
    rules_covering,
    socket_unit_tcp,
)
from cisaudit.kinds.docker.derive.objects import (  # noqa: F401
    INSTALL_RE,
    UPDATE_RE,
    daemon_ulimits,
    derive_container,
    derive_image,
    parse_history,
)
from cisaudit.kinds.docker.derive.packages import image_packages, parse_layers  # noqa: F401


def derive(sections: dict[str, Section]) -> tuple[dict[str, Any], dict[str, str]]:
    """All facts of a Docker host from its probe sections; errors say what is missing and why."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"_evidence_keys": sorted(sections)}

    def parsed(name: str, fact_names: tuple[str, ...], expect: type = dict) -> Any:
        section = _ok(sections, name)
        if section is None:
            for fact in fact_names:
                errors.setdefault(fact, _why(sections, name))
            return None
        try:
            value = _json(section)
        except (json.JSONDecodeError, RecursionError) as exc:
            for fact in fact_names:
                errors.setdefault(fact, f"{name}: unreadable output ({exc})")
            return None
        if value is not None and not isinstance(value, expect):
            what = "a JSON object" if expect is dict else "a JSON list"
            for fact in fact_names:
                errors.setdefault(fact, f"{name}: expected {what}, got {type(value).__name__}")
            return None
        if isinstance(value, list) and not all(isinstance(v, dict) for v in value):
            for fact in fact_names:
                errors.setdefault(fact, f"{name}: expected a list of JSON objects")
            return None
        return value

    info = parsed("docker.info", ("engine", "swarm"))
    if info is not None and info.get("ServerErrors"):
        # `docker info` exits 0 with only client data when it cannot reach the engine
        # (e.g. permission denied on the socket): that is no engine facts, not empty ones.
        for fact in ("engine", "swarm"):
            errors.setdefault(fact, "docker info: " + "; ".join(map(str, info["ServerErrors"])))
        info = None
    version = (
        parsed("docker.version", ("engine.version",)) if "docker.version" in sections else None
    )
    if not isinstance(version, dict):
        version = None
    containers = parsed("docker.inspect", ("containers",), list)
    images = parsed("docker.images", ("images",), list)
    networks = parsed("docker.networks", ("networks",), list)

    daemon = derive_daemon(sections, errors)
    _effective_tlsverify(daemon, engine_version(sections))
    _socket_activation(daemon, parse_units(sections.get("host.units")))
    values["daemon"] = daemon
    processes = parse_processes(sections.get("host.ps"))
    cgroups = parse_cgroups(sections.get("host.cgroups"))
    paths = resolve_paths(sections)
    values["paths"] = paths
    audit = parse_audit_rules(sections)
    values["audit"] = audit
    values["files"] = derive_files(sections, paths, audit, errors)
    if audit.get("error"):
        for name in PATH_NAMES:
            errors[f"files.{name}.audited"] = audit["error"]
    values["cert_files"] = derive_cert_files(sections)

    if info is not None:
        values["engine"] = derive_engine(info, version, containers, images)
        # Engines before 23 report "profile=default" even when a custom profile is
        # configured, so the daemon's own setting wins when there is one.
        configured = daemon["options"].get("seccomp-profile")
        if configured:
            values["engine"]["seccomp_profile"] = str(configured)
        values["swarm"] = derive_swarm(info)
    if containers is not None:
        values["containers"] = [
            {
                **c,
                "cis": derive_container(
                    c,
                    processes,
                    cgroups,
                    paths.get("docker_sock"),
                    daemon_ulimits(daemon["options"]),
                ),
            }
            for c in containers
        ]
        if info is not None:
            values["engine"]["containers_stopped"] = sum(
                1 for c in values["containers"] if not c["cis"]["running"]
            )
    if images is not None:
        history = parse_history(sections.get("docker.history"))
        used = {c.get("Image") for c in containers or []}
        store = parse_layers(sections.get("image.layers"))
        values["images"] = []
        for i in images:
            steps = history.get(i.get("Id", ""), [])
            cis = derive_image(i, steps, used)
            diff_ids = [str(d) for d in ((i.get("RootFS") or {}).get("Layers") or [])]
            cis.update(image_packages(diff_ids, store, steps))
            values["images"].append({**i, "cis": cis})
    if networks is not None:
        values["networks"] = [
            {
                **n,
                "cis": {
                    "name": n.get("Name"),
                    "driver": n.get("Driver"),
                    "encrypted": "encrypted" in (n.get("Options") or {}),
                },
            }
            for n in networks
        ]
        bridge = next((n for n in networks if n.get("Name") == "bridge"), None)
        if bridge:
            icc = (bridge.get("Options") or {}).get("com.docker.network.bridge.enable_icc")
            daemon["default_bridge_icc"] = None if icc is None else str(icc).lower() == "true"

    root_dir = paths.get("docker_root")
    root_mount = own_filesystem(root_dir, sections.get("host.mounts"))
    content_trust = parse_content_trust(sections.get("host.environment"))
    listeners = parse_listeners(sections.get("host.listeners"))
    group = sections.get("host.group")
    values["host"] = {
        "os": _os_release(sections.get("host.os")),
        "docker_group": [
            m
            for m in (
                group.output.strip().split(":")[3].split(",")
                if group and group.rc == 0 and group.output.count(":") >= 3
                else []
            )
            if m
        ],
        "docker_root_separate": (
            (root_mount or {}).get("separate") if _ok(sections, "host.mounts") else None
        ),
        "docker_root_mount": root_mount if _ok(sections, "host.mounts") else None,
        "content_trust": content_trust["value"] if content_trust else None,
        "content_trust_source": content_trust["source"] if content_trust else None,
        "listeners": listeners,
        "swarm_listeners_wildcard": any(
            item["port"] in (2377, 7946) and item["address"] in ("0.0.0.0", "::")
            for item in listeners
        ),
        "uid": int(sections["id"].output.strip())
        if _ok(sections, "id") and sections["id"].output.strip().isdigit()
        else None,
    }
    if not _ok(sections, "host.mounts"):
        errors.setdefault("host", _why(sections, "host.mounts"))
    values["summary"] = summary(values)
    return values, errors


def _socket_activation(daemon: dict[str, Any], units: dict[str, dict[str, Any]]) -> None:
    """``-H fd://`` takes the sockets systemd's docker.socket opened: when one of them is a
    TCP address, the API listens on TCP though no ``tcp://`` host is configured."""
    hosts = [str(h) for h in daemon.get("hosts") or []]
    if not any(h.startswith("fd://") for h in hosts):
        return
    address = socket_unit_tcp(units)
    if address:
        daemon["tcp"] = True
        daemon["tcp_via"] = f"docker.socket listens on {address} (dockerd -H fd://)"
        daemon["hosts"] = [*hosts, f"tcp://{address}"]


def _effective_tlsverify(daemon: dict[str, Any], version: str | None) -> None:
    """dockerd 20.10 and later verify client certificates when TLS is on and ``tlsverify``
    is not set at all (only an explicit ``tlsverify: false`` turns it off); earlier engines
    did not. The effective value is what the engine does, recorded with where it came from."""
    options = daemon.get("options") or {}
    if "tlsverify" in options or options.get("tls") is not True:
        return
    newer = version_at_least(version, 20, 10)
    if newer is None:
        return  # the engine's version is unknown: the option stays unset
    options["tlsverify"] = newer
    daemon.setdefault("sources", {})["tlsverify"] = f"default of dockerd {version}: " + (
        "on when TLS is on" if newer else "off unless set (before 20.10)"
    )


def summary(values: dict[str, Any]) -> dict[str, Any]:
    """A few headline facts for reports: engine version, object counts, OS, audit user."""
    return {
        "engine_version": (values.get("engine") or {}).get("server_version"),
        "containers": len(values.get("containers") or []),
        "images": len(values.get("images") or []),
        "os": ((values.get("host") or {}).get("os") or {}).get("PRETTY_NAME"),
        "audit_uid": (values.get("host") or {}).get("uid"),
    }


def _os_release(section: Section | None) -> dict[str, str]:
    fields = {}
    for line in (section.output if section else "").splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "VERSION_ID", "PRETTY_NAME"):
            fields[key] = value.strip('"')
    return fields


__all__ = [
    "BOOL_FLAGS",
    "DEFAULT_SOCK",
    "FLAG_TO_KEY",
    "INSTALL_RE",
    "LIST_KEYS",
    "PATH_NAMES",
    "SENSITIVE_DIRS",
    "UPDATE_RE",
    "daemon_ulimits",
    "derive",
    "derive_cert_files",
    "derive_container",
    "derive_daemon",
    "derive_engine",
    "derive_files",
    "derive_image",
    "derive_swarm",
    "parse_argv_options",
    "parse_audit_rules",
    "parse_cgroups",
    "parse_content_trust",
    "parse_dockerd",
    "parse_history",
    "parse_listeners",
    "parse_mountpoints",
    "parse_processes",
    "parse_rule",
    "parse_stat",
    "parse_units",
    "parse_which",
    "paths_to_stat",
    "resolve_paths",
    "rules_covering",
    "summary",
]
