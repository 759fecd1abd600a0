"""A faithful stand-in for a Kubernetes API server (HTTPS, tokens, real list shapes).

No Kubernetes API server binary can be installed on the machines this project runs its
tests on; this stand-in is how the API path is tested. See ``server.py`` for what it
serves and ``store.py`` for how manifest fixtures become live-looking objects.
"""

from .server import AUDITOR, Logged, StandIn
from .store import Cluster, build_cluster, fixture_cluster, load_manifests, synthetic_cluster

__all__ = [
    "AUDITOR",
    "Cluster",
    "Logged",
    "StandIn",
    "build_cluster",
    "fixture_cluster",
    "load_manifests",
    "synthetic_cluster",
]
