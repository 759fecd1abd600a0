"""The kinds of target cisaudit audits, listed in one place.

Each kind owns its probe, collector, deriver and facts contract in its own package
(``cisaudit/kinds/<kind>/``). Entries are named as ``module:function`` and imported on
first use, so an optional dependency (the kubernetes client) loads only when a cluster is
audited, and nothing registers itself by being imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from cisaudit.catalog.facts import FactsContract
from cisaudit.kinds.docker.facts import CONTRACT as DOCKER_FACTS
from cisaudit.kinds.k8s_cluster.facts import CONTRACT as CLUSTER_FACTS
from cisaudit.kinds.k8s_node.facts import CONTRACT as NODE_FACTS


@dataclass(frozen=True)
class Kind:
    """How targets of one kind are reached, collected and turned into facts."""

    name: str
    transport: str | None  # "ssh", "local", or None when the collector reaches the target
    collect: str  # "module:function" (target[, transport]) -> TargetEvidence
    derive: str  # "module:function" (sections) -> (facts, errors); facts["summary"] headlines
    contract: FactsContract
    # "module:function" (catalog, pack, facts, selection) -> [(control, reason)]: controls of
    # another kind this target answers for as NOT_APPLICABLE (a managed control plane).
    stand_ins: str | None = None
    # "module:function" (sections) -> version string: the platform's version, read from
    # evidence recorded without one (before it was kept), to choose the benchmark.
    version: str | None = None
    # The collector reaches the target itself, possibly over SSH: it takes the run's
    # host-key policy (accept_new_host_keys).
    ssh_options: bool = False

    def load(self, ref: str) -> Any:
        module, _, name = ref.partition(":")
        return getattr(importlib.import_module(module), name)


_DOCKER_COLLECT = "cisaudit.kinds.docker.collect:collect_docker_host"
_DOCKER_DERIVE = "cisaudit.kinds.docker.derive:derive"
_DOCKER_VERSION = "cisaudit.kinds.docker.collect:engine_version"

KINDS: dict[str, Kind] = {
    "docker-host": Kind(
        "docker-host", "ssh", _DOCKER_COLLECT, _DOCKER_DERIVE, DOCKER_FACTS, version=_DOCKER_VERSION
    ),
    "local": Kind(
        "local", "local", _DOCKER_COLLECT, _DOCKER_DERIVE, DOCKER_FACTS, version=_DOCKER_VERSION
    ),
    "docker-api": Kind(
        "docker-api",
        None,
        "cisaudit.kinds.docker.api:collect_docker_api",
        "cisaudit.kinds.docker.api:derive_api",
        DOCKER_FACTS,
        version=_DOCKER_VERSION,
        ssh_options=True,
    ),
    "k8s-node": Kind(
        "k8s-node",
        "ssh",
        "cisaudit.kinds.k8s_node.collect:collect_k8s_node",
        "cisaudit.kinds.k8s_node.derive:derive",
        NODE_FACTS,
    ),
    "k8s-cluster": Kind(
        "k8s-cluster",
        None,
        "cisaudit.kinds.k8s_cluster.collect:collect_k8s_cluster",
        "cisaudit.kinds.k8s_cluster.derive:derive",
        CLUSTER_FACTS,
        stand_ins="cisaudit.kinds.k8s_cluster.managed:node_side_controls",
    ),
}

# Every fact any kind offers: what the catalog validates checks against.
CONTRACT = FactsContract.merge(DOCKER_FACTS, NODE_FACTS, CLUSTER_FACTS)
