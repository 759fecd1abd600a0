"""Ansible inventories as they are: variables (ansible_host, ProxyJump ...), YAML
(``all: {hosts:, children:, vars:}``) and INI (``[group]``, ``[group:vars]``)."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cisaudit.inventory.draft import (
    Settings,
    _Ctx,
    _did_you_mean,
    _Draft,
    _Group,
    _show,
    _Val,
)
from cisaudit.inventory.values import (
    _ANSIBLE_GROUP_KEYS,
    _CLUSTER_KEYS,
    _HOST_KEYS,
    _INI_SECTION,
    _check_keys,
    _check_name,
    _env_lookup,
    _is_password_key,
    _jump_spec,
    _password_error,
    _plain,
    _port,
    _setting,
    _text,
)
from cisaudit.targets import JumpHost
from cisaudit.yamlsrc import LineDict

_ANSIBLE_SETTINGS = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "key",
    "ansible_private_key_file": "key",
    "ansible_become": "become",
    "ansible_become_method": "become_method",
}
_ANSIBLE_SECRETS = {
    "ansible_password": "password_env",
    "ansible_ssh_pass": "password_env",
    "ansible_ssh_password": "password_env",
    "ansible_become_pass": "become_password_env",
    "ansible_become_password": "become_password_env",
    "ansible_sudo_pass": "become_password_env",
}
_ANSIBLE_SSH_ARGS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
_ANSIBLE_CONNECTIONS_SSH = ("ssh", "paramiko", "smart")
# cisaudit_<setting> selects any native setting from an Ansible inventory.
_CISAUDIT_VARS = tuple(
    dict.fromkeys(f"cisaudit_{k}" for k in (*_HOST_KEYS, *_CLUSTER_KEYS) if k != "vars")
)


def _ansible_vars(
    ctx: _Ctx, items: Iterable[tuple[Any, Any, int]], strict: bool
) -> tuple[Settings, Settings]:
    """Split Ansible variables into cisaudit settings and the rest (kept as Target.vars)."""
    settings: Settings = {}
    free: Settings = {}
    seen: dict[str, int] = {}

    def put(key: str, val: _Val) -> None:
        old = settings.get(key)
        if old is not None and old.value != val.value:
            ctx.fail(
                val.line,
                f"{val.label} disagrees with {old.label} (line {old.line})"
                f" about {key}: {_show(val.value)} vs {_show(old.value)}",
            )
        settings[key] = val

    for raw_key, value, line in items:
        key = str(raw_key)
        if key in seen:
            ctx.fail(line, f"{key} is given twice (first on line {seen[key]})")
        seen[key] = line
        cis_strict = strict and key.startswith("cisaudit_")
        if key in _ANSIBLE_SETTINGS:
            put(
                _ANSIBLE_SETTINGS[key],
                _setting(ctx, _ANSIBLE_SETTINGS[key], key, value, line, False),
            )
        elif key in _ANSIBLE_SECRETS:
            env = _env_lookup(value)
            if env is None:
                _password_error(ctx, line, key, value)
            put(_ANSIBLE_SECRETS[key], _Val(env, line, key))
        elif key in _ANSIBLE_SSH_ARGS:
            jumps, rest = _ssh_args(ctx, key, value, line)
            if jumps:
                put("jump", _Val(jumps, line, key))
            if rest:  # the options cisaudit does not use, verbatim when nothing was taken
                free[key] = _Val(rest if jumps else value, line, key)
        elif key == "ansible_connection":
            kind = _connection_kind(ctx, value, line)
            if kind:
                put("kind", _Val(kind, line, key))
        elif key in _CISAUDIT_VARS:
            name = key.removeprefix("cisaudit_")
            put(name, _setting(ctx, name, key, value, line, cis_strict))
        elif key.startswith("cisaudit_"):
            ctx.fail(
                line,
                f"unknown variable {key!r}{_did_you_mean(key, _CISAUDIT_VARS)};"
                f" cisaudit_ variables are {', '.join(_CISAUDIT_VARS)}",
            )
        elif _is_password_key(key) and _env_lookup(value) is None:
            _password_error(ctx, line, key, value)
        else:
            free[key] = _Val(_plain(value), line, key)
    return settings, free


def _connection_kind(ctx: _Ctx, value: Any, line: int) -> str | None:
    text = _text(ctx, "ansible_connection", value, line)
    if text == "local":
        return "local"
    if text in _ANSIBLE_CONNECTIONS_SSH:
        return None
    ctx.fail(
        line,
        f"ansible_connection={text} cannot be audited: cisaudit reaches hosts over"
        " SSH (ssh, paramiko, smart) or locally (local)",
    )


def _ssh_args(ctx: _Ctx, label: str, value: Any, line: int) -> tuple[tuple[JumpHost, ...], str]:
    """Jump hosts from ``-J``/``-o ProxyJump``/``-o ProxyCommand``; the other args verbatim."""
    tokens = _split(ctx, label, _text(ctx, label, value, line), line)
    jumps: list[JumpHost] = []
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("-J", "-o") and i + 1 < len(tokens):
            flag, arg, i = token, tokens[i + 1], i + 2
        elif token[:2] in ("-J", "-o") and len(token) > 2:
            flag, arg, i = token[:2], token[2:], i + 1
        else:
            rest.append(token)
            i += 1
            continue
        option = re.fullmatch(r"\s*(\w+)\s*(?:=|\s)\s*(.*)", arg, re.S)
        if flag == "-J":
            jumps.extend(_proxy_jump(ctx, label, arg, line))
        elif option and option[1].lower() == "proxyjump":
            jumps.extend(_proxy_jump(ctx, label, option[2], line))
        elif option and option[1].lower() == "proxycommand":
            jumps.extend(_proxy_command(ctx, label, option[2], line))
        else:
            rest += [flag, arg]
    return tuple(jumps), shlex.join(rest)


def _split(ctx: _Ctx, label: str, text: str, line: int) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        ctx.fail(line, f"{label} cannot be split into arguments ({exc}); check the quotes")


def _proxy_jump(ctx: _Ctx, label: str, text: str, line: int) -> list[JumpHost]:
    if text.strip().lower() == "none":
        return []
    return [_jump_spec(ctx, f"{label} ProxyJump", part, line) for part in text.split(",")]


_SSH_OPTIONS_WITH_ARGUMENT = set("BbcDEeFIiJLlmOopQRSWw")


def _proxy_command(ctx: _Ctx, label: str, text: str, line: int) -> list[JumpHost]:
    """Understand ``ssh [-p PORT] [-i KEY] [-l USER] [-J ...] -W %h:%p [user@]host``."""
    argv = _split(ctx, label, text, line)
    hops: list[JumpHost] = []
    options: dict[str, str] = {}
    dest: str | None = None
    i = 1
    while i < len(argv):
        token = argv[i]
        if token.startswith("-") and len(token) > 1 and token[1] in _SSH_OPTIONS_WITH_ARGUMENT:
            if len(token) > 2:
                arg, i = token[2:], i + 1
            elif i + 1 < len(argv):
                arg, i = argv[i + 1], i + 2
            else:
                break
            if token[1] == "J":
                hops.extend(_proxy_jump(ctx, label, arg, line))
            options[token[1]] = arg
            continue
        if not token.startswith("-") and dest is None:
            dest = token
        i += 1
    if not argv or Path(argv[0]).name != "ssh" or options.get("W") != "%h:%p" or dest is None:
        ctx.fail(
            line,
            f"{label}: ProxyCommand {text!r} is not understood; cisaudit reads only"
            " `ssh -W %h:%p [-p PORT] [-i KEY] [user@]host`: use ProxyJump"
            " (-J user@host:port) instead",
        )
    hop = _jump_spec(ctx, f"{label} ProxyCommand", dest, line)
    hops.append(
        JumpHost(
            address=hop.address,
            port=_port(ctx, f"{label} ProxyCommand -p", options["p"], line)
            if "p" in options
            else hop.port,
            user=hop.user or options.get("l"),
            key=os.path.expanduser(options["i"]) if "i" in options else None,
        )
    )
    return hops


_RANGE = re.compile(r"\[([A-Za-z0-9]+):([A-Za-z0-9]+)(?::(\d+))?\]")


def _expand_ranges(ctx: _Ctx, pattern: str, line: int) -> list[str]:
    """``web[01:03]`` -> web01, web02, web03; ``[a:c]`` letters; ``[1:9:2]`` with a step."""
    match = _RANGE.search(pattern)
    if not match:
        return [_check_name(ctx, pattern, line, "host")]
    start, end, step = match[1], match[2], int(match[3] or 1)
    if start.isdigit() and end.isdigit() and step:
        width = len(start) if start.startswith("0") else 1
        values = [str(n).zfill(width) for n in range(int(start), int(end) + 1, step)]
    elif len(start) == len(end) == 1 and start.isalpha() and end.isalpha() and step:
        values = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    else:
        ctx.fail(line, f"host range {match[0]!r} is not understood: use [01:10], [a:f] or [1:9:2]")
    if not values:
        ctx.fail(line, f"host range {match[0]!r} is empty: its start is after its end")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [head + v + t for v in values for t in _expand_ranges(ctx, tail, line)]


def _group_vars(draft: _Draft, grp: _Group, items: list[tuple[Any, Any, int]]) -> None:
    ctx = draft.ctx
    rest = []
    for key, value, line in items:
        if key == "ansible_group_priority":
            if ctx.lenient and isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                ctx.fail(line, f"{key} must be a whole number, not {_show(value)}")
            grp.priority = value
        else:
            rest.append((key, value, line))
    draft.add_vars(grp, "group", *_ansible_vars(ctx, rest, strict=False))


# ------------------------------------------------------------------ Ansible YAML


def _parse_ansible_yaml(ctx: _Ctx, doc: LineDict) -> _Draft:
    draft = _Draft(ctx)
    draft.group("all", doc.line)
    for key, body in doc.items():
        line = doc.line_of(key)
        name = _check_name(ctx, key, line, "group")
        _ansible_group(draft, name, body, line, parent=None if name == "all" else "all")
    return draft


def _ansible_group(draft: _Draft, name: str, body: Any, line: int, parent: str | None) -> None:
    ctx = draft.ctx
    grp = draft.group(name, line)
    if parent is not None:
        draft.groups[parent].children.append((name, line))
    if body is None:
        return
    if not isinstance(body, LineDict):
        ctx.fail(
            line, f"group {name!r} must be a mapping of hosts, vars and children, not {_show(body)}"
        )
    _check_keys(ctx, body, _ANSIBLE_GROUP_KEYS, f"group {name!r}")
    for pattern, host_vars, host_line in _mapping_items(ctx, body, "hosts", f"group {name!r}"):
        items = _var_items(ctx, host_vars, host_line, f"host {pattern!r}")
        settings, free = _ansible_vars(ctx, items, strict=True)
        for host in _expand_ranges(ctx, str(pattern), host_line):
            draft.host(host, host_line, settings, free)
            grp.hosts.append((host, host_line))
    if body.get("vars") is not None:
        _group_vars(draft, grp, _var_items(ctx, body["vars"], body.line_of("vars"), "group vars"))
    for child, child_body, child_line in _mapping_items(ctx, body, "children", f"group {name!r}"):
        child_name = _check_name(ctx, child, child_line, "group")
        _ansible_group(draft, child_name, child_body, child_line, parent=name)


def _mapping_items(
    ctx: _Ctx, body: LineDict, key: str, where: str
) -> Iterator[tuple[Any, Any, int]]:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, LineDict):
        ctx.fail(
            body.line_of(key),
            f"{key} of {where} must be a mapping of names"
            f" (name: or name: {{...}}), not {_show(value)}",
        )
    for item_key, item in value.items():
        yield item_key, item, value.line_of(item_key)


def _var_items(ctx: _Ctx, value: Any, line: int, what: str) -> list[tuple[Any, Any, int]]:
    if value is None:
        return []
    if not isinstance(value, LineDict):
        ctx.fail(line, f"variables of {what} must be a mapping, not {_show(value)}")
    return [(k, v, value.line_of(k)) for k, v in value.items()]


# ------------------------------------------------------------------ Ansible INI

_INI_GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _parse_ini(ctx: _Ctx, text: str) -> _Draft:
    draft = _Draft(ctx)
    grp = draft.group("all", 1)
    mode = "hosts"  # hosts before any section belong to no group but "all"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            grp, mode = _ini_section(draft, line, number)
        elif mode == "hosts":
            _ini_host(draft, grp, line, number)
        elif mode == "vars":
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                ctx.fail(number, f"expected key=value in [{grp.name}:vars], found {line!r}")
            _group_vars(draft, grp, [(key.strip(), _unquote(value.strip()), number)])
        else:
            words = _ini_words(ctx, line, number)
            if len(words) != 1:
                ctx.fail(number, f"[{grp.name}:children] lists one group per line, found {line!r}")
            grp.children.append((_ini_group_name(ctx, words[0], number), number))
    return draft


def _ini_section(draft: _Draft, line: str, number: int) -> tuple[_Group, str]:
    ctx = draft.ctx
    match = _INI_SECTION.fullmatch(line)
    if not match:
        ctx.fail(
            number,
            f"section header {line!r} is not closed: write [group],"
            " [group:vars] or [group:children]",
        )
    name, _, suffix = match[1].strip().partition(":")
    if suffix not in ("", "vars", "children"):
        hint = _did_you_mean(suffix, ("vars", "children"))
        ctx.fail(
            number,
            f"unknown section kind ':{suffix}'{hint}; use [group], [group:vars]"
            " or [group:children]",
        )
    grp = draft.group(_ini_group_name(ctx, name, number), number)
    if grp.name != "all":
        draft.groups["all"].children.append((grp.name, number))
    return grp, suffix or "hosts"


def _ini_group_name(ctx: _Ctx, name: str, number: int) -> str:
    if not _INI_GROUP_NAME.fullmatch(name):
        ctx.fail(number, f"group name {name!r} is not valid: use letters, digits, '_', '.', '-'")
    return name


def _ini_words(ctx: _Ctx, line: str, number: int) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        ctx.fail(number, f"cannot split this line ({exc}); check the quotes")


def _ini_host(draft: _Draft, grp: _Group, line: str, number: int) -> None:
    ctx = draft.ctx
    words = _ini_words(ctx, line, number)
    if not words:
        return
    items = []
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq or not key:
            ctx.fail(number, f"expected key=value after the host name, found {word!r}")
        items.append((key, value, number))
    settings, free = _ansible_vars(ctx, items, strict=True)
    for pattern in _expand_ranges(ctx, words[0], number):
        name, port = _split_host_port(pattern)
        host_settings = dict(settings)
        if port:
            host_settings["port"] = _setting(ctx, "port", f"port of {pattern}", port, number, True)
        draft.host(name, number, host_settings, free)
        grp.hosts.append((name, number))


def _split_host_port(pattern: str) -> tuple[str, str | None]:
    """``host:2222`` is a host with a port; an IPv6 address keeps its colons."""
    name, colon, port = pattern.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        return name, port
    return pattern, None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
