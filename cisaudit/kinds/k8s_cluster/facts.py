"""The facts a Kubernetes cluster offers checks (``docs/facts-k8s.md``)."""

from __future__ import annotations

from cisaudit.catalog.facts import FactsContract, Subject

CONTRACT = FactsContract(
    facts={
        "cluster": (
            "Kubernetes cluster objects from the API or an offline dump (docs/facts-k8s.md)",
            ("k8s.api.*", "k8s.inventory"),
        ),
    },
    # any collection under "cluster." (cluster.pods, cluster.workloads ...) may be iterated
    subject_prefixes={"cluster.": Subject()},
)
