"""Start lab hosts from profiles and describe them for cisaudit (inventory, known_hosts)."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cisaudit_lab.engine import LabError, docker, docker_cli, docker_env, ensure_engine
from cisaudit_lab.image import build_host_image

PROFILE_DIR = Path(__file__).parent / "profiles"
MOUNT_POINT = "/opt/cisaudit-lab"
LABEL = "org.cisaudit.lab"

# Docker in Docker on this kind of machine: every capability except SYS_RESOURCE (withheld
# by the machine, so --privileged fails), no seccomp/AppArmor confinement, the cgroup tree,
# and a tmpfs for the inner engine's data (a mount point of its own, as on a real host).
HOST_RUN_FLAGS = (
    "--init",
    "--cap-add",
    "ALL",
    "--cap-drop",
    "SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs",
    "/run:exec,mode=0755",
    "--tmpfs",
    "/var/lib/docker:exec,mode=0711",
)


def profile_run_flags(profile: str) -> list[str]:
    """Extra ``docker run`` flags a profile asks for in ``# lab-run: FLAGS`` header lines."""
    flags: list[str] = []
    for line in (PROFILE_DIR / f"{profile}.sh").read_text().splitlines():
        if line.startswith("# lab-run:"):
            flags += line.removeprefix("# lab-run:").split()
    return flags


def profile_target(profile: str) -> tuple[str, tuple[str, ...]]:
    """The kind of target a profile makes and its node roles, from its ``# lab-kind: KIND``
    and ``# lab-roles: ROLE...`` header lines; a profile without them makes a Docker host."""
    kind = "docker-host"
    roles: tuple[str, ...] = ()
    for line in (PROFILE_DIR / f"{profile}.sh").read_text().splitlines():
        if line.startswith("# lab-kind:"):
            kind = line.removeprefix("# lab-kind:").strip()
        elif line.startswith("# lab-roles:"):
            roles = tuple(line.removeprefix("# lab-roles:").split())
    return kind, roles


def available_profiles(kind: str | None = "docker-host") -> list[str]:
    """Names of the profiles shipped in ``lab/cisaudit_lab/profiles`` (files not starting with _)
    that make targets of ``kind``: Docker hosts by default, every profile for None."""
    names = sorted(p.stem for p in PROFILE_DIR.glob("*.sh") if not p.name.startswith("_"))
    if kind is None:
        return names
    # A profile marked "# lab-optional:" is started only by the tests that name it.
    return [n for n in names if profile_target(n)[0] == kind and not _optional(n)]


def _optional(profile: str) -> bool:
    return any(
        line.startswith("# lab-optional:")
        for line in (PROFILE_DIR / f"{profile}.sh").read_text().splitlines()
    )


@dataclass(frozen=True)
class LabHost:
    """One lab host as cisaudit reaches it."""

    name: str
    profile: str
    address: str
    port: int
    user: str
    key_path: Path
    container_id: str


