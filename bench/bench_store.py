"""Benchmark: the store at fleet size.

    python bench/bench_store.py                               # SQLite in a temp dir
    python bench/bench_store.py --store postgresql://u@h/db   # a PostgreSQL store

Figures (targets from the issue): storing a 1,000-target run (< 5 s), diff of two
1,000-target runs (< 2 s), trend over 365 daily runs of 100 targets (< 2 s), and bytes
stored per target per run with and without evidence deduplication. The fleet is the
recorded lab (seven real Docker hosts) copied under new names; the second run changes
one target in ten (a container turned privileged), so the diff has real work.
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cisaudit import api  # noqa: E402
from cisaudit.history import drift  # noqa: E402
from cisaudit.model import Offender, Status  # noqa: E402
from cisaudit.store import Store  # noqa: E402


def fleet(hosts: int) -> tuple[object, list]:  # type: ignore[type-arg]
    catalog = api.load_catalog()
    recorded = api.load_bundle(ROOT / "tests" / "data" / "bundles" / "lab-docker.json").targets
    items = []
    for i in range(hosts):
        item = copy.deepcopy(recorded[i % len(recorded)])
        item.name = f"{item.name}-{i:05d}"
        # each host has evidence of its own (its name in one section), as a real fleet does
        section = item.sections.get("host.info") or next(iter(item.sections.values()))
        section.output = section.output + f"\n# {item.name}\n"
        section.sha256 = ""
        section.__post_init__()
        items.append(item)
    run = api.build_run(items, catalog=catalog, selection=api.Selection(), started="", options={})
    return run, items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--trend-runs", type=int, default=365)
    parser.add_argument("--trend-hosts", type=int, default=100)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="cisaudit-bench-")
    url = args.store or f"sqlite:///{tmp}/bench.db"
    store = Store(url)

    run_a, items = fleet(args.hosts)
    run_a.started_at = "2026-11-01T02:00:00+00:00"
    start = time.perf_counter()
    saved_a = store.save(run_a, items, scope="bench")
    store_s = time.perf_counter() - start

    run_b = copy.deepcopy(run_a)
    run_b.run_id = str(uuid.uuid4())
    run_b.started_at = "2026-11-02T02:00:00+00:00"
    for target in run_b.targets[::10]:
        for result in target.results:
            if result.control_id == "5.5" and result.pack == "cis-docker-1.6.0":
                result.status = Status.FAIL
                result.offenders.append(Offender("container", "privileged-new"))
    start = time.perf_counter()
    saved_b = store.save(run_b, items, scope="bench")
    store_b_s = time.perf_counter() - start
    start = time.perf_counter()
    found = drift(store, run_a.run_id, run_b.run_id)
    diff_s = time.perf_counter() - start

    # 365 daily runs of 100 targets, then the trend of the fleet and of every target
    trend_store = Store(f"sqlite:///{tmp}/trend.db") if not args.store else store
    small, small_items = fleet(args.trend_hosts)
    start = time.perf_counter()
    for day in range(args.trend_runs):
        small.run_id = str(uuid.uuid4())
        small.started_at = f"{2025 + (day // 365)}-01-01T02:00:00+00:00"
        small.started_at = (
            f"2025-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}T02:{day % 60:02d}:00+00:00"
        )
        trend_store.save(small, small_items, scope="trend")
    fill_s = time.perf_counter() - start
    start = time.perf_counter()
    points = trend_store.trend(scope="trend")
    trend_s = time.perf_counter() - start

    size = store.size()
    per_target_dedup = size["blob_bytes"] / (2 * args.hosts)
    per_target_raw = (saved_a.bytes_logical + saved_b.bytes_logical) / (2 * args.hosts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"store: {store.where}")
    print(
        f"store a {args.hosts}-target run: {store_s:.2f} s (the next, mostly unchanged: "
        f"{store_b_s:.2f} s, {saved_b.blobs_written} new blobs)"
    )
    print(
        f"diff of two {args.hosts}-target runs: {diff_s:.2f} s "
        f"({found.counts['new_failures']} new failures, {found.counts['still_failing']} "
        "still failing)"
    )
    print(
        f"trend over {len(points)} runs of {args.trend_hosts} targets: {trend_s:.2f} s "
        f"(storing them took {fill_s:.1f} s)"
    )
    print(
        f"bytes per target per run: {per_target_dedup:,.0f} with deduplication, "
        f"{per_target_raw:,.0f} without"
    )
    print(f"peak RSS: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
