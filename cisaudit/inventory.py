"""Inventories: the targets to audit and how to reach them.

Three formats load into one list of :class:`~cisaudit.targets.Target`:

* native cisaudit YAML (``defaults``, ``hosts``, ``groups``, ``clusters``);
* Ansible YAML (``all: {hosts:, children:, vars:}``);
* Ansible INI (``[group]``, ``[group:vars]``, ``[group:children]``).

Each parser turns its file into the same draft: hosts and groups with the settings
written on them, every value remembering its line. One resolver then checks the
references, applies inheritance and builds the targets, so the rules (and the error
messages) are the same whatever the format. ``docs/inventory.md`` is the user's guide.

Values are data, never shell: they are kept verbatim and the transport quotes them.
Secrets are never kept: only the names of the environment variables that hold them.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from cisaudit import yamlsrc
from cisaudit.targets import NODE_ROLES, JumpHost, Target
from cisaudit.yamlsrc import LineDict, LineList, SourceError

__all__ = ["Inventory", "InventoryError", "load_inventory"]

NATIVE, ANSIBLE_YAML, ANSIBLE_INI = "native", "ansible-yaml", "ansible-ini"


class InventoryError(SourceError):
    """A problem in an inventory file, or a limit that matches nothing."""


@dataclass
class Inventory:
    """The loaded inventory: targets in file order and groups of target names."""

    path: str
    format: str  # NATIVE, ANSIBLE_YAML or ANSIBLE_INI
    targets: list[Target]
    groups: dict[str, list[str]]  # children flattened; "all" holds every target

    def select(self, limit: Sequence[str] | None = None) -> list[Target]:
        """Targets named by ``limit``, in inventory order.

        Each item is a target name, a group name or a glob (``web-*``) over both;
        items may also be comma-separated, and ``!pattern`` excludes. ``None`` or an
        empty list selects everything. A pattern that matches nothing is an error,
        because a typo in a limit must not shrink an audit silently.
        """
        patterns = [p.strip() for item in limit or () for p in item.split(",") if p.strip()]
        chosen: set[str] = set()
        dropped: set[str] = set()
        for pattern in patterns:
            exclude = pattern.startswith("!")
            names = self._match(pattern[1:] if exclude else pattern)
            (dropped if exclude else chosen).update(names)
        if not any(not p.startswith("!") for p in patterns):
            chosen = {t.name for t in self.targets}
        return [t for t in self.targets if t.name in chosen and t.name not in dropped]

    def _match(self, pattern: str) -> set[str]:
        if pattern in self.groups:
            return set(self.groups[pattern])
        known = [t.name for t in self.targets]
        if pattern in known:
            return {pattern}
        found: set[str] = set()
        if any(c in pattern for c in "*?["):
            found.update(n for n in known if fnmatch.fnmatchcase(n, pattern))
            for group, members in self.groups.items():
                if fnmatch.fnmatchcase(group, pattern):
                    found.update(members)
        if found:
            return found
        everything = known + [g for g in self.groups if g not in known]
        shown = ", ".join(everything[:40])
        if len(everything) > 40:
            shown += f", ... ({len(everything) - 40} more)"
        raise InventoryError(
            self.path,
            None,
            f"limit {pattern!r} matches no target or group{_did_you_mean(pattern, everything)};"
            f" known targets and groups: {shown}",
        )


def load_inventory(path: str | os.PathLike[str], *, check_files: bool = True) -> Inventory:
    """Load a native, Ansible YAML or Ansible INI inventory file.

    The format is chosen by extension (``.ini``/``.cfg`` are INI, ``.yml``/``.yaml``/
    ``.json`` are YAML) or, without one, by the first meaningful line; a YAML file is
    Ansible's when it has ``all:`` or a top-level group with ``hosts``/``children``/
    ``vars``. Every problem raises :class:`InventoryError` naming the file and line.

    ``check_files``: SSH private keys named in the inventory must exist and be readable
    by their owner only (OpenSSH refuses others too); off when the inventory is only
    being read, not used to connect (on another machine than the keys, say).
    """
    name = str(path)
    text = _read(name)
    if _looks_like_ini(Path(name), text):
        draft = _parse_ini(_Ctx(name, ANSIBLE_INI, text.splitlines(), check_files), text)
    else:
        doc = _load_yaml(text, name)
        if doc is None:
            raise InventoryError(name, None, "the inventory is empty: it defines no targets")
        if not isinstance(doc, LineDict):
            raise InventoryError(
                name,
                yamlsrc.line_of(doc) or 1,
                "an inventory must be a mapping (hosts:, groups:, ... or Ansible's all:)",
            )
        fmt = ANSIBLE_YAML if _is_ansible_yaml(doc) else NATIVE
        ctx = _Ctx(name, fmt, text.splitlines(), check_files)
        _reject_passwords(ctx, doc)
        draft = _parse_ansible_yaml(ctx, doc) if fmt == ANSIBLE_YAML else _parse_native(ctx, doc)
    return _resolve(draft)


# --------------------------------------------------------------------------- draft


@dataclass(frozen=True)
class _Ctx:
    path: str
    fmt: str
    lines: list[str]
    check_files: bool = True

    @property
    def lenient(self) -> bool:
        """Ansible files hold strings ("22", "yes") where native YAML holds types."""
        return self.fmt != NATIVE

    def fail(self, line: int | None, message: str) -> NoReturn:
        raise InventoryError(self.path, line, message)


@dataclass(frozen=True)
class _Val:
    """One setting as written: its value (already checked), where, and under what name."""

    value: Any
    line: int
    label: str
    strict: bool = False  # written on the host itself: must apply to the host's kind


@dataclass
class _Node:
    name: str
    line: int
    settings: dict[str, _Val] = field(default_factory=dict)
    free: dict[str, _Val] = field(default_factory=dict)  # user variables -> Target.vars


@dataclass
class _Group(_Node):
    hosts: list[tuple[str, int]] = field(default_factory=list)
    children: list[tuple[str, int]] = field(default_factory=list)
    priority: int = 1  # ansible_group_priority: breaks ties between groups of one depth


Settings = dict[str, _Val]


@dataclass
class _Draft:
    ctx: _Ctx
    hosts: dict[str, _Node] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)

    def host(self, name: str, line: int, settings: Settings, free: Settings) -> _Node:
        """Define a host, or add to its definition: a key given twice must agree."""
        node = self.hosts.get(name)
        if node is None:
            node = self.hosts[name] = _Node(name, line)
        node.line = min(node.line, line)
        self.add_vars(node, "host", settings, free)
        return node

    def group(self, name: str, line: int) -> _Group:
        grp = self.groups.get(name)
        if grp is None:
            grp = self.groups[name] = _Group(name, line)
        return grp

    def add_vars(self, node: _Node, what: str, settings: Settings, free: Settings) -> None:
        for mine, new in ((node.settings, settings), (node.free, free)):
            for key, val in new.items():
                old = mine.get(key)
                if old is not None and old.value != val.value:
                    self.ctx.fail(
                        val.line,
                        f"{what} {node.name!r} is defined again with {val.label} = "
                        f"{_show(val.value)} but line {old.line} gives {old.label} = "
                        f"{_show(old.value)}; give each value once",
                    )
                mine.setdefault(key, val)


# ------------------------------------------------------------------ setting values

# Everything a native host accepts; the same names are the Target fields.
_HOST_KEYS = (
    "address",
    "port",
    "user",
    "key",
    "kind",
    "roles",
    "password_env",
    "become",
    "become_method",
    "become_password_env",
    "jump",
    "known_hosts",
    "connect_timeout",
    "command_timeout",
    "path",
    "vars",
)
_INHERITED_KEYS = tuple(k for k in _HOST_KEYS if k not in ("address", "path"))
_CLUSTER_KEYS = (
    "kubeconfig",
    "context",
    "in_cluster",
    "path",
    "managed",
    "page_size",
    "dump_complete",
    "connect_timeout",
    "command_timeout",
    "vars",  # stays last: _APPLIES takes the others
)
# Cluster settings that older inventories gave under `vars:`; still read from there.
_CLUSTER_VARS = ("managed", "page_size", "dump_complete")
_API_ONLY, _OFFLINE_ONLY = ("page_size",), ("dump_complete",)
_SSH = (
    "kind",
    "address",
    "port",
    "user",
    "key",
    "password_env",
    "become",
    "become_method",
    "become_password_env",
    "jump",
    "known_hosts",
    "connect_timeout",
    "command_timeout",
)
# Which settings mean something for each kind. Inherited settings that do not apply
# are skipped (a group may mix kinds); one written on the host itself is an error.
_APPLIES: dict[str, frozenset[str]] = {
    "docker-host": frozenset(_SSH),
    "k8s-node": frozenset((*_SSH, "roles")),
    "local": frozenset(
        ("kind", "become", "become_method", "become_password_env", "command_timeout")
    ),
    "bundle": frozenset(("kind", "path")),
    "k8s-cluster": frozenset(("kind", *_CLUSTER_KEYS[:-1])),
}
_BECOME_METHODS = ("sudo", "su", "doas")
_ROLE_ALIASES = {"master": "control-plane", "node": "worker"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_ADDRESS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _text(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    if ctx.lenient and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        ctx.fail(line, f"{label} must be a non-empty string, not {_show(value)}")
    if ctx.lenient and "{{" in value:
        ctx.fail(
            line,
            f"{label} is a template ({value!r}); cisaudit does not evaluate Jinja:"
            " write the value itself",
        )
    return value


def _address(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    text = _text(ctx, label, value, line)
    if _is_ip(text) or _ADDRESS.fullmatch(text):
        return text
    hint = ""
    if "@" in text:
        hint = "; give the user separately (user / ansible_user)"
    elif ":" in text:
        hint = "; give the port separately (port / ansible_port)"
    ctx.fail(line, f"{label} {text!r} is not a host name or IP address{hint}")


def _port(ctx: _Ctx, label: str, value: Any, line: int) -> int:
    if ctx.lenient and isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(line, f"{label} must be a whole number from 1 to 65535, not {_show(value)}")
    if not 1 <= value <= 65535:
        ctx.fail(line, f"{label} {value} is out of range: ports run from 1 to 65535")
    return value


def _bool(ctx: _Ctx, label: str, value: Any, line: int) -> bool:
    if ctx.lenient and isinstance(value, str | int) and not isinstance(value, bool):
        word = str(value).strip().lower()
        if word in ("yes", "true", "on", "1"):
            return True
        if word in ("no", "false", "off", "0"):
            return False
    if not isinstance(value, bool):
        ctx.fail(line, f"{label} must be true or false, not {_show(value)}")
    return value


def _seconds(ctx: _Ctx, label: str, value: Any, line: int) -> float:
    if ctx.lenient and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        ctx.fail(line, f"{label} must be a number of seconds above 0, not {_show(value)}")
    return float(value)


def _page_size(ctx: _Ctx, label: str, value: Any, line: int) -> int:
    if ctx.lenient and isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        ctx.fail(line, f"{label} must be a whole number of objects, 1 or more, not {_show(value)}")
    return value


def _path(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    # Only ~ is expanded; relative paths stay relative to the working directory, as
    # they are for ssh and Ansible.
    return os.path.expanduser(_text(ctx, label, value, line))


def _env_name(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    text = _text(ctx, label, value, line)
    if not _ENV_NAME.fullmatch(text):
        ctx.fail(
            line, f"{label} must name an environment variable (letters, digits, _), not {text!r}"
        )
    return text


def _kind(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    text = _text(ctx, label, value, line)
    kinds = [k for k in _APPLIES if ctx.fmt != NATIVE or k != "k8s-cluster"]
    if text == "k8s-cluster" and ctx.fmt == NATIVE:
        ctx.fail(line, "kind k8s-cluster is not a host: define clusters under `clusters:`")
    if text not in kinds:
        ctx.fail(
            line, f"unknown kind {text!r}{_did_you_mean(text, kinds)}; kinds are {', '.join(kinds)}"
        )
    return text


def _roles(ctx: _Ctx, label: str, value: Any, line: int) -> tuple[str, ...]:
    if ctx.lenient and isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        ctx.fail(line, f"{label} must be a list of node roles ({', '.join(NODE_ROLES)})")
    roles: list[str] = []
    for item in value:
        role = _ROLE_ALIASES.get(item, item) if isinstance(item, str) else item
        if role not in NODE_ROLES:
            ctx.fail(
                line,
                f"{_show(item)} is not a node role{_did_you_mean(str(item), NODE_ROLES)};"
                f" roles are {', '.join(NODE_ROLES)}",
            )
        if role not in roles:
            roles.append(role)
    return tuple(roles)


def _become_method(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    text = _text(ctx, label, value, line)
    if text not in _BECOME_METHODS:
        ctx.fail(
            line, f"{label} {text!r} is not supported; use one of {', '.join(_BECOME_METHODS)}"
        )
    return text


def _jump(ctx: _Ctx, label: str, value: Any, line: int) -> tuple[JumpHost, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        ctx.fail(line, f"{label} is an empty list; leave it out for a direct connection")
    return tuple(_jump_host(ctx, label, item, line) for item in items)


def _jump_host(ctx: _Ctx, label: str, item: Any, line: int) -> JumpHost:
    if isinstance(item, str):
        return _jump_spec(ctx, label, item, line)
    if not isinstance(item, LineDict):
        ctx.fail(
            line,
            f'{label} must be "user@host:port", a mapping of address/port/user/key,'
            f" or a list of them, not {_show(item)}",
        )
    _check_keys(ctx, item, ("address", "port", "user", "key"), "a jump host")
    if "address" not in item:
        ctx.fail(item.line, "a jump host needs an address")
    at = item.line_of
    return JumpHost(
        address=_address(ctx, "jump address", item["address"], at("address")),
        port=_port(ctx, "jump port", item["port"], at("port")) if "port" in item else 22,
        user=_text(ctx, "jump user", item["user"], at("user")) if "user" in item else None,
        key=_path(ctx, "jump key", item["key"], at("key")) if "key" in item else None,
    )


def _jump_spec(ctx: _Ctx, label: str, spec: str, line: int) -> JumpHost:
    """Parse ``[ssh://][user@]host[:port]`` (``[v6]:port`` for IPv6)."""
    user, at, rest = spec.strip().removeprefix("ssh://").rpartition("@")
    if at and not user:
        ctx.fail(line, f"{label} {spec!r} has an empty user before '@'")
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host, port_text = rest, ""
    if port_text and not port_text.isdigit():
        ctx.fail(line, f"{label} {spec!r}: port {port_text!r} is not a number")
    return JumpHost(
        address=_address(ctx, f"{label} host", host, line),
        port=_port(ctx, f"{label} port", int(port_text), line) if port_text else 22,
        user=user or None,
    )


_Converter = Callable[[_Ctx, str, Any, int], Any]
_CONVERT: dict[str, _Converter] = {
    "address": _address,
    "port": _port,
    "user": _text,
    "key": _path,
    "kind": _kind,
    "roles": _roles,
    "password_env": _env_name,
    "become": _bool,
    "become_method": _become_method,
    "become_password_env": _env_name,
    "jump": _jump,
    "known_hosts": _path,
    "connect_timeout": _seconds,
    "command_timeout": _seconds,
    "path": _path,
    "kubeconfig": _path,
    "context": _text,
    "in_cluster": _bool,
    "managed": _bool,
    "page_size": _page_size,
    "dump_complete": _bool,
}


def _setting(ctx: _Ctx, key: str, label: str, value: Any, line: int, strict: bool) -> _Val:
    return _Val(_CONVERT[key](ctx, label, value, line), line, label, strict)


# ------------------------------------------------------------------ shared checks


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(ctx: _Ctx, mapping: LineDict, allowed: Sequence[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            hint = _did_you_mean(str(key), allowed) or f"; valid keys: {', '.join(allowed)}"
            ctx.fail(mapping.line_of(key), f"unknown key {key!r} in {where}{hint}")


def _check_name(ctx: _Ctx, name: Any, line: int, what: str) -> str:
    text = str(name) if isinstance(name, str | int) and not isinstance(name, bool) else ""
    if not text or any(c.isspace() or c in ",*?" for c in text) or text.startswith("!"):
        ctx.fail(
            line,
            f"{what} name {name!r} is not usable: names are non-empty and hold no"
            " spaces, commas, '*', '?' or leading '!'",
        )
    return text


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_host_name(text: str) -> bool:
    """An IP address or an RFC 1123 host name (letters, digits, '-', dot-separated)."""
    if _is_ip(text):
        return True
    labels = text.removesuffix(".").split(".")
    return (
        len(text) <= 253
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


_PASSWORD_KEYS = {
    "password",
    "ssh_pass",
    "ssh_password",
    "become_pass",
    "become_password",
    "sudo_pass",
    "sudo_password",
    "su_pass",
    "su_password",
}
_ENV_LOOKUP = re.compile(
    r"\{\{\s*lookup\(\s*['\"](?:ansible\.builtin\.)?env['\"]\s*,\s*"
    r"['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\)\s*\}\}"
)


def _is_password_key(key: Any) -> bool:
    return str(key).lower().removeprefix("ansible_") in _PASSWORD_KEYS


def _env_lookup(value: Any) -> str | None:
    """NAME from ``{{ lookup('env', 'NAME') }}``, the one template cisaudit understands."""
    match = _ENV_LOOKUP.fullmatch(value.strip()) if isinstance(value, str) else None
    return match[1] if match else None


def _password_error(ctx: _Ctx, line: int, key: str, value: Any) -> NoReturn:
    if ctx.fmt != NATIVE and isinstance(value, str) and "{{" in value:
        ctx.fail(
            line,
            f"{key} is a template cisaudit cannot evaluate; the one template it reads for"
            f" a secret is {key}: \"{{{{ lookup('env', 'NAME') }}}}\", with the secret in"
            " the environment variable NAME",
        )
    if ctx.fmt == NATIVE:
        fix = (
            "put it in an environment variable and name that variable with `password_env:`"
            " (or `become_password_env:` for sudo)"
        )
    else:
        fix = (
            f"put it in an environment variable NAME and write"
            f" {key}: \"{{{{ lookup('env', 'NAME') }}}}\" (cisaudit reads NAME when it runs)"
        )
    ctx.fail(
        line, f"clear-text password in {key!r}: passwords do not belong in an inventory; {fix}"
    )


def _reject_passwords(ctx: _Ctx, value: Any) -> None:
    """Refuse a password key anywhere in a YAML inventory, however deeply nested."""
    if isinstance(value, LineDict):
        for key, item in value.items():
            if _is_password_key(key) and (ctx.fmt == NATIVE or _env_lookup(item) is None):
                _password_error(ctx, value.line_of(key), str(key), item)
            _reject_passwords(ctx, item)
    elif isinstance(value, list):
        for item in value:
            _reject_passwords(ctx, item)


def _plain(value: Any) -> Any:
    """Loader containers back to plain dicts and lists for Target.vars."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------ reading files


def _read(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(name, None, "inventory file not found") from None
    except UnicodeDecodeError as exc:
        raise InventoryError(name, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise InventoryError(name, None, exc.strerror or str(exc)) from None


def _load_yaml(text: str, name: str) -> Any:
    try:
        return yamlsrc.load_text(text, name)
    except SourceError as exc:
        message = exc.message
        if "!vault" in message:
            message = (
                "Ansible Vault values cannot be read by cisaudit; keep the secret in an"
                " environment variable and write \"{{ lookup('env', 'NAME') }}\""
            )
        raise InventoryError(exc.path, exc.line, message) from None


_INI_SECTION = re.compile(r"\[([^\]]*)\]\s*(?:[#;].*)?")
_YAML_START = re.compile(r"---|\{|-\s|[^\s#;\[][^=]*?:(\s|$)")


def _looks_like_ini(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".ini", ".cfg"):
        return True
    if suffix in (".yml", ".yaml", ".json"):
        return False
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";")):
            return not _YAML_START.match(line)
    return False


_ANSIBLE_GROUP_KEYS = ("hosts", "vars", "children")
_NATIVE_TOP_KEYS = ("defaults", "hosts", "groups", "clusters")


def _is_ansible_yaml(doc: LineDict) -> bool:
    if "all" in doc:
        return True
    return any(
        key not in _NATIVE_TOP_KEYS
        and isinstance(body, dict)
        and any(k in body for k in _ANSIBLE_GROUP_KEYS)
        for key, body in doc.items()
    )


# ------------------------------------------------------------------ native YAML


def _parse_native(ctx: _Ctx, doc: LineDict) -> _Draft:
    _check_keys(ctx, doc, _NATIVE_TOP_KEYS, "the inventory (top level)")
    draft = _Draft(ctx)
    root = draft.group("all", doc.line)
    if doc.get("defaults") is not None:
        defaults = _native_body(ctx, doc["defaults"], doc.line_of("defaults"), "defaults")
        _check_keys(ctx, defaults, _INHERITED_KEYS, "defaults")
        draft.add_vars(root, "defaults", *_native_settings(ctx, defaults, strict=False))
    for name, body, line in _native_entries(ctx, doc, "hosts", "host"):
        _check_keys(ctx, body, _HOST_KEYS, f"host {name!r}")
        draft.host(name, line, *_native_settings(ctx, body, strict=True))
    for name, body, line in _native_entries(ctx, doc, "clusters", "cluster"):
        if name in draft.hosts:
            ctx.fail(line, f"{name!r} is both a host (line {draft.hosts[name].line}) and a cluster")
        _check_keys(ctx, body, _CLUSTER_KEYS, f"cluster {name!r}")
        settings, free = _native_settings(ctx, body, strict=True)
        _cluster_vars(ctx, name, settings, free)
        settings["kind"] = _Val("k8s-cluster", line, "kind", strict=True)
        draft.host(name, line, settings, free)
    for name, body, line in _native_entries(ctx, doc, "groups", "group"):
        if name == "all":
            ctx.fail(
                line,
                "'all' is the group of every target and cannot be defined;"
                " put settings for every target under `defaults:`",
            )
        _native_group(draft, draft.group(name, line), body)
    return draft


def _cluster_vars(ctx: _Ctx, name: str, settings: Settings, free: Settings) -> None:
    """``vars: {managed: true}`` (the spelling before these keys existed) is checked like
    ``managed: true``; both with different values is an error. The variable stays in
    ``vars`` too, for whoever reads it there."""
    for key in _CLUSTER_VARS:
        old = free.get(key)
        if old is None:
            continue
        val = _setting(ctx, key, f"vars.{key}", old.value, old.line, strict=True)
        given = settings.get(key)
        if given is None:
            settings[key] = val
        elif given.value != val.value:
            ctx.fail(
                val.line,
                f"cluster {name!r} gives {key} = {_show(given.value)} (line {given.line})"
                f" and vars.{key} = {_show(val.value)}; give it once, as `{key}:`",
            )


def _native_body(ctx: _Ctx, body: Any, line: int, what: str) -> LineDict:
    if body is None:
        empty = LineDict()
        empty.line, empty.key_lines = line, {}
        return empty
    if not isinstance(body, LineDict):
        ctx.fail(line, f"{what} must be a mapping of settings, not {_show(body)}")
    return body


def _native_entries(
    ctx: _Ctx, doc: LineDict, section: str, what: str
) -> Iterator[tuple[str, LineDict, int]]:
    entries = doc.get(section)
    if entries is None:
        return
    if not isinstance(entries, LineDict):
        ctx.fail(
            doc.line_of(section),
            f"`{section}:` must be a mapping of {what} names, not {_show(entries)}",
        )
    for key, body in entries.items():
        line = entries.line_of(key)
        name = _check_name(ctx, key, line, what)
        yield name, _native_body(ctx, body, line, f"{what} {name!r}"), line


def _native_settings(ctx: _Ctx, body: LineDict, strict: bool) -> tuple[Settings, Settings]:
    settings: Settings = {}
    free: Settings = {}
    for key, value in body.items():
        line = body.line_of(key)
        if key != "vars":
            settings[key] = _setting(ctx, key, key, value, line, strict)
            continue
        if not isinstance(value, LineDict):
            ctx.fail(line, f"vars must be a mapping of name -> value, not {_show(value)}")
        for var, item in value.items():
            free[str(var)] = _Val(_plain(item), value.line_of(var), str(var))
    return settings, free


def _native_group(draft: _Draft, grp: _Group, body: LineDict) -> None:
    ctx = draft.ctx
    _check_keys(ctx, body, ("hosts", "children", "vars"), f"group {grp.name!r}")
    hosts = body.get("hosts")
    if isinstance(hosts, LineDict):  # mapping form: host -> its own settings
        for key, sub in hosts.items():
            line = hosts.line_of(key)
            name = _check_name(ctx, key, line, "host")
            sub = _native_body(ctx, sub, line, f"host {name!r}")
            _check_keys(ctx, sub, _HOST_KEYS, f"host {name!r}")
            draft.host(name, line, *_native_settings(ctx, sub, strict=True))
            grp.hosts.append((name, line))
    elif hosts is not None:
        grp.hosts.extend(_name_list(ctx, hosts, body.line_of("hosts"), "hosts", "host"))
    if body.get("children") is not None:
        line = body.line_of("children")
        grp.children.extend(_name_list(ctx, body["children"], line, "children", "group"))
    if body.get("vars") is not None:
        group_vars = _native_body(ctx, body["vars"], body.line_of("vars"), "group vars")
        _check_keys(ctx, group_vars, _INHERITED_KEYS, f"vars of group {grp.name!r}")
        draft.add_vars(grp, "group", *_native_settings(ctx, group_vars, strict=False))


def _name_list(ctx: _Ctx, value: Any, line: int, key: str, what: str) -> list[tuple[str, int]]:
    if not isinstance(value, LineList):
        ctx.fail(line, f"{key} must be a list of {what} names, not {_show(value)}")
    names = [_check_name(ctx, item, value.line, what) for item in value]
    return [(name, _item_line(ctx, value, name)) for name in names]


def _item_line(ctx: _Ctx, seq: LineList, item: str) -> int:
    """Line of one scalar in a YAML list (the loader only knows where the list starts)."""
    token = re.compile(r"(^|[\s\[,'\"-])" + re.escape(item) + r"($|[\s\],'\"#])")
    for number in range(seq.line, len(ctx.lines) + 1):
        if token.search(ctx.lines[number - 1]):
            return number
    return seq.line


# ------------------------------------------------------------------ Ansible variables

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


# ------------------------------------------------------------------ resolving


def _resolve(draft: _Draft) -> Inventory:
    ctx, groups, hosts = draft.ctx, draft.groups, draft.hosts
    if ctx.fmt != NATIVE:
        _add_ungrouped(draft)
    _check_references(draft)
    _check_cycles(ctx, groups)
    depth = _depths(groups)
    members = _members(groups, hosts)
    nodes = sorted(hosts.values(), key=lambda n: n.line)
    if not nodes:
        ctx.fail(None, "the inventory defines no targets")
    ordered_groups = sorted(groups.values(), key=lambda g: (g.name != "all", g.line))
    groups_of: dict[str, list[_Group]] = {name: [] for name in hosts}
    for grp in ordered_groups[1:]:  # "all" comes first and is every host's root
        for name in members[grp.name]:
            groups_of[name].append(grp)
    targets = []
    for node in nodes:
        chain = sorted(groups_of[node.name], key=lambda g: (depth[g.name], g.priority, g.name))
        settings, free = _inherit(ctx, groups["all"], chain, node, depth)
        in_chain = {g.name for g in chain} - {"ungrouped"}
        labels = tuple(g.name for g in ordered_groups if g.name in in_chain)
        targets.append(_target(ctx, node, settings, free, labels))
    order = {t.name: i for i, t in enumerate(targets)}
    listing = {
        g.name: sorted(members[g.name], key=order.__getitem__)
        for g in ordered_groups
        if g.name != "ungrouped" or members[g.name]
    }
    return Inventory(ctx.path, ctx.fmt, targets, listing)


def _add_ungrouped(draft: _Draft) -> None:
    # Ansible puts hosts that belong to no group of their own into "ungrouped".
    grouped = {
        h for g in draft.groups.values() if g.name not in ("all", "ungrouped") for h, _ in g.hosts
    }
    ungrouped = draft.group("ungrouped", 1)
    ungrouped.hosts.extend((h, n.line) for h, n in draft.hosts.items() if h not in grouped)
    draft.groups["all"].children.append(("ungrouped", 1))


def _check_references(draft: _Draft) -> None:
    ctx, groups, hosts = draft.ctx, draft.groups, draft.hosts
    for grp in groups.values():
        if grp.name in hosts:
            ctx.fail(
                grp.line,
                f"{grp.name!r} names both a group and a host (line"
                f" {hosts[grp.name].line}); rename one",
            )
        for child, line in grp.children:
            if child not in groups:
                ctx.fail(
                    line,
                    f"group {grp.name!r} has unknown child group {child!r}"
                    f"{_did_you_mean(child, groups)}; define it or remove it",
                )
        for host, line in grp.hosts:
            if host not in hosts:
                ctx.fail(
                    line,
                    f"group {grp.name!r} lists unknown host {host!r}"
                    f"{_did_you_mean(host, hosts)}; define it under `hosts:`",
                )


def _check_cycles(ctx: _Ctx, groups: dict[str, _Group]) -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for child, line in groups[name].children:
            if child in path:
                cycle = " -> ".join([*path[path.index(child) :], child])
                ctx.fail(line, f"groups contain each other in a cycle: {cycle}")
            if child not in done:
                visit(child, [*path, child])
        done.add(name)

    for name in groups:
        if name not in done:
            visit(name, [name])


def _depths(groups: dict[str, _Group]) -> dict[str, int]:
    """0 for "all", 1 for top groups, one more than the deepest parent below that."""
    parents: dict[str, list[str]] = {name: [] for name in groups}
    for grp in groups.values():
        for child, _ in grp.children:
            parents[child].append(grp.name)
    depth: dict[str, int] = {"all": 0}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(p) for p in parents[name] if p != "all"), default=0)
        return depth[name]

    for name in groups:
        of(name)
    return depth


def _members(groups: dict[str, _Group], hosts: dict[str, _Node]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"all": list(hosts)}

    def of(name: str) -> list[str]:
        if name not in found:
            names = [h for h, _ in groups[name].hosts]
            for child, _ in groups[name].children:
                names.extend(of(child))
            found[name] = list(dict.fromkeys(names))
        return found[name]

    for name in groups:
        of(name)
    return found


def _inherit(
    ctx: _Ctx, root: _Group, chain: list[_Group], node: _Node, depth: dict[str, int]
) -> tuple[Settings, Settings]:
    """Merge defaults < groups (shallow to deep) < the host's own settings.

    Ansible lets the later of two groups of one depth win (by priority, then name);
    a native inventory refuses such a tie instead, since nothing in the file says
    which value was meant.
    """
    layers: list[list[_Node]] = [[root]]
    for level in sorted({depth[g.name] for g in chain}):
        layers.append([g for g in chain if depth[g.name] == level])
    layers.append([node])
    merged: tuple[Settings, Settings] = ({}, {})
    ties: dict[tuple[int, str], tuple[int, str]] = {}  # (settings or free, key) -> error
    for layer in layers:
        for index, result in enumerate(merged):
            given: dict[str, list[tuple[_Val, _Node]]] = {}
            for member in layer:
                for key, val in (member.settings, member.free)[index].items():
                    given.setdefault(key, []).append((val, member))
                    result[key] = val
            for key, found in given.items():
                ties.pop((index, key), None)  # a deeper layer settles an older tie
                first, first_group = found[0]
                other = next(((v, m) for v, m in found if v.value != first.value), None)
                if other is not None and ctx.fmt == NATIVE:
                    ties[(index, key)] = (
                        other[0].line,
                        (
                            f"host {node.name!r} gets {first.label} from groups"
                            f" {first_group.name!r} (line {first.line}) and {other[1].name!r}"
                            f" (line {other[0].line}) with different values; set it on the"
                            " host, or on only one of the groups"
                        ),
                    )
    if ties:
        ctx.fail(*next(iter(ties.values())))
    return merged


def _target(
    ctx: _Ctx, node: _Node, settings: Settings, free: Settings, groups: tuple[str, ...]
) -> Target:
    kind = settings["kind"].value if "kind" in settings else "docker-host"
    fields: dict[str, Any] = {}
    for key, val in settings.items():
        if key in _APPLIES[kind]:
            fields[key] = val.value
        elif val.strict:
            ctx.fail(val.line, f"{val.label} does not apply to {node.name!r}, a {kind} target")
    if kind in ("docker-host", "k8s-node") and "address" not in fields:
        if not _is_host_name(node.name):
            how = "`address:`" if ctx.fmt == NATIVE else "ansible_host="
            ctx.fail(
                node.line,
                f"host {node.name!r} has no address: add {how} (the name is"
                " used as the address only when it is a host name or an IP"
                " address)",
            )
        fields["address"] = node.name
    if kind == "k8s-node" and not fields.get("roles"):
        ctx.fail(
            node.line,
            f"k8s-node {node.name!r} needs roles (some of"
            f" {', '.join(NODE_ROLES)}) to choose its controls",
        )
    if ctx.check_files and kind in ("docker-host", "k8s-node"):
        if "key" in fields:
            _check_key_file(ctx, fields["key"], settings["key"])
        for hop in fields.get("jump", ()):
            if hop.key:
                _check_key_file(ctx, hop.key, settings["jump"])
    if kind == "bundle" and "path" not in fields:
        ctx.fail(node.line, f"bundle {node.name!r} needs a path to the recorded evidence")
    if kind == "k8s-cluster":
        _check_cluster(ctx, node, fields)
        _check_cluster_mode(ctx, node, settings, fields)
    return Target(
        name=node.name,
        groups=groups,
        vars={key: val.value for key, val in free.items()},
        source=f"{ctx.path}:{node.line}",
        **fields,
    )


def _check_key_file(ctx: _Ctx, path: str, given: _Val) -> None:
    """An SSH private key must exist, be a file, and be readable by its owner alone:
    OpenSSH refuses a key that group or others may read ("UNPROTECTED PRIVATE KEY FILE")."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        ctx.fail(given.line, f"{given.label}: key file {path} does not exist")
    except OSError as exc:
        ctx.fail(given.line, f"{given.label}: key file {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        ctx.fail(given.line, f"{given.label}: {path} is not a file")
    if info.st_mode & 0o077:
        ctx.fail(
            given.line,
            f"{given.label}: key file {path} has mode {stat.S_IMODE(info.st_mode):04o}, which"
            f" lets others read it; OpenSSH refuses such a key too: chmod 600 {path}",
        )
    if not os.access(path, os.R_OK):
        ctx.fail(given.line, f"{given.label}: key file {path} is not readable by this user")


def _check_cluster_mode(ctx: _Ctx, node: _Node, settings: Settings, fields: dict[str, Any]) -> None:
    """``page_size`` means something over the API only, ``dump_complete`` offline only.
    Written on the cluster itself, the wrong one is an error; inherited, it is skipped."""
    offline = "path" in fields
    for keys, wrong, why in (
        (_API_ONLY, offline, "an offline dump (path) is not paged"),
        (_OFFLINE_ONLY, not offline, "it vouches for an offline dump; give path"),
    ):
        for key in keys:
            if key in fields and wrong:
                val = settings[key]
                if val.strict:
                    ctx.fail(val.line, f"{val.label} does not apply to {node.name!r}: {why}")
                del fields[key]


def _check_cluster(ctx: _Ctx, node: _Node, fields: dict[str, Any]) -> None:
    api = "kubeconfig" in fields or "context" in fields
    ways = [
        w
        for w, on in (
            ("kubeconfig/context", api),
            ("in_cluster", fields.get("in_cluster")),
            ("path", "path" in fields),
        )
        if on
    ]
    if not ways:
        ctx.fail(
            node.line,
            f"cluster {node.name!r} needs kubeconfig (and context),"
            " in_cluster: true, or path (an offline dump)",
        )
    if len(ways) > 1:
        ctx.fail(node.line, f"cluster {node.name!r} gives {' and '.join(ways)}; choose one")
