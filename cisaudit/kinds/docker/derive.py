"""From a Docker host's raw probe output to the facts controls read (``docs/facts.md``).

Pure functions only: raw sections in, a nested dict of facts and a dict of per-fact
errors out. The same code runs live and in ``cisaudit evaluate`` on a recorded bundle.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.common.stat_record import stat_record

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


# -- daemon ----------------------------------------------------------------------------


def parse_dockerd(section: Section | None) -> dict[str, Any]:
    info: dict[str, Any] = {"pid": None, "uid": None, "exe": None, "argv": []}
    if section is None:
        return info
    lines = section.output.split("\n")
    for line in lines[:3]:
        key, _, value = line.partition(" ")
        if key in ("pid", "uid"):
            info[key] = int(value) if value.isdigit() else None
        elif key == "exe":
            info["exe"] = value or None
    info["argv"] = [a for a in lines[3:] if a != ""]
    return info


def parse_argv_options(argv: list[str]) -> dict[str, Any]:
    """dockerd's flags -> daemon.json-style keys. Accepts --flag=value and --flag value."""
    options: dict[str, Any] = {}
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name in BOOL_FLAGS:
            flag_value: Any = True if not eq else value.lower() in ("1", "true", "t", "yes")
        elif eq:
            flag_value = value
        elif i < len(args):
            flag_value = args[i]
            i += 1
        else:
            flag_value = ""
        key = FLAG_TO_KEY.get(name, name)
        if key == "debug" and name == "D":
            flag_value = True
        if key in LIST_KEYS:
            options.setdefault(key, []).append(flag_value)
        else:
            options[key] = flag_value
    return options


def derive_daemon(sections: dict[str, Section], errors: dict[str, str]) -> dict[str, Any]:
    proc = _ok(sections, "dockerd.cmdline")
    if proc is None:
        errors["daemon"] = _why(sections, "dockerd.cmdline")
    info = parse_dockerd(proc)
    config_path, config, config_error = "/etc/docker/daemon.json", None, None
    raw = sections.get("daemon.json")
    if raw is not None:
        first, _, body = raw.output.partition("\n")
        if first.startswith("path "):
            config_path = first[5:]
        if raw.rc == 0:
            try:
                config = json.loads(body) if body.strip() else {}
            except json.JSONDecodeError as exc:
                config_error = f"{config_path} is not valid JSON: {exc}"
        elif raw.rc != 4:
            config_error = _why(sections, "daemon.json")
    if config_error:
        errors["daemon"] = config_error
    argv_options = parse_argv_options(info["argv"])
    options = dict(config or {})
    sources = {k: "daemon.json" for k in options}
    for key, value in argv_options.items():
        options[key] = value
        sources[key] = "argv"
    hosts = options.get("hosts") or ["unix://" + DEFAULT_SOCK]
    if isinstance(hosts, str):
        hosts = [hosts]
    return {
        **info,
        "config_file": config_path,
        "config": config,
        "options": options,
        "sources": sources,
        "hosts": hosts,
        "tcp": any(str(h).startswith("tcp://") for h in hosts),
        "default_bridge_icc": None,
    }


# -- engine / swarm ----------------------------------------------------------------------


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


# -- host --------------------------------------------------------------------------------


def parse_processes(section: Section | None) -> list[dict[str, Any]]:
    rows = []
    for line in (section.output if section else "").splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[0].isdigit():
            rows.append(
                {
                    "pid": int(parts[0]),
                    "ppid": int(parts[1]),
                    "uid": int(parts[2]) if parts[2].isdigit() else None,
                    "comm": parts[3],
                }
            )
    return rows


def parse_cgroups(section: Section | None) -> dict[int, set[str]]:
    owners: dict[int, set[str]] = {}
    for line in (section.output if section else "").splitlines():
        match = re.match(r"/proc/(\d+)/cgroup:", line)
        if match:
            owners.setdefault(int(match.group(1)), set()).update(re.findall(r"[0-9a-f]{64}", line))
    return owners


def parse_mountpoints(section: Section | None) -> set[str]:
    points = set()
    for line in (section.output if section else "").splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def parse_listeners(section: Section | None) -> list[dict[str, Any]]:
    found = []
    for line in (section.output if section else "").splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A" or ":" not in fields[1]:
            continue
        address_hex, port_hex = fields[1].split(":")
        try:
            port = int(port_hex, 16)
            raw = bytes.fromhex(address_hex)
        except ValueError:
            continue
        if len(raw) == 4:
            address = ".".join(str(b) for b in raw[::-1])
        else:  # /proc prints IPv6 as four little-endian 32-bit words
            words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
            address = ":".join(b"".join(words)[i : i + 2].hex() for i in range(0, 16, 2))
            address = "::" if set(address) <= {"0", ":"} else address
        found.append(
            {"proto": "tcp" if len(raw) == 4 else "tcp6", "address": address, "port": port}
        )
    return found


