"""cisaudit's native YAML inventory: ``defaults``, ``hosts``, ``groups``, ``clusters``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cisaudit.inventory.draft import (
    Settings,
    _Ctx,
    _Draft,
    _Group,
    _show,
    _Val,
)
from cisaudit.inventory.values import (
    _CLUSTER_KEYS,
    _CLUSTER_VARS,
    _HOST_KEYS,
    _INHERITED_KEYS,
    _NATIVE_TOP_KEYS,
    _check_keys,
    _check_name,
    _plain,
    _setting,
)
from cisaudit.yamlsrc import LineDict, LineList


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
