"""Benchmark: audit a 5,000-pod cluster over its API, and the same cluster from a dump.

No Kubernetes API server can run here, so the cluster is the stand-in from
``tests/k8s_standin`` (HTTPS on 127.0.0.1, real list endpoints and pagination) holding a
synthetic cluster: ``--pods`` pods from Deployments in ``--namespaces`` namespaces, with
their ReplicaSets, service accounts and the built-in RBAC. Network latency to a real API
server is not modelled; each page is one real HTTPS round trip on loopback.

Run: ``python bench/bench_k8s_cluster.py [--pods 5000] [--page-size 500] [--repeat 3]``.

The stand-in serves from its own process, so that its CPU and its synthetic objects are
not counted as cisaudit's. First one whole audit is measured as a user runs it (collect,
derive, evaluate, score, write results and evidence): wall time and this process's peak
RSS, which is cisaudit's alone. Then the parts: the median wall time of collect (API)
and of derive+evaluate, the requests made, the evidence size, and the same for the
offline dump. Not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from k8s_standin import StandIn, synthetic_cluster  # noqa: E402
from k8s_standin.catalog import BY_RESOURCE  # noqa: E402
from k8s_standin.contract_catalog import contract_catalog  # noqa: E402

from cisaudit.api import Selection, audit, build_run  # noqa: E402
from cisaudit.catalog import load_catalog  # noqa: E402
from cisaudit.kinds.k8s_cluster.collect import collect_k8s_cluster  # noqa: E402
from cisaudit.kinds.k8s_cluster.derive import RESOURCES  # noqa: E402
from cisaudit.targets import Target  # noqa: E402


def write_dump(server: StandIn, folder: Path) -> None:
    """Per-kind files as the documented ``kubectl get`` loop writes them."""
    folder.mkdir()
    (folder / "version.json").write_text(json.dumps({"serverVersion": server.cluster.version}))
    for res in RESOURCES:
        kind = BY_RESOURCE.get(res.name)
        if kind is None:  # a kind the stand-in does not serve (Calico, Cilium policies)
            continue
        items = [
            {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
            for _, obj in server.cluster.items(res.name)
        ]
        name = f"{res.name}.{res.group}" if res.group else res.name
        # JSON is valid YAML and far quicker to write; kubectl -o json output looks the same
        (folder / f"{name}.json").write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        )
        (folder / f"{name}.err").write_text("")


class Descendants:
    """This process's descendants (the page processes cisaudit starts for long lists), not
    ``skip`` (the stand-in): their summed RSS with this process's, sampled every 50 ms,
    and their CPU as last seen."""

    def __init__(self, skip: int) -> None:
        import threading

        self.skip = skip
        self.peak_mb = 0.0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        mine, me = [], os.getpid()
        for pid in parents:
            seen, up = 0, pid
            while up in parents and seen < 10:
                up, seen = parents[up], seen + 1
                if up == self.skip or pid == self.skip:
                    break
                if up == me:
                    mine.append(pid)
                    break
        return mine

    def _run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.05):
            total = Path("/proc/self/statm").read_text().split()[1]
            rss = int(total) * page
            for pid in self._tree():
                try:
                    rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
            self.peak_mb = max(self.peak_mb, rss / 1e6)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def median_time(fn, repeat: int):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _serve(pods: int, namespaces: int, folder: str, queue, stop) -> None:  # type: ignore[no-untyped-def]
    """The child process: the synthetic cluster behind the stand-in until ``stop``."""
    cluster = synthetic_cluster(pods=pods, namespaces=namespaces)
    with StandIn(cluster) as server:
        write_dump(server, Path(folder) / "dump")
        queue.put(
            (
                str(server.kubeconfig(Path(folder) / "kubeconfig")),
                {
                    k: cluster.count(k)
                    for k in ("pods", "replicasets", "namespaces", "serviceaccounts")
                },
            )
        )
        stop.wait()
        queue.put((len(server.requests), len(server.list_requests("pods"))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    catalog = load_catalog()
    if not catalog.for_kind("k8s-cluster"):
        catalog = contract_catalog(Path(tempfile.mkdtemp(prefix="bench-checks-")))
        print("controls: the contract-test catalog (no k8s-cluster benchmark in checks/ yet)")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        stop = multiprocessing.Event()
        child = multiprocessing.get_context("fork").Process(
            target=_serve, args=(args.pods, args.namespaces, tmp, queue, stop), daemon=True
        )
        child.start()
        kubeconfig, counts = queue.get(timeout=600)
        print(
            f"synthetic cluster: {counts['pods']} pods, {counts['replicasets']} replicasets, "
            f"{counts['namespaces']} namespaces, {counts['serviceaccounts']} service accounts "
            f"(built and served by a child process in {time.perf_counter() - started:.1f} s)"
        )
        target = Target(
            name="bench",
            kind="k8s-cluster",
            context="standin",
            kubeconfig=kubeconfig,
            page_size=args.page_size,
        )
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        helpers = Descendants(skip=child.pid or 0)
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = audit([target], catalog=catalog)
        outcome.write(Path(tmp) / "out", gzip_evidence=True)
        whole_s, whole_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        helpers.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        [result] = outcome.run.targets
        assert result.reachable and result.facts_summary["pods"] == counts["pods"], result.error
        print(
            f"whole audit as a user runs it (collect, judge, write): {whole_s:.2f} s wall, "
            f"{whole_cpu:.2f} s CPU in cisaudit's process, "
            f"{sum(helpers.cpu.values()):.2f} s in its page processes "
            f"({len(helpers.cpu)}), peak RSS {peak:.0f} MB in cisaudit's process "
            f"({rss_before:.0f} MB before it started), {helpers.peak_mb:.0f} MB with its page"
            " processes (sampled every 50 ms)"
        )
        del outcome
        cpu_started = time.process_time()
        collect_s, evidence = median_time(lambda: collect_k8s_cluster(target), args.repeat)
        collect_cpu = (time.process_time() - cpu_started) / args.repeat
        evaluate_s, run = median_time(
            lambda: build_run(
                [evidence], catalog=catalog, selection=Selection(), started="", options={}
            ),
            args.repeat,
        )
        size = sum(len(s.output) for s in evidence.sections.values())
        print(
            f"API, page size {args.page_size}: collect {collect_s:.2f} s "
            f"({collect_cpu:.2f} s CPU in cisaudit), derive+evaluate "
            f"{evaluate_s:.2f} s ({len(result.results)} controls); raw evidence "
            f"{size / 1e6:.1f} MB"
        )
        offline = Target(name="bench-offline", kind="k8s-cluster", path=str(Path(tmp) / "dump"))
        offline_s, offline_outcome = median_time(
            lambda: audit([offline], catalog=catalog), args.repeat
        )
        same = [r.status for r in offline_outcome.run.targets[0].results] == [
            r.status for r in result.results
        ]
        print(f"offline dump: whole audit {offline_s:.2f} s (same verdicts as live: {same})")
        stop.set()
        requests, pod_pages = queue.get(timeout=60)
        child.join(10)
        runs = 1 + args.repeat
        print(f"requests per collection: {requests // runs} ({pod_pages // runs} pages of pods)")


if __name__ == "__main__":
    main()
