"""Transports run one shell script on a target and return its output.

The script goes over stdin to ``sh -s`` (through ``sudo -n`` when the target asks for
become), so no inventory value is ever spliced into a command line.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

from cisaudit.targets import Target


class TransportError(Exception):
    """The target could not be reached or the command could not run; message says why."""


@dataclass
class Completed:
    stdout: str
    stderr: str
    rc: int


class Transport(Protocol):
    calls: int

    def run(self, script: str, *, timeout: float) -> Completed: ...

    def close(self) -> None: ...


def shell_command(target: Target) -> str:
    if target.become and target.user not in (None, "root"):
        if target.become_method != "sudo":
            raise TransportError(
                f"become method {target.become_method!r} is not supported (use sudo)"
            )
        # -n: never prompt; a missing sudo right must fail fast, not hang.
        return "sudo -n -- sh -s" if not target.become_password_env else "sudo -S -p '' -- sh -s"
    return "sh -s"


class LocalTransport:
    """Runs the probe on this machine (kind ``local`` and tests)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.calls = 0

    def run(self, script: str, *, timeout: float) -> Completed:
        self.calls += 1
        try:
            proc = subprocess.run(
                ["sh", "-s"],
                input=script.encode(),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransportError(f"command timed out after {timeout:.0f}s") from None
        return Completed(
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            proc.returncode,
        )

    def close(self) -> None:
        pass


class SSHTransport:
    """One SSH connection per target (paramiko), strict host-key checking by default."""

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
        self._jump: paramiko.SSHClient | None = None
        self.client = self._connect(accept_new_host_keys, known_hosts, retries)

    def _connect(
        self, accept_new: bool, known_hosts: str | None, retries: int
    ) -> paramiko.SSHClient:
        t = self.target
        known = known_hosts or t.known_hosts
        known_path = Path(os.path.expanduser(known or "~/.ssh/known_hosts"))
        sock = self._jump_channel(accept_new, known_path) if t.jump else None
        password = os.environ.get(t.password_env) if t.password_env else None
        if t.password_env and password is None:
            raise TransportError(f"environment variable {t.password_env} (password_env) is not set")
        delay = 0.5
        for attempt in range(retries + 1):
            client = paramiko.SSHClient()
            _load_known_hosts(client, known_path)
            client.set_missing_host_key_policy(
                _AcceptNew(known_path) if accept_new else paramiko.RejectPolicy()
            )
            try:
                client.connect(
                    t.address or t.name,
                    port=t.port,
                    username=t.user or "root",
                    key_filename=os.path.expanduser(t.key) if t.key else None,
                    password=password,
                    timeout=t.connect_timeout,
                    banner_timeout=t.connect_timeout,
                    auth_timeout=t.connect_timeout,
                    allow_agent=True,
                    look_for_keys=t.key is None,
                    sock=sock,
                )
                return client
            except paramiko.BadHostKeyException as exc:
                raise TransportError(
                    f"host key of {exc.hostname} has CHANGED (got {exc.key.get_name()} "
                    f"{exc.key.get_fingerprint().hex()}); refusing to connect. If the change is "
                    f"expected, remove the old key from {known_path}"
                ) from None
            except paramiko.SSHException as exc:
                text = str(exc)
                if "not found in known_hosts" in text or "Server " in text and "not found" in text:
                    raise TransportError(
                        f"host key of {t.address}:{t.port} is not in {known_path}; add it "
                        "(ssh-keyscan) or run with --accept-new-host-keys"
                    ) from None
                throttled = "banner" in text.lower() or "reset" in text.lower()
                client.close()
                if throttled and attempt < retries:
                    # sshd MaxStartups drops bursts of unauthenticated connections: back off.
                    time.sleep(_backoff(delay))
                    delay = min(delay * 2, 8.0)
                    continue
                if isinstance(exc, paramiko.AuthenticationException):
                    raise TransportError(
                        f"authentication failed for user {t.user or 'root'}"
                    ) from None
                raise TransportError(f"SSH error: {text}") from None
            except TimeoutError:
                client.close()
                raise TransportError(
                    f"connection timed out after {t.connect_timeout:.0f}s"
                ) from None
            except OSError as exc:
                client.close()
                if attempt < retries and exc.errno in (104, 111) and "reset" in str(exc).lower():
                    time.sleep(_backoff(delay))
                    delay = min(delay * 2, 8.0)
                    continue
                raise TransportError(
                    f"cannot connect to {t.address}:{t.port}: {exc.strerror or exc}"
                ) from None
        raise TransportError("SSH connection kept failing (throttled?)")

    def _jump_channel(self, accept_new: bool, known_path: Path) -> paramiko.Channel:
        hop = self.target.jump[0]
        if len(self.target.jump) > 1:
            raise TransportError("only one jump host is supported")
        jump = paramiko.SSHClient()
        _load_known_hosts(jump, known_path)
        jump.set_missing_host_key_policy(
            _AcceptNew(known_path) if accept_new else paramiko.RejectPolicy()
        )
        try:
            jump.connect(
                hop.address,
                port=hop.port,
                username=hop.user or self.target.user,
                key_filename=os.path.expanduser(hop.key)
                if hop.key
                else (os.path.expanduser(self.target.key) if self.target.key else None),
                timeout=self.target.connect_timeout,
            )
        except (paramiko.SSHException, OSError) as exc:
            raise TransportError(f"jump host {hop.address}:{hop.port}: {exc}") from None
        self._jump = jump
        transport = jump.get_transport()
        assert transport is not None
        return transport.open_channel(
            "direct-tcpip", (self.target.address, self.target.port), ("127.0.0.1", 0)
        )

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
        if self._jump:
            self._jump.close()


def _backoff(delay: float) -> float:
    # Jitter spreads retries out, so a burst that tripped MaxStartups does not come back
    # as the same burst.
    return delay * random.uniform(0.5, 1.5)


def _load_known_hosts(client: paramiko.SSHClient, path: Path) -> None:
    if path.is_file():
        client.load_host_keys(str(path))


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
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
