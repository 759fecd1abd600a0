"""Re-record ``tests/data/bundles/lab-k8s-nodes.json`` from fresh Kubernetes lab nodes
(root, docker.io, gcc): ``python tests/lab/record_k8s_bundle.py``. Run it again whenever
the node probe or a k8s-* lab profile changes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cisaudit_lab import available_profiles, start_lab

from cisaudit.api import audit
from cisaudit.inventory import load_inventory

TARGET = Path(__file__).parents[1] / "data" / "bundles" / "lab-k8s-nodes.json"

with (
    tempfile.TemporaryDirectory() as tmp,
    start_lab(available_profiles("k8s-node"), workdir=Path(tmp)) as lab,
):
    outcome = audit(load_inventory(lab.inventory_path).select(None))
    for item in outcome.evidence:
        assert item.error is None, f"{item.name}: {item.error}"
        print(f"{item.name}: {item.duration_s:.2f} s, {item.remote_calls} remote calls")
    _, evidence = outcome.write(Path(tmp) / "out")
    shutil.copy(evidence, TARGET)
    print(f"recorded {TARGET}")
