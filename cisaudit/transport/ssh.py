"""SSH transport (paramiko): one connection per target, jump hosts chained as OpenSSH's
ProxyJump, strict host-key checking by default."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from cisaudit.targets import Target
from cisaudit.transport.base import Completed, TransportError, shell_command


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


class SSHTransport:
    """One SSH connection per target (paramiko), strict host-key checking by default.

    Jump hosts are chained as OpenSSH's ProxyJump does (``jump: [a, b]`` reaches a, then
    b through a, then the target through b); each hop's host key is checked like the
    target's. Before paramiko starts, the server's first bytes are read under the connect
    deadline, so a silent port, a slow banner or a server that is not sshd is reported
    as such within the connect timeout instead of as a paramiko error much later."""

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
        self._hops: list[paramiko.SSHClient] = []
        known = known_hosts or target.known_hosts
        self.known_path = Path(os.path.expanduser(known or "~/.ssh/known_hosts"))
        self.accept_new = accept_new_host_keys
        try:
            self.client = self._connect()
        except BaseException:
            self._close_hops()
            raise

    def _connect(self) -> paramiko.SSHClient:
        t = self.target
        password = os.environ.get(t.password_env) if t.password_env else None
        if t.password_env and password is None:
            raise TransportError(f"environment variable {t.password_env} (password_env) is not set")
        via: paramiko.Transport | None = None
        for hop in t.jump:
            endpoint = _Endpoint(
                hop.address,
                hop.port,
                hop.user or t.user or "root",
                hop.key or t.key,
                None,
                f"jump host {hop.address}:{hop.port}",
            )
            client = self._open(endpoint, via)
            self._hops.append(client)
            via = client.get_transport()
        target = _Endpoint(
            t.address or t.name, t.port, t.user or "root", t.key, password, f"{t.address}:{t.port}"
        )
        return self._open(target, via)

    def _open(self, end: _Endpoint, via: paramiko.Transport | None) -> paramiko.SSHClient:
        """Connect and authenticate to one endpoint, retrying while sshd throttles."""
        timeout = self.target.connect_timeout
        delay = 0.5
        for attempt in range(self.retries + 1):
            deadline = time.monotonic() + timeout
            sock = self._socket(end, via, timeout)
            try:
                first = _read_banner(sock, deadline, end.label, timeout)
            except _Throttled as exc:
                _close_quietly(sock)
                if attempt < self.retries:
                    # sshd MaxStartups drops bursts of unauthenticated connections: back off.
                    time.sleep(_backoff(delay))
                    delay = min(delay * 2, 8.0)
                    continue
                raise TransportError(f"{end.label}: {exc}, {attempt + 1} times") from None
            except BaseException:
                _close_quietly(sock)
                raise
            return self._handshake(end, _Prefetched(sock, first), timeout)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _socket(self, end: _Endpoint, via: paramiko.Transport | None, timeout: float) -> Any:
        """A TCP connection to the endpoint, directly or as a channel through a jump host."""
        if via is not None:
            try:
                return via.open_channel(
                    "direct-tcpip", (end.address, end.port), ("127.0.0.1", 0), timeout=timeout
                )
            except paramiko.ChannelException as exc:
                raise TransportError(
                    f"the jump host could not open a connection to {end.address}:{end.port}:"
                    f" {exc.text or 'refused'} (SSH channel error {exc.code}; is TCP forwarding"
                    " allowed there, and is the address reachable from it?)"
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise TransportError(
                    f"the jump host failed while connecting on to {end.address}:{end.port}:"
                    f" {exc or type(exc).__name__}"
                ) from None
        try:
            return socket.create_connection((end.address, end.port), timeout=timeout)
        except TimeoutError:
            raise TransportError(f"{end.label}: connection timed out after {timeout:g} s") from None
        except socket.gaierror as exc:
            raise TransportError(
                f"{end.label}: cannot resolve the address ({exc.strerror})"
            ) from None
        except OSError as exc:
            raise TransportError(f"cannot connect to {end.label}: {exc.strerror or exc}") from None

    def _handshake(self, end: _Endpoint, sock: Any, timeout: float) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        _use_known_hosts(client, self.known_path, end.address, end.port)
        client.set_missing_host_key_policy(
            _AcceptNew(self.known_path) if self.accept_new else paramiko.RejectPolicy()
        )
        key_path = os.path.expanduser(end.key) if end.key else None
        pkey = _private_key(key_path) if key_path else None
        try:
            client.connect(
                end.address,
                port=end.port,
                username=end.user,
                pkey=pkey,
                key_filename=key_path if pkey is None else None,
                password=end.password,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=True,
                look_for_keys=end.key is None,
                sock=sock,
            )
            return client
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise TransportError(
                f"host key of {end.label} has CHANGED (got {exc.key.get_name()} "
                f"{_fingerprint(exc.key)}); refusing to connect. If the change is expected, "
                f"remove the old key from {self.known_path}"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise TransportError(
                f"{end.label}: authentication failed for user {end.user}"
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            raise TransportError(f"{end.label}: {_ssh_reason(str(exc), self.known_path)}") from None
        except (EOFError, OSError) as exc:
            client.close()
            raise TransportError(
                f"{end.label}: the connection broke during the SSH handshake"
                f" ({exc.__class__.__name__}: {exc})"
            ) from None

    def run(self, script: str, *, timeout: float) -> Completed:
        self.calls += 1
        t = self.target
        command = shell_command(t)
        try:
            stdin, stdout, stderr = self.client.exec_command(command, timeout=timeout)
            if t.become_password_env and "sudo -S" in command:
                secret = os.environ.get(t.become_password_env)
                if secret is None:
                    raise TransportError(f"environment variable {t.become_password_env} is not set")
                stdin.write(secret + "\n")
            try:
                stdin.write(script)
                stdin.channel.shutdown_write()
            except OSError:
                # The command ended before reading the whole script (sudo refused, say):
                # its exit status and stderr below say why.
                pass
            out = stdout.read().decode("utf-8", "replace")
            err = stderr.read().decode("utf-8", "replace")
            rc = stdout.channel.recv_exit_status()
        except TimeoutError:
            raise TransportError(f"command timed out after {timeout:.0f}s") from None
        except paramiko.SSHException as exc:
            raise TransportError(f"SSH error while running the probe: {exc}") from None
        if command.startswith("sudo") and rc == 1 and "password is required" in err:
            raise TransportError(
                f"user {t.user} cannot sudo without a password (become needs NOPASSWD sudo, "
                "or set become_password_env)"
            )
        if command.startswith("sudo") and rc == 1 and "not in the sudoers" in err:
            raise TransportError(f"user {t.user} is not allowed to use sudo")
        return Completed(out, err, rc)

    def close(self) -> None:
        self.client.close()
        self._close_hops()

    def _close_hops(self) -> None:
        for hop in reversed(self._hops):
            hop.close()
        self._hops = []


_BANNER_LIMIT = 8192
_THROTTLE_WORDS = re.compile(rb"MaxStartups|too many|try again later", re.IGNORECASE)
_GRACE = 1.0  # seconds to wait for an SSH banner after lines that are not one


def _read_banner(sock: Any, deadline: float, label: str, timeout: float) -> bytes:
    """Read the server's first bytes until its SSH version line, within ``deadline``.

    Returns what was read (replayed to paramiko). Raises _Throttled when the server hung
    up before saying anything (what sshd does past MaxStartups), TransportError when
    it stays silent or is not an SSH server."""
    data = b""
    while len(data) < _BANNER_LIMIT:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        except ConnectionResetError:
            if not data:
                raise _Throttled("the connection was reset before the SSH banner") from None
            break
        except OSError as exc:
            raise TransportError(f"{label}: reading the SSH banner failed: {exc}") from None
        if not chunk:
            if not data:
                raise _Throttled("the server closed the connection before its SSH banner")
            if _THROTTLE_WORDS.search(data):  # OpenSSH says "Exceeded MaxStartups", then hangs up
                said = data[:120].decode("utf-8", "replace").strip()
                raise _Throttled(f"the server is throttling new connections ({said!r})")
            break
        data += chunk
        lines = data.split(b"\n")
        if any(line.startswith(b"SSH-") for line in lines[:-1]):
            return data
        if len(lines) > 1:  # other lines first (RFC 4253 allows them): not for long
            deadline = min(deadline, time.monotonic() + _GRACE)
    seconds = f"{timeout:g}"
    if not data:
        raise TransportError(
            f"{label}: no SSH banner within the connect timeout ({seconds} s): the port"
            " accepts connections but says nothing (a silent or overloaded server, or not"
            " sshd)"
        )
    shown = data[:120].decode("utf-8", "replace").strip()
    if data.startswith(b"SSH-"):
        raise TransportError(f"{label}: the SSH banner did not arrive in time (got {shown!r})")
    raise TransportError(f"{label}: not an SSH server: it said {shown!r}")


class _Prefetched:
    """A socket (or a jump host's channel) whose first bytes were already read: they
    are handed to paramiko first, then reading goes on from the socket."""

    def __init__(self, sock: Any, first: bytes) -> None:
        self._sock = sock
        self._pending = first

    def recv(self, size: int) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending[:size], self._pending[size:]
            return chunk
        return bytes(self._sock.recv(size))

    def send(self, data: bytes) -> int:
        return int(self._sock.send(data))

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def settimeout(self, value: float | None) -> None:
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        timeout: float | None = self._sock.gettimeout()
        return timeout

    def close(self) -> None:
        self._sock.close()

    @property
    def _closed(self) -> bool:  # paramiko's transport thread polls this
        return bool(getattr(self._sock, "_closed", False))


def _close_quietly(sock: Any) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _fingerprint(key: paramiko.PKey) -> str:
    """SHA256:base64, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _ssh_reason(text: str, known_path: Path) -> str:
    """paramiko's messages in words a user can act on."""
    if "not found in known_hosts" in text or ("Server " in text and "not found" in text):
        return (
            f"host key is not in {known_path}; add it (ssh-keyscan) or run with"
            " --accept-new-host-keys"
        )
    if "No existing session" in text or "No authentication methods available" in text:
        return (
            "no way to authenticate: no key, agent or password was accepted before the"
            " server closed the session"
        )
    if "Incompatible version" in text:
        return f"the server speaks an SSH version this client does not ({text})"
    if "Indecipherable protocol version" in text or "Invalid SSH banner" in text:
        return f"not an SSH server ({text})"
    return f"SSH error: {text}"


def _backoff(delay: float) -> float:
    # Jitter spreads retries out, so a burst that tripped MaxStartups does not come back
    # as the same burst.
    return delay * random.uniform(0.5, 1.5)


class _KnownHosts:
    """One known_hosts file, parsed once per process and indexed by host name: a fleet of
    N hosts would otherwise parse N lines for each of N connections. Hashed entries
    (HashKnownHosts) are matched one by one, as OpenSSH does. Re-read when the file
    changes; a key recorded here (accept-new) is added to the index as it is written."""

    def __init__(self, path: Path, signature: tuple[int, int]) -> None:
        self.signature = signature
        self.plain: dict[str, list[paramiko.hostkeys.HostKeyEntry]] = {}
        self.hashed: list[paramiko.hostkeys.HostKeyEntry] = []
        keys = paramiko.HostKeys()
        keys.load(str(path))
        for entry in keys._entries:
            self._index(entry)

    def _index(self, entry: paramiko.hostkeys.HostKeyEntry) -> None:
        for name in entry.hostnames:
            if name.startswith("|1|"):
                self.hashed.append(entry)
            else:
                self.plain.setdefault(name, []).append(entry)

    def for_host(self, names: list[str]) -> paramiko.HostKeys:
        """A HostKeys holding only the entries for these names."""
        found = paramiko.HostKeys()
        for name in names:
            found._entries.extend(self.plain.get(name, []))
        if self.hashed:
            matcher = paramiko.HostKeys()
            matcher._entries = self.hashed
            for name in names:
                sub = matcher.lookup(name)
                if sub is not None:
                    for key_type, key in sub.items():
                        found.add(name, key_type, key)
        return found


_KNOWN: dict[str, _KnownHosts] = {}
_KNOWN_LOCK = threading.Lock()


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _use_known_hosts(client: paramiko.SSHClient, path: Path, host: str, port: int) -> None:
    """Give ``client`` the host keys recorded for this host (as paramiko names it)."""
    signature = _signature(path)
    if signature is None or not path.is_file():
        return
    with _KNOWN_LOCK:
        known = _KNOWN.get(str(path))
        if known is None or known.signature != signature:
            known = _KNOWN[str(path)] = _KnownHosts(path, signature)
    names = [host, f"[{host}]:{port}"] if port == 22 else [f"[{host}]:{port}"]
    client._host_keys = known.for_host(names)


def _recorded(path: Path, hostname: str, key: paramiko.PKey) -> None:
    """A key just appended to ``path`` (accept-new): into the cached index as well."""
    with _KNOWN_LOCK:
        known = _KNOWN.get(str(path))
        signature = _signature(path)
        if known is not None and signature is not None:
            known._index(paramiko.hostkeys.HostKeyEntry([hostname], key))
            known.signature = signature


_KEYS: dict[tuple[str, tuple[int, int]], paramiko.PKey] = {}


def _private_key(path: str) -> paramiko.PKey | None:
    """The private key at ``path``, parsed once per process (None: let paramiko load it,
    for a key it must decrypt or a type this cannot tell)."""
    signature = _signature(Path(path))
    if signature is None:
        return None
    with _KNOWN_LOCK:
        cached = _KEYS.get((path, signature))
    if cached is not None:
        return cached
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            key = kind.from_private_key_file(path)
        except (paramiko.SSHException, ValueError, OSError):
            continue
        with _KNOWN_LOCK:
            _KEYS[(path, signature)] = key
        return key
    return None


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """OpenSSH's accept-new: record an unknown key; a changed key still fails (paramiko
    raises BadHostKeyException before consulting the policy)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _KNOWN_LOCK, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        _recorded(self.path, hostname, key)
