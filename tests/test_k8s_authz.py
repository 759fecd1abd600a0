"""RBAC as the API server's authorizer decides it (Kubernetes docs, "Using RBAC
Authorization"), and the CIS 5.1.x controls built on it."""

from __future__ import annotations

from typing import Any

import pytest

from cisaudit.kinds.k8s_cluster.derive.authz import (
    build_authorizer,
    clusterrole_rules,
    selector_matches,
    subjects_of,
)
from cisaudit.kinds.k8s_cluster.derive.rbac import derive_rbac

ALICE = subjects_of("alice", ["devs", "system:authenticated"])
ALL = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}


def _role(
    name: str, rules: list[dict[str, Any]], ns: str | None = None, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"kind": "Role" if ns else "ClusterRole", "metadata": meta, "rules": rules, **extra}


def _binding(
    name: str, role: str, subjects: list[dict[str, str]], ns: str | None = None
) -> dict[str, Any]:
    kind, _, role_name = role.partition("/")
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "kind": "RoleBinding" if ns else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
        "subjects": subjects,
    }


USER = {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}
EVERYONE = {
    "kind": "Group",
    "name": "system:authenticated",
    "apiGroup": "rbac.authorization.k8s.io",
}


def test_a_rolebinding_grants_namespaced_resources_in_its_namespace_only() -> None:
    authz = build_authorizer(
        [], [_role("all", [ALL])], [_binding("b", "ClusterRole/all", [USER], "team-a")], []
    )
    assert authz.allowed(ALICE, "delete", "", "pods", namespace="team-a")
    assert authz.allowed(ALICE, "get", "", "secrets", namespace="team-a", name="db")
    assert not authz.allowed(ALICE, "get", "", "pods", namespace="team-b")
    # cluster-scoped resources are never granted through a RoleBinding, even by "*"
    for verb, group, resource in [
        ("get", "", "nodes"),
        ("get", "", "nodes/proxy"),
        ("create", "", "persistentvolumes"),
        ("delete", "", "namespaces"),
        ("update", "certificates.k8s.io", "certificatesigningrequests/approval"),
        ("approve", "certificates.k8s.io", "signers"),
        ("update", "admissionregistration.k8s.io", "validatingwebhookconfigurations"),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
    ]:
        assert not authz.allowed(ALICE, verb, group, resource), (verb, resource)
        assert not authz.allowed(ALICE, verb, group, resource, namespace="team-a"), (verb, resource)
    # the one exception: bind on a ClusterRole, checked in the RoleBinding's namespace
    assert authz.allowed(
        ALICE, "bind", "rbac.authorization.k8s.io", "clusterroles", namespace="team-a"
    )


def test_a_clusterrolebinding_grants_everywhere() -> None:
    authz = build_authorizer(
        [], [_role("all", [ALL])], [], [_binding("b", "ClusterRole/all", [USER])]
    )
    assert authz.allowed(ALICE, "get", "", "nodes/proxy")
    assert authz.allowed(ALICE, "list", "", "pods", namespace="anything")


def test_matching_resources_subresources_names_and_urls() -> None:
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "create", "list"],
            "resourceNames": ["app-config"],
        },
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]
    authz = build_authorizer([], [_role("r", rules)], [], [_binding("b", "ClusterRole/r", [USER])])
    assert authz.allowed(ALICE, "get", "", "pods", namespace="x")
    assert not authz.allowed(ALICE, "get", "", "pods/log", namespace="x")  # "pods" is not "pods/*"
    assert authz.allowed(ALICE, "update", "apps", "deployments/scale", namespace="x")
    assert not authz.allowed(ALICE, "update", "apps", "deployments", namespace="x")
    assert authz.allowed(ALICE, "get", "", "configmaps", namespace="x", name="app-config")
    assert not authz.allowed(ALICE, "get", "", "configmaps", namespace="x", name="other")
    assert not authz.allowed(ALICE, "create", "", "configmaps", namespace="x")  # no name to match
    assert not authz.allowed(ALICE, "list", "", "configmaps", namespace="x")
    assert not authz.allowed(ALICE, "get", "", "secrets", namespace="x")  # URLs grant no resource


