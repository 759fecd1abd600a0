"""Docker engines reached over their API (``kind: docker-api``), with the docker SDK.

For engines whose API is reachable when a login on the host is not: ``tcp://`` (TLS with a
client certificate, or plain HTTP, which is itself a finding), ``ssh://`` (the SDK's HTTP
over ``docker system dial-stdio``, on an SSH connection made by cisaudit's own transport, so
host keys are checked strictly and jump hosts work) or a ``unix://`` socket on this machine.

The API shows daemon info, version, containers, images with their history, networks,
swarm state and each running container's processes. The collector writes them as the same
sections the SSH probe writes, so the same derivation judges them the same way. What
only the host shows (dockerd's command line and daemon.json, files, mounts, audit rules)
is *out of reach*: controls that need it are NOT_APPLICABLE with the reason "API-only
target". A few daemon settings the connection itself proves are kept: the engine listens
on TCP, and whether it answered without a client certificate.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from cisaudit.evidence import Section, TargetEvidence
from cisaudit.kinds.docker.collect import REDACTION, engine_version
from cisaudit.kinds.docker.derive import derive
from cisaudit.redact import redact_sections, scrub_text
from cisaudit.targets import Target
from cisaudit.transport.sections import new_evidence

CONNECTION = "api.connection"
API_ONLY = "API-only target: {what} cannot be seen through the engine's API"
# Facts of a Docker host that only the host itself shows, and what each is.
OUT_OF_REACH = {
    "daemon": "dockerd's command line and daemon.json",
    "host": "the host's mounts, listeners, groups and environment",
    "paths": "where Docker's files are on the host",
    "files": "the host's files (owners, modes and audit rules)",
    "cert_files": "the files under /etc/docker/certs.d",
    "audit": "the host's audit rules",
}
_TOP_ARGS = "-eo pid,uid,comm"
# The API version of the first request (GET /version, which every engine answers);
# later requests use the version the engine gives.
_FIRST_VERSION = "1.24"  # run by dockerd on its host, filtered to the container


class EngineUnreachable(Exception):
    """The engine's API could not be reached or refused us; the message says why."""


def collect_docker_api(target: Target, *, accept_new_host_keys: bool = False) -> TargetEvidence:
    """Read one engine over its API; a failure becomes ``error`` on the evidence."""
    started = time.monotonic()
    evidence = new_evidence(target)
    evidence.address = target.docker_host
    session: _Session | None = None
    try:
        session = _Session(target, accept_new_host_keys)
        sections = session.read_all()
        redact_sections(sections, REDACTION)
        evidence.sections.update(sections)
        evidence.platform_version = engine_version(sections)
    except EngineUnreachable as exc:
        evidence.error = scrub_text(str(exc))
    finally:
        if session is not None:
            evidence.remote_calls = session.calls
            session.close()
        evidence.duration_s = round(time.monotonic() - started, 3)
    return evidence


