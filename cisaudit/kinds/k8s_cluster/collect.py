"""Collect a Kubernetes cluster's objects: read-only over its API, or from an offline dump.

Live: the official ``kubernetes`` client, with a kubeconfig (and context) or the service
account of the pod cisaudit runs in. Each kind the section-5 controls need is listed once
across all namespaces, page by page (``limit`` + ``continue``), and recorded as one raw
section holding the JSON List. A kind the API refuses (403) or does not serve (404) becomes
that section's error; the rest of the cluster is still read. Secrets are never listed.

Offline: ``target.path`` names a directory of YAML/JSON manifests or a file written by
``kubectl get ... -o yaml|json`` (List objects, multi-document YAML). The objects are
sorted into the same sections, so evaluation is identical. Secrets in a dump are dropped
unread. A kind the dump does not show is an error, not an empty list: an export that left
it out says nothing about it. "None of this kind" needs proof, because ``kubectl get``
prints an empty List even when the API refused it: an empty List counts only when
kubectl's stderr was kept beside it and is empty (``cronjobs.batch.yaml`` +
``cronjobs.batch.err``, as ``docs/kubernetes.md`` shows), or when it is the API's own
typed List (``kind: CronJobList``). A non-empty ``.err`` is that kind's error.

Section ``rc``: 0 when the whole list was read; otherwise the HTTP status, -1 when no
answer came, 1 when a dump lacks the kind. ``stderr`` then says why in words.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cisaudit.evidence import Section, TargetEvidence
from cisaudit.kinds.k8s_cluster.derive import (
    INVENTORY_SECTION,
    RESOURCES,
    VERSION_SECTION,
    Resource,
)
from cisaudit.redact import (
    Redactor,
    redact_json_item,
    redact_json_text,
    redact_json_value,
    redact_sections,
    scrub_text,
)
from cisaudit.targets import Target

DEFAULT_PAGE_SIZE = 500  # what kubectl asks for
ANONYMOUS = '"system:anonymous"'
PARALLEL_KINDS = 4
# Where a pod finds its service account (overridable for tests).
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The client's list function for each resource (all namespaces where namespaced).
LIST_CALLS: dict[str, tuple[str, str]] = {
    "namespaces": ("CoreV1Api", "list_namespace"),
    "pods": ("CoreV1Api", "list_pod_for_all_namespaces"),
    "serviceaccounts": ("CoreV1Api", "list_service_account_for_all_namespaces"),
    "deployments": ("AppsV1Api", "list_deployment_for_all_namespaces"),
    "daemonsets": ("AppsV1Api", "list_daemon_set_for_all_namespaces"),
    "statefulsets": ("AppsV1Api", "list_stateful_set_for_all_namespaces"),
    "replicasets": ("AppsV1Api", "list_replica_set_for_all_namespaces"),
    "jobs": ("BatchV1Api", "list_job_for_all_namespaces"),
    "cronjobs": ("BatchV1Api", "list_cron_job_for_all_namespaces"),
    "roles": ("RbacAuthorizationV1Api", "list_role_for_all_namespaces"),
    "clusterroles": ("RbacAuthorizationV1Api", "list_cluster_role"),
    "rolebindings": ("RbacAuthorizationV1Api", "list_role_binding_for_all_namespaces"),
    "clusterrolebindings": ("RbacAuthorizationV1Api", "list_cluster_role_binding"),
    "networkpolicies": ("NetworkingV1Api", "list_network_policy_for_all_namespaces"),
    "validatingwebhookconfigurations": (
        "AdmissionregistrationV1Api",
        "list_validating_webhook_configuration",
    ),
    "mutatingwebhookconfigurations": (
        "AdmissionregistrationV1Api",
        "list_mutating_webhook_configuration",
    ),
    "validatingadmissionpolicies": (
        "AdmissionregistrationV1Api",
        "list_validating_admission_policy",
    ),
    "validatingadmissionpolicybindings": (
        "AdmissionregistrationV1Api",
        "list_validating_admission_policy_binding",
    ),
    "replicationcontrollers": ("CoreV1Api", "list_replication_controller_for_all_namespaces"),
    "services": ("CoreV1Api", "list_service_for_all_namespaces"),
    "configmaps": ("CoreV1Api", "list_config_map_for_all_namespaces"),
    # custom resources: CustomObjectsApi, by group, version and plural
    "ciliumnetworkpolicies": ("CustomObjectsApi", "list_cluster_custom_object"),
    "ciliumclusterwidenetworkpolicies": ("CustomObjectsApi", "list_cluster_custom_object"),
    "calico-networkpolicies": ("CustomObjectsApi", "list_cluster_custom_object"),
    "calico-globalnetworkpolicies": ("CustomObjectsApi", "list_cluster_custom_object"),
}
# Groups an object's apiVersion may name for each kind we read (older served versions
# included, so an old dump still sorts right); CRDs of the same kind name are ignored.
KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "Deployment": ("apps", "extensions"),
    "DaemonSet": ("apps", "extensions"),
    "ReplicaSet": ("apps", "extensions"),
    "NetworkPolicy": ("networking.k8s.io", "extensions"),
}


# Every object list is a JSON document; anything else is scrubbed as free text.
def _redacted_when_built(text: str) -> str:
    """List sections are redacted as they are built: object by object by ``list_object``
    before they become text, and a failed request's answer by ``_failure``; they pass as
    they are. The version section is redacted as text."""
    return text


REDACTION: dict[str, Redactor] = {
    VERSION_SECTION: redact_json_text,
    "k8s.api.*": _redacted_when_built,
}


class ClusterUnreachable(Exception):
    """The cluster cannot be audited at all (no credentials, no answer, 401)."""


def collect_k8s_cluster(target: Target, *, page_size: int | None = None) -> TargetEvidence:
    """Read the cluster named by ``target``; failures become ``error``, never exceptions.

    ``page_size`` (default: the inventory entry's ``page_size``, or ``vars.page_size``,
    else 500) is the ``limit`` of each list request."""
    started = time.monotonic()
    evidence = TargetEvidence(
        name=target.name,
        kind=target.kind,
        address=target.path or None,
        groups=list(target.groups),
        roles=list(target.roles),
        collected_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        params=target.params(),
    )
    inventory: dict[str, Any] = {"managed": _managed(target)}
    try:
        if target.path:
            complete = _setting(target, "dump_complete")
            inventory.update(source="offline", path=str(target.path), dump_complete=complete)
            evidence.sections.update(read_dump(Path(target.path).expanduser(), complete=complete))
        else:
            _read_api(target, page_size, evidence, inventory)
    except ClusterUnreachable as exc:
        evidence.error = str(exc)
    # Secrets never reach the evidence: env values, arguments, annotations (the
    # last-applied-configuration copy included) follow the one policy of cisaudit.redact.
    redact_sections(evidence.sections, REDACTION)
    evidence.sections[INVENTORY_SECTION] = Section(
        command="inventory entry", rc=0, output=json.dumps(inventory, sort_keys=True)
    )
    evidence.platform_version = _git_version(evidence.sections.get(VERSION_SECTION))
    evidence.duration_s = round(time.monotonic() - started, 3)
    return evidence


def _read_api(
    target: Target, page_size: int | None, evidence: TargetEvidence, inventory: dict[str, Any]
) -> None:
    if page_size is not None or target.page_size is not None:
        label = "page_size"
        wanted: Any = page_size if page_size is not None else target.page_size
    else:
        label, wanted = "vars.page_size", target.vars.get("page_size") or DEFAULT_PAGE_SIZE
    try:
        size = int(wanted)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise ClusterUnreachable(f"{label} must be a positive number, not {wanted!r}")
    reader = ApiReader(target, page_size=size)
    evidence.address = reader.server
    inventory.update(source="api", server=reader.server)
    try:
        evidence.sections.update(reader.read_all())
    finally:
        evidence.remote_calls = reader.calls
        reader.close()


def _managed(target: Target) -> bool:
    return _setting(target, "managed")


def _setting(target: Target, name: str) -> bool:
    """A yes/no cluster setting: the inventory key (``managed:``) first, else the same
    name under ``vars`` as older inventories wrote it."""
    value = getattr(target, name, None)
    return _truthy(target.vars.get(name) if value is None else value)


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "yes", "1") if isinstance(value, str) else bool(value)


def _git_version(section: Section | None) -> str | None:
    if section is None or section.rc != 0:
        return None
    try:
        version = json.loads(section.output).get("gitVersion")
    except (json.JSONDecodeError, AttributeError):
        return None
    return str(version) if version else None


METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


def list_object(
    resource: Resource, items: list[dict[str, Any]], resource_version: str | None = None
) -> str:
    """The JSON text of one List (see ``ListText``)."""
    text = ListText(resource)
    text.add(items)
    return text.text(resource_version)


class ListText:
    """One List's JSON text, built page by page: items carry their ``apiVersion``/``kind``
    (as kubectl prints them), ``managedFields`` are left out, and of a metadata-only kind
    nothing but the metadata is kept, whatever was answered.

    Each object is redacted (the one policy of cisaudit.redact, exactly as
    redact_json_text applies it to the whole document) and becomes its own line of
    compact JSON as its page arrives, so a 50,000-pod list is never one tree of objects;
    the lines are sorted by namespace and name at the end. The text stays one JSON
    document, which any JSON reader reads whole; ``derive.common.section_stream`` reads
    it an object at a time."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.lines: list[tuple[str, str, str]] = []

    def add(self, items: list[dict[str, Any]]) -> None:
        resource = self.resource
        for raw in items:
            item = raw
            if resource.metadata_only:
                item = {"metadata": dict(raw.get("metadata") or {})}
                item["metadata"].pop("annotations", None)  # may quote the contents
            item["apiVersion"] = item.get("apiVersion") or resource.api_version
            item["kind"] = item.get("kind") or resource.kind
            meta = item.get("metadata") or {}
            meta.pop("managedFields", None)
            key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            try:
                redact_json_item(item, "items")
                line = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            except RecursionError:
                line = scrub_text(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
            self.lines.append((*key, line))

    def text(self, resource_version: str | None = None) -> str:
        resource = self.resource
        head, _ = redact_json_value(
            {
                "apiVersion": resource.api_version,
                "kind": f"{resource.kind}List",
                "metadata": {"resourceVersion": resource_version or ""},
            }
        )
        self.lines.sort(key=lambda entry: (entry[0], entry[1]))
        body = ",\n".join(line for _, _, line in self.lines)
        self.lines = []
        opening = json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1]
        return f'{opening},"items":[\n{body}\n]}}' if body else f'{opening},"items":[]}}'


