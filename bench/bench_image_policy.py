"""Benchmark: the image policy on a real lab engine with many images and containers.

    python bench/bench_image_policy.py                 # 50 images, 40 running containers
    python bench/bench_image_policy.py --images 100 --containers 80

Starts the images-golden lab host (root, docker.io), builds IMAGES images on its golden
base (each with its own layer and dpkg database), runs CONTAINERS containers, then audits
it over SSH with a policy that sets every rule. Prints the remote calls, the audit's
duration, the time of the probe's layer-reading section alone (run on the host), and
the time to apply the policy to the facts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cisaudit_lab import start_lab  # noqa: E402

from cisaudit.api import Selection, audit  # noqa: E402
from cisaudit.imagepolicy import load_policy  # noqa: E402
from cisaudit.inventory import load_inventory  # noqa: E402
from cisaudit.kinds.docker.collect import probe  # noqa: E402

POLICY = """\
images:
  registries: [registry.internal:5000]
  tags: {forbid: [latest]}
  golden_bases: [{ref: "registry.internal:5000/base/debian:12-golden"}]
  user: {forbid_root: true}
  packages:
    forbid: [{name: telnetd}, {name: openssl, below: "3.0.13"}]
    require: [{name: corp-security-agent}]
  vulnerabilities: {max_severity: HIGH, require_scan: true}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--containers", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = start_lab(["images-golden"], workdir=Path(tmp) / "lab")
        with lab:
            build = (
                f"set -e; for i in $(seq 1 {args.images - 2}); do d=$(mktemp -d); echo $i > $d/f; "
                "printf 'Package: app%s\\nStatus: install ok installed\\nVersion: 1.$i\\n\\n' $i > $d/s; "
                'printf \'FROM registry.internal:5000/base/debian:12-golden\\nCOPY f /f\\nCOPY s /var/lib/dpkg/status.d/app\\nUSER 10001\\nCMD ["sleep","100000"]\\n\' > $d/Dockerfile; '
                "docker build -q -t registry.internal:5000/bench/app$i:1.0 $d > /dev/null; done"
            )
            rc, out = lab.exec("images-golden", build, timeout=1800)
            assert rc == 0, out
            run = (
                f"set -e; for i in $(seq 1 {args.containers - 1}); do docker run -d --user 10001 "
                f"registry.internal:5000/bench/app$(( (i % {args.images - 2}) + 1 )):1.0 > /dev/null; done"
            )
            rc, out = lab.exec("images-golden", run, timeout=1800)
            assert rc == 0, out
            rc, out = lab.exec("images-golden", "docker image ls -q | wc -l; docker ps -q | wc -l")
            images, containers = out.split()
            text = probe()
            layers_fn = text[text.index("layers() {") : text.index("sec id ")]
            script = f"M=x/\n{layers_fn}\nstart=$(date +%s%N); layers > /tmp/l.out; end=$(date +%s%N); echo $(( (end-start)/1000000 )) $(wc -c < /tmp/l.out)"
            section = []
            for _ in range(args.rounds):
                rc, out = lab.exec("images-golden", script)
                assert rc == 0, out
                ms, size = out.split()
                section.append(int(ms))
            policy_file = Path(tmp) / "policy.yaml"
            policy_file.write_text(POLICY)
            selection = Selection(policy=load_policy(policy_file))
            targets = load_inventory(lab.inventory_path).select(None)
            durations, calls = [], set()
            for _ in range(args.rounds):
                started = time.perf_counter()
                result = audit(targets, selection=selection).run.targets[0]
                durations.append(time.perf_counter() - started)
                calls.add(result.remote_calls)
            print(f"engine: {images} images, {containers} running containers")
            print(f"remote calls per audit: {sorted(calls)}")
            print(
                f"audit (collect + evaluate, policy on): median {statistics.median(durations):.2f} s"
            )
            print(
                f"layer section alone on the host: median {statistics.median(section)} ms, {size} bytes"
            )


if __name__ == "__main__":
    main()
