"""dockerd's effective options: its command line merged over daemon.json."""

from __future__ import annotations

import json
from typing import Any

from cisaudit.evidence import Section
from cisaudit.kinds.docker.derive.common import (
    BOOL_FLAGS,
    DEFAULT_SOCK,
    FLAG_TO_KEY,
    LIST_KEYS,
    _ok,
    _why,
)


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
