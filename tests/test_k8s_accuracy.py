"""Kubernetes classes where peers (and earlier cisaudit) were wrong, decided from raw
objects the way the cluster itself reads them: network policies of CNI plugins that
bring their own (Cilium, Calico), the default namespace's user objects, and malformed
manifests in a dump that must not stop the audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cisaudit.api import audit
from cisaudit.kinds.k8s_cluster.derive import cni_policy_coverage
from cisaudit.kinds.k8s_cluster.derive.resources import RESOURCES
from cisaudit.targets import Target

NAMESPACES = ["shop", "payments", "ci"]


def _raw(**kinds: list[dict[str, Any]]) -> dict[str, Any]:
    raw: dict[str, Any] = {r.name: [] for r in RESOURCES}
    raw.update({k.replace("_", "-"): v for k, v in kinds.items()})
    return raw


def _obj(
    kind: str, name: str, ns: str | None = None, spec: Any = None, **extra: Any
) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta, "spec": spec or {}, **extra}


def test_cilium_policies_cover_their_namespaces() -> None:
    raw = _raw(
        ciliumnetworkpolicies=[
            _obj("CiliumNetworkPolicy", "deny", "shop", {"endpointSelector": {}})
        ],
        ciliumclusterwidenetworkpolicies=[
            _obj(
                "CiliumClusterwideNetworkPolicy",
                "payments-only",
                spec={
                    "endpointSelector": {
                        "matchLabels": {"k8s:io.kubernetes.pod.namespace": "payments"}
                    }
                },
            ),
            _obj("CiliumClusterwideNetworkPolicy", "hosts", spec={"nodeSelector": {}}),
        ],
    )
    covered, unknown = cni_policy_coverage(raw, NAMESPACES)
    assert covered["shop"] == ["CiliumNetworkPolicy/deny"]
    assert covered["payments"] == ["CiliumClusterwideNetworkPolicy/payments-only"]
    assert covered["ci"] == []  # a host policy covers no namespace
    assert unknown == []
    everywhere = _raw(
        ciliumclusterwidenetworkpolicies=[
            _obj("CiliumClusterwideNetworkPolicy", "default-deny", spec={"endpointSelector": {}})
        ]
    )
    covered, _ = cni_policy_coverage(everywhere, NAMESPACES)
    assert all(covered[n] == ["CiliumClusterwideNetworkPolicy/default-deny"] for n in NAMESPACES)


def test_calico_policies_cover_their_namespaces() -> None:
    raw = _raw(
        calico_networkpolicies=[_obj("NetworkPolicy", "allow-web", "shop", {"selector": "all()"})],
        calico_globalnetworkpolicies=[
            _obj(
                "GlobalNetworkPolicy",
                "pay",
                spec={"namespaceSelector": "projectcalico.org/name == 'payments'"},
            ),
            _obj(
                "GlobalNetworkPolicy",
                "two",
                spec={"namespaceSelector": 'projectcalico.org/name in {"ci", "shop"}'},
            ),
        ],
    )
    covered, _ = cni_policy_coverage(raw, NAMESPACES)
    assert covered["shop"] == [
        "NetworkPolicy.crd.projectcalico.org/allow-web",
        "GlobalNetworkPolicy/two",
    ]
    assert covered["payments"] == ["GlobalNetworkPolicy/pay"]
    assert covered["ci"] == ["GlobalNetworkPolicy/two"]
    everywhere = _raw(
        calico_globalnetworkpolicies=[_obj("GlobalNetworkPolicy", "deny-all", spec={})]
    )
    covered, _ = cni_policy_coverage(everywhere, NAMESPACES)
    assert all(covered[n] == ["GlobalNetworkPolicy/deny-all"] for n in NAMESPACES)


def test_unreadable_cni_kinds_are_unknown_not_none() -> None:
    raw = _raw()
    raw["ciliumnetworkpolicies"] = None
    _, unknown = cni_policy_coverage(raw, NAMESPACES)
    assert unknown == ["ciliumnetworkpolicies"]


def _dump(folder: Path, files: dict[str, Any]) -> Path:
    folder.mkdir()
    (folder / "version.json").write_text(json.dumps({"serverVersion": {"gitVersion": "v1.33.1"}}))
    for name, doc in files.items():
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
        (folder / name).write_text(text)
    return folder


def _list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def _verdicts(folder: Path) -> dict[str, Any]:
    run = audit([Target(name="c", kind="k8s-cluster", path=str(folder), dump_complete=True)]).run
    return {r.control_id: r for r in run.targets[0].results}


def test_a_dump_with_cilium_policies_passes_5_3_2(tmp_path: Path) -> None:
    namespaces = _list(
        *[
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
            for n in ("default", "shop", "payments")
        ]
    )
    cilium = _list(
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "deny", "namespace": "shop"},
            "spec": {"endpointSelector": {}},
        },
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "deny", "namespace": "payments"},
            "spec": {"endpointSelector": {}},
        },
    )
    calico = _list(
        {
            "apiVersion": "crd.projectcalico.org/v1",
            "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "default-ns"},
            "spec": {"namespaceSelector": "projectcalico.org/name == 'default'"},
        }
    )
    results = _verdicts(
        _dump(
            tmp_path / "d",
            {
                "namespaces.yaml": namespaces,
                "ciliumnetworkpolicies.cilium.io.yaml": cilium,
                "globalnetworkpolicies.crd.projectcalico.org.yaml": calico,
            },
        )
    )
    assert results["5.3.2"].status.value == "PASS", results["5.3.2"].reason
    # without the Calico policy, default is named as uncovered
    results = _verdicts(
        _dump(
            tmp_path / "e",
            {"namespaces.yaml": namespaces, "ciliumnetworkpolicies.cilium.io.yaml": cilium},
        )
    )
    assert results["5.3.2"].status.value == "FAIL"
    assert [o.name for o in results["5.3.2"].offenders] == ["Namespace/default"]


def test_the_default_namespace_holds_no_user_objects(tmp_path: Path) -> None:
    namespaces = _list({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    services = _list(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "legacy-db", "namespace": "default"},
        },
    )
    configmaps = _list(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": "default"},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app", "namespace": "default"},
            "data": {"password": "hunter2-value"},
        },
    )
    folder = _dump(
        tmp_path / "d",
        {"namespaces.yaml": namespaces, "services.yaml": services, "configmaps.yaml": configmaps},
    )
    run = audit([Target(name="c", kind="k8s-cluster", path=str(folder), dump_complete=True)])
    result = {r.control_id: r for r in run.run.targets[0].results}["5.6.4"]
    assert result.status.value == "FAIL"
    observed = json.dumps(result.offenders[0].observed)
    assert "ConfigMap/app" in observed and "Service/legacy-db" in observed
    # a ConfigMap's data never reaches the evidence
    evidence = json.dumps([e.to_dict() for e in run.evidence])
    assert "hunter2-value" not in evidence and "BEGIN CERTIFICATE" not in evidence
    clean = _dump(
        tmp_path / "e",
        {
            "namespaces.yaml": namespaces,
            "services.yaml": _list(services["items"][0]),
            "configmaps.yaml": _list(configmaps["items"][0]),
        },
    )
    assert _verdicts(clean)["5.6.4"].status.value == "PASS"


MALFORMED = """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: good, namespace: shop}
  spec:
    template:
      spec:
        containers:
        - name: app
          image: nginx
          securityContext: {allowPrivilegeEscalation: false, privileged: false}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: list-spec, namespace: shop}
  spec:
  - template: {}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: string-context, namespace: shop}
  spec:
    template:
      spec:
        containers:
        - name: app
          image: nginx
          securityContext:runAsNonRoot: true
          securityContext:
            privileged:true