def test_groups_service_accounts_and_missing_roles() -> None:
    sa = {"kind": "ServiceAccount", "name": "ci"}  # namespace taken from the binding
    authz = build_authorizer(
        [_role("reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}], "ci")],
        [],
        [_binding("b", "Role/reader", [sa], "ci"), _binding("ghost", "Role/missing", [USER], "ci")],
        [
            _binding(
                "all-sa", "ClusterRole/gone", [{"kind": "Group", "name": "system:serviceaccounts"}]
            )
        ],
    )
    assert authz.allowed(
        subjects_of("system:serviceaccount:ci:ci", serviceaccount="ci/ci"),
        "list",
        "",
        "pods",
        namespace="ci",
    )
    assert not authz.allowed(ALICE, "list", "", "pods", namespace="ci")  # its role does not exist


def test_aggregated_clusterroles() -> None:
    labelled = _role(
        "metrics-view", [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get"]}]
    )
    labelled["metadata"]["labels"] = {"rbac.example.com/aggregate-to-monitoring": "true"}
    nested = _role(
        "nested",
        [],
        aggregationRule={
            "clusterRoleSelectors": [
                {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}
            ]
        },
    )
    nested["metadata"]["labels"] = {"tier": "top"}
    top = _role(
        "top",
        [],
        aggregationRule={
            "clusterRoleSelectors": [
                {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["top"]}]}
            ]
        },
    )
    rules = clusterrole_rules([labelled, nested, top])
    assert rules["nested"] == labelled["rules"] and rules["top"] == labelled["rules"]
    authz = build_authorizer(
        [], [labelled, nested, top], [], [_binding("b", "ClusterRole/top", [USER])]
    )
    assert authz.allowed(ALICE, "get", "metrics.k8s.io", "pods", namespace="x")


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, False),
        ({}, {"a": "1"}, False),  # an empty selector aggregates nothing
    ],
)
def test_label_selectors(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


# -- the facts the CIS 5.1.x checks read --------------------------------------------------------


def _facts(
    roles: list[dict[str, Any]],
    clusterroles: list[dict[str, Any]],
    rolebindings: list[dict[str, Any]],
    clusterrolebindings: list[dict[str, Any]],
) -> dict[str, Any]:
    return derive_rbac(roles, clusterroles, rolebindings, clusterrolebindings)


def test_webhook_rights_through_a_rolebinding_are_no_rights() -> None:
    writer = _role(
        "hooks",
        [
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingwebhookconfigurations"],
                "verbs": ["*"],
            }
        ],
        "apps",
    )
    facts = _facts([writer], [], [_binding("b", "Role/hooks", [EVERYONE], "apps")], [])
    assert facts["webhook_config_writers"] == []
    cluster = _role(
        "hooks",
        [
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingwebhookconfigurations"],
                "verbs": ["*"],
            }
        ],
    )
    facts = _facts([], [cluster], [_binding("b", "ClusterRole/hooks", [EVERYONE], "apps")], [])
    assert facts["webhook_config_writers"] == []
    facts = _facts([], [cluster], [], [_binding("b", "ClusterRole/hooks", [EVERYONE])])
    assert [e["subject"] for e in facts["webhook_config_writers"]] == [
        "Group//system:authenticated"
    ]


def test_a_csr_approver_needs_the_approval_and_the_signer() -> None:
    approval = _role(
        "approval",
        [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests/approval"],
                "verbs": ["update"],
            }
        ],
    )
    signer = _role(
        "signer",
        [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["signers"],
                "verbs": ["approve"],
                "resourceNames": ["example.com/my-signer"],
            }
        ],
    )
    only_one = _facts([], [approval, signer], [], [_binding("a", "ClusterRole/approval", [USER])])
    assert only_one["csr_approvers"] == []
    only_other = _facts([], [approval, signer], [], [_binding("s", "ClusterRole/signer", [USER])])
    assert only_other["csr_approvers"] == []
    both = _facts(
        [],
        [approval, signer],
        [],
        [
            _binding("a", "ClusterRole/approval", [USER]),
            _binding("s", "ClusterRole/signer", [USER]),
        ],
    )
    (entry,) = both["csr_approvers"]
    assert entry["subject"] == "User//alice" and "ClusterRole/approval" in entry["via"]
    assert "ClusterRole/signer" in entry["via"] and entry["resource_names"] == [
        "example.com/my-signer"
    ]
    # the signer half granted through a RoleBinding does not count (signers are cluster-scoped)
    scoped = _facts(
        [],
        [approval, signer],
        [_binding("s", "ClusterRole/signer", [USER], "ns")],
        [_binding("a", "ClusterRole/approval", [USER])],
    )
    assert scoped["csr_approvers"] == []


def test_other_cluster_scoped_rights_need_a_clusterrolebinding() -> None:
    nodes = _role(
        "nodes",
        [{"apiGroups": [""], "resources": ["nodes/proxy", "persistentvolumes"], "verbs": ["*"]}],
    )
    facts = _facts([], [nodes], [_binding("b", "ClusterRole/nodes", [USER], "ns")], [])
    assert facts["node_proxy_grants"] == [] and facts["pv_creators"] == []
    facts = _facts([], [nodes], [], [_binding("b", "ClusterRole/nodes", [USER])])
    assert facts["node_proxy_grants"] and facts["pv_creators"]
    # namespaced rights are granted by the RoleBinding, in its namespace
    secrets = _role("s", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    facts = _facts([], [secrets], [_binding("b", "ClusterRole/s", [USER], "ns")], [])
    assert [e["namespace"] for e in facts["subjects_reading_secrets"]] == ["ns"]