# -- live, over the API -------------------------------------------------------------------


class ApiReader:
    """One authenticated client for one cluster; counts the HTTP requests it makes."""

    def __init__(self, target: Target, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        import urllib3
        from kubernetes import client
        from kubernetes.config.config_exception import ConfigException

        self.client_module = client
        # refused, TLS verification, timeout: no answer came
        self.network_errors = (urllib3.exceptions.HTTPError, OSError)
        # a kubeconfig exec/auth plugin that fails when asked for a fresh token
        self.credential_errors = (ConfigException,)
        self.page_size = page_size
        self.timeout = (target.connect_timeout, target.command_timeout)
        self.calls = 0
        self._lock = threading.Lock()
        self.api = _api_client(target)
        self.server = str(self.api.configuration.host)
        self.pages = _PagePool()

    def close(self) -> None:
        self.api.close()
        self.pages.close()

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def read_all(self) -> dict[str, Section]:
        sections = {VERSION_SECTION: self.version()}
        with ThreadPoolExecutor(PARALLEL_KINDS, thread_name_prefix="k8s-list") as pool:
            for resource, section in zip(
                RESOURCES, pool.map(self.list_kind, RESOURCES), strict=True
            ):
                sections[resource.section] = section
        listed = [sections[r.section] for r in RESOURCES]
        if all(s.rc == 403 and ANONYMOUS in s.stderr for s in listed):
            # /version is public, so only the lists show that no credentials were sent
            # (the client logs a failed exec plugin and goes on without a token)
            raise ClusterUnreachable(
                f"{self.server}: every request was answered as {ANONYMOUS}: the kubeconfig"
                " sent no credentials (did its exec or auth plugin fail?)"
            )
        return sections

    def version(self) -> Section:
        """``/version``. No answer at all, or 401, means the cluster cannot be audited."""
        from kubernetes.client.exceptions import ApiException

        api = self.client_module.VersionApi(self.api)
        self._count()
        try:
            response = api.get_code(_preload_content=False, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 401:
                raise ClusterUnreachable(
                    f"{self.server}: the API server refused the credentials (401 Unauthorized);"
                    " check the kubeconfig user, token or certificate"
                ) from None
            return _failure("GET /version", exc.status, exc.body, "version")
        except self.network_errors as exc:
            raise ClusterUnreachable(f"{self.server}: {_network_reason(exc)}") from None
        except self.credential_errors as exc:
            raise ClusterUnreachable(f"{self.server}: cannot get credentials: {exc}") from None
        return Section(command="GET /version", rc=0, output=_read(response))

    def list_kind(self, resource: Resource) -> Section:
        """Every object of one kind, following ``continue`` until the last page. A 410 (the
        continue token expired under a busy cluster) restarts the list, at most twice."""
        from kubernetes.client.exceptions import ApiException

        api_name, method = LIST_CALLS[resource.name]
        command = f"GET {resource.path}?limit={self.page_size}"
        call = getattr(getattr(self.client_module, api_name)(self.api), method, None)
        if call is not None and api_name == "CustomObjectsApi":
            call = functools.partial(
                call, resource.group, resource.version, resource.plural or resource.name
            )
        extra: dict[str, Any] = {}
        if resource.metadata_only:
            # names and labels only: the API server leaves out every ConfigMap's data
            extra["_headers"] = {"Accept": METADATA_ONLY}
            command += " (metadata only)"
        if call is None:
            return Section(
                command=command,
                rc=-1,
                output="",
                stderr=f"{resource.name}: this kubernetes client has no {method};"
                " upgrade the kubernetes package",
            )
        built = ListText(resource)
        pending: list[Future[list[tuple[str, str, str]]]] = []
        token: str | None = None
        pages = restarts = 0
        resource_version = None
        while True:
            self._count()
            try:
                response = call(
                    limit=self.page_size,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                    **extra,
                )
            except ApiException as exc:
                if exc.status == 410 and token and restarts < 2:
                    for future in pending:
                        future.cancel()
                    built, token, pages, restarts = ListText(resource), None, 0, restarts + 1
                    pending = []
                    continue
                if exc.status == 404 and resource.optional and not pages:
                    return Section(
                        command=command + " (not served: not installed on this cluster)",
                        rc=0,
                        output=list_object(resource, []),
                    )
                return _failure(command, exc.status, exc.body, resource.name, pages)
            except self.network_errors as exc:  # the connection failed: this kind is unknown
                return Section(
                    command=command,
                    rc=-1,
                    output="",
                    stderr=f"{resource.name}: {_network_reason(exc)}",
                )
            except self.credential_errors as exc:
                return Section(
                    command=command,
                    rc=-1,
                    output="",
                    stderr=f"{resource.name}: cannot get credentials: {exc}",
                )
            text = _read(response)
            meta = _list_head(text) if len(text) >= PAGE_POOL_ABOVE else None
            pool = self.pages.pool() if meta is not None else None
            try:
                if pool is not None and meta is not None:
                    # parsed and redacted in the other process while this one asks for
                    # the next page: only the metadata ahead of the items is read here
                    pending.append(pool.submit(page_lines, resource, text))
                else:
                    page = json.loads(text)
                    built.add(_page_items(page))
                    meta = page.get("metadata") or {}
            except json.JSONDecodeError as exc:
                return _not_json(command, resource, exc)
            del text
            pages += 1
            resource_version = meta.get("resourceVersion") or resource_version
            previous, token = token, meta.get("continue") or None
            if not token:
                break
            if token == previous or pages >= MAX_PAGES:
                # a server that never ends the list must not keep the audit forever
                for future in pending:
                    future.cancel()
                why = "the same continue token twice" if token == previous else "no end"
                return Section(
                    command=command,
                    rc=-1,
                    output="",
                    stderr=f"{resource.name}: the list had {why} after {pages} pages;"
                    " it is not judged",
                )
        try:
            for future in pending:
                built.lines.extend(future.result())
        except json.JSONDecodeError as exc:
            return _not_json(command, resource, exc)
        except Exception as exc:  # the page process died (killed, out of memory) or failed
            return Section(
                command=command,
                rc=-1,
                output="",
                stderr=f"{resource.name}: reading the pages failed"
                f" ({type(exc).__name__}: {exc or 'the page process ended'})",
            )
        note = f" ({pages} page{'s' if pages != 1 else ''}" + (
            f", restarted {restarts}x after 410 Gone" if restarts else ""
        )
        return Section(
            command=command + note + ")",
            rc=0,
            output=built.text(resource_version),
        )


def _not_json(command: str, resource: Resource, exc: json.JSONDecodeError) -> Section:
    return Section(
        command=command,
        rc=-1,
        output="",
        stderr=f"{resource.name}: the answer is not JSON ({exc})",
    )


# -- long lists: pages in another process ---------------------------------------------------

# Pages this large (500 pods are about 1.2 MB) are parsed, redacted and written as lines in
# a worker process. On two cores that overlaps a 50,000-pod list's 7 s of parsing and
# redaction with the HTTP, the other kinds and the rest of the audit (bench_k8s_cluster).
PAGE_POOL_ABOVE = 256 * 1024
MAX_PAGES = 100_000  # 50 million objects at the default page size
# 50,000 pods: collection 12.7 s in-process, 8.3 s with one process, 5.3 s with two.
# CISAUDIT_PAGE_PROCESSES=0 keeps every page in-process.
PAGE_PROCESSES = 2


def _page_processes() -> int:
    wanted = os.environ.get("CISAUDIT_PAGE_PROCESSES", "").strip()
    return int(wanted) if wanted.isdigit() else PAGE_PROCESSES


class _PagePool:
    """Worker processes for a reader's large pages, started on the first one. Where no
    process can be started (a daemonic process, such as a Dask worker, may have no
    children; a sandbox may forbid it), or CISAUDIT_PAGE_PROCESSES=0, pages are handled
    in this process instead. The processes start from a fork server, which imports the
    calling script as multiprocessing does: a script calling cisaudit.api must guard its
    entry point with ``if __name__ == "__main__":``."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._processes = _page_processes()
        self._usable = (
            self._processes > 0
            and (os.cpu_count() or 1) > 1
            and not multiprocessing.current_process().daemon
        )
        self._lock = threading.Lock()

    def pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and self._usable:
                methods = multiprocessing.get_all_start_methods()
                method = "forkserver" if "forkserver" in methods else "spawn"
                try:
                    # not fork: other threads (SSH, the other kinds) may hold locks
                    self._pool = ProcessPoolExecutor(
                        self._processes, mp_context=multiprocessing.get_context(method)
                    )
                except (OSError, ValueError, NotImplementedError):
                    self._usable = False
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def page_lines(resource: Resource, text: str) -> list[tuple[str, str, str]]:
    """One page of a List as ``ListText`` lines (run in the page process)."""
    built = ListText(resource)
    built.add(_page_items(json.loads(text)))
    return built.lines


def _page_items(page: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of one List page (an entry that is not an object is left out)."""
    return [i for i in page.get("items") or [] if isinstance(i, dict)]


def _list_head(text: str) -> dict[str, Any] | None:
    """A List page's ``metadata`` (``continue``, ``resourceVersion``), read without the
    items when they come last, as the API server writes a List; None otherwise."""
    at = text.find('"items":')
    if at <= 0 or not text.rstrip().endswith("]}"):
        return None
    try:
        head = json.loads(text[:at] + '"items":[]}')
    except (json.JSONDecodeError, RecursionError):
        return None
    meta = head.get("metadata") if isinstance(head, dict) else None
    return meta if isinstance(meta, dict) else None


def _api_client(target: Target) -> Any:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        if target.in_cluster:
            configuration = client.Configuration()
            from kubernetes.config.incluster_config import InClusterConfigLoader

            InClusterConfigLoader(
                token_filename=os.path.join(SA_DIR, "token"),
                cert_filename=os.path.join(SA_DIR, "ca.crt"),
            ).load_and_set(configuration)
            return client.ApiClient(configuration)
        kubeconfig = os.path.expanduser(target.kubeconfig) if target.kubeconfig else None
        return config.new_client_from_config(
            config_file=kubeconfig, context=target.context, persist_config=False
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        how = (
            "the in-cluster service account"
            if target.in_cluster
            else f"kubeconfig {target.kubeconfig or '(default)'}"
            + (f" context {target.context!r}" if target.context else "")
        )
        raise ClusterUnreachable(f"cannot use {how}: {exc}") from None


def _read(response: Any) -> str:
    try:
        return bytes(response.data).decode("utf-8")
    finally:
        response.release_conn()


def _failure(command: str, status: int | None, body: Any, what: str, pages: int = 0) -> Section:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        message = json.loads(text).get("message")
    except (json.JSONDecodeError, AttributeError):
        message = None
    status = int(status or -1)
    kind = {403: "forbidden", 404: "not served by this API server", 401: "unauthorized"}.get(
        status, "failed"
    )
    after = f" after {pages} pages" if pages else ""
    return Section(
        command=command,
        rc=status,
        output=redact_json_text(text),  # the server's answer, redacted like any list
        stderr=f"{what}: {kind} (HTTP {status}{after}): {message or text[:200]}",
    )


def _network_reason(exc: BaseException) -> str:
    # urllib3 wraps the cause (refused, TLS verify, timeout) in MaxRetryError.reason
    reason = getattr(exc, "reason", None) or exc
    return f"no answer from the API server: {type(reason).__name__}: {reason}"


# -- offline, from a dump ------------------------------------------------------------------


DUMP_SUFFIXES = (".yaml", ".yml", ".json")
EXPORT_HINT = "kubectl get {name} -A -o yaml > {name}.yaml 2> {name}.err"  # name: export_name


def read_dump(path: Path, *, complete: bool = False) -> dict[str, Section]:
    """The sections of a directory of manifests or a ``kubectl get`` dump file.

    ``complete``: the inventory vouches that the dump holds every object (a repository
    of manifests), so a kind with no object and no failed export counts as none."""
    files = _dump_files(path)
    if not files:
        raise ClusterUnreachable(f"{path}: no YAML or JSON files to read")
    found: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r.name: {} for r in RESOURCES}
    sources: dict[str, set[str]] = {r.name: set() for r in RESOURCES}
    doubts: dict[str, str] = {}  # why a kind's (empty) export cannot be trusted
    version: dict[str, Any] | None = None
    nodes: list[dict[str, Any]] = []
    for file in files:
        rel = str(file.relative_to(path)) if file != path else file.name
        declared = _declared_resource(file)
        failure = _kubectl_stderr(file) if declared else None
        if declared and failure and declared.optional and _not_installed(failure):
            sources[declared.name].add(file.name)  # the cluster has no such resource: none
            continue
        if declared and failure:
            doubts[declared.name] = f"`kubectl get` failed: {failure}"
            continue
        try:
            documents = list(_documents(file))
        except ValueError as exc:
            raise ClusterUnreachable(f"{file}: {exc}") from None
        if declared and not documents:
            doubts[declared.name] = f"{rel} is empty (did `kubectl get` fail?)"
        for doc in documents:
            if "serverVersion" in doc or "gitVersion" in doc:
                version = doc.get("serverVersion") or doc
                continue
            listed = _listed_resource(doc, declared)
            if listed and not doc.get("items"):
                # kubectl prints an empty List when `get` fails, too: trust it only with
                # its stderr kept and empty beside it, or when it is the API's own List.
                if doc.get("kind") == "List" and failure is None:
                    doubts.setdefault(
                        listed.name,
                        (
                            f"{rel} holds an empty List, which kubectl also prints when `get`"
                            f" fails; keep its stderr in {_err_file(file).name} (empty when it"
                            " worked) so an empty export can be trusted"
                        ),
                    )
                else:
                    sources[listed.name].add(rel)
            for obj in _objects(doc, declared):
                kind = str(obj.get("kind"))
                if kind == "Node":
                    nodes.append(obj)
                resource = _resource_of(obj)
                if resource is None:
                    continue  # Secrets, ConfigMaps, Services ...: not read
                found_meta = obj.get("metadata")
                meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
                key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
                obj["x-cisaudit-source"] = rel  # named when the object cannot be read
                found[resource.name][key] = obj
                sources[resource.name].add(rel)
    sections: dict[str, Section] = {}
    for resource in RESOURCES:
        command = f"offline dump {path}: {resource.name}"
        failed = resource.name in doubts and doubts[resource.name].startswith("`kubectl get`")
        if complete and not found[resource.name] and not failed:
            sections[resource.section] = Section(
                command=f"{command}: none (the inventory says the dump is complete)",
                rc=0,
                output=list_object(resource, []),
            )
            continue
        if resource.optional and not found[resource.name] and resource.name not in doubts:
            sections[resource.section] = Section(
                command=f"{command}: none in the dump (a custom resource most clusters lack)",
                rc=0,
                output=list_object(resource, []),
            )
            continue
        if not sources[resource.name] or resource.name in doubts and not found[resource.name]:
            why = doubts.get(resource.name, "no object or List of them")
            sections[resource.section] = Section(
                command=command,
                rc=1,
                output="",
                stderr=f"{resource.name}: not in the offline dump {path}: {why}. Export them"
                f" with `{EXPORT_HINT.format(name=resource.export_name)}`",
            )
            continue
        items = list(found[resource.name].values())
        sections[resource.section] = Section(
            command=f"{command} from {', '.join(sorted(sources[resource.name]))}",
            rc=0,
            output=list_object(resource, items),
        )
    sections[VERSION_SECTION] = _dump_version(path, version, found["pods"].values(), nodes)
    return sections


def _not_installed(stderr: str) -> bool:
    """kubectl's words for a resource type the cluster does not serve (no such CRD)."""
    return "doesn't have a resource type" in stderr or "could not find the requested" in stderr


def _err_file(file: Path) -> Path:
    return file.with_suffix(".err")


def _kubectl_stderr(file: Path) -> str | None:
    """What ``kubectl get`` printed on stderr for this file (kept as ``<name>.err`` by the
    documented export): None when not kept, "" when it said nothing (success)."""
    err = _err_file(file)
    if not err.is_file():
        return None
    lines = [line.strip() for line in err.read_text(errors="replace").splitlines()]
    return "; ".join(line for line in lines if line)[:500]


def _dump_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ClusterUnreachable(f"{path}: no such file or directory")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in DUMP_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def _listed_resource(doc: dict[str, Any], declared: Resource | None) -> Resource | None:
    """The kind a List document was exported for, even an empty one: ``CronJobList``
    (the API's own answer), or ``kind: List`` (kubectl's) in a file named for the kind."""
    kind = str(doc.get("kind") or "")
    if not isinstance(doc.get("items"), list) or not kind.endswith("List"):
        return None
    if kind == "List":
        return declared
    return next((r for r in RESOURCES if r.kind == kind[:-4]), None)


def _declared_resource(file: Path) -> Resource | None:
    """The kind a file is named for (``pods.yaml``, ``cronjobs.batch.yaml``, ``pod.json``)."""
    stem = file.name.rsplit(".", 1)[0].lower()
    for resource in RESOURCES:
        if stem in (resource.name, resource.export_name, f"{resource.name}.{resource.group}"):
            return resource
        if stem == resource.kind.lower() and not resource.plural:
            return resource
    return None


def _documents(file: Path) -> Iterator[dict[str, Any]]:
    import yaml

    from cisaudit.yamlsrc import DUMP_LIMITS, LimitExceeded, safe_load_all

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason})") from None
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError("refused: nesting too deep") from None
        docs: Iterable[Any] = [data]
    else:
        try:
            docs = list(safe_load_all(text, DUMP_LIMITS))
        except LimitExceeded as exc:
            where = f" (line {exc.line})" if exc.line else ""
            raise ValueError(f"refused{where}: {exc.message}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML: {exc}") from None
    for doc in docs:
        if isinstance(doc, dict):
            yield doc


