"""The Docker engine on this machine that lab hosts run on.

Uses an engine that already answers (``$DOCKER_HOST``, then the default socket, then one
this module started earlier); otherwise starts ``dockerd`` itself with its data and exec
roots under the lab cache directory and leaves it running for later sessions.

An engine this module starts gets a bridge and subnets of its own (``cisaudit-lab0`` on a
free ``10.213.x.0/24``; user networks from ``10.214.0.0/16``). Beside another engine on the
same machine it would otherwise share ``docker0`` and ``172.17.0.0/16``: both engines hand
out the same container addresses, a published port can reach the other engine's container,
and the demo then (rightly) refuses that container's host key.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
LAB_BRIDGE = "cisaudit-lab0"  # at most 15 characters: a Linux interface name
LAB_SUBNETS = ipaddress.ip_network("10.213.0.0/16")  # the bridge takes the first free /24
LAB_POOL = "base=10.214.0.0/16,size=24"  # networks the profiles create (lab-net, overlays)
INSTALL_HINT = (
    "install the lab's tools as root with `bash scripts/setup.sh` "
    "(or `apt-get install -y docker.io debootstrap busybox-static gcc libc6-dev`)"
)


class LabUnavailable(RuntimeError):
    """The lab cannot be built or started on this machine; the message says what to install."""


class LabError(RuntimeError):
    """A lab step failed (a host did not come up, a docker command failed)."""


def cache_dir() -> Path:
    """Where the lab keeps its engine state, root filesystem tarballs and locks."""
    base = os.environ.get("CISAUDIT_LAB_CACHE") or "~/.cache/cisaudit/lab"
    path = Path(base).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (other test sessions may build at the same time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def docker_cli() -> str:
    found = shutil.which("docker")
    if not found:
        raise LabUnavailable(f"the docker command is not installed; {INSTALL_HINT}")
    return found


def docker(
    engine: str,
    args: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run the docker CLI against ``engine``; raise LabError with its stderr when it fails."""
    env = docker_env(engine)
    cmd = [docker_cli(), *args]
    try:
        done = subprocess.run(
            cmd, input=input, capture_output=True, env=env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`docker {' '.join(args)}` timed out after {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise LabError(f"`docker {' '.join(args)}` failed ({done.returncode}): {err}")
    return done


def docker_env(engine: str) -> dict[str, str]:
    """The environment for a docker CLI process that must talk to ``engine``."""
    env = dict(os.environ, DOCKER_HOST=engine)
    env.pop("DOCKER_CONTEXT", None)
    return env


def engine_answers(engine: str) -> bool:
    try:
        done = docker(engine, ["info", "--format", "{{.ServerVersion}}"], timeout=15, check=False)
    except LabError:
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def _own_engine_paths() -> dict[str, Path]:
    root = cache_dir() / "engine"
    exec_root = root / "exec"
    # containerd puts sockets under the exec root; unix socket paths must stay short.
    if len(str(exec_root)) > 60:
        exec_root = Path(f"/tmp/cisaudit-lab-engine-{os.getuid()}/exec")
    return {
        "root": root,
        "data": root / "data",
        "exec": exec_root,
        "socket": exec_root.parent / "docker.sock",
        "pid": root / "dockerd.pid",
        "log": root / "dockerd.log",
    }


def ensure_engine(*, timeout: float = 90) -> str:
    """Return the DOCKER_HOST url of a Docker engine on this machine, starting one if needed."""
    docker_cli()
    own = _own_engine_paths()
    own_url = f"unix://{own['socket']}"
    for candidate in (os.environ.get("DOCKER_HOST"), DEFAULT_SOCKET, own_url):
        if candidate and engine_answers(candidate):
            return candidate
    dockerd = shutil.which("dockerd") or (
        "/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None
    )
    if not dockerd:
        raise LabUnavailable(
            f"no Docker engine answers and dockerd is not installed; {INSTALL_HINT}"
        )
    if os.geteuid() != 0:
        raise LabUnavailable(
            "no Docker engine answers and starting dockerd needs root; run as root, or start "
            "an engine and set DOCKER_HOST"
        )
    with file_lock(cache_dir() / "engine.lock"):
        if engine_answers(own_url):
            return own_url
        _start_dockerd(dockerd, own)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if engine_answers(own_url):
                return own_url
            if not _pid_alive(own["pid"]):
                break
            time.sleep(0.5)
    tail = _tail(own["log"])
    raise LabUnavailable(
        f"dockerd did not answer on {own_url} within {timeout:.0f} s; its log ends:\n{tail}"
    )


def _start_dockerd(dockerd: str, paths: dict[str, Path]) -> None:
    for key in ("data", "exec"):
        paths[key].mkdir(parents=True, exist_ok=True)
    paths["socket"].unlink(missing_ok=True)
    paths["pid"].unlink(missing_ok=True)
    cmd = [
        dockerd,
        *_network_flags(),
        "--data-root",
        str(paths["data"]),
        "--exec-root",
        str(paths["exec"]),
        "--pidfile",
        str(paths["pid"]),
        "-H",
        f"unix://{paths['socket']}",
    ]
    with open(paths["log"], "ab") as log:
        # A session of its own: the engine outlives this process and is reused next time.
        subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    # dockerd writes its pid file a moment after it starts.
    for _ in range(20):
        if paths["pid"].exists():
            return
        time.sleep(0.1)


def _network_flags() -> list[str]:
    """dockerd's flags for a bridge and address pool of its own, or none if ``ip`` is missing."""
    if not shutil.which("ip"):
        return []
    bridge = ensure_bridge()
    return ["--bridge", bridge, "--default-address-pool", LAB_POOL]


def ensure_bridge(name: str = LAB_BRIDGE) -> str:
    """Create the lab engine's bridge on a free /24 of LAB_SUBNETS (kept if it exists)."""
    if _ip_json(["-4", "addr", "show", "dev", name], check=False) is None:
        _ip(["link", "add", name, "type", "bridge"])
    addrs = [
        a["local"]
        for link in _ip_json(["-4", "addr", "show", "dev", name]) or []
        for a in link.get("addr_info", [])
    ]
    if not addrs:
        subnet = choose_subnet(_networks_in_use())
        _ip(["addr", "add", f"{subnet[1]}/{subnet.prefixlen}", "dev", name])
    _ip(["link", "set", name, "up"])
    return name


def choose_subnet(
    in_use: Sequence[ipaddress.IPv4Network], within: ipaddress.IPv4Network = LAB_SUBNETS
) -> ipaddress.IPv4Network:
    """The first /24 of ``within`` that overlaps none of ``in_use``."""
    for candidate in within.subnets(new_prefix=24):
        if not any(candidate.overlaps(net) for net in in_use):
            return candidate
    raise LabUnavailable(f"every /24 of {within} is in use on this machine; free one")


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine has an address on or a route to."""
    found: list[ipaddress.IPv4Network] = []
    for link in _ip_json(["-4", "addr"]) or []:
        for a in link.get("addr_info", []):
            found.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for route in _ip_json(["-4", "route", "show", "table", "all"]) or []:
        dst = route.get("dst", "")
        if dst and dst != "default":
            try:
                net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            except ValueError:
                continue
            if isinstance(net, ipaddress.IPv4Network):
                found.append(net)
    return found


def _ip(args: Sequence[str]) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


def _ip_json(args: Sequence[str], *, check: bool = True) -> list[dict] | None:
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if check:
            raise LabUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
        return None
    try:
        parsed = json.loads(done.stdout or "[]")
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return True  # not written yet: keep waiting until the deadline
    return Path(f"/proc/{pid}").exists()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
