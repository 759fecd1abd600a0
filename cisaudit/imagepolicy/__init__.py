"""Image governance (``--policy``): an organisation's rules for images, applied agentlessly
in the same audit: approved registries, tags, golden base images identified by their
layers, the user images run as, package rules read from the image layers on the host, and
scanner reports (Trivy, Grype). See docs/image-policy.md."""

from cisaudit.imagepolicy.enrich import approved, enrich, split_ref
from cisaudit.imagepolicy.policy import ImagePolicy, load_policy
from cisaudit.imagepolicy.scans import ScanIndex, load_reports

__all__ = [
    "ImagePolicy",
    "ScanIndex",
    "approved",
    "enrich",
    "load_policy",
    "load_reports",
    "split_ref",
]
