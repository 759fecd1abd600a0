"""An HTTPS server that answers like a Kubernetes API server, for the parts an audit reads.

No Kubernetes API server binary can run on the machines this project is built and tested
on, so the API path is tested against this stand-in. It serves, over TLS with a
certificate from its own CA, with bearer-token authentication:

* ``/version``; discovery (``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>``),
  enough for a real ``kubectl get`` to find its way;
* list endpoints across all namespaces and per namespace (``/api/v1/pods``,
  ``/api/v1/namespaces/<ns>/pods``, ``/apis/apps/v1/deployments`` ...) returning
  ``kind: PodList`` objects whose items carry no ``kind``/``apiVersion`` (as the real
  server does), paginated with ``limit`` and an opaque ``metadata.continue`` token, with
  ``remainingItemCount``; single objects by name;
* the real error shapes: 401 for an unknown token, 403 ``Status`` objects for kinds
  configured as forbidden (and for every write: the audit identity is read-only), 404 for
  kinds configured as not served, 410 ``Expired`` for a continue token configured to
  expire, 400 for a malformed token.

Every request is logged (method, path, query, status, user) so tests can check what the
client really asked for.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from .catalog import BY_RESOURCE, CUSTOM, KINDS, Kind
from .pki import ServerPKI, make_pki
from .store import Cluster

AUDITOR = "system:serviceaccount:cisaudit:auditor"
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    status: int
    user: str | None


@dataclass
class StandIn:
    """The stand-in API server for one cluster. Use as a context manager."""

    cluster: Cluster
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user name
    forbidden: set[str] = field(default_factory=set)  # resources the audit identity may not list
    not_served: set[str] = field(default_factory=set)  # resources this server does not have
    expire_continue: set[str] = field(default_factory=set)  # resources whose next token expires
    requests: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.tokens:
            self.tokens = {
                "audit-token-" + base64.b32encode(bytes(range(10))).decode().lower(): AUDITOR
            }
        # a custom resource is served only where its CRD is installed (some object exists)
        self.not_served |= {k.resource for k in CUSTOM if not self.cluster.count(k.resource)}
        self.pki: ServerPKI = make_pki()
        self.revision = 1000 + sum(self.cluster.count(k.resource) for k in KINDS)
        self._encoded: dict[str, list[tuple[str, bytes]]] = {}
        for kind in KINDS:
            rows = []
            for (ns, name), obj in self.cluster.items(kind.resource):
                item = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
                rows.append(
                    (
                        f"{ns}/{name}" if kind.namespaced else name,
                        json.dumps(item, separators=(",", ":")).encode(),
                    )
                )
            # the order of the storage keys, which is what a continue token points into
            self._encoded[kind.resource] = sorted(rows, key=lambda r: r[0])
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._files = tempfile.TemporaryDirectory(prefix="k8s-standin-")

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        files = Path(self._files.name)
        (files / "tls.crt").write_bytes(self.pki.cert_pem)
        (files / "tls.key").write_bytes(self.pki.key_pem)
        context.load_cert_chain(files / "tls.crt", files / "tls.key")
        self._server = _Server(self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="k8s-standin", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._files.cleanup()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the stand-in first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return next(iter(self.tokens))

    def kubeconfig(self, path: Path, *, token: str | None = None, context: str = "standin") -> Path:
        """A kubeconfig with the stand-in's CA (verification on) and a bearer token, plus a
        second context, ``elsewhere``, whose cluster nobody listens on."""
        ca = base64.b64encode(self.pki.ca_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": "standin",
                    "cluster": {"server": self.url, "certificate-authority-data": ca},
                },
                {
                    "name": "nowhere",
                    "cluster": {"server": "https://127.0.0.1:9", "certificate-authority-data": ca},
                },
            ],
            "users": [{"name": "auditor", "user": {"token": token or self.token}}],
            "contexts": [
                {"name": context, "context": {"cluster": "standin", "user": "auditor"}},
                {"name": "elsewhere", "context": {"cluster": "nowhere", "user": "auditor"}},
            ],
            "current-context": "elsewhere",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def log(self, entry: Logged) -> None:
        with self._lock:
            self.requests.append(entry)

    def list_requests(self, resource: str) -> list[Logged]:
        kind = BY_RESOURCE[resource]
        return [
            r
            for r in self.requests
            if r.path.rstrip("/").endswith("/" + resource) and _path_group(r.path) == kind.group
        ]

    # -- answers --------------------------------------------------------------------------

    def answer(
        self, method: str, raw_path: str, headers: Any
    ) -> tuple[int, dict[str, Any] | bytes, str | None]:
        """(status, body, user) for one request."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        auth = headers.get("Authorization") or ""
        user: str | None = None
        if auth:
            scheme, _, token = auth.partition(" ")
            user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return 401, _status(401, "Unauthorized", "Unauthorized"), None
        if path in PUBLIC_PATHS:
            if path == "/version":
                return 200, self.cluster.version, user
            return 200, b"ok", user
        if user is None:
            return (
                403,
                _status(
                    403, "Forbidden", f'forbidden: User "system:anonymous" cannot get path "{path}"'
                ),
                "system:anonymous",
            )
        if method != "GET":
            return (
                403,
                _status(
                    403,
                    "Forbidden",
                    f'User "{user}" cannot {method.lower()} '
                    f'"{path}": the audit identity is read-only',
                ),
                user,
            )
        discovery = self.discovery(path)
        if discovery is not None:
            return 200, discovery, user
        route = _route(path)
        if route is None or route[0].resource in self.not_served:
            return (
                404,
                _status(404, "NotFound", "the server could not find the requested resource"),
                user,
            )
        kind, namespace, name = route
        if kind.resource in self.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            verb = "get" if name else "list"
            return (
                403,
                _status(
                    403,
                    "Forbidden",
                    f'{kind.resource} is forbidden: User "{user}" cannot {verb} resource '
                    f'"{kind.resource}" in API group "{kind.group}" {scope}',
                    {"kind": kind.resource},
                ),
                user,
            )
        if any(k in query for k in ("watch", "labelSelector", "fieldSelector")):
            return (
                400,
                _status(
                    400,
                    "BadRequest",
                    "the stand-in serves plain lists only (no watch or selectors)",
                ),
                user,
            )
        if name:
            return self.get_one(kind, namespace, name), user
        status, body = self.list_page(kind, namespace, query)
        if status == 200 and "as=PartialObjectMetadataList" in (headers.get("Accept") or ""):
            body = _metadata_only(body)  # what the real server sends for that Accept
        return status, body, user

    def discovery(self, path: str) -> dict[str, Any] | None:
        served = [k for k in KINDS if k.resource not in self.not_served]
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        if path == "/apis":
            groups: dict[str, str] = {}
            for k in served:
                if k.group:
                    groups.setdefault(k.group, k.version)
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                        "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                    }
                    for g, v in groups.items()
                ],
            }
        for group_version in {k.api_version for k in served}:
            prefix = "/apis/" if "/" in group_version else "/api/"
            if path == prefix + group_version:
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": [k.discovery() for k in served if k.api_version == group_version],
                }
        return None

    def get_one(self, kind: Kind, namespace: str | None, name: str) -> tuple[int, Any]:
        obj = self.cluster.by_resource.get(kind.resource, {}).get((namespace or "", name))
        if obj is None:
            return 404, _status(
                404,
                "NotFound",
                f'{kind.resource} "{name}" not found',
                {"name": name, "kind": kind.resource},
            )
        return 200, obj

    def list_page(
        self, kind: Kind, namespace: str | None, query: dict[str, str]
    ) -> tuple[int, dict[str, Any] | bytes]:
        rows = self._encoded[kind.resource]
        if namespace:
            rows = [r for r in rows if r[0].startswith(namespace + "/")]
        start = ""
        token = query.get("continue")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                start = str(decoded["start"])
                if decoded.get("v") != "meta.k8s.io/v1":
                    raise ValueError("wrong version")
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                return 400, _status(400, "BadRequest", f"continue key is not valid: {exc}")
            with self._lock:
                expire = kind.resource in self.expire_continue
                self.expire_continue.discard(kind.resource)
            if expire:
                body = _status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to "
                    "display a consistent list result. You can start a new list "
                    "without the continue parameter.",
                )
                body["metadata"] = {"continue": _token(start, self.revision - 1)}
                return 410, body
            rows = [r for r in rows if r[0] >= start]  # start = last key + NUL: strictly after
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return 400, _status(400, "BadRequest", f"invalid limit {query.get('limit')!r}")
        page = rows[:limit] if limit > 0 else rows
        rest = rows[len(page) :]
        meta: dict[str, Any] = {"resourceVersion": str(self.revision)}
        if rest:
            meta["continue"] = _token(page[-1][0] + "\x00", self.revision)
            meta["remainingItemCount"] = len(rest)
        head = json.dumps(
            {"kind": kind.kind + "List", "apiVersion": kind.api_version, "metadata": meta},
            separators=(",", ":"),
        )
        return 200, (head[:-1] + ',"items":[').encode() + b",".join(r[1] for r in page) + b"]}"


