"""SSH transport (asyncssh): one connection per target, jump hosts chained as OpenSSH's
ProxyJump, strict host-key checking by default.

Why asyncssh and not paramiko (issue #12, measured by ``bench/bench_fleet.py
--compare-ssh``): the same connect, authenticate, run and read costs 12 to 14 ms of
client CPU with asyncssh and 29 to 31 ms with paramiko, which also starts a thread per
connection. Callers stay synchronous: every connection of the process runs on one event
loop in a background thread, and each call waits for its own coroutine.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from cisaudit.targets import Target
from cisaudit.transport.base import Completed, TransportError, shell_command

T = TypeVar("T")


@dataclass(frozen=True)
class _Endpoint:
    """One SSH server on the way to a target (a jump host or the target itself)."""

    address: str
    port: int
    user: str
    key: str | None
    password: str | None
    label: str  # how messages name it: "192.0.2.1:22" or "jump host bastion:22"


class _Throttled(Exception):
    """The server dropped the connection before its banner: sshd's MaxStartups (retry)."""


# ------------------------------------------------------------------ the process's loop


class _Loop:
    """One asyncio loop per process, in a daemon thread, created on first use (and again
    in a forked child, where the parent's thread does not exist)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = -1
        self.loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or self.pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="cisaudit-ssh", daemon=True)
                thread.start()
                self.loop, self.pid = loop, os.getpid()
            return self.loop


_LOOP = _Loop()


def _call(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the SSH loop and wait for it here (any thread but the loop's)."""
    future = asyncio.run_coroutine_threadsafe(coro, _LOOP.get())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # Ctrl-C or a caller's own deadline: stop the work on the loop too
        raise


# ------------------------------------------------------------------ the transport


