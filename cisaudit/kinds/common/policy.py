"""The ``policy`` fact (``--policy``): declared alike by every kind that can carry it."""

from __future__ import annotations

from cisaudit.catalog.facts import Subject

POLICY_FACT = (
    "the organisation's image policy applied to images, containers and workloads (--policy)",
    ("docker.images", "docker.inspect", "docker.history", "image.layers", "k8s.api.*"),
)
_BY_ID = Subject(name="cis.name", id=("Id", "cis.id"))
POLICY_SUBJECTS = {
    "policy.sources": _BY_ID,
    "policy.images": _BY_ID,
    "policy.package_images": _BY_ID,
}
