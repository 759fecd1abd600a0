"""The lab itself: every host answers over real SSH with strict host key checking, runs
its own Docker engine, and has the users the audit needs (root, audit with passwordless
sudo, nosudo without). The first tests need no lab: how it finds its mirror and how it
says what is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import yaml
from cisaudit_lab import Lab, LabHost, LabUnavailable, available_profiles, ensure_engine
from cisaudit_lab.image import debian_mirror, image_tag

from tests.lab.required import unavailable


def test_mirror_is_read_from_apt_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CISAUDIT_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "# the release itself\nTypes: deb deb-src\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64] http://list.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://list.example/debian"
    (tmp_path / "sources.list").write_text("")
    with pytest.raises(LabUnavailable, match="CISAUDIT_LAB_MIRROR"):
        debian_mirror(tmp_path)


def test_missing_docker_is_reported_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabUnavailable, match="docker.io"):
        ensure_engine()


def test_image_tag_follows_the_recipe() -> None:
    tag = image_tag()
    assert tag.startswith("cisaudit-lab-host:") and len(tag.split(":")[1]) == 12
    assert image_tag("trixie") != tag
    assert {"hardened", "weak", "bare", "traps", "swarm", "swarm-locked"} <= set(
        available_profiles()
    )


def _connect(lab: Lab, host: LabHost, user: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        port=host.port,
        username=user,
        key_filename=str(host.key_path),
        look_for_keys=False,
        allow_agent=False,
        timeout=15,
    )
    return client


def _run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, stderr = client.exec_command(command, timeout=60)
    out = stdout.read().decode() + stderr.read().decode()
    return stdout.channel.recv_exit_status(), out


@pytest.fixture(params=["root", "audit", "nosudo"])
def user(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sessions(lab: Lab, user: str) -> Iterator[dict[str, paramiko.SSHClient]]:
    clients = {h.name: _connect(lab, h, user) for h in lab.hosts}
    yield clients
    for client in clients.values():
        client.close()


@pytest.mark.lab
def test_inventory_describes_every_host(lab: Lab) -> None:
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    assert set(inventory["hosts"]) == {h.name for h in lab.hosts}
    for host in lab.hosts:
        entry = inventory["hosts"][host.name]
        assert (entry["address"], entry["port"], entry["user"]) == ("127.0.0.1", host.port, "root")
        assert entry["key"] == str(lab.key_path)
        assert entry["known_hosts"] == str(lab.known_hosts_path)


@pytest.mark.lab
def test_unknown_host_key_is_rejected(lab: Lab) -> None:
    host = lab.hosts[0]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException):
        client.connect(
            host.address,
            port=host.port,
            username="root",
            key_filename=str(host.key_path),
            look_for_keys=False,
            allow_agent=False,
            timeout=15,
        )
    client.close()


@pytest.mark.lab
def test_each_host_runs_its_own_engine(
    lab: Lab, sessions: dict[str, paramiko.SSHClient], user: str
) -> None:
    # A rootless host hands DOCKER_HOST to SSH sessions; sudo must keep it.
    prefix = "" if user == "root" else "sudo -n --preserve-env=DOCKER_HOST "
    for host in lab.hosts:
        rc, out = _run(sessions[host.name], f"{prefix}docker ps --format '{{{{.Names}}}}'")
        if user == "nosudo":
            assert rc != 0 and "password is required" in out, f"{host.name}: {out}"
        else:
            assert rc == 0, f"{host.name}: {out}"
            rc, name = _run(sessions[host.name], f"{prefix}docker info --format '{{{{.Name}}}}'")
            assert (rc, name.strip()) == (0, host.name)


@pytest.mark.lab
def test_sudo_rights(lab: Lab, sessions: dict[str, paramiko.SSHClient], user: str) -> None:
    for host in lab.hosts:
        rc, out = _run(sessions[host.name], "id -un; sudo -n true")
        assert out.splitlines()[0] == user
        assert (rc == 0) == (user != "nosudo"), f"{host.name} as {user}: {out}"


@pytest.mark.lab
def test_exec_changes_a_hosts_state(lab: Lab) -> None:
    rc, out = lab.exec("lab-bare", "touch /tmp/lab-exec-probe && echo done")
    assert (rc, out.strip()) == (0, "done")
    rc, _ = lab.exec("lab-bare", "test -e /tmp/no-such-file")
    assert rc == 1


def test_lab_subnet_avoids_every_network_in_use() -> None:
    import ipaddress

    from cisaudit_lab.engine import choose_subnet

    taken = [ipaddress.ip_network(n) for n in ("10.213.0.0/24", "10.213.1.7/32", "10.0.0.0/8")]
    assert str(choose_subnet(taken[:2])) == "10.213.2.0/24"
    with pytest.raises(LabUnavailable, match="in use"):
        choose_subnet(taken)


@pytest.mark.lab
def test_own_engine_has_its_own_bridge_and_subnet(lab: Lab) -> None:
    """An engine the lab started never shares docker0 or 172.17.0.0/16 with another engine."""
    import ipaddress
    import json

    from cisaudit_lab.engine import LAB_BRIDGE, LAB_SUBNETS, _own_engine_paths, docker

    if lab.engine != f"unix://{_own_engine_paths()['socket']}":
        pytest.skip(f"the lab runs on an engine it did not start ({lab.engine})")
    out = docker(lab.engine, ["network", "inspect", "bridge"]).stdout
    bridge = json.loads(out)[0]
    assert bridge["Options"]["com.docker.network.bridge.name"] == LAB_BRIDGE
    subnet = ipaddress.ip_network(bridge["IPAM"]["Config"][0]["Subnet"])
    assert subnet.subnet_of(LAB_SUBNETS)


@pytest.mark.lab
def test_demo_audits_its_own_hosts_and_signs_with_a_marked_demo_key(tmp_path: Path) -> None:
    """The README's first command, on one host: real audit, signed PDF, verify at work."""
    import shutil
    import subprocess

    from click.testing import CliRunner

    from cisaudit.cli import DEMO_SIGNER, main

    if not shutil.which("pdfsig"):
        unavailable("poppler-utils (pdfsig) is not installed")
    out = tmp_path / "demo"
    try:
        engine = ensure_engine()
    except LabUnavailable as exc:
        unavailable(f"lab unavailable: {exc}")
    assert engine
    done = CliRunner().invoke(
        main, ["demo", "-o", str(out), "--profiles", "bare", "--format", "json,pdf"]
    )
    assert done.exit_code == 1, done.output  # the bare host fails controls, as it should
    assert "not audited" not in done.output
    assert "throwaway DEMO key" in done.output and "cisaudit verify" in done.output
    sig = subprocess.run(
        ["pdfsig", str(out / "report.pdf")], capture_output=True, text=True, check=False
    ).stdout
    assert DEMO_SIGNER in sig and "Signature is Valid" in sig, sig
    cert = out / "demo-signing" / "signing-cert.pem"
    checked = CliRunner().invoke(main, ["verify", str(out / "report.pdf"), "--trust", str(cert)])
    assert checked.exit_code == 0, checked.output
    assert "DEMO signer" in checked.output
