"""Where Docker's files live on this host, and their modes, owners and audit rules."""

from __future__ import annotations

import re
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.common.stat_record import stat_record
from cisaudit.kinds.docker.derive.common import PATH_NAMES, _json, _ok
from cisaudit.kinds.docker.derive.daemon import derive_daemon
from cisaudit.kinds.docker.derive.host import parse_units, parse_which, rules_covering


def resolve_paths(sections: dict[str, Section]) -> dict[str, str | None]:
    """Where each Docker file lives on this host (None when it has no location)."""
    errors: dict[str, str] = {}
    daemon = derive_daemon(sections, errors)
    which = parse_which(sections.get("host.which"))
    units = parse_units(sections.get("host.units"))
    info = _json(_ok(sections, "docker.info")) or {}
    options = daemon["options"]

    def binary(name: str) -> str | None:
        return which.get(name, {}).get("path")

    socket_unit = units.get("docker.socket", {})
    sock = None
    for host in daemon["hosts"]:
        if str(host).startswith("unix://"):
            sock = str(host)[7:]
            break
        if str(host).startswith("fd://"):
            listen = socket_unit.get("ListenStream") or socket_unit.get("Listen", "")
            sock = listen.split(" ")[0] or "/run/docker.sock"
            break
    grpc = "/run/containerd/containerd.sock"
    config = _ok(sections, "containerd.config")
    if config is not None:
        match = re.search(
            r"^\[grpc\][^\[]*?^\s*address\s*=\s*\"([^\"]+)\"", config.output, re.M | re.S
        )
        if match:
            grpc = match.group(1)
    tls_on = bool(options.get("tls") or options.get("tlsverify"))

    def tls_file(key: str, default: str) -> str | None:
        if options.get(key):
            return str(options[key])
        return f"/root/.docker/{default}" if tls_on else None

    return {
        "dockerd": daemon.get("exe") or binary("dockerd"),
        "containerd": binary("containerd"),
        "containerd_shim": binary("containerd-shim"),
        "containerd_shim_runc_v1": binary("containerd-shim-runc-v1"),
        "containerd_shim_runc_v2": binary("containerd-shim-runc-v2"),
        "runc": binary("runc"),
        "docker_service": units.get("docker.service", {}).get("FragmentPath"),
        "docker_socket_unit": socket_unit.get("FragmentPath"),
        "docker_sock": sock,
        "containerd_sock": grpc,
        "run_containerd": "/run/containerd",
        "docker_root": info.get("DockerRootDir") or options.get("data-root") or "/var/lib/docker",
        "etc_docker": "/etc/docker",
        "daemon_json": daemon["config_file"],
        "etc_default_docker": "/etc/default/docker",
        "etc_sysconfig_docker": "/etc/sysconfig/docker",
        "containerd_config": "/etc/containerd/config.toml",
        "certs_d": "/etc/docker/certs.d",
        "tls_cacert": tls_file("tlscacert", "ca.pem"),
        "tls_cert": tls_file("tlscert", "cert.pem"),
        "tls_key": tls_file("tlskey", "key.pem"),
    }


def paths_to_stat(sections: dict[str, Section]) -> dict[str, str]:
    return {k: v for k, v in resolve_paths(sections).items() if v}


def parse_stat(section: Section | None) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for line in (section.output if section else "").splitlines():
        parts = line.split("\t")
        if parts[0] == "S" and len(parts) >= 8:
            records[parts[1]] = stat_record(parts[1], parts[3:8], parts[2])
        elif parts[0] == "A" and len(parts) >= 2:
            records[parts[1]] = {"path": parts[1], "exists": False, "error": None}
        elif parts[0] == "E" and len(parts) >= 2:
            records[parts[1]] = {
                "path": parts[1],
                "exists": None,
                "error": parts[2] if len(parts) > 2 else "stat failed",
            }
    return records


def derive_files(
    sections: dict[str, Section],
    paths: dict[str, str | None],
    audit: dict[str, Any],
    errors: dict[str, str],
) -> dict[str, Any]:
    stats = parse_stat(sections.get("host.stat"))
    if "host.stat" not in sections:
        errors["files"] = "the stat batch (second remote command) did not run"
    files: dict[str, Any] = {}
    for name in PATH_NAMES:
        path = paths.get(name)
        if not path:
            files[name] = None
            continue
        record = dict(
            stats.get(path) or {"path": path, "exists": None, "error": "path was not examined"}
        )
        spellings = {path, record.get("real_path") or path}
        spellings |= {
            p.replace("/var/run/", "/run/", 1) for p in spellings if p.startswith("/var/run/")
        }
        spellings |= {"/var" + p for p in spellings if p.startswith("/run/")}
        record["audit_rules"] = rules_covering(
            audit["rules"], spellings, record.get("type") == "directory"
        )
        record["audited"] = bool(record["audit_rules"])
        files[name] = record
    return files


def derive_cert_files(sections: dict[str, Section]) -> list[dict[str, Any]]:
    section = sections.get("host.certs_d")
    if section is None or section.rc != 0:
        return []
    records = []
    for line in section.output.splitlines():
        parts = line.split("\t")
        if len(parts) == 6:
            record = stat_record(parts[0], parts[1:6], None)
            record["cis"] = {"name": parts[0]}
            records.append(record)
    return records
