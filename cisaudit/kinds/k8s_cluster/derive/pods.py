"""Pod specs (pods and workload templates) as the pod controls judge them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cisaudit.kinds.k8s_cluster.derive.common import _caps


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                yield container


class MalformedSpec(ValueError):
    """A pod spec whose fields do not have the types Kubernetes requires: the API server
    would refuse it, so it cannot be judged (a per-object ERROR, never a guess)."""


_DICT, _LIST, _BOOL = dict, list, bool
_SPEC_TYPES: dict[str, type] = {
    "securityContext": _DICT,
    "volumes": _LIST,
    "containers": _LIST,
    "initContainers": _LIST,
    "ephemeralContainers": _LIST,
    "hostNetwork": _BOOL,
    "hostPID": _BOOL,
    "hostIPC": _BOOL,
    "automountServiceAccountToken": _BOOL,
}
_CONTAINER_TYPES: dict[str, type] = {
    "securityContext": _DICT,
    "ports": _LIST,
    "env": _LIST,
    "envFrom": _LIST,
    "volumeMounts": _LIST,
}
_SC_TYPES: dict[str, type] = {
    "capabilities": _DICT,
    "privileged": _BOOL,
    "allowPrivilegeEscalation": _BOOL,
    "runAsNonRoot": _BOOL,
    "seccompProfile": _DICT,
    "windowsOptions": _DICT,
}


def check_spec_shape(spec: Any) -> None:
    """Raise MalformedSpec naming the first field of the wrong type (a securityContext
    written as a string, containers as a string ...)."""

    def check(value: Any, types: dict[str, type], where: str) -> None:
        if not isinstance(value, dict):
            raise MalformedSpec(f"{where or 'spec'} is a {type(value).__name__}, not a mapping")
        for key, kind in types.items():
            if value.get(key) is not None and not isinstance(value[key], kind):
                raise MalformedSpec(f"{where}{key} is a {type(value[key]).__name__}")

    check(spec, _SPEC_TYPES, "")
    if spec.get("securityContext") is not None:
        check(spec["securityContext"], _SC_TYPES, "securityContext.")
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(field) or []):
            where = f"{field}[{i}]."
            check(container, _CONTAINER_TYPES, where)
            sc = container.get("securityContext")
            if sc is not None:
                check(sc, _SC_TYPES, f"{where}securityContext.")
                caps = sc.get("capabilities")
                if caps is not None:
                    check(
                        caps, {"add": _LIST, "drop": _LIST}, f"{where}securityContext.capabilities."
                    )
            for j, port in enumerate(container.get("ports") or []):
                if not isinstance(port, dict):
                    raise MalformedSpec(f"{where}ports[{j}] is a {type(port).__name__}")
            for j, env in enumerate(container.get("env") or []):
                if not isinstance(env, dict):
                    raise MalformedSpec(f"{where}env[{j}] is a {type(env).__name__}")
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict):
            raise MalformedSpec(f"volumes[{i}] is a {type(volume).__name__}")


def pod_spec_facts(
    spec: dict[str, Any], namespace: str, sa_automount: Callable[[str, str], bool | None]
) -> dict[str, Any]:
    """The ``cis`` fields of one pod spec. ``sa_automount(namespace, name)`` gives the
    effective automount of a service account (True when unset), None when unknown.
    Raises MalformedSpec for a spec the API server would refuse."""
    check_spec_shape(spec)
    pod_sc = spec.get("securityContext") or {}
    names: dict[str, list[str]] = {
        k: []
        for k in (
            "privileged",
            "allow_privilege_escalation",
            "run_as_root",
            "net_raw",
            "not_dropping_all",
            "windows_host_process",
            "without_seccomp",
            "without_security_context",
        )
    }
    added: set[str] = set()
    capabilities: dict[str, dict[str, list[str]]] = {}
    host_ports: list[int] = []
    secret_env: list[str] = []
    containers = list(_containers(spec))
    for c in containers:
        name = str(c.get("name", "?"))
        sc = c.get("securityContext") or {}
        privileged = sc.get("privileged") is True
        caps = sc.get("capabilities") or {}
        add, drop = _caps(caps.get("add")), _caps(caps.get("drop"))
        if privileged:
            names["privileged"].append(name)
        if sc.get("allowPrivilegeEscalation") is not False:
            names["allow_privilege_escalation"].append(name)
        user = _first_set(sc.get("runAsUser"), pod_sc.get("runAsUser"))
        non_root = _first_set(sc.get("runAsNonRoot"), pod_sc.get("runAsNonRoot"))
        # Without a UID the image's USER decides; only runAsNonRoot keeps that from being 0.
        if user == 0 or (user is None and non_root is not True):
            names["run_as_root"].append(name)
        if privileged or {"NET_RAW", "ALL"} & set(add) or not {"NET_RAW", "ALL"} & set(drop):
            names["net_raw"].append(name)
        if "ALL" not in drop:
            names["not_dropping_all"].append(name)
        added.update(add)
        if add or drop:
            capabilities[name] = {"add": add, "drop": drop}
        host_process = _first_set(
            (sc.get("windowsOptions") or {}).get("hostProcess"),
            (pod_sc.get("windowsOptions") or {}).get("hostProcess"),
        )
        if host_process is True:
            names["windows_host_process"].append(name)
        profile = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        if profile.get("type") not in ("RuntimeDefault", "Localhost"):
            names["without_seccomp"].append(name)
        if not sc and not _meaningful(pod_sc):
            names["without_security_context"].append(name)
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                host_ports.append(int(port["hostPort"]))
        for env in c.get("env") or []:
            if ((env.get("valueFrom") or {}).get("secretKeyRef")) is not None:
                secret_env.append(f"{name}/{env.get('name')}")
        for source in c.get("envFrom") or []:
            if source.get("secretRef") is not None:
                secret_env.append(f"{name}/envFrom:{(source['secretRef'] or {}).get('name')}")
    account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    automount = spec.get("automountServiceAccountToken")
    if not isinstance(automount, bool):
        automount = sa_automount(namespace, account)
    return {
        "namespace": namespace,
        "service_account": account,
        "containers": [str(c.get("name", "?")) for c in containers],
        "images": [
            {"container": str(c.get("name", "?")), "image": str(c.get("image") or "")}
            for c in containers
        ],
        "privileged": names["privileged"],
        "allow_privilege_escalation": names["allow_privilege_escalation"],
        "run_as_root": names["run_as_root"],
        "net_raw": names["net_raw"],
        "not_dropping_all": names["not_dropping_all"],
        "added_capabilities": sorted(added),
        "capabilities": capabilities,
        "host_pid": spec.get("hostPID") is True,
        "host_ipc": spec.get("hostIPC") is True,
        "host_network": spec.get("hostNetwork") is True,
        "host_path_volumes": [
            str((v.get("hostPath") or {}).get("path"))
            for v in spec.get("volumes") or []
            if v.get("hostPath") is not None
        ],
        "host_ports": sorted(set(host_ports)),
        "automount_token": automount,
        "secret_env": secret_env,
        "seccomp_runtime_default": bool(containers) and not names["without_seccomp"],
        "without_seccomp": names["without_seccomp"],
        "security_context": bool(containers) and not names["without_security_context"],
        "windows_host_process": names["windows_host_process"],
        "in_default_namespace": namespace == "default",
    }


def _first_set(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _meaningful(pod_sc: dict[str, Any]) -> bool:
    # The API server defaults an empty pod securityContext ({}); that is no context at all.
    return any(v not in (None, {}, []) for v in pod_sc.values())


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _replicas(obj: dict[str, Any]) -> int | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet"):
        value = spec.get("replicas")
        return 1 if value is None else int(value)
    return None
