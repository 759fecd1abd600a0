"""Benchmark: frameworks and waivers at fleet size.

    python bench/bench_frameworks.py                  # 1,000 hosts, every framework
    python bench/bench_frameworks.py --hosts 200 --framework mlps-2.0-l3

The fleet is the recorded lab (tests/data/bundles/lab-docker.json: seven real Docker
hosts, hardened to bare) copied under new names, so every host has real facts. Prints
the time to evaluate with waivers and roll the frameworks up, the roll-up alone, the
size of results.json, the time to write the level-3 workbook and its rows, and peak RSS.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cisaudit import api  # noqa: E402
from cisaudit.api import Selection  # noqa: E402
from cisaudit.report.xlsx import render_xlsx  # noqa: E402
from cisaudit.rollup import roll_up  # noqa: E402
from cisaudit.waivers import KnownControl, KnownControls, parse_waivers  # noqa: E402

WAIVERS = """
waivers:
  - id: W-1
    controls: ["2.2", "5.10"]
    targets: ["*-bare-*", "*-weak-*"]
    reason: bench
    approved_by: bench
    expires: 2099-01-01
  - id: W-2
    controls: ["5.11"]
    objects: ["container:w-priv*"]
    reason: bench
    approved_by: bench
    expires: 2099-01-01
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--framework", action="append", default=None)
    args = parser.parse_args()

    catalog = api.load_catalog()
    known = KnownControls(
        KnownControl(p.id, c.id, c.check_slug)
        for p in catalog.packs.values()
        for c in p.controls.values()
    )
    waivers = parse_waivers(WAIVERS, "bench.yaml", known, max_days=100_000)
    recorded = api.load_bundle(ROOT / "tests" / "data" / "bundles" / "lab-docker.json").targets
    fleet = []
    for i in range(args.hosts):
        item = copy.copy(recorded[i % len(recorded)])
        item.name = f"{item.name}-{i:05d}"
        fleet.append(item)

    start = time.perf_counter()
    run = api.build_run(
        fleet,
        catalog=catalog,
        selection=Selection(frameworks=args.framework),
        started="",
        options={},
        waivers=waivers,
    )
    total = time.perf_counter() - start
    start = time.perf_counter()
    roll_up(run)
    rollup_s = time.perf_counter() - start
    size = len(json.dumps(run.to_dict(), ensure_ascii=False).encode())
    framework_bytes = len(json.dumps(run.frameworks, ensure_ascii=False).encode())
    with tempfile.TemporaryDirectory() as tmp:
        only_l3 = copy.copy(run)
        only_l3.frameworks = {"mlps-2.0-l3": run.frameworks["mlps-2.0-l3"]}
        start = time.perf_counter()
        (book,) = render_xlsx(only_l3, Path(tmp), lang="both")
        xlsx_s = time.perf_counter() - start
        xlsx_size = book.stat().st_size
    rows = sum(
        max(len(v["targets"]), 1) for v in run.frameworks["mlps-2.0-l3"]["verdicts"].values()
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"hosts: {args.hosts}, frameworks: {len(run.frameworks)}")
    print(f"evaluate + waivers + score + roll-up: {total:.2f} s")
    print(f"roll-up alone (all frameworks): {rollup_s:.2f} s")
    print(f"results.json: {size / 1e6:.1f} MB, of which frameworks {framework_bytes / 1e6:.1f} MB")
    print(f"mlps-2.0-l3.xlsx: {rows} rows, {xlsx_s:.2f} s, {xlsx_size / 1e6:.1f} MB")
    print(
        f"waivers: {len(run.waivers['waivers'])}, covered results: "
        f"{sum(len(w['covered']) for w in run.waivers['waivers'])}"
    )
    print(f"peak RSS: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
