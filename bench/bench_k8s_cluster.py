"""Benchmark: audit a 5,000-pod cluster over its API, and the same cluster from a dump.

No Kubernetes API server can run here, so the cluster is the stand-in from
``tests/k8s_standin`` (HTTPS on 127.0.0.1, real list endpoints and pagination) holding a
synthetic cluster: ``--pods`` pods from Deployments in ``--namespaces`` namespaces, with
their ReplicaSets, service accounts and the built-in RBAC. Network latency to a real API
server is not modelled; each page is one real HTTPS round trip on loopback.

Run: ``python bench/bench_k8s_cluster.py [--pods 5000] [--page-size 500] [--repeat 3]``.
Prints the median wall time of collect (API) and of derive+evaluate, the requests made,
the evidence size, and the same for the offline dump. Not a test.
"""

from __future__ import annotations

import argparse
import json
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


def median_time(fn, repeat: int):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    cluster = synthetic_cluster(pods=args.pods, namespaces=args.namespaces)
    print(
        f"synthetic cluster: {cluster.count('pods')} pods, {cluster.count('replicasets')}"
        f" replicasets, {cluster.count('namespaces')} namespaces, "
        f"{cluster.count('serviceaccounts')} service accounts "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    catalog = load_catalog()
    if not catalog.for_kind("k8s-cluster"):
        catalog = contract_catalog(Path(tempfile.mkdtemp(prefix="bench-checks-")))
        print("controls: the contract-test catalog (no k8s-cluster benchmark in checks/ yet)")
    with StandIn(cluster) as server, tempfile.TemporaryDirectory() as tmp:
        target = Target(
            name="bench",
            kind="k8s-cluster",
            context="standin",
            kubeconfig=str(server.kubeconfig(Path(tmp) / "kubeconfig")),
            page_size=args.page_size,
        )
        collect_k8s_cluster(target)  # warm up: the kubernetes client imports lazily (~1 s)
        server.requests.clear()
        collect_s, evidence = median_time(lambda: collect_k8s_cluster(target), args.repeat)
        requests = len(server.requests) // args.repeat
        pod_pages = len(server.list_requests("pods")) // args.repeat
        evaluate_s, run = median_time(
            lambda: build_run(
                [evidence], catalog=catalog, selection=Selection(), started="", options={}
            ),
            args.repeat,
        )
        total_s, outcome = median_time(lambda: audit([target], catalog=catalog), args.repeat)
        size = sum(len(s.output) for s in evidence.sections.values())
        [result] = outcome.run.targets
        assert result.reachable and result.facts_summary["pods"] == cluster.count("pods")
        controls = len(result.results)
        print(
            f"API, page size {args.page_size}: collect {collect_s:.2f} s ({requests} requests,"
            f" {pod_pages} pages of pods), derive+evaluate {evaluate_s:.2f} s "
            f"({controls} controls), whole audit {total_s:.2f} s; raw evidence "
            f"{size / 1e6:.1f} MB"
        )
        dump = Path(tmp) / "dump"
        write_dump(server, dump)
        offline = Target(name="bench-offline", kind="k8s-cluster", path=str(dump))
        offline_s, offline_outcome = median_time(
            lambda: audit([offline], catalog=catalog), args.repeat
        )
        same = [r.status for r in offline_outcome.run.targets[0].results] == [
            r.status for r in result.results
        ]
        print(f"offline dump: whole audit {offline_s:.2f} s (same verdicts as live: {same})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (stand-in included): {peak:.0f} MB")


if __name__ == "__main__":
    main()
