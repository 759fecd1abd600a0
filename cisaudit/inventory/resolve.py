"""Resolution: references, cycles, inheritance (defaults < groups < host) and the
Target of each host, with the same rules and messages whatever the format."""

from __future__ import annotations

import os
import stat
from typing import Any

from cisaudit.inventory.draft import (
    NATIVE,
    Inventory,
    Settings,
    _Ctx,
    _did_you_mean,
    _Draft,
    _Group,
    _Node,
    _Val,
)
from cisaudit.inventory.values import (
    _API_ONLY,
    _APPLIES,
    _OFFLINE_ONLY,
    _is_host_name,
)
from cisaudit.targets import CLUSTER_GROUPS, NODE_ROLES, ROLE_GROUPS, Target


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
    kind_source = "inventory" if "kind" in settings else "default"
    inferred_roles: tuple[str, ...] = ()
    if "kind" not in settings:
        # kubespray's and kubeadm-style group names say what a host is (explicit kind and
        # roles always win)
        inferred_roles = tuple(dict.fromkeys(ROLE_GROUPS[g] for g in groups if g in ROLE_GROUPS))
        in_cluster_group = [g for g in groups if g in CLUSTER_GROUPS]
        if inferred_roles or in_cluster_group:
            kind = "k8s-node"
            named = [g for g in groups if g in ROLE_GROUPS] or in_cluster_group
            kind_source = f"group {', '.join(named)}"
            if not inferred_roles:
                inferred_roles = ("worker",)
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
    if kind_source.startswith("group"):
        fields["kind"] = kind
        if not fields.get("roles"):
            fields["roles"] = inferred_roles
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
    if kind == "docker-api":
        _check_docker_api(ctx, node, settings, fields)
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
        kind_source=kind_source,
        **fields,
    )


def _check_docker_api(ctx: _Ctx, node: _Node, settings: Settings, fields: dict[str, Any]) -> None:
    """An engine reached over its API needs its address; TLS material goes with tcp:// (a
    client certificate and its key together), SSH settings with ssh://."""
    host = fields.get("docker_host")
    if not host:
        ctx.fail(
            node.line,
            f"docker-api {node.name!r} needs docker_host (tcp://HOST:2376, ssh://USER@HOST"
            " or unix:///var/run/docker.sock)",
        )
    scheme = host.split("://", 1)[0]
    tls = [k for k in ("tls_ca", "tls_cert", "tls_key", "tls_verify") if k in fields]
    ssh = [k for k in ("key", "password_env", "known_hosts", "jump") if k in fields]
    for keys, wanted in ((tls, "tcp"), (ssh, "ssh")):
        for key in keys:
            if scheme != wanted:
                val = settings[key]
                if val.strict:
                    ctx.fail(val.line, f"{val.label} applies to {wanted}:// engines, not {host}")
                del fields[key]
    if ("tls_cert" in fields) != ("tls_key" in fields):
        val = settings["tls_cert" if "tls_cert" in fields else "tls_key"]
        ctx.fail(val.line, "tls_cert and tls_key go together (the client certificate and its key)")
    if ctx.check_files:
        for key in ("tls_ca", "tls_cert"):
            if key in fields and not os.path.isfile(fields[key]):
                ctx.fail(settings[key].line, f"{settings[key].label}: {fields[key]} is not a file")
        if "tls_key" in fields:
            _check_key_file(ctx, fields["tls_key"], settings["tls_key"])
        if "key" in fields:
            _check_key_file(ctx, fields["key"], settings["key"])


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