def _objects(doc: dict[str, Any], declared: Resource | None) -> Iterator[dict[str, Any]]:
    """The objects of one document: a List's items (kind from the item, the List's own kind
    or the file's name), or the document itself."""
    kind = str(doc.get("kind") or "")
    if isinstance(doc.get("items"), list) and kind.endswith("List"):
        item_kind = kind[:-4] or (declared.kind if declared else "")
        list_version = doc.get("apiVersion") if kind != "List" else None
        for item in doc["items"]:
            if isinstance(item, dict):
                if not item.get("kind") and item_kind:
                    item = {**item, "kind": item_kind}
                if not item.get("apiVersion"):
                    fallback = list_version or (declared.api_version if declared else None)
                    item = {**item, "apiVersion": fallback} if fallback else item
                yield item
    elif kind:
        yield doc


def _resource_of(obj: dict[str, Any]) -> Resource | None:
    kind = str(obj.get("kind") or "")
    for resource in RESOURCES:
        if resource.kind != kind:
            continue
        api_version = str(obj.get("apiVersion") or resource.api_version)
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        # a kind's older groups count for the built-in resource (extensions/NetworkPolicy),
        # never for a custom resource of the same kind name (Calico's NetworkPolicy)
        groups = KIND_GROUPS.get(kind, ()) if resource.group in KIND_GROUPS.get(kind, ()) else ()
        if group == resource.group or group in groups:
            return resource
    return None


