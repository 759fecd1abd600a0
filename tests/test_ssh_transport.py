"""Host keys on the SSH transport (asyncssh since issue #12), against a real SSH server on
loopback (paramiko's server side, tests/fake_servers.py): strict by default, OpenSSH's
accept-new, hashed entries, port-specific entries, a changed key named by its
fingerprint, unreadable lines and keys. Host certificates (``@cert-authority``) against
asyncssh's server side, which can present one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from cisaudit.targets import Target
from cisaudit.transport import TransportError
from cisaudit.transport.ssh import SSHTransport
from tests.fake_servers import JumpServer, client_key


@pytest.fixture
def server(tmp_path: Path) -> Iterator[JumpServer]:
    made = JumpServer(tmp_path, forward=False)
    yield made
    made.close()


def _target(server: JumpServer, key: Path, known: Path) -> Target:
    return Target(
        name="t",
        address="127.0.0.1",
        port=server.port,
        user="audit",
        key=str(key),
        known_hosts=str(known),
        connect_timeout=3.0,
    )


def _connects(target: Target, **options: bool) -> None:
    SSHTransport(target, **options).close()  # type: ignore[arg-type]


def _fingerprint(key: paramiko.PKey) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _hashed(name: str) -> str:
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_a_hashed_entry_vouches_for_the_host(tmp_path: Path, server: JumpServer) -> None:
    known = tmp_path / "known_hosts"
    line = server.known_hosts_line()
    known.write_text(
        line.replace(f"[127.0.0.1]:{server.port}", _hashed(f"[127.0.0.1]:{server.port}"))
    )
    _connects(_target(server, client_key(tmp_path), known))


def test_accept_new_records_the_key_and_then_it_is_known(
    tmp_path: Path, server: JumpServer
) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # the folder is made too
    target = _target(server, client_key(tmp_path), known)
    with pytest.raises(TransportError, match="host key is not in .*--accept-new-host-keys"):
        _connects(target)
    assert not known.exists()
    _connects(target, accept_new_host_keys=True)
    assert known.read_text() == server.known_hosts_line()
    _connects(target)  # strict again: the recorded key is trusted from now on


def test_a_changed_key_is_refused_and_named_even_with_accept_new(
    tmp_path: Path, server: JumpServer
) -> None:
    other = paramiko.ECDSAKey.generate()
    known = tmp_path / "known_hosts"
    recorded = f"[127.0.0.1]:{server.port} {other.get_name()} {other.get_base64()}\n"
    known.write_text(recorded)
    target = _target(server, client_key(tmp_path), known)
    for accept_new in (False, True):
        with pytest.raises(TransportError) as info:
            _connects(target, accept_new_host_keys=accept_new)
        message = str(info.value)
        assert f"127.0.0.1:{server.port}: host key has CHANGED" in message
        assert f"ecdsa-sha2-nistp256 {_fingerprint(server.host_key)}" in message
        assert str(known) in message
    assert known.read_text() == recorded  # accept-new never overwrites a known host


def test_an_entry_for_another_port_does_not_vouch(tmp_path: Path, server: JumpServer) -> None:
    known = tmp_path / "known_hosts"
    bare = server.known_hosts_line().replace(f"[127.0.0.1]:{server.port}", "127.0.0.1")
    known.write_text(bare)  # OpenSSH: port 22's entry says nothing about another port
    with pytest.raises(TransportError, match="host key is not in"):
        _connects(_target(server, client_key(tmp_path), known))


def test_unreadable_lines_are_skipped(tmp_path: Path, server: JumpServer) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(
        "# a comment\n"
        "@bogus-marker host ssh-ed25519 AAAA\n"
        "|1|not-base64|x ssh-ed25519 AAAA\n"
        "lonely-field\n" + server.known_hosts_line()
    )
    _connects(_target(server, client_key(tmp_path), known))


def test_an_encrypted_key_is_named_with_what_to_do(tmp_path: Path, server: JumpServer) -> None:
    key = tmp_path / "id_locked"
    paramiko.ECDSAKey.generate().write_private_key_file(str(key), password="secret")
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line())
    with pytest.raises(TransportError) as info:
        _connects(_target(server, key, known))
    assert f"cannot read the private key {key}" in str(info.value)
    assert "ssh-agent" in str(info.value)


def test_connections_from_many_threads_share_one_loop(tmp_path: Path, server: JumpServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line())
    target = _target(server, client_key(tmp_path), known)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _connects(target), range(24)))
    assert len(server.servers) == 24


def test_a_revoked_key_is_refused_even_when_also_listed(tmp_path: Path, server: JumpServer) -> None:
    known = tmp_path / "known_hosts"
    line = server.known_hosts_line()
    known.write_text(line + "@revoked " + line)
    with pytest.raises(TransportError, match="revoked"):
        _connects(_target(server, client_key(tmp_path), known))


# ------------------------------------------------------------- host certificates


class _CertServer:
    """An SSH server on loopback (asyncssh's server side, on its own event loop) that
    proves its identity with a host certificate, and lets any user in."""

    def __init__(self, ca: object, **cert: object) -> None:
        import asyncio
        import threading

        import asyncssh

        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        certificate = ca.generate_host_certificate(  # type: ignore[attr-defined]
            self.host_key, "lab-host", **{"principals": ["127.0.0.1"], **cert}
        )

        class Open(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return False  # no authentication asked: only the host's proof is tested

        async def start() -> object:
            return await asyncssh.create_server(
                Open, "127.0.0.1", 0, server_host_keys=[(self.host_key, certificate)]
            )

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result()
        self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def __enter__(self) -> _CertServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)  # type: ignore[attr-defined]
        self.loop.call_soon_threadsafe(self.loop.stop)


def _public(key: object) -> str:
    return key.export_public_key().decode().strip()  # type: ignore[attr-defined]


def _cert_target(tmp_path: Path, port: int, known_hosts: str) -> Target:
    import asyncssh

    key = tmp_path / "id_client"
    key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts)
    return Target(
        name="t",
        address="127.0.0.1",
        port=port,
        user="audit",
        key=str(key),
        known_hosts=str(known),
        connect_timeout=3.0,
    )


@pytest.fixture
def ca() -> object:
    import asyncssh

    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.mark.parametrize("pattern", ["*", "[127.0.0.*]:*", "[127.0.0.1]:{port}"])
def test_a_trusted_authority_vouches_for_the_hosts_it_certifies(
    tmp_path: Path, ca: object, pattern: str
) -> None:
    with _CertServer(ca, valid_after="-1h", valid_before="+1h") as server:
        host = pattern.format(port=server.port)
        _connects(_cert_target(tmp_path, server.port, f"@cert-authority {host} {_public(ca)}\n"))


def test_a_certificate_from_an_unknown_authority_is_refused(tmp_path: Path, ca: object) -> None:
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519")
    with _CertServer(ca) as server:
        target = _cert_target(tmp_path, server.port, f"@cert-authority * {_public(other)}\n")
        with pytest.raises(TransportError, match="host key refused .Host CA key is not trusted"):
            _connects(target)
        with pytest.raises(TransportError, match="host key refused .Host CA key is not trusted"):
            _connects(target, accept_new_host_keys=True)  # accept-new does not bypass a CA


@pytest.mark.parametrize(
    ("cert", "why"),
    [
        ({"principals": ["db.example.com"]}, "host key refused .Certificate principal mismatch"),
        ({"valid_after": "-2d", "valid_before": "-1d"}, "host key refused .Certificate expired"),
    ],
)
def test_a_certificate_for_another_host_or_out_of_date_is_refused(
    tmp_path: Path, ca: object, cert: dict[str, object], why: str
) -> None:
    with _CertServer(ca, **cert) as server:
        target = _cert_target(tmp_path, server.port, f"@cert-authority * {_public(ca)}\n")
        with pytest.raises(TransportError, match=why):
            _connects(target)


# OpenSSH names a host off port 22 "[host]:port": "127.0.0.*" vouches for port 22 only
@pytest.mark.parametrize("pattern", ["*.example.com", "127.0.0.*"])
def test_an_authority_for_other_names_says_nothing_of_this_host(
    tmp_path: Path, ca: object, pattern: str
) -> None:
    with _CertServer(ca) as server:
        known = f"@cert-authority {pattern} {_public(ca)}\n"
        with pytest.raises(TransportError, match="host key is not in"):
            _connects(_cert_target(tmp_path, server.port, known))


def test_a_revoked_host_key_is_refused_despite_its_certificate(tmp_path: Path, ca: object) -> None:
    with _CertServer(ca) as server:
        known = f"@cert-authority * {_public(ca)}\n@revoked * {_public(server.host_key)}\n"
        with pytest.raises(TransportError, match="revoked"):
            _connects(_cert_target(tmp_path, server.port, known))