def _metadata_only(body: dict[str, Any] | bytes) -> dict[str, Any]:
    """A list as PartialObjectMetadataList: metadata only, never an object's contents."""
    data = json.loads(body) if isinstance(body, bytes) else body
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": data.get("metadata") or {},
        "items": [
            {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item.get("metadata") or {},
            }
            for item in data.get("items") or []
        ],
    }


def _path_group(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[1] if parts and parts[0] == "apis" and len(parts) > 1 else ""


def _route(path: str) -> tuple[Kind, str | None, str | None] | None:
    """(kind, namespace, name) for a resource path, or None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2:
        return None
    kind = BY_RESOURCE.get(rest[0])
    if kind is None or kind.group != group or kind.version != version:
        return None
    if namespace and not kind.namespaced:
        return None
    return kind, namespace, rest[1] if len(rest) == 2 else None


def _token(start: str, revision: int) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-standin"
    timeout = 15  # an idle keep-alive connection is dropped after this
    server: _Server

    def _serve(self) -> None:
        standin = self.server.standin
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body, user = standin.answer(self.command, self.path, self.headers)
        if isinstance(body, bytes):
            payload = body
            content_type = "application/json" if body[:1] == b"{" else "text/plain"
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(payload)
        split = urlsplit(self.path)
        standin.log(
            Logged(
                self.command,
                split.path,
                {k: v[-1] for k, v in parse_qs(split.query).items()},
                status,
                user,
            )
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: StandIn, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS is set up here, in the connection's own thread, so a slow or failing
        # handshake never holds up the accept loop.
        # Answers are written as header and body; without NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every request.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that rightly refused our certificate
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()