- apiVersion: v1
  kind: Pod
  metadata: {name: bad-pod, namespace: shop}
  spec:
    containers: nginx
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: broken}
  roleRef: {kind: ClusterRole, name: cluster-admin}
  subjects: "system:authenticated"
"""


def test_malformed_manifests_are_errors_for_those_objects_only(tmp_path: Path) -> None:
    namespaces = _list({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    folder = _dump(tmp_path / "d", {"namespaces.yaml": namespaces, "apps.yaml": MALFORMED})
    run = audit([Target(name="c", kind="k8s-cluster", path=str(folder), dump_complete=True)]).run
    target = run.targets[0]
    assert target.reachable and target.error is None
    results = {r.control_id: r for r in target.results}
    privileged = results["5.2.2"]  # nothing readable is privileged: the unreadable ones are unknown
    assert privileged.status.value == "ERROR"
    unread = {o.name: o.observed for o in privileged.offenders}
    assert set(unread) == {
        "shop/Deployment/list-spec",
        "shop/Deployment/string-context",
        "shop/Pod/bad-pod",
    }
    assert (
        "apps.yaml" in unread["shop/Deployment/list-spec"]
        and "spec is a list" in unread["shop/Deployment/list-spec"]
    )
    assert "securityContext is a str" in unread["shop/Deployment/string-context"]
    assert "containers is a str" in unread["shop/Pod/bad-pod"]
    # a control the readable objects fail still FAILs, naming them (and the unreadable)
    seccomp = results["5.6.2"] if "5.6.2" in results else None
    if seccomp is not None and seccomp.status.value == "FAIL":
        assert "shop/Deployment/good" in [o.name for o in seccomp.offenders]
    # the broken binding is set aside, named, and the RBAC controls are judged without it
    assert any("broken" in m["name"] for m in target.facts_summary.get("malformed", []))
    assert results["5.1.1"].status.value != "ERROR" or "malformed" not in results["5.1.1"].reason
