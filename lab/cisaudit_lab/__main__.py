"""Run the lab by hand: ``python -m cisaudit_lab {build,start,clean,profiles}``.

python -m cisaudit_lab build                    # engine + host image, with timings
python -m cisaudit_lab start hardened weak -w /tmp/lab   # runs until Ctrl-C
python -m cisaudit_lab start k8s-cp-hardened k8s-worker-weak   # Kubernetes nodes
python -m cisaudit_lab clean                    # hosts left by dead processes
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from cisaudit_lab.engine import LabError, LabUnavailable, ensure_engine
from cisaudit_lab.hosts import available_profiles, profile_target, remove_lab_hosts, start_lab
from cisaudit_lab.image import build_host_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cisaudit_lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="start or find the engine and build the host image")
    start = sub.add_parser("start", help="start hosts and keep them until interrupted")
    start.add_argument("profiles", nargs="*", help="default: every Docker host profile")
    start.add_argument("-w", "--workdir", type=Path, default=Path("cisaudit-lab"))
    clean = sub.add_parser("clean", help="remove lab hosts whose starting process is gone")
    clean.add_argument("--all", action="store_true", help="every lab host, even in use")
    sub.add_parser("profiles", help="list the profiles")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (LabUnavailable, LabError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "profiles":
        for name in available_profiles(None):
            kind, roles = profile_target(name)
            print(f"{name}\t{kind}\t{','.join(roles)}".rstrip())
        return 0
    began = time.monotonic()
    engine = ensure_engine()
    print(f"engine {engine} ({time.monotonic() - began:.1f} s)")
    if args.command == "clean":
        removed = remove_lab_hosts(engine, orphans_only=not args.all)
        print(f"removed {removed} lab host(s)")
        return 0
    began = time.monotonic()
    image = build_host_image(engine)
    print(f"image {image} ({time.monotonic() - began:.1f} s)")
    if args.command == "build":
        return 0
    began = time.monotonic()
    profiles = args.profiles or available_profiles()
    with start_lab(profiles, workdir=args.workdir, engine=engine, image=image) as lab:
        print(f"{len(lab.hosts)} host(s) ready in {time.monotonic() - began:.1f} s")
        for host in lab.hosts:
            print(
                f"  {host.name}: ssh -i {host.key_path} -p {host.port} "
                f"-o UserKnownHostsFile={lab.known_hosts_path} {host.user}@{host.address}"
            )
        print(f"inventory: {lab.inventory_path}\nCtrl-C to stop and remove them")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
