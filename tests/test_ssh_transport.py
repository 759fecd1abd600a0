"""Host keys on the SSH transport (asyncssh since issue #12), against a real SSH server on
loopback (paramiko's server side, tests/fake_servers.py): strict by default, OpenSSH's
accept-new, hashed entries, port-specific entries, a changed key named by its
fingerprint, unreadable lines and keys."""

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
