"""The facts a Kubernetes node offers checks (``docs/facts-k8s.md``)."""

from __future__ import annotations

from cisaudit.catalog.facts import FactsContract, Subject

CONTRACT = FactsContract(
    facts={
        "k8s": (
            "Kubernetes node facts: component processes, flags, config files (docs/facts-k8s.md)",
            (
                "k8s.processes",
                "k8s.configs",
                "k8s.version",
                "k8s.referenced",
                "k8s.target",
                "host.units",
            ),
        ),
        "pki_files": ("stat of every file under the Kubernetes PKI directory", ("host.stat",)),
        "cni_files": ("stat of every CNI configuration file", ("host.stat",)),
    },
    subjects={"pki_files": Subject(), "cni_files": Subject()},
)
