"""A small catalog of cluster controls written against ``docs/facts-k8s.md``.

The real section-5 controls (``checks/cis-kubernetes-1.12/5.*.yaml``) are written by
another engineer against the same contract. These few exist so that the API collector,
the offline reader and the deriver can be tested (and benchmarked) through the whole
engine, ``cisaudit.api.audit`` included, before and independently of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cisaudit.catalog import Catalog, load_catalog

_TEXT = {"en": "text", "zh": "文本"}
NOT_SYSTEM = {"path": "cis.namespace", "op": "not_in", "value": ["kube-system"]}
CONTROLS: dict[str, dict[str, Any]] = {
    "5.1.1": {
        "each": "cluster.rbac.cluster_admin_bindings",
        "kind": "binding",
        # kubeadm's admin.conf group (1.29+) is the documented replacement for system:masters
        "where": {"path": "subject", "op": "not_in", "value": ["Group//kubeadm:cluster-admins"]},
        "test": {"path": "default", "op": "is_true"},
    },
    "5.1.2": {"test": {"fact": "cluster.rbac.authenticated_can_read_secrets", "op": "is_false"}},
    "5.1.3": {
        "each": "cluster.clusterroles",
        "where": {"path": "cis.default", "op": "is_not_true"},
        "test": {"path": "cis.wildcards", "op": "is_unset"},
    },
    "5.1.5": {
        "each": "cluster.serviceaccounts",
        "where": {"path": "cis.is_default", "op": "is_true"},
        "test": {"path": "cis.automount", "op": "is_false"},
    },
    "5.2.1": {
        "each": "cluster.namespaces",
        "where": {"path": "cis.system", "op": "is_false"},
        "test": {"path": "cis.psa.enforce", "op": "in", "value": ["baseline", "restricted"]},
    },
    "5.2.2": {
        "each": "cluster.pods",
        "where": NOT_SYSTEM,
        "test": {"path": "cis.privileged", "op": "is_unset"},
    },
    "5.2.5": {
        "each": "cluster.workloads",
        "where": NOT_SYSTEM,
        "test": {"path": "cis.host_network", "op": "is_false"},
    },
    "5.3.2": {
        "each": "cluster.namespaces",
        "where": {"path": "cis.system", "op": "is_false"},
        "test": {"path": "cis.network_policies", "op": "gt", "value": 0},
    },
    "5.4.1": {"each": "cluster.pods", "test": {"path": "cis.secret_env", "op": "is_unset"}},
}


def contract_catalog(root: Path) -> Catalog:
    """Write the benchmark ``test-k8s-cluster`` under ``root`` and load it."""
    folder = root / "test-k8s-cluster"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "benchmark.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "test-k8s-cluster",
                "name": "contract test",
                "version": "1.0",
                "target_kinds": ["k8s-cluster"],
                "platform_versions": ["1.31", "1.32"],
                "sections": {"5": {"en": "Policies", "zh": "策略"}},
            },
            allow_unicode=True,
        )
    )
    for control_id, check in CONTROLS.items():
        (folder / f"{control_id}.yaml").write_text(
            yaml.safe_dump(
                {
                    "id": control_id,
                    "title": _TEXT,
                    "section": "5",
                    "level": 1,
                    "profiles": ["Level 1 - Master Node"],
                    "cis_assessment": "Automated",
                    "automated": True,
                    "targets": ["k8s-cluster"],
                    "description": _TEXT,
                    "rationale": _TEXT,
                    "audit": _TEXT,
                    "remediation": _TEXT,
                    "snippet": {"kind": "yaml", "text": "# fix {names}"},
                    "check": check,
                },
                allow_unicode=True,
            )
        )
    return load_catalog(root)