def _dump_version(
    path: Path,
    version: dict[str, Any] | None,
    pods: Iterable[dict[str, Any]],
    nodes: list[dict[str, Any]],
) -> Section:
    """A dump has no /version: take ``kubectl version -o json`` output when present, else
    the kube-apiserver pod's image tag, else the nodes' kubelet version."""
    command = f"offline dump {path}: version"
    if version:
        return Section(command=command + " (kubectl version)", rc=0, output=json.dumps(version))
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get("component") != "kube-apiserver":
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            tag = str(container.get("image", "")).rpartition(":")[2]
            if tag.startswith("v") and tag[1:2].isdigit():
                return Section(
                    command=command + " (kube-apiserver image tag)",
                    rc=0,
                    output=json.dumps(_version_doc(tag, "kube-apiserver image")),
                )
    kubelets = sorted(
        {str(((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion")) for n in nodes}
        - {"None"},
        key=_version_key,
    )
    if kubelets:
        return Section(
            command=command + " (node kubelet versions)",
            rc=0,
            output=json.dumps(_version_doc(kubelets[0], "lowest kubelet version")),
        )
    return Section(
        command=command,
        rc=1,
        output="",
        stderr=f"version: the offline dump {path} does not say (add"
        " `kubectl version -o json > version.json`)",
    )


def _version_key(text: str) -> tuple[int, ...]:
    parts = text.lstrip("v").split("-")[0].split(".")
    return tuple(int(p) if p.isdigit() else 0 for p in parts)


def _version_doc(git_version: str, source: str) -> dict[str, Any]:
    major, _, rest = git_version.lstrip("v").partition(".")
    minor = rest.partition(".")[0]
    return {"gitVersion": git_version, "major": major, "minor": minor, "source": source}
