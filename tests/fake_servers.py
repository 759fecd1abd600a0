"""Servers on loopback that misbehave the way real networks do, for the transport tests.

* ``FakeServer``: a TCP listener with one behaviour per connection: silent, a banner
  that comes too late, bytes that are no SSH banner (garbage, HTTP, markup), or a
  connection closed at once (what sshd does past MaxStartups).
* ``JumpServer``: a real SSH server (paramiko's server side) that accepts any public
  key and either forwards ``direct-tcpip`` channels (a working jump host) or refuses
  them, as a bastion with ``AllowTcpForwarding no`` does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko


class FakeServer:
    """A loopback listener; ``behaviour(conn)`` runs for each accepted connection."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.behaviour = behaviour
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
        self.sock.close()


def silent(conn: socket.socket) -> None:
    time.sleep(30)


def slow_banner(delay: float) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        time.sleep(delay)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        time.sleep(30)

    return behaviour


def says(data: bytes) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        conn.sendall(data)
        time.sleep(30)

    return behaviour


def hangs_up(conn: socket.socket) -> None:
    conn.close()


def says_and_hangs_up(data: bytes) -> Callable[[socket.socket], None]:
    """What OpenSSH does past MaxStartups: one line ("Exceeded MaxStartups"), then close."""

    def behaviour(conn: socket.socket) -> None:
        conn.sendall(data)
        conn.close()

    return behaviour


class _Server(paramiko.ServerInterface):
    def __init__(self, forward: bool) -> None:
        self.forward = forward
        self.destinations: list[tuple[str, int]] = []

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        if not self.forward:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.destinations.append(destination)
        return paramiko.OPEN_SUCCEEDED


class JumpServer:
    """An SSH jump host on loopback (forwarding or refusing to)."""

    def __init__(self, workdir: Path, *, forward: bool) -> None:
        self.host_key = paramiko.ECDSAKey.generate()
        self.forward = forward
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.servers: list[_Server] = []
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        server = _Server(self.forward)
        self.servers.append(server)
        try:
            transport.start_server(server=server)
        except (paramiko.SSHException, EOFError, OSError):
            return
        while transport.is_active() and not self._stop.is_set():
            channel = transport.accept(0.5)
            if channel is None:
                continue
            destination = server.destinations[-1]
            threading.Thread(target=_relay, args=(channel, destination), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def _relay(channel: Any, destination: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(destination, timeout=5)
    except OSError:
        channel.close()
        return
    upstream.settimeout(None)

    def pump(src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            for end in (src, dst):
                try:
                    end.close()
                except (OSError, EOFError):
                    pass

    threading.Thread(target=pump, args=(channel, upstream), daemon=True).start()
    pump(upstream, channel)


def client_key(workdir: Path) -> Path:
    """A private key for the client (mode 0600), in OpenSSH's PEM form."""
    key = paramiko.ECDSAKey.generate()
    path = workdir / "id_client"
    path.touch(mode=0o600)
    key.write_private_key_file(str(path))
    path.chmod(0o600)
    return path
