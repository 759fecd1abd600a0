"""The stand-in's objects: manifest fixtures made to look as a live cluster returns them.

A real API server does more than store what was applied: it fills in defaults, admission
adds the service-account token volume to pods, the service-account controller creates a
``default`` account in every namespace, and the workload controllers create ReplicaSets
and pods. ``build_cluster`` does the same, so the objects served have the shapes (and the
surprises: defaulted fields, pod-template-hash names, ownerReferences) of a real cluster.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .catalog import BY_KIND

ROOT = Path(__file__).resolve().parents[1] / "data" / "k8s"
BUILTIN = ROOT / "builtin"
CREATED = "2025-03-04T09:10:11Z"
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
MIRROR = "kubernetes.io/config.mirror"
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated names


class Cluster:
    """Objects by resource, sorted by (namespace, name), plus the /version document."""

    def __init__(self, objects: Iterable[dict[str, Any]], version: dict[str, Any]) -> None:
        self.version = version
        self.by_resource: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for obj in objects:
            kind = BY_KIND[obj["kind"]]
            meta = obj["metadata"]
            key = (meta.get("namespace", "") if kind.namespaced else "", meta["name"])
            self.by_resource.setdefault(kind.resource, {})[key] = obj

    def items(self, resource: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        return sorted(self.by_resource.get(resource, {}).items())

    def count(self, resource: str) -> int:
        return len(self.by_resource.get(resource, {}))


def _suffix(seed: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:length])


def _uid(kind: str, namespace: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"standin/{kind}/{namespace}/{name}"))


def load_manifests(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every object in the YAML/JSON files of ``folder`` (Lists expanded), and the /version
    document when the folder has a ``version.json``."""
    objects: list[dict[str, Any]] = []
    version = None
    for path in sorted(folder.glob("*")):
        if path.name == "version.json":
            version = json.loads(path.read_text())
            continue
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            for obj in doc.get("items", []) if doc.get("kind") == "List" else [doc]:
                if obj.get("kind") not in BY_KIND:
                    raise ValueError(f"{path}: the stand-in does not serve kind {obj.get('kind')}")
                objects.append(obj)
    return objects, version


def fixture_cluster(name: str) -> Cluster:
    """``tests/data/k8s/<name>/`` on top of the objects every cluster has (``builtin/``)."""
    builtin, _ = load_manifests(BUILTIN)
    own, version = load_manifests(ROOT / name)
    if version is None:
        raise ValueError(f"{ROOT / name}: needs a version.json (the /version document)")
    return build_cluster(builtin + own, version)


def build_cluster(manifests: list[dict[str, Any]], version: dict[str, Any]) -> Cluster:
    """Apply manifests as an API server and its controllers would (later ones win)."""
    applied: dict[tuple[str, str, str], dict[str, Any]] = {}
    for manifest in manifests:
        obj = copy.deepcopy(manifest)
        kind = BY_KIND[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            meta.setdefault("namespace", "default")
        applied[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    objects = list(applied.values())
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    for ns in namespaces:  # the service-account controller
        if ("ServiceAccount", ns, "default") not in applied:
            sa = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns},
            }
            applied[("ServiceAccount", ns, "default")] = sa
            objects.append(sa)
    nodes = [o for o in objects if o["kind"] == "Node"]
    for obj in list(objects):  # the workload controllers
        objects.extend(_controlled(obj, nodes))
    accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    revision = 1000
    for obj in objects:
        revision += 1
        _default(obj, revision, accounts)
    return Cluster(objects, version)


# -- controllers --------------------------------------------------------------------------


