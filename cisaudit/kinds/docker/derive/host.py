"""The host around the engine: processes, cgroups, mounts, listeners, environment,
units and audit rules."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from cisaudit.evidence import Section


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


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(section: Section | None) -> list[dict[str, str]]:
    """/proc/self/mountinfo, in order: mount point, the root of the mount within its file
    system, the device (major:minor), the file-system type and the source."""
    mounts = []
    for line in (section.output if section else "").splitlines():
        fields = line.split(" ")
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        mounts.append(
            {
                "device": fields[2],
                "root": _unescape(fields[3]),
                "mount_point": _unescape(fields[4]),
                "fs_type": fields[sep + 1] if len(fields) > sep + 1 else "",
                "source": _unescape(fields[sep + 2]) if len(fields) > sep + 2 else "",
            }
        )
    return mounts


def _mount_of(path: str, mounts: list[dict[str, str]]) -> dict[str, str] | None:
    """The mount a path lives on: the longest mount point above it, the last one mounted
    there when several are stacked."""
    best: dict[str, str] | None = None
    for mount in mounts:
        point = mount["mount_point"].rstrip("/") or "/"
        if path == point or path.startswith(point.rstrip("/") + "/") or point == "/":
            if best is None or len(point) >= len(best["mount_point"].rstrip("/") or "/"):
                best = mount
    return best


def own_filesystem(path: str | None, section: Section | None) -> dict[str, Any] | None:
    """Whether ``path`` lives on a file system other than the root file system: the device
    (major:minor) of the mount it lives on differs from that of the mount at /.

    "Is a mount point" is the wrong question: where the root file system is a shared mount
    (most hosts), dockerd bind-mounts its data root onto itself to make it private, so
    /var/lib/docker is always a mount point there, of the root file system's own device,
    with the directory as the mount's root field. A data root under user-namespace
    remapping (/var/lib/docker/231072.231072) is a subdirectory of the configured one and
    shares its file system, separate or not."""
    if not path or not section:
        return None
    path = path.rstrip("/") or "/"
    mounts = parse_mountinfo(section)
    mine = _mount_of(path, mounts)
    root = _mount_of("/", mounts)
    if mine is None or root is None:
        return None
    separate = mine["device"] != root["device"]
    at_path = (mine["mount_point"].rstrip("/") or "/") == path
    if separate:
        why = f"its own file system ({mine['fs_type']} {mine['source']}, {mine['device']})"
    elif at_path:
        why = f"a bind mount of {mine['root']} from the root file system ({mine['device']})"
    else:
        why = f"a folder of the root file system ({mine['device']}, mounted at /)"
    return {
        "separate": separate,
        "mount_point": mine["mount_point"],
        "device": mine["device"],
        "root": mine["root"],
        "fs_type": mine["fs_type"],
        "source": mine["source"],
        "root_device": root["device"],
        "why": why,
    }


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
            if key in ("Listen", "ListenStream"):
                current.setdefault("listens", []).append(value)
    return units


def socket_unit_tcp(units: dict[str, dict[str, Any]]) -> str | None:
    """A TCP address docker.socket listens on (``ListenStream=2375``, ``0.0.0.0:2376``,
    ``[::]:2375 (Stream)``): with ``-H fd://`` dockerd serves the API there too."""
    for value in units.get("docker.socket", {}).get("listens", []):
        address = value.split(" (")[0].strip()
        if address and not address.startswith(("/", "@")):
            return address
    return None


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
