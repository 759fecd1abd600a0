"""Scale-out on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
loopback audit the lab's real hosts over SSH. The results equal a local run's; a worker
killed mid-run has its shards run again, with no target lost or counted twice; an
unreachable scheduler is exit 2 before any work."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cisaudit.api import audit
from cisaudit.inventory import load_inventory
from tests.lab.required import unavailable

pytestmark = pytest.mark.lab

try:
    import distributed  # noqa: F401
except ImportError:  # a module-level skip outside CI; in CI as root a failure
    unavailable("dask.distributed is not installed (pip install 'cisaudit[scale]')")
DASK = str(Path(sys.executable).parent / "dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    from cisaudit.scale import ExecutorUnavailable, reachable

    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        **common,  # type: ignore[call-overload]
    )
    workers = [
        subprocess.Popen(
            [
                DASK,
                "worker",
                f"tcp://{address}",
                "--nthreads",
                "2",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"lab-worker-{i}",
            ],
            **common,  # type: ignore[call-overload]
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while True:
        try:
            if reachable(f"tcp://{address}", timeout=5) == 2:
                break
        except ExecutorUnavailable:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the Dask cluster did not come up")
        time.sleep(0.5)
    yield address, workers
    for process in (*workers, scheduler):
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _verdicts(run) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {t.name: {r.control_id: r.status.value for r in t.results} for t in run.targets}


def test_a_dask_run_equals_a_local_run(lab, cluster) -> None:  # type: ignore[no-untyped-def]
    address, _ = cluster
    targets = load_inventory(lab.inventory_path).select(None)
    local = audit(targets)
    seen: list[str] = []
    remote = audit(targets, executor=f"dask://{address}", progress=lambda n, _e: seen.append(n))
    assert sorted(seen) == sorted(t.name for t in targets)  # progress as shards complete
    assert [t.name for t in remote.run.targets] == [t.name for t in local.run.targets]
    assert _verdicts(remote.run) == _verdicts(local.run)
    assert remote.run.options == local.run.options
    assert [sorted(e.sections) for e in remote.evidence] == [
        sorted(e.sections) for e in local.evidence
    ]
    assert remote.run.controls.keys() == local.run.controls.keys()
    assert remote.run.frameworks.keys() == local.run.frameworks.keys()
    assert remote.run.summary["fleet"] == local.run.summary["fleet"]


def test_shards_are_judged_on_the_workers(lab, cluster) -> None:  # type: ignore[no-untyped-def]
    """A worker sends back results, not only evidence: the client merges them."""
    from distributed import Client

    from cisaudit.api import Selection, load_catalog
    from cisaudit.scale import collect_shard

    address, _ = cluster
    targets = load_inventory(lab.inventory_path).select(None)[:3]
    with Client(address, set_as_default=False) as client:
        shard = client.submit(
            collect_shard, targets, False, 4, load_catalog(), Selection(), pure=False
        ).result()
    assert shard.results is not None and len(shard.results) == len(targets)
    assert [r.name for r in shard.results] == [t.name for t in targets]
    assert all(r.results for r in shard.results if r.reachable)
    assert shard.controls and shard.sections


def test_a_killed_worker_loses_no_target(lab, cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    address, workers = cluster
    data = yaml.safe_load(Path(lab.inventory_path).read_text())
    hosts = {
        f"{name}-copy{i}": dict(entry) for i in range(6) for name, entry in data["hosts"].items()
    }
    data["hosts"] = hosts
    inventory = tmp_path / "many.yaml"
    inventory.write_text(yaml.safe_dump(data))
    targets = load_inventory(inventory).select(None)
    done: list[str] = []

    def kill_after_first_shard() -> None:
        while not done:
            time.sleep(0.05)
        os.kill(workers[0].pid, signal.SIGKILL)

    threading.Thread(target=kill_after_first_shard, daemon=True).start()
    outcome = audit(targets, executor=f"dask://{address}", progress=lambda n, _e: done.append(n))
    assert workers[0].poll() is not None  # it did die mid-run
    names = [t.name for t in outcome.run.targets]
    assert sorted(names) == sorted(hosts) and len(names) == len(set(names))
    assert all(t.reachable for t in outcome.run.targets), [
        (t.name, t.error) for t in outcome.run.targets if not t.reachable
    ]


def test_an_unreachable_scheduler_is_exit_2_before_any_work(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from cisaudit.cli import main

    done = CliRunner().invoke(
        main,
        [
            "scan",
            "-i",
            str(lab.inventory_path),
            "-o",
            str(tmp_path / "o"),
            "--no-store",
            "--executor",
            f"dask://127.0.0.1:{_free_port()}",
        ],
    )
    assert done.exit_code == 2, done.output
    assert "cannot reach the Dask scheduler" in done.output
    assert not (tmp_path / "o" / "results.json").exists()
