"""A lab of real Docker hosts for tests and demos.

Each lab host is a container on this machine's Docker engine running its own sshd and its
own dockerd (Docker in Docker), reached over SSH on 127.0.0.1, and set up by a *profile*
(``profiles/<name>.sh``) so that CIS Docker controls pass on one host and fail on another.
See ``tests/lab/PROFILES.md`` for what each profile does to each control.
"""

from cisaudit_lab.engine import LabError, LabUnavailable, ensure_engine
from cisaudit_lab.hosts import Lab, LabHost, available_profiles, remove_lab_hosts, start_lab
from cisaudit_lab.image import build_host_image

__all__ = [
    "Lab",
    "LabError",
    "LabHost",
    "LabUnavailable",
    "available_profiles",
    "build_host_image",
    "ensure_engine",
    "remove_lab_hosts",
    "start_lab",
]