@dataclass
class Lab:
    """A set of running lab hosts; a context manager that removes them on exit."""

    engine: str
    workdir: Path
    hosts: list[LabHost]
    key_path: Path
    inventory_path: Path
    known_hosts_path: Path
    _stopped: bool = field(default=False, repr=False)

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if name in (host.name, host.profile):
                return host
        raise KeyError(f"no lab host named {name!r}; hosts: {[h.name for h in self.hosts]}")

    def exec(self, host_name: str, command: str, *, timeout: float = 120) -> tuple[int, str]:
        """Run a shell command as root inside a host (not over SSH); return (rc, stdout+stderr)."""
        host = self.host(host_name)
        done = docker(
            self.engine,
            ["exec", host.container_id, "sh", "-c", command],
            timeout=timeout,
            check=False,
        )
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        return done.returncode, out

    def logs(self, host_name: str, tail: int = 60) -> str:
        """The host's boot output (the profile's messages and errors)."""
        host = self.host(host_name)
        return _host_logs(self.engine, host.container_id, tail)

    def stop(self) -> None:
        """Remove the host containers (and with them everything that ran inside)."""
        if self._stopped:
            return
        self._stopped = True
        _discard(self.engine, [h.container_id for h in self.hosts])

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_lab(
    profiles: Sequence[str],
    *,
    workdir: Path,
    engine: str | None = None,
    image: str | None = None,
    timeout: float = 300,
) -> Lab:
    """Start one host per profile (named ``lab-<profile>``) and wait until all are ready.

    Writes into ``workdir`` the lab's SSH key (``id_ed25519``), ``known_hosts`` with each
    host's real host key, and ``inventory.yaml`` in cisaudit's native format.
    """
    known = available_profiles(None)
    unknown = [p for p in profiles if p not in known]
    if unknown:
        raise ValueError(f"unknown lab profile(s) {unknown}; known: {known}")
    if len(set(profiles)) != len(profiles):
        raise ValueError(f"each profile may appear once: {list(profiles)}")
    engine = engine or ensure_engine()
    image = image or build_host_image(engine)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    key_path, public_key = _write_key(workdir)
    lab_id = secrets.token_hex(4)
    remove_lab_hosts(engine, orphans_only=True)

    ids: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(profiles))) as pool:
            runs = [pool.submit(_run_host, engine, image, p, lab_id, public_key) for p in profiles]
            wait(runs)
            # Keep every host that did start, so that a failure elsewhere still removes it.
            ids = [r.result() for r in runs if r.exception() is None]
            for run in runs:
                run.result()  # raises the first failure
            ports = list(pool.map(lambda c: _ssh_port(engine, c), ids))
            list(pool.map(lambda c: _wait_ready(engine, c, timeout), ids))
            host_keys = list(pool.map(lambda c: _host_key(engine, c), ids))
    except BaseException:
        _discard(engine, ids)
        raise

    hosts = [
        LabHost(
            name=f"lab-{profile}",
            profile=profile,
            address="127.0.0.1",
            port=port,
            user="root",
            key_path=key_path,
            container_id=cid,
        )
        for profile, cid, port in zip(profiles, ids, ports, strict=True)
    ]
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(
        "".join(f"[{h.address}]:{h.port} {k}\n" for h, k in zip(hosts, host_keys, strict=True))
    )
    inventory = workdir / "inventory.yaml"
    inventory.write_text(_inventory_yaml(hosts, key_path, known_hosts))
    return Lab(engine, workdir, hosts, key_path, inventory, known_hosts)


