"""Benchmark: render (and sign) the PDF report for a synthetic fleet.

    python bench/bench_report.py                 # 50 hosts x 117 controls, English
    python bench/bench_report.py --hosts 1000    # the fleet layout
    python bench/bench_report.py --hosts 200 --split-by target --sign
    python bench/bench_report.py --hosts 50 --layout full

Prints wall time, pages, file size, peak RSS (this process, and the largest worker of
--split-by) and, with --split-by, detail reports per second. Targets on the 2-core
reference machine (issue #12): the 50-host report under 20 s; a 1,000-host fleet PDF
under 60 s and 1 GB; per-target reports at 5 or more per second.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cisaudit.report import ReportMeta, render  # noqa: E402
from cisaudit.report.signing import SignConfig, init_keys  # noqa: E402

TARGET_RSS_MB = 1024.0
TARGET_PARTS_PER_S = 5.0


def _target_seconds(hosts: int) -> float:
    return 20.0 if hosts <= 50 else 60.0


def _samples():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "report_samples", ROOT / "tests" / "data" / "report" / "samples.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages(pdf: Path) -> str:
    try:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next(
        (line.split()[-1] for line in info.stdout.splitlines() if line.startswith("Pages:")), "?"
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--controls", type=int, default=117)
    parser.add_argument("--lang", default="en", choices=["en", "zh", "both"])
    parser.add_argument("--sign", action="store_true", help="also sign the PDF (PAdES)")
    parser.add_argument("--keep", type=Path, help="write the outputs here instead of a temp dir")
    parser.add_argument("--layout", default="auto", choices=["auto", "full", "fleet"])
    parser.add_argument("--split-by", choices=["target", "group"])
    parser.add_argument("--workers", type=int, help="processes for --split-by (default: CPUs)")
    args = parser.parse_args()

    start = time.perf_counter()
    run, evidence = _samples().synthetic_run(args.hosts, args.controls)
    built = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        evidence_path = work / "evidence.json"
        evidence_path.write_text(json.dumps(evidence), encoding="utf-8")
        sign = None
        if args.sign:
            keys = init_keys(work / "keys", common_name="Bench Signer", overwrite=True)
            sign = SignConfig(key=keys.key, cert=keys.cert)
        prepared = time.perf_counter()
        cpu_before = time.process_time()
        children_before = _children_cpu()
        last_part = [prepared]

        def part_done(done: int, total: int) -> None:
            last_part[0] = time.perf_counter()

        written = render(
            run,
            work / "out",
            formats=["pdf"],
            lang=args.lang,
            evidence_path=evidence_path,
            sign=sign,
            meta=ReportMeta(org="Bench Org", client="Bench Client", assessor="Bench Assessor"),
            layout=args.layout,
            split_by=args.split_by,
            workers=args.workers,
            progress=part_done,
        )
        done = time.perf_counter()
        children_cpu = _children_cpu() - children_before
        cpu_s = time.process_time() - cpu_before
        pdf = work / "out" / "report.pdf"
        size_mb = pdf.stat().st_size / 1e6
        pages = _pages(pdf)
        parts = [p for p in written if p.suffix == ".pdf" and p != pdf]
        part_pages = _pages(parts[0]) if parts else "-"
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    render_s = done - prepared
    # with --split-by the fleet report's own time is what follows the last detail report
    report_s = done - last_part[0] if args.split_by else render_s
    target_s = _target_seconds(args.hosts)
    print(
        f"fleet: {args.hosts} hosts x {args.controls} controls = "
        f"{sum(len(t.results) for t in run.targets)} verdicts, lang={args.lang}, "
        f"signed={args.sign}"
    )
    print(f"build sample run: {built - start:6.2f} s")
    print(
        f"render:           {render_s:6.2f} s wall, {cpu_s:6.2f} s CPU in this process "
        f"(wall time grows when other work shares the CPU)"
    )
    print(
        f"{'fleet' if args.split_by else 'the'} report:     {report_s:6.2f} s wall "
        f"(target < {target_s:.0f} s)"
    )
    print(f"load average:     {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"pages: {pages}, size: {size_mb:.1f} MB (layout {args.layout})")
    if args.split_by and parts:
        # the detail reports come first (the fleet PDF lists their SHA-256), so their
        # rate is taken from the start of rendering to the last one finished
        parts_s = last_part[0] - prepared
        print(
            f"detail reports:   {len(parts)} ({part_pages} pages the first) in {parts_s:.2f} s: "
            f"{len(parts) / parts_s:.2f} per second (target >= {TARGET_PARTS_PER_S:.0f}); "
            f"{children_cpu / len(parts):.3f} s CPU each in the workers"
        )
        print(f"with the fleet PDF: {len(parts) / render_s:.2f} detail reports per second overall")
    print(f"peak RSS:         {rss_mb:6.0f} MB (target < {TARGET_RSS_MB:.0f} MB)")
    if child_mb and args.split_by:
        print(f"peak RSS worker:  {child_mb:6.0f} MB")
    ok = report_s < target_s and rss_mb < TARGET_RSS_MB
    if args.split_by == "target" and parts:
        ok = ok and len(parts) / (last_part[0] - prepared) >= TARGET_PARTS_PER_S
    print("within target" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
