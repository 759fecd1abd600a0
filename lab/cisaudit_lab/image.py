"""The lab host image: Debian with sshd, sudo, auditd and Docker, built once per machine.

The tag carries a hash of the recipe, so the image is rebuilt only when the recipe
changes. The finished root filesystem is kept as a tarball in the cache, so a new engine
(or a pruned one) gets the image back in seconds without running debootstrap again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

from cisaudit_lab.engine import (
    INSTALL_HINT,
    LabError,
    LabUnavailable,
    cache_dir,
    docker,
    docker_cli,
    docker_env,
    file_lock,
)

RECIPE_DIR = Path(__file__).parent / "recipe"
IMAGE_REPO = "cisaudit-lab-host"
DEFAULT_SUITE = "bookworm"
# Suites in the machine's apt sources that are not the release itself.
_SIDE_SUITE = re.compile(r"-(security|updates|backports|proposed-updates)$|/updates$")


def lab_suite() -> str:
    return os.environ.get("CISAUDIT_LAB_SUITE") or DEFAULT_SUITE


def recipe_digest(suite: str | None = None) -> str:
    """sha256 over every file of the recipe directory and the Debian suite built from."""
    digest = hashlib.sha256()
    digest.update((suite or lab_suite()).encode())
    for path in sorted(p for p in RECIPE_DIR.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_tag(suite: str | None = None) -> str:
    return f"{IMAGE_REPO}:{recipe_digest(suite)[:12]}"


def debian_mirror(sources_root: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (``$CISAUDIT_LAB_MIRROR`` overrides).

    Read at run time so that no mirror host is written into the project's files.
    """
    override = os.environ.get("CISAUDIT_LAB_MIRROR")
    if override:
        return override
    for uri, suites in _apt_sources(sources_root):
        if uri.startswith(("http://", "https://", "file:")) and any(
            not _SIDE_SUITE.search(s) for s in suites
        ):
            return uri
    raise LabUnavailable(
        f"no Debian mirror found in {sources_root}/sources.list(.d); set CISAUDIT_LAB_MIRROR"
    )


def _apt_sources(root: Path) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                found.append((uri, fields.get("suites", "").split()))
    lists = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                found.append((words[1], [words[2]]))
    return found


def image_exists(engine: str, tag: str) -> bool:
    return (
        docker(engine, ["image", "inspect", "--format", "{{.Id}}", tag], check=False).returncode
        == 0
    )


def build_host_image(engine: str, *, suite: str | None = None) -> str:
    """Return the tag of the lab host image in ``engine``, building it if it is missing."""
    suite = suite or lab_suite()
    tag = image_tag(suite)
    if image_exists(engine, tag):
        return tag
    cache = cache_dir()
    with file_lock(cache / "image.lock"):
        if image_exists(engine, tag):
            return tag
        tarball = cache / f"rootfs-{recipe_digest(suite)[:12]}.tar"
        if not tarball.exists():
            _build_rootfs_tarball(tarball, suite)
        with open(tarball, "rb") as handle:
            _docker_import(engine, handle, tag)
        _forget_old_builds(engine, tag, tarball)
    return tag


def _forget_old_builds(engine: str, tag: str, tarball: Path) -> None:
    """Drop images and tarballs of earlier recipes (an image still in use stays)."""
    for old in tarball.parent.glob("rootfs-*.tar"):
        if old != tarball:
            old.unlink(missing_ok=True)
    listed = docker(engine, ["images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO])
    stale = [t for t in listed.stdout.decode().split() if t != tag]
    if stale:
        docker(engine, ["rmi", *stale], check=False)


def _docker_import(engine: str, handle: BinaryIO, tag: str) -> None:
    done = subprocess.run(
        [docker_cli(), "import", "--change", 'CMD ["/opt/cisaudit-lab/_boot.sh"]', "-", tag],
        stdin=handle,
        capture_output=True,
        env=docker_env(engine),
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"docker import of the lab image failed: {done.stderr.decode().strip()}")


def _build_rootfs_tarball(tarball: Path, suite: str) -> None:
    if os.geteuid() != 0:
        raise LabUnavailable(
            f"building the lab image runs debootstrap, which needs root; {INSTALL_HINT}"
        )
    for tool in ("debootstrap", "tar", "gcc"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise LabUnavailable(f"{tool} is not installed; {INSTALL_HINT}")
    mirror = debian_mirror()
    work = Path(tempfile.mkdtemp(prefix="build-", dir=tarball.parent))
    root = work / "root"
    log = tarball.parent / "rootfs-build.log"
    try:
        with open(log, "wb") as out:
            done = subprocess.run(
                ["sh", str(RECIPE_DIR / "rootfs.sh"), str(root), suite, mirror],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=1800,
                check=False,
                env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"),
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise LabError(f"building the lab root filesystem failed (log {log}):\n{tail}")
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True
        )
        partial.rename(tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