def _write_key(workdir: Path) -> tuple[Path, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path = workdir / "id_ed25519"
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(private)
    (workdir / "id_ed25519.pub").write_text(public + " cisaudit-lab\n")
    return path, f"{public} cisaudit-lab"


def _run_host(engine: str, image: str, profile: str, lab_id: str, public_key: str) -> str:
    name = f"cisaudit-lab-{lab_id}-{profile}"
    done = docker(
        engine,
        [
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            f"lab-{profile}",
            "--label",
            f"{LABEL}={lab_id}",
            "--label",
            f"{LABEL}.profile={profile}",
            "--label",
            f"{LABEL}.pid={os.getpid()}",
            *HOST_RUN_FLAGS,
            *profile_run_flags(profile),
            "-p",
            "127.0.0.1::22",
            "-v",
            f"{PROFILE_DIR}:{MOUNT_POINT}:ro",
            "-e",
            f"LAB_PROFILE={profile}",
            "-e",
            f"LAB_PUBKEY={public_key}",
            image,
            f"{MOUNT_POINT}/_boot.sh",
        ],
    )
    return done.stdout.decode().strip()


def _ssh_port(engine: str, container_id: str) -> int:
    out = docker(engine, ["port", container_id, "22/tcp"]).stdout.decode()
    for line in out.splitlines():
        if line.startswith("127.0.0.1:"):
            return int(line.rsplit(":", 1)[1])
    raise LabError(f"lab host {container_id[:12]} has no SSH port on 127.0.0.1: {out!r}")


def _wait_ready(engine: str, container_id: str, timeout: float) -> None:
    """Follow the host's output until its boot script says how the profile went."""
    follow = subprocess.Popen(
        [docker_cli(), "logs", "--follow", container_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=docker_env(engine),
    )
    timer = threading.Timer(timeout, follow.kill)
    timer.start()
    outcome = "exited"
    try:
        assert follow.stdout is not None
        for raw in follow.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("lab: profile ") and line.endswith((" ready", " FAILED")):
                outcome = "ready" if line.endswith(" ready") else "failed"
                break
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
        follow.kill()
        follow.wait()
    if outcome == "ready":
        return
    if outcome == "exited" and timed_out:
        outcome = f"not ready after {timeout:.0f} s"
    raise LabError(
        f"lab host {_name(engine, container_id)} {outcome}; its output:\n"
        + _host_logs(engine, container_id, 40)
    )


def _name(engine: str, container_id: str) -> str:
    done = docker(engine, ["inspect", "--format", "{{.Name}}", container_id], check=False)
    return done.stdout.decode().strip().lstrip("/") or container_id[:12]


def _host_logs(engine: str, container_id: str, tail: int) -> str:
    # The boot output includes the tail of the inner dockerd log when dockerd fails.
    boot = docker(engine, ["logs", "--tail", str(tail), container_id], check=False)
    return (boot.stdout + boot.stderr).decode(errors="replace")


def _host_key(engine: str, container_id: str) -> str:
    out = docker(engine, ["exec", container_id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
    algo, key, *_ = out.stdout.decode().split()
    return f"{algo} {key}"


# The engine may be rootless (its DOCKER_HOST is then in /etc/environment).
_REMOVE_INNER = (
    "set -a; . /etc/environment 2>/dev/null; set +a; "
    "docker ps -aq | xargs -r docker rm -f >/dev/null"
)


def _remove_inner_containers(engine: str, container_id: str) -> None:
    # Through the inner engine, so that it deletes the cgroups it made: they live in this
    # machine's cgroup tree and would outlive the host container otherwise. Best effort:
    # the host container is removed next whatever happens here.
    docker(
        engine,
        ["exec", container_id, "sh", "-c", _REMOVE_INNER],
        timeout=60,
        check=False,
    )


def remove_lab_hosts(engine: str, *, orphans_only: bool = True) -> int:
    """Remove lab hosts on ``engine``; by default only those whose starting process on this
    machine is gone (a killed test session never reaches its teardown). Returns how many."""
    listed = docker(
        engine,
        [
            "ps",
            "-a",
            "--filter",
            f"label={LABEL}",
            "--format",
            f'{{{{.ID}}}} {{{{.Label "{LABEL}.pid"}}}}',
        ],
        check=False,
    )
    doomed = []
    for line in listed.stdout.decode().splitlines():
        cid, _, pid = line.partition(" ")
        if not orphans_only or (pid.isdigit() and not Path(f"/proc/{pid}").exists()):
            doomed.append(cid)
    _discard(engine, doomed)
    return len(doomed)


def _discard(engine: str, container_ids: list[str]) -> None:
    """Remove lab hosts, letting each inner engine remove its containers first."""
    if not container_ids:
        return
    with ThreadPoolExecutor(max_workers=len(container_ids)) as pool:
        list(pool.map(lambda c: _remove_inner_containers(engine, c), container_ids))
    _remove(engine, container_ids)


def _remove(engine: str, container_ids: Iterable[str]) -> None:
    ids = [c for c in container_ids if c]
    if ids:
        docker(engine, ["rm", "-f", "-v", *ids], timeout=180, check=False)


def _inventory_yaml(hosts: Sequence[LabHost], key_path: Path, known_hosts: Path) -> str:
    entries = {}
    for h in hosts:
        entry: dict[str, object] = {
            "address": h.address,
            "port": h.port,
            "user": h.user,
            "key": str(key_path),
            "known_hosts": str(known_hosts),
        }
        kind, roles = profile_target(h.profile)
        # A Kubernetes node says what it is and its roles; "auto" says nothing, so that the
        # audit must find out from what the host runs.
        if kind not in ("docker-host", "auto"):
            entry.update(kind=kind, roles=list(roles))
        entries[h.name] = entry
    return str(yaml.safe_dump({"hosts": entries}, sort_keys=False))
