"""Records inside probe sections (``<nonce>/KIND args`` lines): processes and the
configuration files the probe read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cisaudit.evidence import Section
from cisaudit.yamlsrc import safe_load_all


@dataclass
class Record:
    """One ``<nonce>/KIND args...`` line of a section and the lines after it."""

    kind: str
    args: list[str]
    lines: list[str] = field(default_factory=list)


def record_prefix(lines: list[str]) -> str | None:
    """The nonce prefix of a section's record lines: the first marker line gives it."""
    for line in lines:
        match = re.match(r"(\S+/)[A-Z]+(?: |$)", line)
        if match:
            return match.group(1)
    return None


def split_records(section: Section | None) -> list[Record]:
    """The records of a probe section. The first marker line gives the nonce prefix, so a
    file's content (which cannot know the nonce) never starts a record."""
    if section is None:
        return []
    lines = section.output.split("\n")
    prefix = record_prefix(lines)
    if prefix is None:
        return []
    records: list[Record] = []
    for line in lines:
        if line.startswith(prefix) and re.match(r"[A-Z]+( |$)", line[len(prefix) :]):
            kind, *args = line[len(prefix) :].split(" ")
            records.append(Record(kind, args))
        elif records:
            records[-1].lines.append(line)
    return records


@dataclass
class Process:
    component: str
    pid: int
    uid: int | None
    exe: str | None
    cwd: str | None
    argv: list[str]
    env: dict[str, str]
    env_readable: bool = True
    # Where the command line came from when it is not the process's own: K3s runs every
    # component in one process and logs each one's command line (journald or a log file).
    origin: str | None = None


@dataclass
class Distribution:
    """A distribution that lays a node out its own way (K3s, RKE2); None: kubeadm-like."""

    name: str | None = None
    pid: int | None = None
    problem: str | None = None  # e.g. K3s runs, but its components' command lines were not found


def parse_distribution(section: Section | None) -> Distribution:
    found = Distribution()
    for record in split_records(section):
        if record.kind == "DISTRO" and record.args:
            # K3s, which stands for every component, wins over an RKE2 supervisor
            if found.name != "k3s":
                pid = record.args[1] if len(record.args) > 1 else ""
                found.name, found.pid = record.args[0], int(pid) if pid.isdigit() else None
        elif record.kind == "NOLOG":
            found.problem = " ".join(record.args)
    return found


def parse_processes(section: Section | None) -> dict[str, Process]:
    """Each running component's process, from the ``k8s.processes`` section."""
    found: dict[str, Process] = {}
    current: Process | None = None
    for record in split_records(section):
        if record.kind == "PROC" and len(record.args) >= 2 and record.args[1].isdigit():
            uid = record.args[2] if len(record.args) > 2 else ""
            current = Process(
                record.args[0],
                int(record.args[1]),
                int(uid) if uid.isdigit() else None,
                None,
                None,
                [],
                {},
            )
            found[current.component] = current
        elif current is None:
            continue
        elif record.kind == "FROM":
            current.origin = " ".join(record.args) or None
        elif record.kind in ("EXE", "CWD"):
            value = " ".join(record.args) or None
            setattr(current, record.kind.lower(), value)
        elif record.kind == "ARGV":
            count = int(record.args[0]) if record.args and record.args[0].isdigit() else None
            current.argv = record.lines[:count] if count is not None else _trim(record.lines)
        elif record.kind == "ENV" and record.args == ["unreadable"]:
            current.env_readable = False
        elif record.kind == "ENV":
            for line in record.lines:
                name, eq, value = line.partition("=")
                if eq and name.startswith("ETCD_"):
                    current.env[name] = value
    return found


@dataclass
class ConfigFile:
    label: str
    path: str
    text: str | None  # None: missing or unreadable
    problem: str | None = None


def parse_configs(*sections: Section | None) -> list[ConfigFile]:
    """The configuration files and manifests the probe read (or could not), in order."""
    files: list[ConfigFile] = []
    for section in sections:
        for record in split_records(section):
            if record.kind not in ("FILE", "MISSING", "UNREADABLE") or len(record.args) < 2:
                continue
            label, path = record.args[0], " ".join(record.args[1:])
            if record.kind == "FILE":
                text = "\n".join(record.lines)
                files.append(ConfigFile(label, path, text[:-1] if text.endswith("\n") else text))
            else:
                problem = (
                    "it does not exist"
                    if record.kind == "MISSING"
                    else "the auditing user may not read it (audit as root)"
                )
                files.append(ConfigFile(label, path, None, problem))
    return files


def _trim(lines: list[str]) -> list[str]:
    while lines and lines[-1] == "":
        lines = lines[:-1]
    return lines


def _load_document(text: str) -> Any:
    """A YAML or JSON document (the first one of a stream)."""
    docs = [d for d in safe_load_all(text) if d is not None]
    return docs[0] if docs else {}