class _Session:
    """One engine's API client, the SSH connection under it (ssh://), and a request count."""

    def __init__(self, target: Target, accept_new_host_keys: bool) -> None:
        self.target = target
        self.calls = 0
        self.ssh: Any = None
        self.connection: dict[str, Any] = {"docker_host": target.docker_host}
        self.api = self._connect(accept_new_host_keys)

    def _connect(self, accept_new_host_keys: bool) -> Any:
        import docker
        from docker.errors import DockerException

        t = self.target
        url = t.docker_host or ""
        parts = urlsplit(url)
        scheme = parts.scheme
        self.connection["scheme"] = scheme
        timeout = int(max(t.command_timeout, 1))
        try:
            if scheme == "ssh":
                api = self._over_ssh(parts, timeout, accept_new_host_keys)
            else:
                tls = self._tls_config(parts.port) if scheme == "tcp" else None
                # A fixed version: no request before the session is set up below.
                api = docker.APIClient(
                    base_url=url, tls=tls or False, timeout=timeout, version=_FIRST_VERSION
                )
            # Only the inventory decides: no CA bundle or proxy from the environment
            # (REQUESTS_CA_BUNDLE would replace tls_ca for every request).
            api.trust_env = False
            api._version = str(api.version(api_version=False)["ApiVersion"])
        except DockerException as exc:
            raise EngineUnreachable(f"{url}: {_reason(exc)}") from None
        except (OSError, ValueError) as exc:
            raise EngineUnreachable(f"{url}: {_reason(exc)}") from None
        self.calls += 1  # version="auto" asked the engine for its API version
        self.connection["api_version"] = api.api_version
        if scheme == "tcp":
            self.connection["client_cert_required"] = self._client_cert_required(parts)
        return api

    def _tls_config(self, port: int | None) -> Any:
        """TLS when TLS material is given or the port is Docker's TLS port (2376); plain
        HTTP otherwise (an engine that answers that way accepts anyone)."""
        from docker.tls import TLSConfig

        t = self.target
        use_tls = bool(t.tls_ca or t.tls_cert) or port == 2376
        self.connection["tls"] = use_tls
        self.connection["client_cert"] = bool(t.tls_cert)
        self.connection["server_verified"] = use_tls and t.tls_verify
        if not use_tls:
            return None
        return TLSConfig(
            client_cert=(t.tls_cert, t.tls_key) if t.tls_cert and t.tls_key else None,
            ca_cert=t.tls_ca,
            verify=t.tls_verify,
        )

    def _client_cert_required(self, parts: Any) -> bool | None:
        """Whether the engine refuses a caller without a client certificate (its
        ``tlsverify``): one ``GET /_ping`` without one. True: refused; False: answered;
        None: could not tell (the engine could not be reached a second time)."""
        t = self.target
        host, port = parts.hostname or "", parts.port or 2375
        self.calls += 1
        try:
            with socket.create_connection((host, port), timeout=t.connect_timeout) as raw:
                stream: Any = raw
                if self.connection.get("tls"):
                    context = ssl.create_default_context(cafile=t.tls_ca)
                    if not t.tls_verify:
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                    stream = context.wrap_socket(raw, server_hostname=host)
                stream.settimeout(t.connect_timeout)
                stream.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
                reply = stream.recv(64)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                return None  # our own check of the server failed: says nothing of the engine
            return True
        except OSError:
            return None
        if reply.startswith(b"HTTP/1.") and b" 200 " in reply[:16]:
            return False
        return True if not reply else None

    def _over_ssh(self, parts: Any, timeout: int, accept_new_host_keys: bool) -> Any:
        """HTTP through ``docker system dial-stdio`` on an SSH connection of our own: the
        inventory's key, known_hosts and jump hosts apply, host keys checked strictly."""
        import docker

        from cisaudit.transport import TransportError
        from cisaudit.transport.ssh import SSHTransport

        t = self.target
        host = replace(
            t,
            kind="docker-host",
            address=parts.hostname,
            port=parts.port or 22,
            user=parts.username or t.user,
        )
        try:
            self.ssh = SSHTransport(host, accept_new_host_keys=accept_new_host_keys)
        except TransportError as exc:
            raise EngineUnreachable(str(exc)) from None
        # The SDK's own SSH adapter would open a connection of its own with only
        # ~/.ssh/config; it is given ours instead.
        api = docker.APIClient(
            base_url=f"ssh://{host.user or 'root'}@{host.address}:{host.port}",
            version=_FIRST_VERSION,
            timeout=timeout,
            use_ssh_client=True,
        )
        adapter = api._custom_adapter
        adapter.ssh_client = self.ssh.dial_stdio()
        adapter.pools.clear()
        return api

    def read_all(self) -> dict[str, Section]:
        api = self.api
        sections: dict[str, Section] = {
            CONNECTION: Section(
                command="the connection to the engine",
                rc=0,
                output=json.dumps(self.connection, sort_keys=True),
            )
        }
        sections["docker.info"] = self._one("GET /info", api.info)
        sections["docker.version"] = self._one(
            "GET /version", lambda: {"Server": api.version(api_version=False)}
        )
        listed, why = self._get("GET /containers/json?all=1", lambda: api.containers(all=True))
        containers = [c.get("Id") for c in listed or []]
        sections["docker.inspect"] = (
            self._each("GET /containers/{id}/json", containers, api.inspect_container)
            if why is None
            else Section(command="GET /containers/json?all=1", rc=1, output="", stderr=why)
        )
        listed_images, why = self._get("GET /images/json", lambda: api.images(quiet=True))
        images = sorted(set(listed_images or []))
        sections["docker.images"] = (
            self._each("GET /images/{id}/json", images, api.inspect_image)
            if why is None
            else Section(command="GET /images/json", rc=1, output="", stderr=why)
        )
        sections["docker.history"] = self._history(images)
        listed_networks, why = self._get("GET /networks", api.networks)
        networks = [n.get("Id") for n in listed_networks or []]
        sections["docker.networks"] = (
            self._each("GET /networks/{id}", networks, api.inspect_network)
            if why is None
            else Section(command="GET /networks", rc=1, output="", stderr=why)
        )
        running = [c.get("Id") for c in listed or [] if c.get("State") == "running"]
        sections["docker.top"] = self._top(running)
        return sections

    # -- calls -------------------------------------------------------------------------

    def _one(self, command: str, fn: Any) -> Section:
        value, why = self._get(command, fn)
        if why is not None:
            return Section(command=command, rc=1, output="", stderr=why)
        return Section(command=command, rc=0, output=json.dumps(value, sort_keys=True))

    def _get(self, command: str, fn: Any) -> tuple[Any, str | None]:
        """One request: (its JSON, None), or (None, why it failed)."""
        self.calls += 1
        try:
            return fn(), None
        except Exception as exc:  # the SDK's, requests' and socket errors alike
            return None, f"{command}: {_reason(exc)}"

    def _each(self, command: str, ids: list[Any], fn: Any) -> Section:
        """One inspect per object, as ``docker inspect ID...`` prints them: a JSON list. An
        object removed between list and inspect is left out; any other failure fails the
        section (a partial list would pass controls it should not)."""
        from docker.errors import NotFound

        found = []
        for ident in ids:
            self.calls += 1
            try:
                found.append(fn(ident))
            except NotFound:
                continue
            except Exception as exc:  # the SDK's and requests' errors alike
                return Section(
                    command=command, rc=1, output="", stderr=f"{command} {ident}: {_reason(exc)}"
                )
        return Section(command=f"{command} for {len(ids)}", rc=0, output=json.dumps(found))

    def _history(self, image_ids: list[str]) -> Section:
        """``#image ID`` then one JSON line per layer, newest first, as the probe writes it."""
        lines: list[str] = []
        for ident in image_ids:
            self.calls += 1
            lines.append(f"#image {ident}")
            try:
                for layer in self.api.history(ident):
                    lines.append(
                        json.dumps(
                            {
                                "ID": layer.get("Id"),
                                "CreatedBy": layer.get("CreatedBy") or "",
                                "Comment": layer.get("Comment") or "",
                                "Size": layer.get("Size"),
                            }
                        )
                    )
            except Exception:  # that image's history is missing, as with the CLI
                lines.append(f"#failed {ident}")
        return Section(command="GET /images/{id}/history", rc=0, output="\n".join(lines))

    def _top(self, running: list[Any]) -> Section:
        """Each running container's processes, as dockerd lists them on its host."""
        found: dict[str, Any] = {}
        for ident in running:
            self.calls += 1
            try:
                found[str(ident)] = self.api.top(ident, ps_args=_TOP_ARGS)
            except Exception as exc:
                return Section(
                    command=f"GET /containers/{{id}}/top?ps_args={_TOP_ARGS}",
                    rc=1,
                    output="",
                    stderr=f"container {str(ident)[:12]}: {_reason(exc)}",
                )
        return Section(
            command=f"GET /containers/{{id}}/top?ps_args={_TOP_ARGS}",
            rc=0,
            output=json.dumps(found, sort_keys=True),
        )

    def close(self) -> None:
        try:
            self.api.close()
        except Exception:
            pass
        if self.ssh is not None:
            self.ssh.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return scrub_text(text.splitlines()[0] if text else text)[:500]