class SSHTransport:
    """One SSH connection per target, strict host-key checking by default.

    Jump hosts are chained as OpenSSH's ProxyJump does (``jump: [a, b]`` reaches a, then
    b through a, then the target through b); each hop's host key is checked like the
    target's. The server's first bytes are read under the connect deadline before the
    SSH handshake starts, so a silent port, a slow banner or a server that is not sshd
    is reported as such within the connect timeout."""

    def __init__(
        self,
        target: Target,
        *,
        accept_new_host_keys: bool = False,
        known_hosts: str | None = None,
        retries: int = 6,
    ) -> None:
        self.target = target
        self.calls = 0
        self.retries = retries
        known = known_hosts or target.known_hosts
        self.known_path = Path(os.path.expanduser(known or "~/.ssh/known_hosts"))
        self.accept_new = accept_new_host_keys
        self._conns: list[asyncssh.SSHClientConnection] = []
        self._bridges: list[_DialStdio] = []
        try:
            self.conn = _call(self._connect())
        except BaseException:
            self.close()
            raise

    async def _connect(self) -> asyncssh.SSHClientConnection:
        t = self.target
        password = os.environ.get(t.password_env) if t.password_env else None
        if t.password_env and password is None:
            raise TransportError(f"environment variable {t.password_env} (password_env) is not set")
        via: asyncssh.SSHClientConnection | None = None
        for hop in t.jump:
            endpoint = _Endpoint(
                hop.address,
                hop.port,
                hop.user or t.user or "root",
                hop.key or t.key,
                None,
                f"jump host {hop.address}:{hop.port}",
            )
            via = await self._open(endpoint, via)
            self._conns.append(via)
        target = _Endpoint(
            t.address or t.name, t.port, t.user or "root", t.key, password, f"{t.address}:{t.port}"
        )
        conn = await self._open(target, via)
        self._conns.append(conn)
        return conn

    async def _open(
        self, end: _Endpoint, via: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        """Connect and authenticate to one endpoint, retrying while sshd throttles."""
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return await self._handshake(end, via)
            except _Throttled as exc:
                if attempt < self.retries:
                    # sshd MaxStartups drops bursts of unauthenticated connections: back off.
                    await asyncio.sleep(_backoff(delay))
                    delay = min(delay * 2, 8.0)
                    continue
                raise TransportError(f"{end.label}: {exc}, {attempt + 1} times") from None
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _handshake(
        self, end: _Endpoint, via: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        timeout = self.target.connect_timeout
        check = _HostKeyCheck(self.known_path, end, self.accept_new)
        keys = _client_keys(os.path.expanduser(end.key)) if end.key else ()
        try:
            return await asyncssh.connect(
                end.address,
                end.port,
                tunnel=_Path(via, end.label, timeout),
                config=None,
                username=end.user,
                client_keys=keys,
                password=end.password,
                known_hosts=check.match,
                client_factory=check.client,
                x509_trusted_certs=None,
                encryption_algs=_CIPHERS,
                gss_kex=False,
                gss_auth=False,
                host_based_auth=False,
                login_timeout=2 * timeout,  # the banner's deadline is the gate's own
                connect_timeout=None,
            )
        except (_Throttled, TransportError):
            raise
        except asyncssh.HostKeyNotVerifiable as exc:
            raise TransportError(f"{end.label}: {check.refusal(str(exc))}") from None
        except asyncssh.PermissionDenied:
            raise TransportError(
                f"{end.label}: authentication failed for user {end.user}"
            ) from None
        except asyncssh.KeyExchangeFailed as exc:
            raise TransportError(
                f"{end.label}: no common algorithm with the server ({exc.reason}); if the"
                f" host key type changed, its entry in {self.known_path} is out of date"
            ) from None
        except asyncssh.ProtocolNotSupported as exc:
            raise TransportError(
                f"{end.label}: the server speaks an SSH version this client does not ({exc.reason})"
            ) from None
        except asyncssh.DisconnectError as exc:
            raise TransportError(f"{end.label}: SSH error: {exc.reason}") from None
        except TimeoutError:
            raise TransportError(
                f"{end.label}: the SSH handshake did not finish within {timeout:g} s"
            ) from None
        except (EOFError, OSError) as exc:
            raise TransportError(
                f"{end.label}: the connection broke during the SSH handshake"
                f" ({exc.__class__.__name__}: {exc})"
            ) from None

    def run(self, script: str, *, timeout: float) -> Completed:
        self.calls += 1
        t = self.target
        command = shell_command(t)
        data = script.encode()
        if t.become_password_env and "sudo -S" in command:
            secret = os.environ.get(t.become_password_env)
            if secret is None:
                raise TransportError(f"environment variable {t.become_password_env} is not set")
            data = (secret + "\n").encode() + data
        out, err, rc = _call(self._run(command, data, timeout))
        if command.startswith("sudo") and rc == 1 and "password is required" in err:
            raise TransportError(
                f"user {t.user} cannot sudo without a password (become needs NOPASSWD sudo, "
                "or set become_password_env)"
            )
        if command.startswith("sudo") and rc == 1 and "not in the sudoers" in err:
            raise TransportError(f"user {t.user} is not allowed to use sudo")
        return Completed(out, err, rc)

    async def _run(self, command: str, data: bytes, timeout: float) -> tuple[str, str, int]:
        try:
            process = await asyncio.wait_for(
                self.conn.create_process(command, encoding=None), timeout
            )
        except TimeoutError:
            raise TransportError(f"command timed out after {timeout:.0f}s") from None
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"SSH error while running the probe: {exc}") from None
        try:
            try:
                process.stdin.write(data)
                process.stdin.write_eof()
            except (OSError, asyncssh.Error):
                # The command ended before reading the whole script (sudo refused, say):
                # its exit status and stderr below say why.
                pass
            done = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            raise TransportError(f"command timed out after {timeout:.0f}s") from None
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"SSH error while running the probe: {exc}") from None
        finally:
            process.close()
        rc = done.returncode
        return _text(done.stdout), _text(done.stderr), -1 if rc is None else rc

    def dial_stdio(self) -> _SessionOpener:
        """What the Docker SDK's SSH adapter takes as its paramiko client: each session it
        opens runs ``docker system dial-stdio`` on this connection, seen locally as a
        socket."""
        return _SessionOpener(self)

    def close(self) -> None:
        conns, self._conns = self._conns, []
        bridges, self._bridges = self._bridges, []
        for bridge in bridges:
            bridge.close()
        if conns:
            _call(_close_all(conns))


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


async def _close_all(conns: list[asyncssh.SSHClientConnection]) -> None:
    for conn in reversed(conns):  # the target first, then the hops it went through
        conn.close()
        try:
            await asyncio.wait_for(conn.wait_closed(), 5.0)
        except (TimeoutError, OSError, asyncssh.Error):
            conn.abort()


# ------------------------------------------------------------------ reaching the server


