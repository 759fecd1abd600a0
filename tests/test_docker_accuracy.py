"""Docker host facts where "is it mounted" is the wrong question: 1.1.1 judged by the
mount table's device and mount root, as the kernel records them (/proc/self/mountinfo)."""

from __future__ import annotations

import pytest

from cisaudit.evidence import Section
from cisaudit.kinds.docker.derive.host import own_filesystem

ROOT = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro"
PROC = "26 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw"


def _mounts(*lines: str) -> Section:
    return Section(command="cat /proc/self/mountinfo", rc=0, output="\n".join(lines) + "\n")


CASES = [
    # the trap: dockerd bind-mounts its data root onto itself on a shared root
    (
        (ROOT, PROC, "120 22 254:0 /var/lib/docker /var/lib/docker rw,relatime - ext4 /dev/vg rw"),
        "/var/lib/docker",
        False,
        "bind mount of /var/lib/docker",
    ),
    # no mount at all: a folder on the root file system
    ((ROOT, PROC), "/var/lib/docker", False, "a folder of the root file system"),
    # a partition of its own, with dockerd's self bind mount stacked on top
    (
        (
            ROOT,
            PROC,
            "121 22 8:17 / /var/lib/docker rw,relatime shared:50 - xfs /dev/sdb1 rw",
            "130 121 8:17 / /var/lib/docker rw,relatime - xfs /dev/sdb1 rw",
        ),
        "/var/lib/docker",
        True,
        "its own file system",
    ),
    # /var is a partition of its own and docker a folder in it (bound onto itself): the data
    # cannot fill the root file system
    (
        (
            ROOT,
            PROC,
            "40 22 8:2 / /var rw,relatime shared:30 - ext4 /dev/sda2 rw",
            "120 40 8:2 /lib/docker /var/lib/docker rw,relatime - ext4 /dev/sda2 rw",
        ),
        "/var/lib/docker",
        True,
        "its own file system",
    ),
    # user-namespace remapping: the data root is a subdirectory of a separate one
    (
        (
            ROOT,
            PROC,
            "121 22 8:17 / /var/lib/docker rw - xfs /dev/sdb1 rw",
            "131 121 8:17 /231072.231072 /var/lib/docker/231072.231072 rw - xfs /dev/sdb1 rw",
        ),
        "/var/lib/docker/231072.231072",
        True,
        "its own file system",
    ),
    # a relocated data root on a partition bound from elsewhere
    (
        (
            ROOT,
            PROC,
            "50 22 8:33 / /data rw - ext4 /dev/sdc1 rw",
            "60 22 8:33 /docker /srv/docker rw - ext4 /dev/sdc1 rw",
        ),
        "/srv/docker",
        True,
        "its own file system",
    ),
    # a btrfs subvolume of the root file system: the same device, not separate
    (
        (
            "22 1 0:44 /@ / rw,relatime shared:1 - btrfs /dev/sda3 rw,subvol=/@",
            "60 22 0:44 /@docker /var/lib/docker rw,relatime - btrfs /dev/sda3 rw,subvol=/@docker",
        ),
        "/var/lib/docker",
        False,
        "bind mount of /@docker",
    ),
    # the lab's shape: an overlay root and the data root on a bind mount of it
    (
        (
            "75 51 0:40 / / rw,relatime shared:3 master:2 - overlay overlay rw",
            "50 75 0:40 /srv/docker /srv/docker rw,relatime shared:3 - overlay overlay rw",
        ),
        "/srv/docker",
        False,
        "bind mount of /srv/docker",
    ),
    # a mount point with an escaped space in its name
    (
        (ROOT, r"70 22 8:49 / /srv/docker\040data rw - ext4 /dev/sdd1 rw"),
        "/srv/docker data",
        True,
        "its own file system",
    ),
]


@pytest.mark.parametrize(("lines", "path", "separate", "why"), CASES)
def test_own_filesystem(lines: tuple[str, ...], path: str, separate: bool, why: str) -> None:
    found = own_filesystem(path, _mounts(*lines))
    assert found is not None
    assert found["separate"] is separate, found
    assert why in found["why"]


def test_unknown_without_the_mount_table() -> None:
    assert own_filesystem("/var/lib/docker", None) is None
    assert own_filesystem(None, _mounts(ROOT)) is None


def _section(output: str, rc: int = 0) -> Section:
    return Section(command="probe", rc=rc, output=output)


@pytest.mark.parametrize(
    ("sections", "version"),
    [
        ({"docker.info": _section('{"ServerVersion": "27.3.1"}')}, "27.3.1"),
        # the socket is closed to the audit account: the running dockerd's binary speaks
        (
            {
                "docker.info": _section("", rc=1),
                "dockerd.version": _section(
                    "exe /usr/bin/dockerd\nDocker version 20.10.24+dfsg1, build 5d6db84\n"
                ),
            },
            "20.10.24+dfsg1",
        ),
        # the client's own version is never taken for the engine's
        (
            {
                "docker.info": _section("", rc=1),
                "docker.version": _section('{"Client": {"Version": "28.2.2"}, "Server": null}'),
            },
            None,
        ),
        ({"dockerd.version": _section("no dockerd process found", rc=3)}, None),
        ({"dockerd.version": _section("Docker version $(reboot), build x")}, None),
    ],
)
def test_the_engine_version_comes_from_the_engine(
    sections: dict[str, Section], version: str | None
) -> None:
    from cisaudit.kinds.docker.collect import engine_version

    assert engine_version(sections) == version


@pytest.mark.parametrize(
    "units,tcp",
    [
        ("Id=docker.socket\nListen=[::]:2375 (Stream)\n", True),
        ("#unit /lib/systemd/system/docker.socket\nListenStream=2376\n", True),
        ("Id=docker.socket\nListen=/run/docker.sock (Stream)\n", False),
        ("", False),
    ],
)
def test_socket_activation_can_listen_on_tcp(units: str, tcp: bool) -> None:
    """`dockerd -H fd://` serves every socket docker.socket opened: a TCP ListenStream makes
    the API listen on TCP although no tcp:// host is configured (2.7 then applies)."""
    from cisaudit.kinds.docker.derive import derive

    sections = {
        "dockerd.cmdline": Section(
            "cmdline", 0, "pid 1\nuid 0\nexe /usr/bin/dockerd\n/usr/bin/dockerd\n-H\nfd://\n"
        ),
        "host.units": Section("units", 0, units),
    }
    values, _ = derive(sections)
    assert values["daemon"]["tcp"] is tcp
    if tcp:
        assert "docker.socket" in values["daemon"]["tcp_via"]