# -- derivation ---------------------------------------------------------------------------


def derive_api(sections: dict[str, Section]) -> tuple[dict[str, Any], dict[str, str]]:
    """The facts of a Docker host, from what the engine's API showed; what only the host
    shows is out of reach (NOT_APPLICABLE, "API-only target"), never an ERROR."""
    values, errors = derive(sections)
    for fact in OUT_OF_REACH:
        for key in [k for k in errors if k == fact or k.startswith(fact + ".")]:
            del errors[key]
    out = {fact: API_ONLY.format(what=what) for fact, what in OUT_OF_REACH.items()}
    reached = ["daemon.default_bridge_icc"]
    daemon: dict[str, Any] = {"default_bridge_icc": values["daemon"].get("default_bridge_icc")}
    connection = _connection(sections)
    if connection.get("scheme") == "tcp":
        # the engine answered us over TCP: it listens there, whatever its files say
        daemon["tcp"] = True
        reached.append("daemon.tcp")
        required = connection.get("client_cert_required")
        if required is False:
            daemon["options"] = {"tlsverify": False}
            reached.append("daemon.options.tlsverify")
        elif required is True:
            # refusing callers without a certificate takes a CA, a certificate and a key
            shown = "(in use: the engine refused a caller without a client certificate)"
            daemon["options"] = {
                "tlsverify": True,
                "tlscacert": shown,
                "tlscert": shown,
                "tlskey": shown,
            }
            reached += [f"daemon.options.{k}" for k in daemon["options"]]
    values["daemon"] = daemon
    _container_processes(values, sections, errors)
    if any(((c.get("HostConfig") or {}).get("Ulimits")) for c in values.get("containers") or []):
        # The engine copies the daemon's default ulimits into every container; without
        # daemon.json, a container's own ulimits cannot be told from the defaults.
        out["containers.cis.ulimit_overrides"] = API_ONLY.format(
            what="the daemon's default ulimits (daemon.json), needed to tell a container's "
            "own ulimits from them,"
        )
    values["_out_of_reach"] = out
    values["_reached"] = reached
    info = _json(sections.get("docker.info")) or {}
    summary = dict(values.get("summary") or {})
    summary["os"] = info.get("OperatingSystem") if isinstance(info, dict) else None
    summary["reached_over"] = connection.get("scheme")
    values["summary"] = summary
    return values, errors


