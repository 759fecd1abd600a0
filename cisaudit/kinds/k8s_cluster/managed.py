"""A managed control plane (EKS, GKE, AKS ...): the provider runs the control-plane and
etcd nodes and gives no SSH access to them, so the cluster target answers for their
node-side controls as NOT_APPLICABLE, with the reason, instead of leaving them unjudged."""

from __future__ import annotations

from typing import Any

from cisaudit.catalog import Catalog, Control, Pack

MANAGED_ROLES = ("control-plane", "etcd")
REASON = (
    "managed control plane: the provider operates these nodes and gives no SSH access to "
    "them; ask the provider for its attestation"
)


def node_side_controls(
    catalog: Catalog, pack: Pack, facts: dict[str, Any], wanted: Any
) -> list[tuple[Control, str]]:
    """Control-plane node controls of ``pack``, when the cluster's control plane is managed
    (``managed: true`` in the inventory); none otherwise (the nodes' own targets judge
    them). ``wanted(control)`` says whether the run's selection keeps a control."""
    if not (facts.get("cluster") or {}).get("managed"):
        return []
    return [
        (control, REASON)
        for control in catalog.applicable(pack, "k8s-node", MANAGED_ROLES)
        if control.roles and set(control.roles) <= set(MANAGED_ROLES) and wanted(control)
    ]
