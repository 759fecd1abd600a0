"""The facts a Kubernetes cluster offers checks (``docs/facts-k8s.md``)."""

from __future__ import annotations

from cisaudit.catalog.facts import FactsContract, Subject
from cisaudit.kinds.common.policy import POLICY_FACT, POLICY_SUBJECTS

CONTRACT = FactsContract(
    facts={
        "cluster": (
            "Kubernetes cluster objects from the API or an offline dump (docs/facts-k8s.md)",
            ("k8s.api.*", "k8s.inventory"),
        ),
        "policy": POLICY_FACT,
    },
    subjects=dict(POLICY_SUBJECTS),
    # any collection under "cluster." (cluster.pods, cluster.workloads ...) may be iterated
    subject_prefixes={"cluster.": Subject()},
)
