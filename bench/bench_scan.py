"""Benchmark: audit lab hosts with 1, 10 and 40 running containers, and many hosts at once.

Needs root and docker.io (the lab). Run: ``python bench/bench_scan.py [--hosts 8]``.
Prints wall time per audit (median of several), remote exec calls per host and the
probe's share. Not a test: figures go into the closing notes and docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cisaudit_lab import build_host_image, ensure_engine, start_lab

from cisaudit.api import audit
from cisaudit.inventory import load_inventory


def timed_audit(targets, repeat: int) -> tuple[float, list[int]]:  # type: ignore[no-untyped-def]
    times, calls = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = audit(targets, concurrency=64)
        times.append(time.perf_counter() - started)
        calls = [t.remote_calls or 0 for t in outcome.run.targets]
        assert all(t.reachable for t in outcome.run.targets), [t.error for t in outcome.run.targets]
    return statistics.median(times), calls


def process_audit(inventory: Path, repeat: int) -> tuple[float, float]:
    """A whole ``cisaudit scan`` process (start-up, catalog, SSH, evaluation, writing), and
    the floor: the same two remote commands over one SSH connection, nothing else."""
    from cisaudit.api import collect_target

    cli = Path(sys.executable).with_name("cisaudit")
    walls, floors = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run(
                [str(cli), "scan", "-i", str(inventory), "-o", out, "--no-progress"],
                check=False,
                capture_output=True,
                env={**os.environ, "CISAUDIT_LANG": "en"},
            )
            walls.append(time.perf_counter() - started)
        target = load_inventory(inventory).select(None)[0]
        started = time.perf_counter()
        evidence = collect_target(target)
        floors.append(time.perf_counter() - started)
        assert evidence.error is None, evidence.error
    return statistics.median(walls), statistics.median(floors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=8, help="hosts for the fleet measurement")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engine = ensure_engine()
    build_host_image(engine)
    with tempfile.TemporaryDirectory() as tmp:
        lab = start_lab(["bare"], workdir=Path(tmp), engine=engine)
        try:
            lab.exec(
                "bare",
                "docker image inspect bench-busybox >/dev/null 2>&1 || "
                "docker import /opt/lab/busybox-rootfs.tar bench-busybox",
            )
            targets = load_inventory(lab.inventory_path).select(None)
            running = 0
            print("containers  median_s  remote_calls")
            for wanted in (1, 10, 40):
                for i in range(running, wanted):
                    rc, out = lab.exec(
                        "bare", f"docker run -d --name c{i} bench-busybox sleep 100000"
                    )
                    assert rc == 0, out
                running = wanted
                seconds, calls = timed_audit(targets, args.repeat)
                print(f"{wanted:>10}  {seconds:8.3f}  {calls}")
            wall, floor = process_audit(lab.inventory_path, args.repeat)
            print(
                f"one 40-container host as a process: {wall:.3f} s; SSH collection floor "
                f"{floor:.3f} s; ratio {wall / floor:.2f}"
            )
        finally:
            lab.stop()
    profiles = (["bare", "hardened", "weak"] * args.hosts)[: args.hosts]
    # start_lab takes each profile once; start several labs for a larger fleet.
    with tempfile.TemporaryDirectory() as tmp:
        labs, targets = [], []
        try:
            for i in range(0, len(profiles), 3):
                lab = start_lab(
                    sorted(set(profiles[i : i + 3])), workdir=Path(tmp) / str(i), engine=engine
                )
                labs.append(lab)
                for target in load_inventory(lab.inventory_path).select(None):
                    targets.append(
                        target.__class__(**{**target.__dict__, "name": f"{target.name}-{i}"})
                    )
            seconds, calls = timed_audit(targets, max(1, args.repeat // 2))
            print(
                f"fleet of {len(targets)} hosts: {seconds:.3f} s, remote calls per host {sorted(set(calls))}"
            )
        finally:
            for lab in labs:
                lab.stop()


if __name__ == "__main__":
    main()
