"""A small catalog of cluster controls written against ``docs/facts-k8s.md``.

The real section-5 controls (``checks/library/kubernetes/``) are written by
another engineer against the same contract. These few exist so that the API collector,
the offline reader and the deriver can be tested (and benchmarked) through the whole
engine, ``cisaudit.api.audit`` included, before and independently of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cisaudit.api import load_catalog
from cisaudit.catalog import Catalog

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
    """Write the pack ``test-k8s-cluster`` under ``root`` and load it alone."""
    from tests.catalog_builder import write_pack

    write_pack(
        root,
        {
            "id": "test-k8s-cluster",
            "name": "contract test",
            "version": "1.0",
            "target_kinds": ["k8s-cluster"],
            "platform_versions": ["1.31", "1.32"],
            "sections": {"5": {"en": "Policies", "zh": "策略"}},
        },
        {cid: {"targets": ["k8s-cluster"], "check": check} for cid, check in CONTROLS.items()},
        defaults={"snippet": {"kind": "yaml", "text": "# fix {names}"}},
    )
    return load_catalog(root)