def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": _uid(owner["kind"], meta.get("namespace", ""), meta["name"]),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _pod_from(
    template: dict[str, Any],
    owner: dict[str, Any],
    name: str,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta = copy.deepcopy(template.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **(extra_labels or {})}
    meta.update(
        name=name, namespace=owner["metadata"]["namespace"], ownerReferences=[_owner_ref(owner)]
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _schedulable(node: dict[str, Any], pod_spec: dict[str, Any]) -> bool:
    """A DaemonSet pod lands on a node whose labels match its nodeSelector and whose
    NoSchedule taints it tolerates."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    tolerations = pod_spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if not any(
            t.get("operator") == "Exists" and not t.get("key") or t.get("key") == taint["key"]
            for t in tolerations
        ):
            return False
    return True


def _controlled(obj: dict[str, Any], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the controllers create for one workload object."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    name, template = meta["name"], spec.get("template") or {}
    replicas = spec.get("replicas", 1)
    made: list[dict[str, Any]] = []
    if obj["kind"] == "Deployment":
        rs_hash = _suffix("rs/" + json.dumps(template, sort_keys=True), 10)
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = (
            rs_hash
        )
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = rs_hash
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{rs_hash}",
                "namespace": meta["namespace"],
                "labels": dict(rs_template["metadata"]["labels"]),
                "ownerReferences": [_owner_ref(obj)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
        }
        made.append(rs)
        made.extend(_controlled(rs, nodes))
    elif obj["kind"] == "ReplicaSet" and meta.get("ownerReferences"):
        for i in range(replicas):
            made.append(_pod_from(template, obj, f"{name}-{_suffix(f'{name}/{i}', 5)}"))
    elif obj["kind"] == "StatefulSet":
        for i in range(replicas):
            made.append(
                _pod_from(
                    template,
                    obj,
                    f"{name}-{i}",
                    {"statefulset.kubernetes.io/pod-name": f"{name}-{i}"},
                )
            )
    elif obj["kind"] == "DaemonSet":
        for node in nodes:
            if not _schedulable(node, template.get("spec") or {}):
                continue
            node_name = node["metadata"]["name"]
            pod = _pod_from(template, obj, f"{name}-{_suffix(f'{name}/{node_name}', 5)}")
            pod["spec"]["nodeName"] = node_name
            made.append(pod)
    elif obj["kind"] == "Job":
        job_uid = _uid("Job", meta["namespace"], name)
        made.append(
            _pod_from(
                template,
                obj,
                f"{name}-{_suffix(name, 5)}",
                {
                    "batch.kubernetes.io/job-name": name,
                    "batch.kubernetes.io/controller-uid": job_uid,
                },
            )
        )
    return made


# -- defaulting and admission -------------------------------------------------------------


def _default(obj: dict[str, Any], revision: int, accounts: dict[tuple[str, str], Any]) -> None:
    kind = BY_KIND[obj["kind"]]
    obj.setdefault("apiVersion", kind.api_version)
    meta = obj["metadata"]
    meta.setdefault("creationTimestamp", CREATED)
    meta["resourceVersion"] = str(revision)
    meta["uid"] = _uid(obj["kind"], meta.get("namespace", ""), meta["name"])
    if obj["kind"] == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif obj["kind"] == "Pod":
        _default_pod(obj, accounts)
    elif obj["kind"] in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"):
        meta.setdefault("generation", 1)
        spec = obj.setdefault("spec", {})
        if obj["kind"] != "DaemonSet" and obj["kind"] != "Job":
            spec.setdefault("replicas", 1)
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            spec.setdefault("revisionHistoryLimit", 10)
        _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    elif obj["kind"] == "CronJob":
        spec = obj.setdefault("spec", {})
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        _default_pod_spec(job_spec.setdefault("template", {}).setdefault("spec", {}))


def _default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            image = str(container.get("image", ""))
            latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                port.setdefault("protocol", "TCP")
                if spec.get("hostNetwork"):
                    port.setdefault("hostPort", port.get("containerPort"))


def _default_pod(pod: dict[str, Any], accounts: dict[tuple[str, str], Any]) -> None:
    spec = pod.setdefault("spec", {})
    _default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    _admit_service_account(pod, accounts)
    node = spec.get("nodeName") or "worker-1"
    spec["nodeName"] = node
    pod["status"] = {
        "phase": "Running",
        "qosClass": "BestEffort",
        "hostIP": "10.0.0.11",
        "podIP": "10.0.0.11" if spec.get("hostNetwork") else f"10.244.1.{1 + len(node) % 200}",
        "startTime": CREATED,
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": CREATED}
            for t in (
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
            )
        ],
        "containerStatuses": [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": CREATED}},
            }
            for c in spec.get("containers") or []
        ],
    }


def _admit_service_account(pod: dict[str, Any], accounts: dict[tuple[str, str], Any]) -> None:
    """The ServiceAccount admission plugin: name the account and mount its token unless
    the pod or the account says not to. Mirror pods of static pods are left alone."""
    spec = pod["spec"]
    if MIRROR in (pod["metadata"].get("annotations") or {}):
        return
    account = spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec["serviceAccount"] = account
    namespace = pod["metadata"]["namespace"]
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = (accounts.get((namespace, account)) or {}).get(
            "automountServiceAccountToken", True
        )
    if automount:
        volume = f"kube-api-access-{_suffix(pod['metadata']['name'], 5)}"
        spec.setdefault("volumes", []).append(
            {
                "name": volume,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                },
            }
        )
        for field in ("initContainers", "containers"):
            for container in spec.get(field) or []:
                container.setdefault("volumeMounts", []).append(
                    {"name": volume, "mountPath": TOKEN_MOUNT, "readOnly": True}
                )


# -- a big synthetic cluster (benchmarks) --------------------------------------------------


def synthetic_cluster(pods: int = 5000, namespaces: int = 50, replicas: int = 10) -> Cluster:
    """``pods`` pods in ``namespaces`` namespaces, from Deployments of ``replicas`` each,
    half of them hardened and half not, on top of the built-in objects."""
    builtin, _ = load_manifests(BUILTIN)
    manifests = list(builtin)
    per_ns = max(1, pods // (namespaces * replicas))
    made = 0
    for n in range(namespaces):
        ns = f"team-{n:03d}"
        labels = {"pod-security.kubernetes.io/enforce": "restricted"} if n % 2 else {}
        manifests.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        )
        for d in range(per_ns):
            if made >= pods:
                break
            count = min(replicas, pods - made)
            made += count
            hardened = (n + d) % 2 == 0
            security = (
                {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                }
                if hardened
                else {"privileged": d % 5 == 0}
            )
            manifests.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": f"svc-{d:03d}",
                        "namespace": ns,
                        "labels": {"app": f"svc-{d}"},
                    },
                    "spec": {
                        "replicas": count,
                        "selector": {"matchLabels": {"app": f"svc-{d}"}},
                        "template": {
                            "metadata": {"labels": {"app": f"svc-{d}"}},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "app",
                                        "image": f"registry.example.com/svc-{d}:1.{n}.0",
                                        "ports": [{"containerPort": 8080}],
                                        "env": [
                                            {
                                                "name": "DB_PASSWORD",
                                                "valueFrom": {
                                                    "secretKeyRef": {
                                                        "name": "db",
                                                        "key": "password",
                                                    }
                                                },
                                            }
                                        ]
                                        if not hardened
                                        else [],
                                        "securityContext": security,
                                    }
                                ]
                            },
                        },
                    },
                }
            )
    version = {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.2",
        "gitCommit": "67a30c0adcf52bd3f56ff0893ce19966be12991f",
        "gitTreeState": "clean",
        "buildDate": "2025-02-12T21:19:47Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    nodes = [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"worker-{i}"}}
        for i in range(1, 4)
    ]
    return build_cluster(manifests + nodes, version)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
