"""Re-record ``tests/data/bundles/lab-docker.json`` from a fresh lab (root, docker.io)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cisaudit_lab import available_profiles, start_lab

from cisaudit.api import audit
from cisaudit.inventory import load_inventory

with (
    tempfile.TemporaryDirectory() as tmp,
    # every Docker host profile that has expectations (hostile's are in test_hostile_lab)
    start_lab([p for p in available_profiles() if p != "hostile"], workdir=Path(tmp)) as lab,
):
    outcome = audit(load_inventory(lab.inventory_path).select(None))
    _, evidence = outcome.write(Path(tmp) / "out")
    target = Path(__file__).parents[1] / "data" / "bundles" / "lab-docker.json"
    shutil.copy(evidence, target)
    print(f"recorded {target}")
