"""Setting values: each inventory setting checked and converted, with the checks and
file reading every format shares."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from cisaudit import yamlsrc
from cisaudit.inventory.draft import (
    NATIVE,
    InventoryError,
    _Ctx,
    _did_you_mean,
    _show,
    _Val,
)
from cisaudit.targets import NODE_ROLES, JumpHost
from cisaudit.yamlsrc import LineDict, SourceError

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
    "docker_host",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "tls_verify",
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
    # An engine reached over its API (docker SDK): tcp:// with TLS material, ssh:// (the
    # SSH settings then apply to that connection), or a unix:// socket on this machine.
    "docker-api": frozenset(
        (
            "kind",
            "docker_host",
            "tls_ca",
            "tls_cert",
            "tls_key",
            "tls_verify",
            "key",
            "password_env",
            "known_hosts",
            "jump",
            "connect_timeout",
            "command_timeout",
        )
    ),
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
        # "docker" is nearer "docker-api" by spelling, but means a Docker host
        hint = (
            " (did you mean 'docker-host'?)"
            if text.lower() in ("docker", "dockerhost", "docker_host", "host")
            else _did_you_mean(text, kinds)
        )
        ctx.fail(line, f"unknown kind {text!r}{hint}; kinds are {', '.join(kinds)}")
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


_DOCKER_HOST = re.compile(
    r"(?P<scheme>tcp|ssh)://(?:(?P<user>[^@/\s:]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@/\s:\[\]]+)"
    r"(?::(?P<port>[0-9]{1,5}))?/?|unix://(?P<path>/[^\s]*)"
)


def _docker_host(ctx: _Ctx, label: str, value: Any, line: int) -> str:
    """``tcp://HOST[:PORT]``, ``ssh://[USER@]HOST[:PORT]`` or ``unix:///PATH``, as DOCKER_HOST."""
    text = _text(ctx, label, value, line).strip()
    found = _DOCKER_HOST.fullmatch(text)
    if found is None:
        ctx.fail(
            line,
            f"{label} {text!r} is not an engine address: write tcp://HOST:2376,"
            " ssh://USER@HOST[:PORT] or unix:///var/run/docker.sock",
        )
    host = (found["host"] or "").strip("[]")
    if found["scheme"] and not (_is_ip(host) or _ADDRESS.fullmatch(host)):
        ctx.fail(line, f"{label} {text!r}: {host!r} is not a host name or IP address")
    if found["port"] and not 1 <= int(found["port"]) <= 65535:
        ctx.fail(line, f"{label} {text!r}: port {found['port']} is out of range")
    return text


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
    "docker_host": _docker_host,
    "tls_ca": _path,
    "tls_cert": _path,
    "tls_key": _path,
    "tls_verify": _bool,
}


def _setting(ctx: _Ctx, key: str, label: str, value: Any, line: int, strict: bool) -> _Val:
    return _Val(_CONVERT[key](ctx, label, value, line), line, label, strict)


# ------------------------------------------------------------------ shared checks


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