class _Path:
    """How asyncssh reaches one endpoint (its ``tunnel``): a TCP connection, or a channel
    through the previous hop. The server's first bytes pass a gate first (see
    ``_BannerGate``)."""

    def __init__(
        self, via: asyncssh.SSHClientConnection | None, label: str, timeout: float
    ) -> None:
        self.via = via
        self.label = label
        self.timeout = timeout

    async def create_connection(
        self, session_factory: Callable[[], Any], host: str, port: int
    ) -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        session = session_factory()
        gate = _BannerGate(session, self.label, self.timeout, loop)
        if self.via is None:
            transport = await self._tcp(loop, gate, host, port)
        else:
            transport = await self._channel(gate, host, port)
        try:
            await gate.passed
        except BaseException:
            transport.abort()
            raise
        return transport, session

    async def _tcp(
        self, loop: asyncio.AbstractEventLoop, gate: _BannerGate, host: str, port: int
    ) -> Any:
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: gate, host, port), self.timeout
            )
        except TimeoutError:
            raise TransportError(
                f"{self.label}: connection timed out after {self.timeout:g} s"
            ) from None
        except socket.gaierror as exc:
            raise TransportError(
                f"{self.label}: cannot resolve the address ({exc.strerror})"
            ) from None
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.label}: {exc.strerror or exc}") from None
        return transport

    async def _channel(self, gate: _BannerGate, host: str, port: int) -> Any:
        assert self.via is not None
        try:
            channel, _ = await asyncio.wait_for(
                self.via.create_connection(lambda: gate, host, port),  # type: ignore[arg-type,return-value]
                self.timeout,
            )
        except asyncssh.ChannelOpenError as exc:
            raise TransportError(
                f"the jump host could not open a connection to {host}:{port}:"
                f" {exc.reason or _OPEN_FAILURES.get(exc.code, 'refused')} (SSH channel error"
                f" {exc.code}; is TCP forwarding"
                " allowed there, and is the address reachable from it?)"
            ) from None
        except (TimeoutError, asyncssh.Error, EOFError, OSError) as exc:
            raise TransportError(
                f"the jump host failed while connecting on to {host}:{port}:"
                f" {exc or type(exc).__name__}"
            ) from None
        return channel


# AES-GCM first: one library call per packet. asyncssh builds ChaCha20-Poly1305 out of
# several cryptography objects per packet, which made it the largest single cost of a
# host (bench_fleet, yappi: 2.8 of 4.6 s of SSH CPU for 100 hosts). The rest of
# asyncssh's defaults follow, for servers without GCM.
_GCM = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
_CIPHERS = _GCM + [
    name.decode()
    for name in asyncssh.encryption.get_default_encryption_algs()
    if name.decode() not in _GCM
]

# RFC 4254 5.1: what the codes of a refused channel mean, for servers that send no text
_OPEN_FAILURES = {
    1: "Administratively prohibited",
    2: "Connect failed",
    3: "Unknown channel type",
    4: "Resource shortage",
}
_BANNER_LIMIT = 8192
_THROTTLE_WORDS = re.compile(rb"MaxStartups|too many|try again later", re.IGNORECASE)
_GRACE = 1.0  # seconds to wait for an SSH banner after lines that are not one