def _container_processes(
    values: dict[str, Any], sections: dict[str, Section], errors: dict[str, str]
) -> None:
    """``cis.processes`` of each container from ``docker top`` (the probe reads them from
    the host's process list and cgroups)."""
    section = sections.get("docker.top")
    top = _json(section) if section is not None and section.rc == 0 else None
    if not isinstance(top, dict):
        reason = section.stderr if section is not None else "docker.top was not collected"
        errors["containers.cis.processes"] = f"docker.top: {reason or 'unreadable'}"
        return
    for container in values.get("containers") or []:
        listing = top.get(container.get("Id", ""), {})
        titles = [str(t).upper() for t in listing.get("Titles") or []]
        found = []
        for row in listing.get("Processes") or []:
            fields = dict(zip(titles, row, strict=False))
            pid, uid = str(fields.get("PID", "")), str(fields.get("UID", ""))
            found.append(
                {
                    "pid": int(pid) if pid.isdigit() else pid,
                    "comm": str(fields.get("COMMAND") or fields.get("CMD") or ""),
                    "uid": int(uid) if uid.isdigit() else uid,
                }
            )
        container["cis"]["processes"] = found


def _connection(sections: dict[str, Section]) -> dict[str, Any]:
    value = _json(sections.get(CONNECTION))
    return value if isinstance(value, dict) else {}


def _json(section: Section | None) -> Any:
    if section is None or section.rc != 0:
        return None
    try:
        return json.loads(section.output)
    except ValueError:
        return None
