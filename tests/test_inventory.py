"""Inventories: good files load into the expected targets, bad files fail where they are wrong.

Bad fixtures live in ``tests/data/inventories/bad/``; the table below says, for each,
the line the error must name and a piece of the message. Every bad fixture must be in
the table, so a new fixture cannot be forgotten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cisaudit.inventory import Inventory, InventoryError, load_inventory
from cisaudit.inventory import ansible as ansible_vars
from cisaudit.inventory import values as inventory_values
from cisaudit.targets import KINDS, NODE_ROLES, JumpHost, Target
from cisaudit.yamlsrc import SourceError

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data" / "inventories"
GOOD, BAD = DATA / "good", DATA / "bad"
HOME = os.path.expanduser("~")

# fixture -> (line the error names, text the message must hold)
BAD_CASES: dict[str, tuple[int | None, str]] = {
    # native: syntax, unknown keys
    "native-yaml-syntax.yml": (4, "not valid YAML"),
    "native-duplicate-key.yml": (4, "duplicate key 'web-1' (first given on line 2)"),
    "native-empty.yml": (None, "the inventory is empty"),
    "native-not-mapping.yml": (1, "an inventory must be a mapping"),
    "native-no-targets.yml": (None, "the inventory defines no targets"),
    "native-unknown-top-key.yml": (
        1,
        "unknown key 'host' in the inventory (top level) (did you mean 'hosts'?)",
    ),
    "native-unknown-host-key.yml": (
        3,
        "unknown key 'adress' in host 'web-1' (did you mean 'address'?)",
    ),
    "native-unknown-group-key.yml": (
        6,
        "unknown key 'child' in group 'web' (did you mean 'children'?)",
    ),
    "native-address-in-defaults.yml": (
        3,
        "unknown key 'address' in defaults; valid keys: port, user",
    ),
    # native: types and values
    "native-port-string.yml": (4, "port must be a whole number from 1 to 65535, not '22'"),
    "native-port-range.yml": (4, "port 70000 is out of range"),
    "native-become-string.yml": (2, "become must be true or false, not 'yes'"),
    "native-become-method.yml": (
        5,
        "become_method 'pbrun' is not supported; use one of sudo, su, doas",
    ),
    "native-timeout-zero.yml": (4, "connect_timeout must be a number of seconds above 0, not 0"),
    "native-vars-not-mapping.yml": (4, "vars must be a mapping of name -> value, not a list"),
    "native-bad-env-name.yml": (4, "password_env must name an environment variable"),
    "native-bad-jump.yml": (4, "jump 'ops@inner.example.com:ssh': port 'ssh' is not a number"),
    "native-user-in-address.yml": (
        3,
        "address 'audit@192.0.2.10' is not a host name or IP address; give the user separately",
    ),
    # native: kinds, roles, addresses
    "native-unknown-kind.yml": (3, "unknown kind 'docker' (did you mean 'docker-host'?)"),
    "native-cluster-in-hosts.yml": (
        3,
        "kind k8s-cluster is not a host: define clusters under `clusters:`",
    ),
    "native-bad-role.yml": (5, "'controlplane' is not a node role (did you mean 'control-plane'?)"),
    "native-node-without-roles.yml": (4, "k8s-node 'node-1' needs roles"),
    "native-roles-on-docker-host.yml": (4, "roles does not apply to 'web-1', a docker-host target"),
    "native-address-on-local.yml": (4, "address does not apply to 'me', a local target"),
    "native-no-address.yml": (3, "host 'db_primary' has no address: add `address:`"),
    "native-bundle-without-path.yml": (2, "bundle 'recorded' needs a path"),
    "native-cluster-without-api.yml": (
        2,
        "cluster 'prod' needs kubeconfig (and context), in_cluster: true, or path",
    ),
    "native-cluster-two-ways.yml": (
        2,
        "cluster 'prod' gives kubeconfig/context and in_cluster; choose one",
    ),
    # native: cluster settings
    "native-cluster-page-size.yml": (5, "page_size must be a whole number of objects, 1 or more"),
    "native-cluster-managed-string.yml": (4, "managed must be true or false, not 'yes'"),
    "native-cluster-dump-complete-api.yml": (
        4,
        "dump_complete does not apply to 'prod': it vouches for an offline dump; give path",
    ),
    "native-cluster-page-size-offline.yml": (
        4,
        "page_size does not apply to 'acme': an offline dump (path) is not paged",
    ),
    "native-cluster-vars-page-size.yml": (
        6,
        "vars.page_size must be a whole number of objects, 1 or more, not 'big'",
    ),
    "native-cluster-managed-twice.yml": (
        5,
        "cluster 'prod' gives managed = True (line 4) and vars.managed = False; give it once",
    ),
    # native: groups and duplicates
    "native-unknown-child.yml": (
        7,
        "group 'prod' has unknown child group 'dbs' (did you mean 'db'?)",
    ),
    "native-unknown-host-in-group.yml": (
        9,
        "group 'web' lists unknown host 'web-3' (did you mean 'web-2'?)",
    ),
    "native-cycle.yml": (10, "groups contain each other in a cycle: a -> b -> c -> a"),
    "native-all-group.yml": (4, "'all' is the group of every target and cannot be defined"),
    "native-name-clash.yml": (4, "'web' names both a group and a host (line 2)"),
    "native-duplicate-conflict.yml": (
        9,
        "host 'web-1' is defined again with port = 2222 but line 4 gives port = 22",
    ),
    "native-group-tie.yml": (
        6,
        "host 'web-1' gets user from groups 'monitored' (line 9) and 'web' (line 6)",
    ),
    # native: secrets
    "native-password.yml": (6, "clear-text password in 'password'"),
    "native-password-in-vars.yml": (6, "clear-text password in 'become_password'"),
    # Ansible YAML
    "ansible-password.yml": (5, "clear-text password in 'ansible_password'"),
    "ansible-become-pass-template.yml": (5, "ansible_become_pass is a template cisaudit cannot"),
    "ansible-vault.yml": (4, "Ansible Vault values cannot be read by cisaudit"),
    "ansible-unknown-group-key.yml": (
        4,
        "unknown key 'host' in group 'web' (did you mean 'hosts'?)",
    ),
    "ansible-unknown-cisaudit-var.yml": (
        4,
        "unknown variable 'cisaudit_kindd' (did you mean 'cisaudit_kind'?)",
    ),
    "ansible-bad-port.yml": (4, "ansible_port must be a whole number from 1 to 65535, not 'ssh'"),
    "ansible-connection-winrm.yml": (5, "ansible_connection=winrm cannot be audited"),
    "ansible-proxycommand-nc.yml": (
        4,
        "ProxyCommand 'nc -X 5 -x proxy:1080 %h %p' is not understood",
    ),
    "ansible-duplicate-conflict.yml": (
        10,
        "host 'app1.example.com' is defined again with ansible_port = 2222 but line 6",
    ),
    "ansible-cycle.yml": (8, "groups contain each other in a cycle: web -> frontend -> web"),
    "ansible-template-host.yml": (4, "ansible_host is a template"),
    "ansible-no-address.yml": (3, "host 'web_1' has no address: add ansible_host="),
    "ansible-cluster-page-size.yml": (
        6,
        "cisaudit_page_size must be a whole number of objects, 1 or more, not '-5'",
    ),
    # Ansible INI
    "ini-unclosed-section.ini": (3, "section header '[web' is not closed"),
    "ini-unknown-suffix.ini": (4, "unknown section kind ':var' (did you mean 'vars'?)"),
    "ini-not-key-value.ini": (3, "expected key=value after the host name, found 'ansible_port'"),
    "ini-vars-not-key-value.ini": (
        5,
        "expected key=value in [web:vars], found 'ansible_user audit'",
    ),
    "ini-bad-quotes.ini": (2, "cannot split this line (No closing quotation)"),
    "ini-unknown-child.ini": (6, "group 'prod' has unknown child group 'dbs'"),
    "ini-cycle.ini": (9, "groups contain each other in a cycle: a -> b -> a"),
    "ini-password.ini": (6, "clear-text password in 'ansible_ssh_pass'"),
    "ini-duplicate-conflict.ini": (
        5,
        "host 'app1.example.com' is defined again with ansible_port = 2222 but line 2",
    ),
    "ini-empty-range.ini": (2, "host range '[03:01]' is empty"),
    "ini-bad-role.ini": (6, "'boss' is not a node role"),
    "ini-cluster-managed.ini": (2, "cisaudit_managed must be true or false, not 'maybe'"),
}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_inventory_names_file_line_and_problem(name: str) -> None:
    line, text = BAD_CASES[name]
    path = BAD / name
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    err = caught.value
    assert isinstance(err, SourceError)
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert text in err.message
    assert str(err).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_every_bad_fixture_is_in_the_table() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(BAD_CASES)


def test_password_errors_say_what_to_do_instead() -> None:
    with pytest.raises(InventoryError, match="password_env"):
        load_inventory(BAD / "native-password.yml")
    with pytest.raises(InventoryError, match=re.escape("lookup('env', 'NAME')")):
        load_inventory(BAD / "ini-password.ini")


def test_missing_file() -> None:
    with pytest.raises(InventoryError, match="inventory file not found"):
        load_inventory(DATA / "no-such-inventory.yml")


# ---------------------------------------------------------------------- native


@pytest.fixture(scope="module")
def native() -> Inventory:
    return load_inventory(GOOD / "native-inheritance.yml", check_files=False)


def by_name(inv: Inventory) -> dict[str, Target]:
    return {t.name: t for t in inv.targets}


def test_native_targets_in_file_order_with_source(native: Inventory) -> None:
    assert native.format == "native"
    assert [t.name for t in native.targets] == [
        "web-1", "web-2", "192.0.2.12", "db.example.com", "me", "recorded",
        "edge-1.example.com", "lab", "offline",
    ]  # fmt: skip
    path = GOOD / "native-inheritance.yml"
    assert by_name(native)["web-1"].source == f"{path}:8"
    assert by_name(native)["edge-1.example.com"].source == f"{path}:41"


def test_native_precedence(native: Inventory) -> None:
    t = by_name(native)
    # host value beats the groups; the child group (web) beats its parent (prod)
    assert (t["web-1"].user, t["web-1"].port) == ("host-user", 2202)
    assert (t["web-2"].user, t["web-2"].port) == ("prod-user", 2202)
    assert t["web-1"].become is True and t["web-1"].connect_timeout == 5.0
    # defaults alone
    assert (t["db.example.com"].user, t["db.example.com"].port) == ("default-user", 2200)
    # free variables merge key by key, with the same precedence
    assert t["web-1"].vars == {"site": "par1", "tier": "prod"}
    assert t["db.example.com"].vars == {"site": "par1", "tier": "none"}


def test_native_groups_flatten_children(native: Inventory) -> None:
    assert native.groups["prod"] == ["web-1", "web-2", "192.0.2.12"]
    assert native.groups["edge"] == ["web-2", "edge-1.example.com"]
    assert native.groups["all"] == [t.name for t in native.targets]
    assert by_name(native)["web-2"].groups == ("prod", "web", "edge")


def test_native_group_mapping_defines_and_extends_hosts(native: Inventory) -> None:
    t = by_name(native)
    assert t["edge-1.example.com"].port == 2022  # defined only inside a group
    assert t["web-2"].known_hosts == f"{HOME}/.ssh/web_known_hosts"


def test_name_is_the_address_when_it_is_a_host_name_or_ip(native: Inventory) -> None:
    t = by_name(native)
    assert t["192.0.2.12"].address == "192.0.2.12"
    assert t["db.example.com"].address == "db.example.com"
    assert t["web-1"].address == "192.0.2.10"


def test_native_jump_forms_and_secrets(native: Inventory) -> None:
    db = by_name(native)["db.example.com"]
    assert db.jump == (
        JumpHost("bastion.example.com", 2022, "ops"),
        JumpHost("2001:db8::7", 22, "inner", f"{HOME}/.ssh/inner"),
    )
    assert db.password_env == "DB_SSH_PASSWORD"


def test_native_other_kinds(native: Inventory) -> None:
    t = by_name(native)
    assert (t["me"].kind, t["me"].address, t["me"].become) == ("local", None, True)
    assert (t["recorded"].kind, t["recorded"].path) == ("bundle", "evidence/run.json")
    assert (t["lab"].kind, t["lab"].in_cluster) == ("k8s-cluster", True)
    assert (t["offline"].kind, t["offline"].path) == ("k8s-cluster", "dumps/cluster")
    # inherited settings that mean nothing for a kind are left out, not errors
    assert t["me"].user is None and t["lab"].port == 22


def test_values_are_kept_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "odd.yml"
    path.write_text(
        'hosts:\n  web-1:\n    address: 192.0.2.10\n    user: "$(id);rm -rf /"\n'
        '    vars: {motd: "`reboot`"}\n'
    )
    target = load_inventory(path).targets[0]
    assert target.user == "$(id);rm -rf /"
    assert target.vars == {"motd": "`reboot`"}


def test_master_is_an_alias_of_control_plane(tmp_path: Path) -> None:
    path = tmp_path / "nodes.yml"
    path.write_text("hosts:\n  cp-1:\n    kind: k8s-node\n    roles: [master, etcd, master]\n")
    assert load_inventory(path).targets[0].roles == ("control-plane", "etcd")


def test_same_value_twice_is_not_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "twice.yml"
    path.write_text(
        "hosts:\n  web-1: {address: 192.0.2.10, port: 22}\n"
        "groups:\n  web:\n    hosts:\n      web-1: {port: 22}\n"
    )
    assert load_inventory(path).targets[0].port == 22


def test_a_deeper_group_settles_a_tie(tmp_path: Path) -> None:
    path = tmp_path / "tie.yml"
    path.write_text(
        "hosts:\n  web-1: {address: 192.0.2.10}\n"
        "groups:\n"
        "  a: {children: [special], vars: {user: a}}\n"
        "  b: {hosts: [web-1], vars: {user: b}}\n"
        "  special: {hosts: [web-1], vars: {user: chosen}}\n"
    )
    assert load_inventory(path).targets[0].user == "chosen"


# ---------------------------------------------------------------------- Ansible


def test_ansible_yaml_precedence() -> None:
    inv = load_inventory(GOOD / "ansible-precedence.yml", check_files=False)
    assert inv.format == "ansible-yaml"
    t = by_name(inv)
    app1, app2, cp1 = t["app1.example.com"], t["app2.example.com"], t["cp1.example.com"]
    assert app1.user == "child-user"  # deeper group wins
    assert app1.port == 2001  # alpha's ansible_group_priority beats beta
    assert app2.port == 2003  # same depth and priority: the later name (gamma) wins
    assert app2.user == "all-user"
    assert (app1.become, app1.become_method) == (True, "su")
    assert app1.jump == (JumpHost("bastion", 2222, "jump"), JumpHost("second"))
    # unknown ansible_* variables and the rest of the ssh args are kept
    assert app1.vars == {
        "team": "everyone",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_extra_args": "-o StrictHostKeyChecking=yes",
    }
    assert (cp1.kind, cp1.roles, cp1.command_timeout) == (
        "k8s-node", ("control-plane", "etcd"), 120.0,
    )  # fmt: skip
    assert inv.groups["parent"] == ["app1.example.com"]


def test_ansible_ini_extensionless() -> None:
    inv = load_inventory(GOOD / "hosts", check_files=False)
    assert inv.format == "ansible-ini"
    t = by_name(inv)
    assert inv.groups["ungrouped"] == ["plain.example.com", "other.example.com"]
    assert t["other.example.com"].port == 2222  # host:port
    assert t["plain.example.com"].user == "audit"  # [all:vars]
    assert inv.groups["web"] == [
        "web01.example.com", "web02.example.com",
        "node-a.example.com", "node-b.example.com", "node-c.example.com",
        "host1.example.com", "host3.example.com", "host5.example.com",
    ]  # fmt: skip
    assert t["host3.example.com"].become is True
    assert t["web01.example.com"].become is False
    assert t["web01.example.com"].source == f"{GOOD / 'hosts'}:9"


def test_ansible_ini_proxy_command_and_proxy_jump() -> None:
    t = by_name(load_inventory(GOOD / "hosts", check_files=False))
    web = t["web02.example.com"]
    assert web.jump == (JumpHost("bastion.example.com", 2022, "ops", f"{HOME}/.ssh/bastion"),)
    assert web.vars == {"ansible_ssh_common_args": "-o ServerAliveInterval=30"}
    db = t["db1.example.com"]
    assert db.jump == (JumpHost("bastion.example.com", 2022, "ops"),)
    assert (db.port, db.password_env, db.become_password_env) == (2200, "DB1_PASSWORD", "DB_SUDO")
    assert t["localhost"].kind == "local" and t["localhost"].address is None


def test_native_yaml_without_extension() -> None:
    inv = load_inventory(GOOD / "native-noext")
    assert inv.format == "native"
    assert inv.targets[0].address == "192.0.2.10"


# ---------------------------------------------------------------------- select


def test_select(native: Inventory) -> None:
    def names(limit: list[str] | None) -> list[str]:
        return [t.name for t in native.select(limit)]

    assert names(None) == names([]) == [t.name for t in native.targets]
    assert names(["web-2", "web-1"]) == ["web-1", "web-2"]  # inventory order
    assert names(["prod"]) == ["web-1", "web-2", "192.0.2.12"]
    assert names(["web-*"]) == ["web-1", "web-2"]
    assert names(["ed*"]) == ["web-2", "edge-1.example.com"]  # a glob over group names too
    assert names(["prod,!web-2"]) == ["web-1", "192.0.2.12"]
    assert names(["!prod"]) == ["db.example.com", "me", "recorded", "edge-1.example.com",
                                "lab", "offline"]  # fmt: skip


def test_select_unknown_name_lists_known_names(native: Inventory) -> None:
    with pytest.raises(InventoryError) as caught:
        native.select(["web-1", "pord"])
    message = caught.value.message
    assert "limit 'pord' matches no target or group (did you mean 'prod'?)" in message
    assert "known targets and groups: web-1, web-2," in message and "edge" in message


# ---------------------------------------------------------------------- shipped examples


@pytest.mark.parametrize(
    "name, fmt", [("example.yml", "native"), ("ansible-hosts.ini", "ansible-ini"),
                  ("ansible-hosts.yml", "ansible-yaml")],
)  # fmt: skip
def test_example_inventories_load(name: str, fmt: str) -> None:
    inv = load_inventory(ROOT / "inventories" / name, check_files=False)
    assert inv.format == fmt
    kinds = {t.kind for t in inv.targets}
    assert {"docker-host", "k8s-node"} <= kinds
    nodes = [t for t in inv.targets if t.kind == "k8s-node"]
    assert all(t.roles for t in nodes)
    assert any(t.jump for t in inv.targets)
    assert any("control-plane" in t.roles for t in nodes)


def test_example_native_has_a_cluster_and_groups() -> None:
    inv = load_inventory(ROOT / "inventories" / "example.yml", check_files=False)
    assert any(t.kind == "k8s-cluster" and t.context for t in inv.targets)
    assert set(inv.groups) > {"all"}


# ---------------------------------------------------------------------- docs


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "inventory.md").read_text()
    names = {*inventory_values._HOST_KEYS, *inventory_values._CLUSTER_KEYS,
             *ansible_vars._ANSIBLE_SETTINGS, *ansible_vars._ANSIBLE_SECRETS,
             *ansible_vars._ANSIBLE_SSH_ARGS,
             "cisaudit_kind", "cisaudit_roles", "cisaudit_<setting>", "ansible_connection",
             "ansible_group_priority", *KINDS, *NODE_ROLES}  # fmt: skip
    missing = sorted(n for n in names if f"`{n}" not in doc)
    assert not missing, f"docs/inventory.md does not mention: {missing}"


# ---------------------------------------------------------------------- cluster settings


def test_cluster_settings_are_first_class_keys(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yml"
    path.write_text(
        "clusters:\n"
        "  eks-prod:\n"
        "    kubeconfig: ~/.kube/config\n"
        "    context: prod-audit\n"
        "    managed: true\n"
        "    page_size: 250\n"
        "  acme:\n"
        "    path: ./acme-dump\n"
        "    dump_complete: true\n"
        "  legacy:\n"  # written before the keys existed: still read, and now checked
        "    kubeconfig: ~/.kube/config\n"
        "    vars: {managed: true, page_size: 100, team: platform}\n"
        "  plain:\n"
        "    in_cluster: true\n"
    )
    t = by_name(load_inventory(path))
    assert (t["eks-prod"].managed, t["eks-prod"].page_size) == (True, 250)
    assert t["eks-prod"].dump_complete is None
    assert (t["acme"].dump_complete, t["acme"].page_size) == (True, None)
    assert (t["legacy"].managed, t["legacy"].page_size) == (True, 100)
    assert t["legacy"].vars == {"managed": True, "page_size": 100, "team": "platform"}
    assert (t["plain"].managed, t["plain"].page_size, t["plain"].dump_complete) == (None,) * 3


def test_cluster_settings_from_ansible_files(tmp_path: Path) -> None:
    yml = tmp_path / "inv.yml"
    yml.write_text(
        "all:\n"
        "  children:\n"
        "    clusters:\n"
        "      vars: {cisaudit_page_size: '300'}\n"  # inherited: skipped for the dump
        "      hosts:\n"
        "        gke-prod:\n"
        "          cisaudit_kind: k8s-cluster\n"
        "          cisaudit_kubeconfig: ~/.kube/config\n"
        "          cisaudit_managed: 'yes'\n"
        "        export:\n"
        "          cisaudit_kind: k8s-cluster\n"
        "          cisaudit_path: ./export\n"
        "          cisaudit_dump_complete: true\n"
    )
    t = by_name(load_inventory(yml))
    assert (t["gke-prod"].managed, t["gke-prod"].page_size) == (True, 300)
    assert (t["export"].dump_complete, t["export"].page_size) == (True, None)
    ini = tmp_path / "hosts"
    ini.write_text(
        "[clusters]\n"
        "aks cisaudit_kind=k8s-cluster cisaudit_kubeconfig=~/.kube/config"
        " cisaudit_managed=true cisaudit_page_size=50\n"
    )
    [aks] = load_inventory(ini).targets
    assert (aks.managed, aks.page_size, aks.dump_complete) == (True, 50, None)


def test_the_collector_reads_the_settings_before_vars(tmp_path: Path) -> None:
    import json

    from cisaudit.kinds.k8s_cluster.collect import collect_k8s_cluster
    from cisaudit.kinds.k8s_cluster.derive import INVENTORY_SECTION, derive

    folder = str(ROOT / "tests" / "data" / "k8s" / "cluster-weak")
    keys = Target(name="a", kind="k8s-cluster", path=folder, managed=True, dump_complete=True)
    # the field wins over vars; vars alone still work, as before
    legacy = Target(
        name="b", kind="k8s-cluster", path=folder, vars={"managed": True, "dump_complete": True}
    )
    overridden = Target(
        name="c", kind="k8s-cluster", path=folder, managed=False, vars={"managed": True}
    )
    for target, managed, complete in ((keys, True, True), (legacy, True, True),
                                      (overridden, False, False)):  # fmt: skip
        evidence = collect_k8s_cluster(target)
        said = json.loads(evidence.sections[INVENTORY_SECTION].output)
        assert (said["managed"], said["dump_complete"]) == (managed, complete), target.name
        values, errors = derive(evidence.sections)
        assert values["cluster"]["managed"] is managed
        assert ("cluster.workloads" not in errors) is complete  # no ReplicaSets in the folder
    bad = Target(name="d", kind="k8s-cluster", kubeconfig=str(tmp_path / "none"), page_size=0)
    assert "page_size must be a positive number, not 0" in (collect_k8s_cluster(bad).error or "")


def test_ssh_keys_are_checked_when_the_inventory_loads(tmp_path: Path) -> None:
    key = tmp_path / "id_test"
    key.write_text("not really a key\n")
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        f"hosts:\n  web-1:\n    address: 192.0.2.1\n    key: {key}\n"
        f"  web-2:\n    address: 192.0.2.2\n    jump: {{address: 192.0.2.9,"
        f" key: {tmp_path / 'missing'}}}\n"
    )
    key.chmod(0o644)
    with pytest.raises(InventoryError) as info:
        load_inventory(inventory)
    assert (
        info.value.line == 4 and "mode 0644" in str(info.value) and "chmod 600" in str(info.value)
    )
    key.chmod(0o600)
    with pytest.raises(InventoryError) as info:
        load_inventory(inventory)
    assert info.value.line == 7 and "does not exist" in str(info.value)
    assert len(load_inventory(inventory, check_files=False).targets) == 2
    ini = tmp_path / "hosts.ini"
    ini.write_text(
        f"[web]\nweb-3 ansible_host=192.0.2.3 ansible_ssh_private_key_file={tmp_path / 'nope'}\n"
    )
    with pytest.raises(InventoryError) as info:
        load_inventory(ini)
    assert info.value.line == 2 and "ansible_ssh_private_key_file" in str(info.value)


def test_kubespray_and_kubeadm_group_names_make_kubernetes_nodes(tmp_path: Path) -> None:
    from cisaudit.inventory import load_inventory

    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    node1: {ansible_host: 10.0.0.1}\n    node2: {ansible_host: 10.0.0.2}\n"
        "    lb1: {ansible_host: 10.0.0.9}\n"
        "    ext: {ansible_host: 10.0.0.5, cisaudit_kind: docker-host}\n"
        "  children:\n"
        "    kube_control_plane: {hosts: {node1: {}}}\n"
        "    etcd: {hosts: {node1: {}, ext: {}}}\n"
        "    kube_node: {hosts: {node2: {}}}\n"
        "    k8s_cluster: {children: {kube_control_plane: {}, kube_node: {}}}\n"
        "    loadbalancers: {hosts: {lb1: {}}}\n"
    )
    got = {t.name: (t.kind, t.roles, t.kind_source) for t in load_inventory(hosts).select(None)}
    assert got["node1"] == ("k8s-node", ("control-plane", "etcd"), "group kube_control_plane, etcd")
    assert got["node2"] == ("k8s-node", ("worker",), "group kube_node")
    assert got["lb1"] == ("docker-host", (), "default")  # the probe decides what it runs
    assert got["ext"][0] == "docker-host" and got["ext"][2] == "inventory"  # written wins
    ini = tmp_path / "inventory.ini"
    ini.write_text(
        "[masters]\ncp1 ansible_host=10.1.0.1\n[workers]\nw1 ansible_host=10.1.0.2\n"
        "[kube-master]\nold ansible_host=10.1.0.3\n"
    )
    got = {t.name: (t.kind, t.roles) for t in load_inventory(ini).select(None)}
    assert got == {
        "cp1": ("k8s-node", ("control-plane",)),
        "w1": ("k8s-node", ("worker",)),
        "old": ("k8s-node", ("control-plane",)),
    }