def parse_content_trust(section: Section | None) -> dict[str, Any] | None:
    for line in (section.output if section else "").splitlines():
        path, _, text = line.partition(":")
        match = re.match(r"\s*(?:export\s+)?DOCKER_CONTENT_TRUST\s*=\s*['\"]?([^'\"\s#]*)", text)
        if match:
            return {"value": match.group(1), "source": path}
    return None


def parse_which(section: Section | None) -> dict[str, dict[str, str]]:
    found = {}
    for line in (section.output if section else "").splitlines():
        parts = line.split(" ")
        if len(parts) >= 2:
            found[parts[0]] = {"path": parts[1], "real": parts[2] if len(parts) > 2 else parts[1]}
    return found


def parse_units(section: Section | None) -> dict[str, dict[str, Any]]:
    units: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in (section.output if section else "").splitlines():
        if line.startswith("#unit "):
            path = line[6:]
            current = units.setdefault(posixpath.basename(path), {})
            current.setdefault("FragmentPath", path)
            continue
        key, _, value = line.partition("=")
        if key == "Id":
            current = units.setdefault(value, {})
        elif current is not None and key in ("FragmentPath", "Listen", "ListenStream") and value:
            current.setdefault(key, value)
    return units


def parse_audit_rules(sections: dict[str, Section]) -> dict[str, Any]:
    loaded = sections.get("audit.auditctl")
    if loaded is not None and loaded.rc == 0:
        source: str | None = "auditctl"
        lines = [] if "No rules" in loaded.output else loaded.output.splitlines()
    else:
        files = sections.get("audit.files")
        lines = [line.partition(":")[2] for line in (files.output if files else "").splitlines()]
        source = "files" if lines else None
        if files is not None and files.rc == 5:
            # Rules files exist but this account cannot read them (and auditctl could not
            # list the loaded rules): whether paths are audited cannot be told.
            reason = (files.stderr.strip().splitlines() or ["audit rules unreadable"])[0]
            return {
                "source": None,
                "rules": [],
                "error": f"audit rules could not be read: {reason}",
            }
    rules = [rule for rule in (parse_rule(line) for line in lines) if rule]
    return {"source": source, "rules": rules, "error": None}


def parse_rule(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    tokens = text.split()
    rule: dict[str, Any] = {
        "text": text,
        "kind": None,
        "path": None,
        "perms": None,
        "key": None,
        "recursive": False,
    }
    for flag, value in zip(tokens, tokens[1:] + [""], strict=True):
        if flag == "-w":
            rule.update(kind="watch", path=value)
        elif flag == "-p":
            rule["perms"] = value
        elif flag == "-k":
            rule["key"] = value
        elif flag == "-a" and "never" in value:
            return None  # exclusion rules never make anything audited
        elif flag == "-F" and value.startswith(("path=", "dir=")):
            name, _, path = value.partition("=")
            rule.update(kind="syscall", path=path, recursive=name == "dir")
        elif flag == "-F" and value.startswith("perm="):
            rule["perms"] = value[5:]
        elif flag == "-F" and value.startswith(("key=", "k=")):
            rule["key"] = value.partition("=")[2]
    return rule if rule["path"] else None


def rules_covering(rules: list[dict[str, Any]], paths: set[str], is_dir: bool) -> list[str]:
    """Audit rules that record writes to any spelling of a path."""
    hits = []
    for rule in rules:
        perms = rule.get("perms")
        if perms and "w" not in perms and "a" not in perms:
            continue
        target = rule["path"].rstrip("/") or "/"
        covers_tree = rule["kind"] == "watch" or rule.get("recursive")
        if any(p == target or (covers_tree and p.startswith(target + "/")) for p in paths):
            hits.append(rule["text"])
    return hits


# -- paths and files -------------------------------------------------------------------------


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


# -- containers, images, networks ------------------------------------------------------------


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


# -- everything --------------------------------------------------------------------------------


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
        values["images"] = [
            {**i, "cis": derive_image(i, history.get(i.get("Id", ""), []), used)} for i in images
        ]
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
            root_dir in parse_mountpoints(sections.get("host.mounts"))
            if _ok(sections, "host.mounts")
            else None
        ),
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