class _BannerGate(asyncio.Protocol):
    """Holds the server's first bytes until its SSH version line, within the connect
    deadline, and only then hands the connection (bytes included) to asyncssh.

    ``passed`` fails with _Throttled when the server hung up before saying anything
    (what sshd does past MaxStartups), with TransportError when it stays silent or is not
    an SSH server. Works on a TCP transport and on a jump host's channel alike."""

    def __init__(
        self, session: Any, label: str, timeout: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.session = session
        self.label = label
        self.timeout = timeout
        self.loop = loop
        self.passed: asyncio.Future[None] = loop.create_future()
        # read when awaited; a failure seen after the connection attempt itself failed
        # is not news and must not be logged as a lost exception
        self.passed.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.started = False  # a channel's session_started, held like its first bytes
        self.open = False  # the banner arrived: everything goes straight to the session
        self.data = b""
        self.transport: Any = None
        self.deadline = time.monotonic() + timeout
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(max(0.0, self.deadline - time.monotonic()), self._expired)

    def session_started(self) -> None:
        if self.open:
            self.session.session_started()
        else:
            self.started = True

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        if self.open:
            self.session.data_received(data, datatype)
            return
        if self.passed.done():
            return
        self.data += data
        lines = self.data.split(b"\n")
        if any(line.startswith(b"SSH-") for line in lines[:-1]):
            self._pass()
        elif len(self.data) >= _BANNER_LIMIT:
            self._fail(self._unbannered())
        elif len(lines) > 1:  # other lines first (RFC 4253 allows them): not for long
            grace = time.monotonic() + _GRACE
            if grace < self.deadline:
                self.deadline = grace
                self._arm()

    def _pass(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.open = True
        self.session.connection_made(self.transport)
        if self.started:
            self.session.session_started()
        self.session.data_received(self.data, None)
        self.data = b""
        if not self.passed.done():
            self.passed.set_result(None)

    def eof_received(self) -> bool | None:
        if self.open:
            return bool(self.session.eof_received())
        self._ended(reset=False)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.session.connection_lost(exc)
            return
        self._ended(reset=isinstance(exc, ConnectionResetError))

    def pause_writing(self) -> None:
        if self.open:
            self.session.pause_writing()

    def resume_writing(self) -> None:
        if self.open:
            self.session.resume_writing()

    def _ended(self, reset: bool) -> None:
        if self.passed.done():
            return
        if not self.data:
            if reset:
                self._fail(_Throttled("the connection was reset before the SSH banner"))
            else:
                self._fail(_Throttled("the server closed the connection before its SSH banner"))
        elif _THROTTLE_WORDS.search(self.data):  # OpenSSH says "Exceeded MaxStartups", hangs up
            said = self.data[:120].decode("utf-8", "replace").strip()
            self._fail(_Throttled(f"the server is throttling new connections ({said!r})"))
        else:
            self._fail(self._unbannered())

    def _expired(self) -> None:
        if not self.passed.done():
            self._fail(self._unbannered())

    def _unbannered(self) -> TransportError:
        if not self.data:
            return TransportError(
                f"{self.label}: no SSH banner within the connect timeout ({self.timeout:g} s):"
                " the port accepts connections but says nothing (a silent or overloaded"
                " server, or not sshd)"
            )
        shown = self.data[:120].decode("utf-8", "replace").strip()
        if self.data.startswith(b"SSH-"):
            return TransportError(
                f"{self.label}: the SSH banner did not arrive in time (got {shown!r})"
            )
        return TransportError(f"{self.label}: not an SSH server: it said {shown!r}")

    def _fail(self, exc: Exception) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.passed.done():
            self.passed.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


def _backoff(delay: float) -> float:
    # Jitter spreads retries out, so a burst that tripped MaxStartups does not come back
    # as the same burst.
    return delay * random.uniform(0.5, 1.5)


# ------------------------------------------------------------------ host keys


class _KnownHosts:
    """One known_hosts file, parsed once per process (a fleet of N hosts would otherwise
    parse N lines for each of N connections) and re-read when the file changes. A line
    that cannot be read is skipped, as OpenSSH does; a key recorded here (accept-new)
    joins the index as it is written."""

    def __init__(self, path: Path, signature: tuple[int, int]) -> None:
        self.signature = signature
        self.index = asyncssh.SSHKnownHosts()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            self.add(line)

    def add(self, line: str) -> None:
        try:
            self.index.load(line)
        except ValueError:
            pass

    def keys(self, host: str, port: int) -> tuple[list[Any], list[Any], list[Any]]:
        """The host keys, certificate authorities (``@cert-authority``) and revoked keys
        (``@revoked``) recorded for this host, as OpenSSH looks them up: ``[host]:port``
        off port 22, and no falling back to the bare name for another port."""
        found = self.index._match(host, "", None if port == 22 else port)
        return list(found[0]), list(found[1]), list(found[2])


_KNOWN: dict[str, _KnownHosts] = {}
_KNOWN_LOCK = threading.Lock()


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _known(path: Path) -> _KnownHosts | None:
    signature = _signature(path)
    if signature is None or not path.is_file():
        return None
    with _KNOWN_LOCK:
        known = _KNOWN.get(str(path))
        if known is None or known.signature != signature:
            known = _KNOWN[str(path)] = _KnownHosts(path, signature)
        return known


def _host_name(host: str, port: int) -> str:
    """How known_hosts names a host: bare on port 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


class _HostKeyCheck:
    """Host-key policy for one endpoint: keys from known_hosts only (strict), and with
    accept-new an unknown host's key is recorded. A known host offering another key is
    refused either way, and the refusal names the key it offered."""

    def __init__(self, path: Path, end: _Endpoint, accept_new: bool) -> None:
        self.path = path
        self.end = end
        self.accept_new = accept_new
        self.known_any = False
        self.offered: asyncssh.SSHKey | None = None

    def match(
        self, host: str, addr: str, port: int | None
    ) -> tuple[list[Any], list[Any], list[Any]]:
        known = _known(self.path)
        keys, authorities, revoked = (
            known.keys(self.end.address, self.end.port) if known else ([], [], [])
        )
        self.known_any = bool(keys or authorities)
        return keys, authorities, revoked

    def client(self) -> asyncssh.SSHClient:
        return _Client(self)

    def unknown_key(self, key: asyncssh.SSHKey) -> bool:
        self.offered = key
        if self.known_any or not self.accept_new:
            return False
        name = _host_name(self.end.address, self.end.port)
        kind, data = key.export_public_key("openssh").decode().split()[:2]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _KNOWN_LOCK, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{name} {kind} {data}\n")
        with _KNOWN_LOCK:
            known = _KNOWN.get(str(self.path))
            signature = _signature(self.path)
            if known is not None and signature is not None:
                known.add(f"{name} {kind} {data}")
                known.signature = signature
        return True

    def refusal(self, said: str) -> str:
        key = self.offered
        if key is not None and self.known_any:
            return (
                f"host key has CHANGED (got {key.get_algorithm()}"
                f" {key.get_fingerprint('sha256')}); refusing to connect. If the change is"
                f" expected, remove the old key from {self.path}"
            )
        if key is not None or not self.known_any:
            return (
                f"host key is not in {self.path}; add it (ssh-keyscan) or run with"
                " --accept-new-host-keys"
            )
        return f"host key refused ({said})"


class _Client(asyncssh.SSHClient):
    def __init__(self, check: _HostKeyCheck) -> None:
        self.check = check

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self.check.unknown_key(key)


_KEYS: dict[tuple[str, tuple[int, int]], Sequence[asyncssh.SSHKeyPair]] = {}


def _client_keys(path: str) -> Sequence[asyncssh.SSHKeyPair]:
    """The key pair at ``path`` (with its certificate, when ``path-cert.pub`` exists),
    parsed once per process."""
    signature = _signature(Path(path))
    if signature is None:
        raise TransportError(f"cannot read the private key {path}: no such file")
    with _KNOWN_LOCK:
        cached = _KEYS.get((path, signature))
    if cached is not None:
        return cached
    try:
        pairs = asyncssh.load_keypairs([path])
    except (asyncssh.KeyImportError, OSError, ValueError) as exc:
        reason = str(exc)
        if "passphrase" in reason.lower():
            reason += " (cisaudit does not ask for passphrases: load the key into ssh-agent)"
        raise TransportError(f"cannot read the private key {path}: {reason}") from None
    with _KNOWN_LOCK:
        _KEYS[(path, signature)] = pairs
    return pairs


# ------------------------------------------------------------------ docker dial-stdio


class _SessionOpener:
    """The part of a paramiko client the Docker SDK's SSH adapter uses: ``get_transport()``
    and its ``open_session()``."""

    def __init__(self, transport: SSHTransport) -> None:
        self.transport = transport

    def get_transport(self) -> _SessionOpener:
        return self

    def open_session(self) -> _DialStdio:
        return _DialStdio(self.transport)


class _DialStdio:
    """A local socket whose other end is a remote command's stdin and stdout on the
    transport's connection (what the SDK expects of a paramiko channel)."""

    def __init__(self, transport: SSHTransport) -> None:
        self.transport = transport
        self.sock, self._far = socket.socketpair()
        self._task: asyncio.Future[None] | None = None

    def exec_command(self, command: str) -> None:
        conn = self.transport.conn
        far = self._far

        async def start() -> asyncio.Future[None]:
            process = await conn.create_process(command, encoding=None)
            reader, writer = await asyncio.open_connection(sock=far)

            async def upstream() -> None:
                while chunk := await reader.read(65536):
                    process.stdin.write(chunk)
                process.stdin.write_eof()

            async def downstream() -> None:
                while chunk := await process.stdout.read(65536):
                    writer.write(chunk)
                    await writer.drain()
                writer.close()

            async def both() -> None:
                try:
                    await asyncio.gather(upstream(), downstream())
                except (OSError, asyncssh.Error):
                    pass
                finally:
                    process.close()
                    writer.close()

            return asyncio.ensure_future(both())

        try:
            self._task = _call(start())
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"SSH error while starting {command!r}: {exc}") from None
        self.transport._bridges.append(self)

    def close(self) -> None:
        self.sock.close()
        task = self._task
        if task is not None and not task.done():
            _LOOP.get().call_soon_threadsafe(task.cancel)

    def __getattr__(self, name: str) -> Any:  # settimeout, sendall, makefile, fileno, ...
        return getattr(self.sock, name)
